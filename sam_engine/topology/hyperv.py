"""Hyper-V: the ``hyperv`` part of a ``win_software_facts`` result read into a ``model.Topology``.

On a Hyper-V host the Windows collector adds ``Get-VMHost``, ``Get-VM`` and
each VM's realized ``Msvm_VirtualSystemSettingData``. The host is one
standalone ``PhysicalServer`` (key ``hyperv:<fully qualified name>``), its
sockets and cores those of its own ``Win32_Processor`` records; each VM a
``GuestVM`` keyed by its ``BIOSGUID``, the SMBIOS UUID the guest reports
(``Win32_ComputerSystemProduct.UUID``), which is not always its ``VMId``.
A VM whose settings record is missing falls back to its ``VMId``, with a
warning. A failover cluster node (``cluster``: ``Get-Cluster``'s name and
``Get-ClusterNode``'s names) is in cluster ``hyperv-cluster:<name>``, so a VM
on one node reaches every scanned node of it; another host stands alone.

Worked example: host ``HV01`` (2 × 16 cores, 64 logical processors) with VM
``SQL01`` (VMId ``8e2c…``, BIOSGUID ``{3E0A2C8E-…}``, 4 processors, Running):
server ``hyperv:hv01.corp.example.com`` with 2 sockets, 32 cores, 64
threads, and guest ``3e0a2c8e-…`` with 4 vCPUs, state ``running``.
"""

from __future__ import annotations

from typing import Any, Mapping

from sam_engine.model import GuestVM, PhysicalServer, Problem, Topology
from sam_engine.platforms.windows import derive_hardware_windows
from sam_engine.topology.fields import count, records, text, uuid_or_problem
from sam_engine.topology.uuids import canonical

# Microsoft.HyperV.PowerShell.VMState: the collector returns the name, ConvertTo-Json the number.
VM_STATES = {"running": "running", "off": "shut off", "saved": "saved", "paused": "paused",
             2: "running", 3: "shut off", 6: "saved", 9: "paused"}


def _state(value: Any) -> str | None:
    if isinstance(value, str):
        return VM_STATES.get(value.strip().lower(), text(value))
    return VM_STATES.get(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _cluster(raw: Any, name: str, where: str, problems: list[Problem]) -> str | None:
    """The cluster key of a failover cluster node; None (standalone) without a readable cluster that
    lists the host (``ConvertTo-Json`` writes a one-node list as a plain string)."""
    if raw is None:
        return None
    cluster = text(raw.get("Name")) if isinstance(raw, Mapping) else None
    if cluster is None:
        problems.append(Problem(where, "expected Get-Cluster's Name and Get-ClusterNode's Nodes; the host is "
                                       "counted as a standalone server", "warning"))
        return None
    nodes = raw.get("Nodes")
    names = [nodes] if isinstance(nodes, str) else nodes if isinstance(nodes, list) else []
    if {str(n).casefold() for n in names} and name.casefold() not in {str(n).casefold() for n in names}:
        problems.append(Problem(where, f"cluster {cluster!r} does not list this host ({name!r}) among its nodes; "
                                       "the host is counted as a standalone server", "warning"))
        return None
    return f"hyperv-cluster:{cluster.lower()}"


def topology(win: Mapping[str, Any], inventory_name: str, origin: str) -> tuple[Topology | None, list[Problem]]:
    """The host and its VMs, or None when the result has no ``hyperv`` part (not a Hyper-V host)."""
    raw = win.get("hyperv")
    if raw is None:
        return None, []
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return None, [Problem(f"{origin}: hyperv", f"expected a mapping, got {type(raw).__name__}: ignored")]
    vm_host = raw.get("host") if isinstance(raw.get("host"), Mapping) else {}
    hardware = win.get("hardware") if isinstance(win.get("hardware"), Mapping) else {}
    derived = derive_hardware_windows(hardware)
    product = hardware.get("product") if isinstance(hardware.get("product"), Mapping) else {}
    name = text(vm_host.get("ComputerName")) or inventory_name
    fqdn = text(vm_host.get("FullyQualifiedDomainName"))
    if fqdn and "." not in fqdn:  # older hosts report only the domain here
        fqdn = None
    source = f"win_software_facts on {inventory_name}"
    server = PhysicalServer(
        key=f"hyperv:{(fqdn or name).lower()}", name=name, platform="hyperv", source=source,
        sockets=derived.sockets, cores=derived.cores,
        threads=count(vm_host.get("LogicalProcessorCount")) or derived.threads,
        cpu_vendor=derived.cpu_vendor, cpu_model=derived.cpu_model, uuid=canonical(product.get("UUID")),
        cluster=_cluster(raw.get("cluster"), name, f"{origin}: hyperv.cluster", problems))

    bios: dict[str, str] = {}
    for where, item in records(raw, "settings", origin, problems):
        vm_id = canonical(item.get("VirtualSystemIdentifier"))
        guid = uuid_or_problem(item.get("BIOSGUID"), f"{where}.BIOSGUID", problems, required=False)
        if vm_id and guid:
            bios[vm_id] = guid
    guests: list[GuestVM] = []
    for where, item in records(raw, "vms", origin, problems):
        vm_id = uuid_or_problem(item.get("VMId"), f"{where}.VMId", problems, required=True)
        if vm_id is None:
            continue
        vm_name = text(item.get("Name")) or vm_id
        bios_uuid = bios.get(vm_id)
        if bios_uuid is None:
            problems.append(Problem(f"{where}", f"VM {vm_name!r}: no BIOSGUID reported, linked by its VMId, "
                                    "which the guest may not see", "warning"))
        guests.append(GuestVM(bios_uuid=bios_uuid or vm_id, name=vm_name, server=server.key, source=source,
                              vcpus=count(item.get("ProcessorCount")), state=_state(item.get("State"))))
    return Topology(servers=(server,), guests=tuple(guests)), problems
