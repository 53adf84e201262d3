"""vcenter_facts through real Ansible against a real vSphere API: govmomi's vCenter simulator on 127.0.0.1.

The scan playbook reads a host of the inventory group ``vcenters`` through the API from the controller
(``delegate_to: localhost``); the engine reads the result as a topology-carrying host. A wrong password is a
failed host with one clear message, and the password is never in the output, the store or the reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vcsim
from sam_engine.store import open_store
from sam_engine.topology import vmware

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "vc-Secret-7f3a9"


@pytest.fixture(scope="module")
def simulator():
    sim = vcsim.start("fleetsam-ro", PASSWORD, "-cluster", "2", "-host", "3", "-standalone-host", "1", "-vm", "3")
    yield sim
    sim.stop()


def scan(project: Path, sim: vcsim.Simulator, password: str) -> subprocess.CompletedProcess:
    (project / "hosts.yml").write_text(json.dumps({"vcenters": {"hosts": {"vc01": {
        "ansible_host": sim.host, "software_inventory_vcenter_port": sim.port,
        "software_inventory_vcenter_protocol": "http", "software_inventory_vcenter_validate_certs": False}}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETSAM_")}
    # the tree callback (ansible-core's) writes each host's last result to a file: vc01's is vcenter_facts'
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_CALLBACKS_ENABLED="fleetsam.sam.collector,tree",
               ANSIBLE_CALLBACK_TREE_DIR=str(project / "tree"), ANSIBLE_NOCOLOR="1",
               FLEETSAM_VCENTER_USERNAME=sim.username, FLEETSAM_VCENTER_PASSWORD=password,
               FLEETSAM_INSTALLATIONS_CSV="false", PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", "hosts.yml", str(REPO / "playbooks" / "scan.yml")],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)


def module_result(project: Path) -> dict:
    """The vcenter_facts task's result for vc01, as the tree callback wrote it."""
    return json.loads((project / "tree" / "vc01").read_text())


def test_scan_reads_the_vcenter_topology_through_ansible(simulator, tmp_path):
    run = scan(tmp_path, simulator, PASSWORD)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = module_result(tmp_path)
    topo, problems = vmware.topology(result["vcenter"], "vc01", "vc01.json")
    assert problems == []
    # 2 clusters of 3 hosts plus 1 standalone host; 3 VMs per cluster pool and 3 on the standalone host
    assert len(topo.servers) == 7 and len(topo.guests) == 9
    clusters = {s.cluster for s in topo.servers}
    assert clusters == {None, "vcenter:127.0.0.1/DC0/DC0_C0", "vcenter:127.0.0.1/DC0/DC0_C1"}
    assert {(s.sockets, s.cores, s.threads) for s in topo.servers} == {(2, 24, 48)}
    servers = {s.key for s in topo.servers}
    assert all(g.server in servers and g.vcpus and len(g.bios_uuid) == 36 for g in topo.guests)
    assert sum(1 for g in topo.guests if g.pinned_cpus == (0, 1)) == 1

    with open_store(str(tmp_path / ".fleetsam" / "fleetsam.json")) as store:
        fleet = store.load_scan()
    (host,) = fleet.hosts
    assert (host.inventory_name, host.collector, host.stale) == ("vc01", "fleetsam.sam.vcenter_facts", False)
    assert host.host.os_name.startswith("VMware vCenter Server")
    assert host.topology == topo  # stored and read back whole
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if PASSWORD.encode() in p.read_bytes()]
    assert PASSWORD not in run.stdout + run.stderr


def test_a_refused_login_is_a_failed_host_with_one_clear_message(simulator, tmp_path):
    run = scan(tmp_path, simulator, "wrong-password")
    assert run.returncode == 2, run.stdout[-3000:]  # ansible-playbook: a host failed
    result = module_result(tmp_path)
    assert result["msg"] == "vcenter 127.0.0.1: login refused for user fleetsam-ro"
    assert "Traceback" not in run.stdout + run.stderr
    with open_store(str(tmp_path / ".fleetsam" / "fleetsam.json")) as store:
        (host,) = store.load_scan().hosts
    assert host.status.value == "failed" and "login refused" in host.error


def test_ten_thousand_vms_in_one_paged_retrieval(tmp_path):
    """2 datacenters x 10 clusters x 8 hosts, 500 VMs per cluster: 10,000 VMs on 160 hosts, read by the module
    through Ansible; one object per round trip would take minutes, paged retrieval takes seconds."""
    sim = vcsim.start("fleetsam-ro", PASSWORD, "-dc", "2", "-cluster", "10", "-host", "8", "-standalone-host", "0",
                      "-vm", "500")
    try:
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_CALLBACKS_ENABLED": "tree",
               "ANSIBLE_CALLBACK_TREE_DIR": str(tmp_path / "tree"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "VC_PASSWORD": PASSWORD}
        args = (f"hostname={sim.host} port={sim.port} protocol=http validate_certs=false username={sim.username} "
                "password={{ lookup('ansible.builtin.env', 'VC_PASSWORD') }}")
        started = time.monotonic()
        run = subprocess.run([str(BIN / "ansible"), "localhost", "-c", "local", "-e",
                              f"ansible_python_interpreter={sys.executable}", "-m", "fleetsam.sam.vcenter_facts",
                              "-a", args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        took = time.monotonic() - started
    finally:
        sim.stop()
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    raw = json.loads((tmp_path / "tree" / "localhost").read_text())["vcenter"]
    topo, problems = vmware.topology(raw, "vc01", "vc01.json")
    assert problems == [] and len(topo.servers) == 160 and len(topo.guests) == 10_000
    assert len({s.cluster for s in topo.servers}) == 20
    assert took < 60, f"{took:.1f} s for 10,000 VMs"
