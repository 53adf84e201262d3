"""Hypervisor topology end to end: scan.yml over real SSH, the `local` test host in the `hypervisors`
group reading libvirt's test driver (a node XML with host CPUs and domains) with `virsh -r`, the
`debian` chroot host a guest whose SMBIOS UUID is one of those domains' (testhosts.DMI_UUIDS).

Asserted from the store: the hypervisor's record holds its software and its topology, the guest is
placed on its VM, a --limit run without the hypervisor and a run whose hypervisor_facts fails both keep
the last topology, and the hosts outside the group are scanned as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

import testhosts
from sam_engine.ingest.host_scans import HYPERVISOR_FAILED
from sam_engine.store import open_store
from sam_engine.topology.link import fleet_topology

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NODE = REPO / "tests" / "fixtures" / "real" / "libvirt" / "node.xml"
GUEST_DOMAIN = """  <domain type='test'>
    <name>debian-guest</name>
    <uuid>{uuid}</uuid>
    <memory>1048576</memory>
    <vcpu>2</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
  </domain>
</node>"""


def inventory(fleet, path: Path, uri: str) -> Path:
    doc = yaml.safe_load(fleet.inventory.read_text())
    doc["all"]["children"]["hypervisors"] = {
        "hosts": {"local": {}},
        "vars": {"software_inventory_libvirt_uri": uri, "software_inventory_hypervisor_cluster": "lab"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def scan(fleet, tmp_path: Path, inventory_file: Path, *extra: str) -> subprocess.CompletedProcess:
    env = fleet.ansible_env(FLEETSAM_STORE=str(tmp_path / "store.json"),
                            FLEETSAM_REPORT_DIR=str(tmp_path / "reports"), FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"))
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory_file), str(REPO / "playbooks/scan.yml"),
                           *extra], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def fleet_hosts(tmp_path: Path):
    with open_store(str(tmp_path / "store.json"), readonly=True) as st:
        return {h.inventory_name: h for h in st.load_scan().hosts}


def test_a_libvirt_host_and_its_scanned_guest(fleet, tmp_path):
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    guest_uuid = testhosts.DMI_UUIDS["debian"]
    node = tmp_path / "node.xml"
    node.write_text(NODE.read_text().replace("</node>", GUEST_DOMAIN.format(uuid=guest_uuid.upper())))
    hypervisors = inventory(fleet, tmp_path / "inventory.yml", f"test://{node}")

    first = scan(fleet, tmp_path, hypervisors)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "hosts ok=3 unreachable=0 failed=0" in first.stdout
    hosts = fleet_hosts(tmp_path)
    local, debian = hosts["local"], hosts["debian"]
    assert len(local.installations) > 0 and len(debian.installations) > 0  # software as before
    assert hosts["rpm"].topology is None and debian.topology is None
    assert debian.host.bios_uuid == guest_uuid  # read from the chroot's /sys/class/dmi/id over SSH
    (server,) = local.topology.servers
    virsh_hostname = subprocess.run(["virsh", "-r", "-c", f"test://{node}", "hostname"], capture_output=True,
                                    text=True, check=True).stdout.strip()
    assert (server.key, server.sockets, server.cores, server.threads) == (f"libvirt:{virsh_hostname}", 2, 16, 32)
    assert server.cluster == "libvirt-cluster:lab" and server.source == "libvirt on local"
    assert {g.name: g.vcpus for g in local.topology.guests} == {"db01": 4, "web01": 2, "batch01": 3,
                                                                "debian-guest": 2}

    topology = fleet_topology(hosts.values())
    placement = topology.placement("debian")
    assert placement.vm.name == "debian-guest" and placement.vm.bios_uuid == guest_uuid
    assert placement.server.key == server.key and placement.reachable == (placement.server,)
    assert not placement.hard_partitioned and set(topology.placements) == {"debian"}
    # `local` is the server itself; the test driver reports no CPU vendor: local's own scan lends it
    assert topology.hypervisors == {"local": server.key} and server.cpu_vendor is None
    assert placement.server.cpu_vendor == local.host.hardware.cpu_vendor is not None

    # a run that does not reach the hypervisor: its record, topology included, stays
    limited = scan(fleet, tmp_path, hypervisors, "--limit", "debian")
    assert limited.returncode == 0, limited.stdout + limited.stderr
    assert fleet_hosts(tmp_path)["local"].topology == local.topology

    # hypervisor_facts fails (no such node file): the software is stored, the last topology kept, a warning says why
    broken = scan(fleet, tmp_path, inventory(fleet, tmp_path / "broken.yml", f"test://{tmp_path}/missing.xml"),
                  "--limit", "local")
    assert broken.returncode != 0 and "virsh nodeinfo failed" in broken.stdout
    again = fleet_hosts(tmp_path)["local"]
    assert again.scan_id != local.scan_id and not again.stale and len(again.installations) > 0
    assert again.topology == local.topology
    assert any(w.startswith(HYPERVISOR_FAILED) for w in again.warnings)
