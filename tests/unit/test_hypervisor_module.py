"""plugins/modules/hypervisor_facts.py run as Ansible runs it: against libvirt's test driver (real virsh),
and against Proxmox's qm/pvesh replaying outputs recorded from their documented formats
(tests/fixtures/recorded/proxmox/commands: no Proxmox VE host exists here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sam_engine.topology.collected import read_topology

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "plugins" / "modules" / "hypervisor_facts.py"
NODE = REPO / "tests" / "fixtures" / "real" / "libvirt" / "node.xml"
COMMANDS = REPO / "tests" / "fixtures" / "recorded" / "proxmox" / "commands"


def run_module(tmp_path: Path, args: dict, path: str | None = None) -> dict:
    (tmp_path / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    done = subprocess.run([sys.executable, str(MODULE), str(tmp_path / "args.json")], capture_output=True, text=True,
                          env=env, timeout=120)
    return json.loads(done.stdout)


@pytest.fixture
def virsh():
    if shutil.which("virsh") is None:
        pytest.skip("virsh missing: run tests/integration/install-deps.sh (libvirt-clients)")


def test_libvirt_outputs_are_kept_raw_and_cut_to_what_the_engine_reads(tmp_path, virsh):
    result = run_module(tmp_path, {"uri": f"test://{NODE}", "cluster": "lab"})
    raw = result["hypervisor"]
    assert result["changed"] is False and raw["errors"] == [] and raw["cluster"] == "lab"
    assert "NUMA cell(s):        2" in raw["nodeinfo"]
    assert [d["uuid"] for d in raw["domains"]] == ["8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f",
                                                   "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0",
                                                   "c0ffee00-1234-4abc-8def-001122334455"]
    for domain in raw["domains"]:  # only <name>, <uuid>, <vcpu>, <cputune> of dumpxml leave the host
        assert domain["xml"].startswith("<domain><name>") and "<memory" not in domain["xml"]
        assert "<devices" not in domain["xml"] and "<os>" not in domain["xml"]
    topology, problems = read_topology(raw, "spool", "local")
    assert problems == [] and topology.servers[0].cluster == "libvirt-cluster:lab"


def test_libvirt_unreadable_connection_fails_with_the_reason(tmp_path, virsh):
    result = run_module(tmp_path, {"uri": f"test://{tmp_path}/missing.xml"})
    assert result["failed"] is True and "virsh nodeinfo failed" in result["msg"]
    assert result["errors"][0]["command"].endswith("nodeinfo") and result["errors"][0]["rc"] != 0


def test_no_virsh_fails_clearly(tmp_path):
    result = run_module(tmp_path, {}, path=str(tmp_path))  # a PATH without virsh (and without /usr/bin tools)
    assert result["failed"] is True and result["errors"][0]["stderr"] == "virsh: not found"


def replaying(bin_dir: Path) -> str:
    """A PATH whose qm and pvesh print the recorded outputs, as the real tools print them."""
    bin_dir.mkdir()
    (bin_dir / "qm").write_text(f"""#!/bin/sh
case "$1" in
  list) cat {COMMANDS}/qm_list.txt ;;
  config) f={COMMANDS}/qm_config_$2.txt; [ -f "$f" ] && cat "$f" || {{ echo "Configuration file does not exist" >&2; exit 2; }} ;;
esac
""")
    (bin_dir / "pvesh").write_text(f"""#!/bin/sh
case "$2" in
  /nodes) cat {COMMANDS}/pvesh_nodes.json ;;
  /nodes/*/status) cat {COMMANDS}/pvesh_node_status.json ;;
  /cluster/status) cat {COMMANDS}/pvesh_cluster_status.json ;;
  *) exit 1 ;;
esac
""")
    for tool in ("qm", "pvesh"):
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_proxmox_ships_only_the_config_lines_the_engine_reads(tmp_path):
    raw = run_module(tmp_path, {"platform": "proxmox"}, replaying(tmp_path / "bin"))["hypervisor"]
    assert [vm["vmid"] for vm in raw["vms"]] == ["100", "101", "102"]
    shipped = "\n".join(vm["config"] for vm in raw["vms"])
    # never the cloud-init password hash, user, description, disks or NICs
    for secret in ("cipassword", "hashedsecretvalue", "ciuser", "description", "scsi0", "net0"):
        assert secret not in shipped
    assert raw["vms"][0]["config"].splitlines() == ["affinity: 0-7", "cores: 4", "name: ora-db01",
                                                    "smbios1: uuid=5e7a1c2b-3d4f-4a6b-8c9d-0e1f2a3b4c5d",
                                                    "sockets: 2", "vcpus: 8"]
    topology, problems = read_topology(raw, "spool", "pve1")
    (server,) = topology.servers
    assert (server.sockets, server.cores, server.threads, server.cluster) == (2, 32, 64, "proxmox-cluster:prod-pve")
    assert [g.name for g in topology.guests] == ["ora-db01", "win-app01"]
    assert [p.source for p in problems] == ["spool: hypervisor.vms[2]"]  # legacy01 has no smbios1 uuid


def test_no_qm_is_not_a_proxmox_node(tmp_path):
    result = run_module(tmp_path, {"platform": "proxmox"}, path=str(tmp_path))
    assert result["failed"] is True and "qm list failed" in result["msg"]
