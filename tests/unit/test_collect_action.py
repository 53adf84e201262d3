"""fleetsam.sam.collect, the role's one task: its joining of hypervisor_facts' result, the role's
wiring, and real ansible-playbook runs on this machine (local connection) that reach the chosen
platform's collector with the role's options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.fleetsam.sam.plugins.action import collect
from ansible_collections.fleetsam.sam.plugins.callback import collector
from ansible_collections.fleetsam.sam.plugins.module_utils.collect_args import ARGUMENT_SPEC, COLLECTORS, ROLE_VARIABLES, platform_of

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SOFTWARE = {"changed": False, "fleetsam_handoff": {"field": "software_json"}, "warnings": ["rpm: not found"]}


def test_hypervisor_output_joins_the_software_result():
    joined = collect.with_hypervisor(dict(SOFTWARE), {"changed": False, "hypervisor": {"platform": "libvirt"},
                                                      "warnings": ["virsh: slow"]})
    assert joined["hypervisor"] == {"platform": "libvirt"} and "failed" not in joined
    assert joined["warnings"] == ["rpm: not found", "virsh: slow"]
    assert joined["fleetsam_handoff"] == SOFTWARE["fleetsam_handoff"], "the software stays"


def test_a_failed_hypervisor_fails_the_task_but_keeps_the_software():
    joined = collect.with_hypervisor(dict(SOFTWARE), {"failed": True, "msg": "virsh nodeinfo failed: no node"})
    assert joined["failed"] is True and joined["hypervisor_error"] == "virsh nodeinfo failed: no node"
    assert joined["msg"] == "fleetsam.sam.hypervisor_facts: virsh nodeinfo failed: no node"
    assert "hypervisor" not in joined and joined["fleetsam_handoff"] == SOFTWARE["fleetsam_handoff"]


@pytest.mark.parametrize("cluster, expected", [("", None), (None, None), ("rack-a", "rack-a")])
def test_an_empty_cluster_is_a_standalone_hypervisor(cluster, expected):
    args = collect.hypervisor_args({"platform": "libvirt", "uri": "qemu:///system", "cluster": cluster})
    assert args.get("cluster") == expected and args["uri"] == "qemu:///system"


def test_the_role_runs_one_task_the_callback_recognises():
    tasks = yaml.safe_load((REPO / "roles" / "software_inventory" / "tasks" / "main.yml").read_text())
    (task,) = tasks
    assert "fleetsam.sam.collect" in task and "when" not in task and "register" not in task
    assert "fleetsam.sam.collect" in collector.COLLECTOR_ACTIONS
    # each platform's collector has an option of collect holding that collector's options
    assert {name.rsplit(".", 1)[-1] for name in COLLECTORS.values()} < set(ARGUMENT_SPEC)
    assert set(COLLECTORS) | {"auto"} == set(ARGUMENT_SPEC["platform"]["choices"])
    # the role's documented variables are the ones collect reads
    specs = yaml.safe_load((REPO / "roles" / "software_inventory" / "meta" / "argument_specs.yml").read_text())
    documented = set(specs["argument_specs"]["main"]["options"])
    read = {name for options in ROLE_VARIABLES.values() for name in options.values()}
    assert read | {"software_inventory_platform", "software_inventory_hypervisor_group"} <= documented


@pytest.mark.parametrize("fleetsam_platform, groups, transport, shell, os_family, expected", [
    (None, ["ungrouped"], "ssh", "sh", None, "posix"),
    (None, ["web"], "local", "sh", "Debian", "posix"),
    (None, ["vcenters"], "ssh", "sh", None, "vcenter"),
    ("vcenter", ["ungrouped"], "ssh", "sh", None, "vcenter"),
    (None, ["ungrouped"], "winrm", "powershell", None, "windows"),
    (None, ["ungrouped"], "psrp", "powershell", None, "windows"),
    (None, ["ungrouped"], "ssh", "powershell", None, "windows"),
    ("macos", ["ungrouped"], "ssh", "sh", None, "macos"),
    (None, ["ungrouped"], "ssh", "sh", "Darwin", "macos"),
    (None, None, None, None, None, "posix"),
])
def test_auto_platform(fleetsam_platform, groups, transport, shell, os_family, expected):
    assert platform_of(fleetsam_platform, groups, transport, shell, os_family) == expected


def scan(tmp_path: Path, host_vars: str) -> tuple[subprocess.CompletedProcess, dict]:
    """scan.yml on this machine as ``localhost`` with ``host_vars``; the run and the host's spooled file."""
    (tmp_path / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"
                                        f" {host_vars}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSAM_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), FLEETSAM_ENGINE="false", FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"),
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", "hosts.ini", str(REPO / "playbooks" / "scan.yml")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    (spooled,) = (tmp_path / "spool").glob("*/hosts/*.json")
    return run, json.loads(spooled.read_text())


@pytest.mark.parametrize("host_vars, error", [
    ("fleetsam_platform=macos", "not a macOS host (uname -s: Linux); use fleetsam.sam.software_facts"),
    ("software_inventory_platform=macos", "not a macOS host (uname -s: Linux)"),
    ("fleetsam_platform=macos software_inventory_macos_apps_method=bogus", "apps_method"),
    ("software_inventory_platform=bogus", "software_inventory_platform: expected one of auto, posix, windows, macos, "
                                          "vcenter; got 'bogus'"),
])
def test_the_platform_and_the_roles_options_reach_the_collector(tmp_path, host_vars, error):
    """This machine is no Mac: the macOS collector (run over sh) says so, or rejects the role's option."""
    run, spooled = scan(tmp_path, host_vars)
    assert run.returncode == 2, run.stdout + run.stderr
    assert spooled["status"] == "failed" and error in spooled["error"]
