"""The agentless scan end to end: real playbook, real sshd hosts, real callback, real store.

Each test host's package list in the report must equal what the package
manager itself says about that host's root; a host stopped between two scans
keeps its last inventory, flagged stale; a second scan adds a snapshot and
duplicates nothing.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def dpkg_installed(admindir: str = "/var/lib/dpkg") -> set[tuple[str, str, str]]:
    out = subprocess.run(
        ["dpkg-query", "--admindir", admindir, "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"],
        capture_output=True, text=True, check=True).stdout
    return {tuple(line.split("\t")[1:]) for line in out.splitlines() if line[:2] in ("ii", "hi")}


def rpm_installed(root: Path) -> set[tuple[str, str, str]]:
    fmt = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{ARCH}\n"
    out = subprocess.run(["rpm", "--root", str(root), "-qa", "--queryformat", fmt],
                         capture_output=True, text=True, check=True).stdout
    return {tuple(line.split("\t")) for line in out.splitlines() if not line.startswith("gpg-pubkey")}


def packages(host: dict, source: str) -> set[tuple[str, str, str]]:
    return {(p["name"], p["version"], p["arch"]) for p in host["packages"] if p["source"] == source}


class Scanner:
    """Runs playbooks/scan.yml against the fleet with a private store and report dir."""

    def __init__(self, fleet, workdir: Path):
        self.fleet, self.workdir = fleet, workdir
        self.store = workdir / "store.json"
        self.reports = workdir / "reports"

    def env(self) -> dict[str, str]:
        return self.fleet.ansible_env(FLEETSAM_STORE=str(self.store), FLEETSAM_REPORT_DIR=str(self.reports),
                                      FLEETSAM_SPOOL_DIR=str(self.workdir / "spool"))

    def scan(self, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(self.fleet.inventory),
                               str(REPO / "playbooks" / "scan.yml"), *extra],
                              cwd=self.workdir, env=self.env(), capture_output=True, text=True, timeout=600)

    def report(self) -> dict:
        """report.json, each host given its ``packages``: its rows of installations.csv (the
        installation's own columns, without the host's)."""
        report = json.loads((self.reports / "report.json").read_text())
        by_host: dict[str, list[dict]] = {}
        host_columns = ("scan_id", "inventory_scan_id", "host", "host_id", "host_status", "stale")
        with open(self.reports / "installations.csv", encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                by_host.setdefault(row["host"], []).append({k: v or None for k, v in row.items()
                                                            if k not in host_columns})
        for host in report["hosts"]:
            host["packages"] = by_host.get(host["inventory_name"], [])
        return report

    def fleetsam(self, *args: str) -> str:
        return subprocess.run([str(BIN / "fleetsam"), "--store", str(self.store), *args],
                              capture_output=True, text=True, check=True, env=self.env()).stdout


@pytest.fixture(scope="module")
def scanned(fleet, tmp_path_factory):
    """One scan of the running fleet (every host up)."""
    scanner = Scanner(fleet, tmp_path_factory.mktemp("scan"))
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    run = scanner.scan()
    assert run.returncode == 0, run.stdout + run.stderr
    return scanner, run, scanner.report()


def by_name(report: dict) -> dict[str, dict]:
    return {h["inventory_name"]: h for h in report["hosts"]}


def test_every_host_scanned_and_summarised(scanned, fleet):
    scanner, run, report = scanned
    hosts = by_name(report)
    assert set(hosts) == set(fleet.hosts)
    assert all(h["status"] == "ok" and not h["stale"] for h in hosts.values())
    assert "fleetsam: hosts ok=3 unreachable=0 failed=0" in run.stdout
    assert f"report: {scanner.reports / 'index.html'}" in run.stdout or "report: reports/index.html" in run.stdout
    assert (scanner.reports / "index.html").stat().st_size > 0


def test_local_host_equals_dpkg_query(scanned):
    report = scanned[2]
    assert packages(by_name(report)["local"], "dpkg") == dpkg_installed()


def test_debootstrap_host_equals_its_own_dpkg_database(scanned, fleet):
    host = by_name(scanned[2])["debian"]
    expected = dpkg_installed(str(fleet["debian"].root / "var/lib/dpkg"))
    assert packages(host, "dpkg") == expected
    assert {"python3", "openssh-server"} <= {name for name, _, _ in expected}


def test_rpm_host_equals_rpm_qa(scanned, fleet):
    host = by_name(scanned[2])["rpm"]
    expected = rpm_installed(fleet["rpm"].root)
    assert len(expected) >= 3
    assert packages(host, "rpm") == expected
    vendors = {p["vendor"] for p in host["packages"] if p["source"] == "rpm"}
    assert "Fleetsam Test Vendor" in vendors
    assert all(p["installed"] for p in host["packages"] if p["source"] == "rpm"), "rpm records an install time"


def test_hosts_have_distinct_stable_identities_and_hardware(scanned):
    hosts = by_name(scanned[2]).values()
    ids = [h["host_id"] for h in hosts]
    assert len(set(ids)) == len(ids) and all(i.startswith("machine-id:") for i in ids)
    for h in hosts:
        assert h["threads"] >= 1 and h["cores"] >= 1 and h["sockets"] >= 1


def test_unreachable_host_keeps_last_inventory_and_nothing_is_duplicated(scanned, fleet):
    scanner, _, first = scanned
    stored_before = json.loads(scanner.store.read_text())
    fleet["rpm"].stop()
    try:
        run = scanner.scan()
    finally:
        fleet["rpm"].start()
    assert run.returncode != 0, "ansible-playbook reports the unreachable host"
    assert "unreachable=1" in run.stdout
    second = scanner.report()
    before, after = by_name(first), by_name(second)
    rpm = after["rpm"]
    assert rpm["status"] == "unreachable" and rpm["stale"]
    assert rpm["packages"] == before["rpm"]["packages"], "never 'zero software'"
    assert rpm["inventory_scan_id"] == first["scan"]["scan_id"]
    assert after["local"]["inventory_scan_id"] == second["scan"]["scan_id"]
    stored = json.loads(scanner.store.read_text())
    assert len(stored["scans"]) == 2 and len(stored["host_scans"]) == 2 * len(fleet.hosts)
    assert len(stored["inventories"]) == len(stored_before["inventories"]), "unchanged hosts add no inventory"
    listing = scanner.fleetsam("scans")
    assert first["scan"]["scan_id"] in listing and second["scan"]["scan_id"] in listing
    assert "unreachable (stale)" in scanner.fleetsam("hosts")


def test_check_mode_scan_changes_nothing(scanned, fleet):
    scanner = scanned[0]
    cache = fleet["debian"].root / "var/cache/fleetsam/apt-origins.json"
    assert cache.is_file(), "a scan keeps the host's apt origins for the next one"
    cache.unlink()
    run = scanner.scan("--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=0" in run.stdout and "changed=1" not in run.stdout
    assert not cache.exists(), "check mode writes nothing on the host, not even the cache"


def test_installations_csv_can_be_left_out_of_a_nightly_scan(scanned):
    scanner = scanned[0]
    assert (scanner.reports / "installations.csv").exists()
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(scanner.fleet.inventory),
                          str(REPO / "playbooks" / "scan.yml")], cwd=scanner.workdir,
                         env={**scanner.env(), "FLEETSAM_INSTALLATIONS_CSV": "false"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (scanner.reports / "installations.csv").exists(), "the callback option reaches the engine"
    model = json.loads((scanner.reports / "report.json").read_text())
    assert (scanner.reports / "index.html").exists() and model["summary"]["hosts_ok"] == 3
    scanner.fleetsam("report", "--report-dir", str(scanner.reports))
    assert (scanner.reports / "installations.csv").exists(), "written again on demand from the store"


def test_ansible_runner_with_its_own_stdout_callback(fleet, tmp_path, monkeypatch):
    """Under ansible-runner (as under AWX) the stdout callback is forced; ours still collects."""
    import ansible_runner

    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")  # runner finds ansible-playbook on PATH

    store, reports = tmp_path / "store.json", tmp_path / "reports"
    (tmp_path / "runner").mkdir()
    env = fleet.ansible_env(FLEETSAM_STORE=str(store), FLEETSAM_REPORT_DIR=str(reports),
                            FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"))
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        project_dir=str(REPO),
        playbook="playbooks/scan.yml",
        inventory=str(fleet.inventory),
        envvars={k: v for k, v in env.items() if k.startswith(("ANSIBLE_", "FLEETSAM_"))},
        quiet=True,
    )
    output = result.stdout.read()
    assert result.status == "successful", output
    assert (reports / "report.json").exists(), output
    events = [e.get("event") for e in result.events]
    assert "playbook_on_stats" in events, "runner's own callback produced the event stream"
    hosts = by_name(json.loads((reports / "report.json").read_text()))
    assert set(hosts) == set(fleet.hosts) and all(h["package_count"] > 0 for h in hosts.values())
