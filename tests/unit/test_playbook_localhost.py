"""Real ansible-playbook runs of playbooks/scan.yml and enforce.yml against this machine (local
connection): check mode writes nothing, a real run writes under the directory it runs from, and
enforce.yml checks the store of that directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def project(tmp_path):
    """An empty project folder with a one-host local inventory, as a user starts."""
    (tmp_path / "hosts.ini").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"
        " software_inventory_cloud_metadata=false\n")  # tests talk only to 127.0.0.0/8, even on a cloud VM
    return tmp_path


def playbook(project: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSAM_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), FLEETSAM_INSTALLATIONS_CSV="false",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "hosts.ini", str(REPO / "playbooks" / name),
                           *extra], cwd=project, env=env, capture_output=True, text=True, timeout=600)


PLAY_IN_CHECK_MODE = """\
- name: Scan in check mode, set on the play
  hosts: all
  gather_facts: false
  check_mode: true
  roles:
    - role: fleetsam.sam.software_inventory
"""


@pytest.mark.parametrize("how", ["--check", "play"])
def test_check_mode_stores_nothing_and_writes_no_report(project, how):
    if how == "play":
        (project / "dry.yml").write_text(PLAY_IN_CHECK_MODE)
        run = playbook(project, str(project / "dry.yml"))
    else:
        run = playbook(project, "scan.yml", how)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fleetsam: check mode: hosts ok=1 unreachable=0 failed=0; nothing stored, no report written" in run.stdout
    left = sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file())
    assert left == sorted(["hosts.ini", "dry.yml"] if how == "play" else ["hosts.ini"]), "no store, spool or reports"


def test_scan_and_enforce_use_the_folder_they_run_from(project):
    run = playbook(project, "scan.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (project / ".fleetsam" / "fleetsam.json").is_file() and (project / "reports" / "index.html").is_file()
    assert "fleetsam: no entitlements: nothing is owned yet" in run.stdout
    assert not any((project / ".fleetsam" / "spool").iterdir()), "the processed spool is removed"
    (project / "policy.yml").write_text("fail_on: [stale-host]\n")  # this folder's policy, found by default
    enforce = playbook(project, "enforce.yml")
    assert enforce.returncode == 0, enforce.stdout + enforce.stderr
    assert "fleetsam check: no violations" in enforce.stdout
    (project / "policy.yml").write_text("fail_on: [unknown-type]\n")
    enforce = playbook(project, "enforce.yml")
    assert enforce.returncode == 2 and "policy.yml:1" in enforce.stdout, "the folder's own policy.yml was read"
