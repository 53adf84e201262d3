"""The fleet's topology: every hypervisor collector's view joined, and scanned guests linked to their VMs.

``fleet_topology`` takes the fleet's ``HostScan`` records (each host's newest,
``store.fleet``) and is pure. A guest is linked by its own BIOS UUID
(``Host.bios_uuid``: Linux DMI ``product_uuid``, Windows
``Win32_ComputerSystemProduct.UUID``, macOS ``IOPlatformUUID``) to the VM whose
``bios_uuid`` equals it as is or byte-swapped (``uuids.candidates``: VMware and
older SMBIOS read the first three fields in the other byte order).

Worked example: kvm01 reports server ``libvirt:kvm01`` in cluster
``libvirt-cluster:prod`` with VM db01 (``8f1c2d3e-…``), kvm02 the same cluster;
host ``db01`` reports DMI UUID ``8F1C2D3E-…``: its placement is VM db01 on
``libvirt:kvm01``, reachable ``libvirt:kvm01`` and ``libvirt:kvm02``. kvm01,
scanned for its own software, is the server ``libvirt:kvm01`` itself
(``FleetTopology.hypervisors``): its own installations count that server, once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from sam_engine.model import GuestVM, HostScan, PhysicalServer, Virtualization
from sam_engine.topology import FleetTopology, Placement, cloud, uuids


def fleet_topology(host_scans: Iterable[HostScan]) -> FleetTopology:
    """Servers by key (the newest report wins when two collectors report one server), the VMs of each
    as that report lists them, and a placement for every scanned guest whose UUID matches a VM. A cloud
    dedicated host is reported by each of its guests, each listing only itself: their VMs add up."""
    scans = list(host_scans)
    reports: dict[str, tuple[str, PhysicalServer, tuple[GuestVM, ...]]] = {}
    for hs in scans:
        if hs.topology is None:
            continue
        when = hs.collected_at or ""
        for server in hs.topology.servers:
            vms = tuple(vm for vm in hs.topology.guests if vm.server == server.key)
            known = reports.get(server.key)
            if known is not None and server.platform in cloud.DEDICATED_PLATFORMS:
                vms = (known[2] + vms) if when >= known[0] else (vms + known[2])
                server = server if when >= known[0] else known[1]
                reports[server.key] = (max(when, known[0]), server, vms)
            elif known is None or when >= known[0]:
                reports[server.key] = (when, server, vms)
    servers = {key: server for key, (_, server, _) in sorted(reports.items())}
    hypervisors = _hypervisors(scans, servers)
    for name, key in hypervisors.items():
        servers[key] = _completed(servers[key], next(hs for hs in scans if hs.inventory_name == name))
    guests = {key: vms for key, (_, _, vms) in sorted(reports.items())}
    by_uuid: dict[str, GuestVM] = {}
    # a VM seen on two servers (migrated between standalone hosts, one report older): the newest report places it
    for _, _, vms in sorted(reports.values(), key=lambda report: report[0], reverse=True):
        for vm in vms:
            by_uuid.setdefault(vm.bios_uuid, vm)
    placements = {}
    for hs in scans:
        vm = _vm_of(hs, by_uuid)
        if vm is not None:
            server = servers[vm.server]
            placements[hs.inventory_name] = Placement(hs.inventory_name, vm, server, reachable(server, servers))
    return FleetTopology(servers, guests, placements, hypervisors)


def _vm_of(hs: HostScan, by_uuid: dict[str, GuestVM]) -> GuestVM | None:
    """The VM a scanned host is, by its BIOS UUID as is, then swapped; None for a host that is no known VM."""
    if hs.host is None:
        return None
    for candidate in uuids.candidates(hs.host.bios_uuid):
        if candidate in by_uuid:
            return by_uuid[candidate]
    return None


def reachable(server: PhysicalServer, servers: dict[str, PhysicalServer]) -> tuple[PhysicalServer, ...]:
    """Every server of ``server``'s cluster (the soft-partitioning scope), else ``server`` alone."""
    if server.cluster is None:
        return (server,)
    return tuple(s for s in servers.values() if s.cluster == server.cluster)


def _hypervisors(scans: list[HostScan], servers: dict[str, PhysicalServer]) -> dict[str, str]:
    """Scanned hosts that are servers: by the hardware UUID the server reports (libvirt's host UUID, a
    Hyper-V host's BIOS GUID), else, among the servers a host's own collector reports, the one named by
    the host's hostname (libvirt over a local URI names the server by the host's hostname)."""
    found = {}
    for hs in scans:
        if hs.host is None:
            continue
        candidates = set(uuids.candidates(hs.host.bios_uuid))
        own = {s.key for s in hs.topology.servers} if hs.topology else set()
        names = {n.casefold() for n in (hs.host.hostname, hs.host.fqdn) if n}
        server = next((s for s in servers.values() if s.uuid and s.uuid in candidates), None) or next(
            (servers[k] for k in sorted(own) if k in servers and _names(servers[k].name) & names), None)
        if server is not None:
            found[hs.inventory_name] = server.key
    return found


def _names(name: str) -> set[str]:
    """A server's name and its first label (virsh prints the host name as the system has it set)."""
    return {name.casefold(), name.split(".")[0].casefold()}


def _completed(server: PhysicalServer, hs: HostScan) -> PhysicalServer:
    """``server`` with the CPU facts its collector did not report taken from its own scan: vendor and
    model always (a nested hypervisor sees the same processor family), counts only from a physical scan."""
    hw = hs.host.hardware if hs.host else None
    if hw is None:
        return server
    physical = hw.virtualization == Virtualization.PHYSICAL
    return replace(server, cpu_vendor=server.cpu_vendor or hw.cpu_vendor, cpu_model=server.cpu_model or hw.cpu_model,
                   sockets=server.sockets or (hw.sockets if physical else None),
                   cores=server.cores or (hw.cores if physical else None),
                   threads=server.threads or (hw.threads if physical else None))
