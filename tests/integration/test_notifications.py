"""Findings, notifications and enforcement with the real tools: ansible-playbook, the callback, the CLI.

* ``playbooks/enforce.yml`` run by ``ansible-playbook`` (repo ``ansible.cfg``,
  collector callback enabled) fails on a violating fleet with the violations
  in its output, and passes on a clean one; it never adds a scan to the store.
  The stores are prepared from spools through the pipeline: no SSH needed.
* A real scan of the SSH test fleet (``playbooks/scan.yml``) with a policy
  and ``notify.yml`` given through the callback's environment: the inventory
  groups reach the engine, the first scan sends one message per channel to a
  real SMTP server and HTTP receiver on 127.0.0.1, the second sends nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests" / "unit"))

from fleet_spools import BASH, TEAMVIEWER, Host, write_run  # noqa: E402
from notify_servers import Mailbox, Receiver, smtp_server  # noqa: E402

from sam_engine.findings import notify
from sam_engine import pipeline  # noqa: E402
from sam_engine.store import open_store  # noqa: E402


def enforce_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "FLEETSAM_"))}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{env.get('PATH', '')}",
               FLEETSAM_STORE=str(tmp_path / "db.json"), FLEETSAM_LICENCES=str(tmp_path / "licences"),
               FLEETSAM_SPOOL_DIR=str(tmp_path / "spool-enforce"), FLEETSAM_REPORT_DIR=str(tmp_path / "reports"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / ".ansible-tmp"), ANSIBLE_NOCOLOR="1")
    return env


def prepared_store(tmp_path: Path, hosts: dict) -> None:
    (tmp_path / "licences").mkdir(exist_ok=True)
    os.environ["FLEETSAM_LICENCES"] = str(tmp_path / "licences")
    try:
        # Scanned today: enforce.yml checks the fleet as of today, and an old run would be past retire_days.
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        pipeline.process_spool(write_run(tmp_path, "s1", hosts, when=now), store=str(tmp_path / "db.json"),
                               report_dir=tmp_path / "reports", as_of=dt.date.today(),
                               alerts=notify.AlertSettings(policy=REPO / "examples" / "policy.yml"))
    finally:
        del os.environ["FLEETSAM_LICENCES"]


def enforce(tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "playbooks" / "enforce.yml"),
                           "-e", f"fleetsam_policy={REPO / 'examples' / 'policy.yml'}"],
                          cwd=tmp_path, env=enforce_env(tmp_path), capture_output=True, text=True, timeout=300)


def stored_scans(tmp_path: Path) -> list[str]:
    with open_store(str(tmp_path / "db.json")) as st:
        return [i.scan_id for i in st.scans()]


def test_enforce_playbook_fails_on_violations(tmp_path):
    prepared_store(tmp_path, {"web1": Host(("web",), (BASH, TEAMVIEWER)), "desk1": Host(("helpdesk",), (BASH,))})
    run = enforce(tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 2, out  # ansible-playbook: a task failed
    assert "Licence policy violated: fleetsam check: 2 violations" in out
    assert "FAIL  high     prohibited" in out and "TeamViewer: prohibited software on 1 host" in out
    assert "failed=1" in out
    assert stored_scans(tmp_path) == ["s1"], "enforce.yml runs no collector and stores no scan"


def test_enforce_playbook_passes_on_a_clean_fleet(tmp_path):
    prepared_store(tmp_path, {"web1": Host(("web",), (BASH,)), "desk1": Host(("helpdesk",), (BASH,))})
    run = enforce(tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "fleetsam check: no violations" in out and "failed=0" in out
    assert stored_scans(tmp_path) == ["s1"]


def test_enforce_playbook_fails_on_bad_configuration(tmp_path):
    prepared_store(tmp_path, {"web1": Host(("web",), (BASH,))})
    (tmp_path / "bad.yml").write_text("thresholds:\n  stale_days: a week\n")
    env = enforce_env(tmp_path)
    run = subprocess.run([str(BIN / "ansible-playbook"), str(REPO / "playbooks" / "enforce.yml"),
                          "-e", f"fleetsam_policy={tmp_path / 'bad.yml'}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "bad.yml:2:15: thresholds.stale_days: expected a whole number" in run.stdout


# --- the real scan of the SSH fleet ---------------------------------------------------------------


@pytest.fixture
def servers():
    box, receiver = Mailbox(), Receiver()
    controller = smtp_server(box)
    try:
        yield box, controller.port, receiver
    finally:
        controller.stop()
        receiver.stop()


def test_fleet_scan_notifies_once_through_the_callback(fleet, tmp_path, servers):
    box, smtp_port, receiver = servers
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    (tmp_path / "licences").mkdir()
    (tmp_path / "policy.yml").write_text(
        "prohibited:\n  - product: fleetsam-testpkg-alpha\n    reason: test package\n"
        "  - product: fleetsam-testpkg-beta\n    allow_groups: [testfleet]\n")
    (tmp_path / "notify.yml").write_text(
        f"channels:\n  - type: email\n    url: smtp://127.0.0.1:{smtp_port}\n    from: f@example.com\n"
        f"    to: [sam@example.com]\n  - type: webhook\n    format: slack\n    url_env: FLEETSAM_TEST_HOOK\n"
        f"  - type: terminal\n")
    env = fleet.ansible_env(FLEETSAM_STORE=str(tmp_path / "store.json"), FLEETSAM_REPORT_DIR=str(tmp_path / "r"),
                            FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"), FLEETSAM_LICENCES=str(tmp_path / "licences"),
                            FLEETSAM_POLICY=str(tmp_path / "policy.yml"), FLEETSAM_NOTIFY=str(tmp_path / "notify.yml"),
                            FLEETSAM_TEST_HOOK=receiver.url("/slack/secret-path"))

    def scan() -> str:
        run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(fleet.inventory),
                              str(REPO / "playbooks" / "scan.yml")], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    out = scan()
    assert "fleetsam: NEW high prohibited f-" in out and "fleetsam-testpkg-alpha" in out
    assert "fleetsam: notifications: 1 new; sent to" in out
    assert len(box.messages) == 1 and len(receiver.received("/slack")) == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    prohibited = [f for f in report["findings"] if f["type"] == "prohibited"]
    assert [f["hosts"] for f in prohibited] == [["rpm"]], "beta is allowed in group testfleet"
    stored = json.loads((tmp_path / "store.json").read_text())
    assert all("testfleet" in doc["groups"] for doc in stored["host_scans"].values())

    out = scan()
    assert "fleetsam: notifications: nothing new" in out
    assert len(box.messages) == 1 and len(receiver.received("/slack")) == 1
    assert "secret-path" not in out
