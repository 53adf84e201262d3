"""topology.link: guests linked to their VMs by BIOS UUID (as is and byte-swapped), servers and clusters."""

from __future__ import annotations

import json
from pathlib import Path

from sam_engine.model import GuestVM, Hardware, Host, HostScan, HostStatus, PhysicalServer, Topology, Virtualization
from sam_engine.platforms.hardware import derive_host
from sam_engine.topology.collected import read_topology
from sam_engine.topology.link import fleet_topology

LIBVIRT = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "libvirt" / "node.hypervisor.json"


def scan(name, *, bios_uuid=None, topology=None, at="2026-12-01T00:00:00Z", status=HostStatus.OK):
    host = Host(f"machine-id:{name}", name, "machine-id", bios_uuid=bios_uuid)
    return HostScan("s1", name, status, host, (), collected_at=at, topology=topology)


def server(key, cluster=None, uuid=None, cores=16):
    return PhysicalServer(key, key.split(":")[-1], "kvm", f"libvirt on {key}", 2, cores, cores * 2, cluster=cluster,
                          uuid=uuid)


def vm(uuid, name, on):
    return GuestVM(uuid, name, on, f"libvirt on {on}", 2)


def test_a_scanned_guest_is_placed_on_the_vm_with_its_dmi_uuid():
    topology, _ = read_topology(json.loads(LIBVIRT.read_text()), "spool/kvm01.json", "kvm01")
    kvm = scan("kvm01", topology=topology)
    # the guest's collector reads DMI product_uuid in upper case, as some firmware writes it
    guest = HostScan("s1", "db01", HostStatus.OK,
                     derive_host({"machine_id": "a" * 32, "dmi": {"product_uuid": "8F1C2D3E-4A5B-4C6D-9E7F-0A1B2C3D4E5F"}},
                                 "db01"), ())
    fleet = fleet_topology([kvm, guest, scan("laptop", bios_uuid="00112233-4455-6677-8899-aabbccddeeff")])
    assert list(fleet.servers) == ["libvirt:vm"]
    assert [g.name for g in fleet.guests["libvirt:vm"]] == ["db01", "web01", "batch01"]
    placement = fleet.placement("db01")
    assert placement.vm.name == "db01" and placement.server.key == "libvirt:vm"
    assert placement.reachable == (placement.server,) and placement.hard_partitioned
    assert fleet.placement("laptop") is None and fleet.placement("kvm01") is None


def test_a_swapped_uuid_links_vmware_style():
    vms = Topology((server("vc:esx1"),), (vm("421c6a6e-9b3a-4f1c-8d2e-0a1b2c3d4e5f", "app", "vc:esx1"),))
    fleet = fleet_topology([scan("vc", topology=vms), scan("app", bios_uuid="6e6a1c42-3a9b-1c4f-8d2e-0a1b2c3d4e5f")])
    assert fleet.placement("app").vm.name == "app"


def test_reachable_is_the_cluster():
    a, b, c = server("libvirt:a", "libvirt-cluster:prod"), server("libvirt:b", "libvirt-cluster:prod"), \
        server("libvirt:c")
    u = "11111111-2222-4333-8444-555555555555"
    fleet = fleet_topology([scan("a", topology=Topology((a,), (vm(u, "g", "libvirt:a"),))),
                            scan("b", topology=Topology((b,))), scan("c", topology=Topology((c,))),
                            scan("g", bios_uuid=u)])
    assert fleet.placement("g").reachable == (a, b)
    assert bool(fleet) and not bool(fleet_topology([scan("g", bios_uuid=u)]))


def test_the_newest_report_of_a_server_wins():
    u = "11111111-2222-4333-8444-555555555555"
    old = Topology((server("libvirt:a", cores=8),), (vm(u, "g-old", "libvirt:a"),))
    new = Topology((server("libvirt:a", cores=24),), ())
    fleet = fleet_topology([scan("new", topology=new, at="2026-12-02T00:00:00Z"),
                            scan("old", topology=old, at="2026-12-01T00:00:00Z"), scan("g", bios_uuid=u)])
    assert fleet.servers["libvirt:a"].cores == 24 and fleet.guests["libvirt:a"] == ()
    assert fleet.placement("g") is None  # the VM is gone from the newest report


def test_a_scanned_hypervisor_is_matched_to_its_server_by_hardware_uuid():
    hw = "4c4c4544-0042-3510-8051-b4c04f4a4d32"
    kvm = scan("kvm01", bios_uuid=hw, topology=Topology((server("libvirt:kvm01", uuid=hw),)))
    fleet = fleet_topology([kvm, scan("other", bios_uuid=None)])
    assert fleet.hypervisors == {"kvm01": "libvirt:kvm01"}
    assert fleet.server_itself("kvm01").key == "libvirt:kvm01" and fleet.server_itself("other") is None


def named(name, hostname, topology=None, hardware=Hardware()):
    host = Host(f"machine-id:{name}", name, "machine-id", hostname=hostname, hardware=hardware)
    return HostScan("s1", name, HostStatus.OK, host, (), collected_at="2026-12-01T00:00:00Z", topology=topology)


def test_a_hypervisor_without_a_host_uuid_is_its_own_server_by_hostname_and_lends_it_its_cpu():
    """libvirt's test driver (and hosts without DMI) report no host UUID and no CPU vendor: the server a
    host's own collector names by the host's hostname is that host, and its scan's CPU fills the gaps."""
    epyc = Hardware(1, 2, 2, "AuthenticAMD", "AMD EPYC", Virtualization.VM, "kvm")
    bare = PhysicalServer("libvirt:kvm01.example.com", "kvm01.example.com", "kvm", "libvirt on kvm01", 2, 32, 64)
    remote = PhysicalServer("libvirt:kvm02", "kvm02", "kvm", "libvirt on kvm01", 2, 16, 32)
    kvm = named("kvm01", "kvm01", Topology((bare, remote)), epyc)
    # kvm02 is read over qemu+ssh from kvm01; the host scanned as kvm02 does not report it itself
    fleet = fleet_topology([kvm, named("kvm02", "kvm02")])
    assert fleet.hypervisors == {"kvm01": "libvirt:kvm01.example.com"}
    server = fleet.server_itself("kvm01")
    # the scan is a VM (nested): the CPU's vendor and model are lent, never its virtual counts
    assert (server.sockets, server.cores, server.threads, server.cpu_vendor, server.cpu_model) == (
        2, 32, 64, "AuthenticAMD", "AMD EPYC")
    physical = Hardware(2, 24, 48, "GenuineIntel", "Xeon", Virtualization.PHYSICAL)
    counts = PhysicalServer("libvirt:kvm03", "kvm03", "kvm", "libvirt on kvm03")
    lent = fleet_topology([named("kvm03", "kvm03", Topology((counts,)), physical)]).servers["libvirt:kvm03"]
    assert (lent.sockets, lent.cores, lent.threads, lent.cpu_vendor) == (2, 24, 48, "GenuineIntel")


def test_a_host_without_facts_is_no_guest():
    u = "11111111-2222-4333-8444-555555555555"
    fleet = fleet_topology([scan("a", topology=Topology((server("libvirt:a"),), (vm(u, "g", "libvirt:a"),))),
                            HostScan("s1", "never", HostStatus.UNREACHABLE, None, ())])
    assert fleet.placements == {}


def test_a_vm_on_two_servers_is_placed_by_the_newest_report():
    u = "11111111-2222-4333-8444-555555555555"
    old = Topology((server("libvirt:a"),), (vm(u, "g", "libvirt:a"),))
    new = Topology((server("libvirt:b"),), (vm(u, "g", "libvirt:b"),))
    fleet = fleet_topology([scan("a", topology=old, at="2026-12-01T00:00:00Z"),
                            scan("b", topology=new, at="2026-12-02T00:00:00Z"), scan("g", bios_uuid=u)])
    assert fleet.placement("g").server.key == "libvirt:b"
