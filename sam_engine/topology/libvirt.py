"""libvirt/KVM: ``virsh -r`` outputs (``hypervisor_facts`` with ``platform: libvirt``) read into a Topology.

The raw result (see the module's RETURN) holds ``nodeinfo`` and ``hostname``
as virsh prints them, ``capabilities`` cut to its ``<host>`` part (UUID and CPU
model), and per domain its ``dominfo`` and the ``<name>``, ``<uuid>``,
``<vcpu>`` and ``<cputune>`` elements of its ``dumpxml``.

Worked example, the test driver's node of ``tests/fixtures/real/libvirt``:
nodeinfo "NUMA cell(s): 2", "CPU socket(s): 1" (per cell), "Core(s) per
socket: 8", "CPU(s): 32" is 2 sockets, 16 cores, 32 threads; a domain with
``<vcpupin vcpu='0' cpuset='0'/>`` ... ``cpuset='3'`` is pinned to CPUs 0-3.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Mapping

from sam_engine.model import GuestVM, PhysicalServer, Problem, Topology
from sam_engine.topology import uuids
from sam_engine.topology.collected import count, cpuset, key_values, text

PLATFORM = "kvm"


def read(raw: Mapping[str, Any], where: str, inventory_name: str) -> tuple[Topology | None, list[Problem]]:
    """The server the libvirt connection manages and its domains (``where`` names the result in problems)."""
    problems: list[Problem] = []
    name = text(raw, "hostname").strip() or inventory_name
    source = f"libvirt on {inventory_name}"
    server = _server(raw, name, source, where, problems)
    domains = raw.get("domains")
    if domains is None:
        domains = []
    if not isinstance(domains, list):
        problems.append(Problem(f"{where}.domains", f"expected a list, got {type(domains).__name__}; "
                                                    "no VMs recorded"))
        domains = []
    guests = []
    for n, domain in enumerate(domains):
        guest = _guest(domain, server.key, source, f"{where}.domains[{n}]", problems)
        if guest is not None:
            guests.append(guest)
    return Topology((server,), tuple(guests)), problems


def _server(raw: Mapping[str, Any], name: str, source: str, where: str, problems: list[Problem]) -> PhysicalServer:
    info = key_values(text(raw, "nodeinfo"))
    cells, per_cell = count(info.get("NUMA cell(s)")), count(info.get("CPU socket(s)"))
    per_socket, per_core = count(info.get("Core(s) per socket")), count(info.get("Thread(s) per core"))
    # nodeinfo's socket count is per NUMA cell: the host's sockets are cells x that
    sockets = cells * per_cell if cells and per_cell else None
    cores = sockets * per_socket if sockets and per_socket else None
    threads = count(info.get("CPU(s)")) or (cores * per_core if cores and per_core else None)
    if sockets is None or cores is None:
        problems.append(Problem(f"{where}.nodeinfo", "expected 'NUMA cell(s)', 'CPU socket(s)' and "
                                                     "'Core(s) per socket' counts; the host's sockets and cores "
                                                     "are unknown", "warning"))
    host = _host_element(text(raw, "capabilities"), f"{where}.capabilities", problems)
    cpu_model = cpu_vendor = uuid = None
    if host is not None:
        uuid = uuids.canonical(host.findtext("uuid"))
        cpu_model = (host.findtext("cpu/model") or "").strip() or None
        cpu_vendor = (host.findtext("cpu/vendor") or "").strip() or None
    cluster = raw.get("cluster")
    return PhysicalServer(
        key=f"libvirt:{name}", name=name, platform=PLATFORM, source=source, sockets=sockets, cores=cores,
        threads=threads, cpu_vendor=cpu_vendor, cpu_model=cpu_model,
        cluster=f"libvirt-cluster:{cluster}" if isinstance(cluster, str) and cluster.strip() else None, uuid=uuid)


def _host_element(xml: str, where: str, problems: list[Problem]) -> ET.Element | None:
    if not xml.strip():
        return None
    root = _parse(xml, where, problems)
    if root is None:
        return None
    return root if root.tag == "host" else root.find("host")


def _parse(xml: str, where: str, problems: list[Problem]) -> ET.Element | None:
    try:
        return ET.fromstring(xml)
    except ET.ParseError as exc:
        problems.append(Problem(where, f"unreadable XML ({exc}); ignored", "warning"))
        return None


def _guest(domain: Any, server: str, source: str, where: str, problems: list[Problem]) -> GuestVM | None:
    if not isinstance(domain, Mapping):
        problems.append(Problem(where, f"expected a mapping, got {type(domain).__name__}; this VM is not recorded"))
        return None
    info = key_values(text(domain, "dominfo"))
    xml = text(domain, "xml")
    root = _parse(xml, f"{where}.xml", problems) if xml.strip() else None
    name = ((root.findtext("name") if root is not None else None) or info.get("Name") or "").strip()
    found = (root.findtext("uuid") if root is not None else None) or info.get("UUID") or domain.get("uuid")
    bios_uuid = uuids.canonical(found)
    if bios_uuid is None:
        problems.append(Problem(where, f"VM {name or '?'!r}: expected a UUID, got {str(found)[:60]!r}; "
                                       "this VM cannot be linked and is not recorded", "warning"))
        return None
    vcpu = root.find("vcpu") if root is not None else None
    vcpus = count(info.get("CPU(s)"))
    if vcpus is None and vcpu is not None:
        vcpus = count(vcpu.get("current")) or count(vcpu.text)
    return GuestVM(bios_uuid=bios_uuid, name=name or bios_uuid, server=server, source=source, vcpus=vcpus,
                   pinned_cpus=_pinned(root, where, problems), state=info.get("State") or None)


def _pinned(root: ET.Element | None, where: str, problems: list[Problem]) -> tuple[int, ...]:
    """Host CPUs the domain's vCPUs may run on: each vCPU's ``<cputune><vcpupin cpuset>``, else the
    ``<vcpu cpuset>``; () when some vCPU may run anywhere. The XML is the live configuration (``virsh
    vcpupin`` reports the same, but the test driver's answers ignore the node's CPUs, so the XML is read)."""
    vcpu = root.find("vcpu") if root is not None else None
    if vcpu is None:
        return ()
    pins = {pin.get("vcpu"): pin.get("cpuset") for pin in root.findall("cputune/vcpupin")}
    default = vcpu.get("cpuset")
    unpinned = len(pins) < (count(vcpu.text) or 0)
    if unpinned and not default:
        return ()
    cpus: set[int] = set()
    for value in [*pins.values(), *([default] if unpinned else [])]:
        numbers = cpuset(value or "")
        if not numbers:
            problems.append(Problem(f"{where}.xml", f"cpuset: expected CPU numbers and ranges such as '0-3,^2', "
                                                    f"got {str(value)[:60]!r}; pinning unknown, counted unpinned",
                                    "warning"))
            return ()
        cpus.update(numbers)
    return tuple(sorted(cpus))
