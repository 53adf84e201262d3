"""Named users end to end: real accounts and a real login record on the chroot hosts, scanned over SSH.

On ``debian`` and ``rpm`` the test creates accounts with ``useradd`` and writes
login records into ``/var/log/wtmp`` with util-linux's ``utmpdump -r`` (glibc's
own struct utmp), then runs ``playbooks/scan.yml`` on those two hosts. A user
catalogue entry makes ``bash`` (on both) a product licensed per named user, and
a users file merges two accounts of one person and excludes a service account.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_scan_fleet import Scanner

CATALOGUE = """\
- id: named-suite
  publisher: Named Software
  product: Named Suite
  licence: required
  match:
    - {source: dpkg, title: 'bash'}
"""
LICENCES = """\
entitlements:
  - {publisher: Named Software, product: Named Suite, metric: named_user, quantity: 2}
"""
USERS = """\
window_days: 90
people:
  jdoe@corp.example: [jdoe, john]
exclude: [sqlsvc]
"""
# host -> (account, logged in) created there; sqlsvc is a service account that looks like a person
ACCOUNTS = {"debian": (("jdoe", True), ("alice", False)),
            "rpm": (("john", True), ("bob", True), ("sqlsvc", True))}


def login_line(user: str, when: dt.datetime) -> str:
    """One USER_PROCESS record in utmpdump's text form."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S,000000+00:00")
    return (f"[7] [04242] [ts/0] [{user:<8}] [pts/0       ] [192.0.2.7           ] [192.0.2.7      ] "
            f"[{stamp}]\n")


class UsersScanner(Scanner):
    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(FLEETSAM_CATALOGUE_EXTRA=str(self.workdir / "named.yml"),
                   FLEETSAM_LICENCES=str(self.workdir / "licences"), FLEETSAM_USERS=str(self.workdir / "users.yml"))
        return env


@pytest.fixture(scope="module")
def scanned(fleet, tmp_path_factory):
    scanner = UsersScanner(fleet, tmp_path_factory.mktemp("named-users"))
    (scanner.workdir / "named.yml").write_text(CATALOGUE)
    (scanner.workdir / "licences").mkdir()
    (scanner.workdir / "licences" / "named.yml").write_text(LICENCES)
    (scanner.workdir / "users.yml").write_text(USERS)
    yesterday = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
    for name, accounts in ACCOUNTS.items():
        if not fleet[name].is_running():
            fleet[name].start()
        (fleet.hosts[name].root / "var/log/wtmp").unlink(missing_ok=True)
        for account, logged_in in accounts:
            fleet.ssh(name, f"useradd -m -s /bin/bash {account}", check=True)
        records = "".join(login_line(a, yesterday) for a, logged_in in accounts if logged_in)
        fleet.ssh(name, f"printf %s '{records}' | utmpdump -r >> /var/log/wtmp", check=True)
    try:
        result = scanner.scan("--limit", "debian,rpm")
        assert result.returncode == 0, result.stdout + result.stderr
        yield scanner, yesterday
    finally:
        for name, accounts in ACCOUNTS.items():
            for account, _ in accounts:
                fleet.ssh(name, f"userdel -r {account}")
            (fleet.hosts[name].root / "var/log/wtmp").unlink(missing_ok=True)


def test_the_named_user_count_is_distinct_people_across_the_fleet(scanned):
    scanner, _ = scanned
    model = json.loads((scanner.reports / "report.json").read_text(encoding="utf-8"))
    (suite,) = [p for p in model["position"]["licensable"] if p["product"] == "Named Suite"]
    assert (suite["metric"], suite["consumption"], suite["owned"], suite["status"]) == ("named_user", 2, 2, "compliant")
    trace = suite["trace"]["consumption"][-1]
    assert trace.startswith("named user: 2 distinct people on 2 hosts (aliases merged: 1; a login within 90 days;")
    assert "not counted: 1 excluded by" in trace and "1 without a login in the 90 days" in trace
    assert trace.endswith(": bob, jdoe@corp.example = 2")


def test_each_hosts_users_come_from_its_own_records(scanned, fleet):
    scanner, yesterday = scanned
    model = json.loads((scanner.reports / "report.json").read_text(encoding="utf-8"))
    hosts = {h["inventory_name"]: h for h in model["hosts"]}
    debian = {u["account"]: u for u in hosts["debian"]["users"]}
    assert debian["jdoe"] == {"account": "jdoe", "kind": "human", "source": "wtmp",
                              "last_login": yesterday.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert debian["alice"]["last_login"] is None and debian["alice"]["source"] == "passwd"
    passwd = fleet.ssh("rpm", "getent passwd", check=True).stdout
    humans = {line.split(":")[0] for line in passwd.splitlines()
              if 1000 <= int(line.split(":")[2]) <= 60000 and not line.endswith(("nologin", "false"))}
    assert {u["account"] for u in hosts["rpm"]["users"] if u["kind"] == "human"} == humans


def test_the_position_command_says_the_same(scanned):
    scanner, _ = scanned
    out = json.loads(scanner.fleetsam("position", "--format", "json", "--product", "Named Suite",
                                      "--licences", str(scanner.workdir / "licences")))
    (row,) = out["products"]
    assert row["consumption"] == 2 and row["status"] == "compliant"
