"""Real ansible-playbook runs of playbooks/scan.yml and enforce.yml against this machine (local
connection): check mode writes nothing, a real run writes under the directory it runs from, and
enforce.yml checks the store of that directory; a play in check mode that does not scan, or a
failure in another play on a host the scan does not target, leaves the scan as it is; ``fleetsam
scan`` (and its ``--check``) counts hosts as the callback's summary does."""

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


def two_hosts(project: Path, outside: str = "ansible_connection=local") -> None:
    """``localhost`` and ``outside``, a second host (local by default, else as ``outside`` says)."""
    local = f"ansible_python_interpreter={sys.executable} software_inventory_cloud_metadata=false"
    (project / "hosts.ini").write_text(f"localhost ansible_connection=local {local}\noutside {outside} {local}\n")


SCAN_PLAY = """\
- name: Scan installed software
  hosts: {hosts}
  gather_facts: false
  roles:
    - role: fleetsam.sam.software_inventory
"""
DRY_RUN_PLAY = """\
- name: A dry run of something else
  hosts: localhost
  gather_facts: false
  check_mode: true
  tasks:
    - ansible.builtin.copy: {{content: "x", dest: "{dest}"}}
"""
FAILING_PLAY = """\
- name: A play that fails on the host outside
  hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - ansible.builtin.fail: {msg: "precheck failed"}
      when: inventory_hostname == 'outside'
"""


@pytest.mark.parametrize("dry_run_first", [False, True])
def test_a_play_in_check_mode_that_does_not_scan_leaves_the_scan_real(project, dry_run_first):
    two_hosts(project)
    plays = [SCAN_PLAY.format(hosts="all"), DRY_RUN_PLAY.format(dest=project / "drift.txt")]
    (project / "two.yml").write_text("".join(reversed(plays) if dry_run_first else plays))
    run = playbook(project, str(project / "two.yml"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fleetsam: hosts ok=2 unreachable=0 failed=0" in run.stdout and "check mode" not in run.stdout
    assert (project / ".fleetsam" / "fleetsam.json").is_file() and (project / "reports" / "index.html").is_file()
    assert not (project / "drift.txt").exists(), "the other play did run in check mode"


def test_a_collector_task_out_of_check_mode_scans_for_real_under_check(project):
    (project / "real.yml").write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                                      "    - fleetsam.sam.software_facts: {software_format: json}\n"
                                      "      check_mode: false\n")
    run = playbook(project, str(project / "real.yml"), "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fleetsam: hosts ok=1 unreachable=0 failed=0" in run.stdout and "check mode" not in run.stdout
    assert (project / ".fleetsam" / "fleetsam.json").is_file()


GONE = "ansible_connection=ssh ansible_host=127.0.0.250 ansible_port=9"  # refuses the connection: unreachable


@pytest.mark.parametrize("outside, scanned, closing", [
    ("ansible_connection=local", "localhost", "hosts ok=1 unreachable=0 failed=0"),
    (GONE, "localhost", "hosts ok=1 unreachable=0 failed=0"),
    ("ansible_connection=local", "all", "hosts ok=1 unreachable=0 failed=1"),  # in the scope: recorded
    (GONE, "all", "hosts ok=1 unreachable=1 failed=0")])
def test_a_host_no_scan_targets_keeps_its_record_whatever_failed_in_another_play(project, outside, scanned, closing):
    two_hosts(project, outside)
    (project / "two.yml").write_text(FAILING_PLAY + SCAN_PLAY.format(hosts=scanned))
    run = playbook(project, str(project / "two.yml"))
    assert f"fleetsam: {closing}" in run.stdout, run.stdout + run.stderr
    hosts = subprocess.run([str(BIN / "fleetsam"), "--store", ".fleetsam/fleetsam.json", "hosts"], cwd=project,
                           capture_output=True, text=True, timeout=60)
    assert hosts.returncode == 0 and ("outside" in hosts.stdout) == (scanned == "all"), hosts.stdout


@pytest.mark.parametrize("check", [False, True])
def test_fleetsam_scan_counts_a_host_whose_hypervisor_step_failed_as_the_summary_does(project, check):
    """A local host of the hypervisors group: its collect task fails at hypervisor_facts (no libvirt or
    Proxmox here), its software is read, so the host is ok, in the progress as in the summary."""
    (project / "hosts.ini").write_text("[hypervisors]\n" + (project / "hosts.ini").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSAM_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    run = subprocess.run([str(BIN / "fleetsam"), "scan", "-i", "hosts.ini", "--progress", "lines",
                          "--no-installations-csv", *(["--check"] if check else [])],
                         cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "scan: 1/1 hosts, 0 unreachable, 0 failed" in run.stdout
    assert ("check mode: hosts ok=1 unreachable=0 failed=0; nothing stored, no report written" in run.stdout) == check
    assert (project / ".fleetsam" / "fleetsam.json").is_file() != check and (project / "reports").is_dir() != check
