"""VMware vSphere: the ``vcenter`` result of ``fleetsam.sam.vcenter_facts`` read into a ``model.Topology``.

The module returns the vSphere inventory as flat records that point at their
parent by managed object id (a host at its cluster or standalone compute
resource, that at a folder, folders up to their datacenter); this module
walks those links, keys every ESXi host and cluster by the vCenter that
reported it, and turns each VM into a ``GuestVM`` linked by its BIOS UUID.

Worked example: vCenter ``vc01`` reports host ``host-34`` in cluster
``domain-c29`` named ``C0`` in datacenter ``DC0``, and VM ``vm-51``
(``config.uuid`` ``265104DE-1472-547C-B873-6DC7883FB6CB``, 2 vCPUs) on it:
server ``vcenter:vc01/host-34`` with cluster ``vcenter:vc01/DC0/C0``, and a
guest ``265104de-1472-547c-b873-6dc7883fb6cb`` on that server. Templates are
left out (they never run); a VM that names no known host is a warning.
"""

from __future__ import annotations

from typing import Any, Mapping

from sam_engine.model import GuestVM, PhysicalServer, Problem, Topology
from sam_engine.topology.fields import count, records, text, uuid_or_problem

# vSphere's VirtualMachinePowerState, in the words the other hypervisor readers use.
POWER_STATES = {"poweredOn": "running", "poweredOff": "shut off", "suspended": "suspended"}
_MAX_DEPTH = 64  # folders nest; a parent chain longer than this is a loop in hostile input


def _datacenters(raw: Mapping[str, Any], origin: str, problems: list[Problem]) -> dict[str, str]:
    """moid -> the name of the datacenter it belongs to, for every folder, datacenter and compute resource."""
    parents: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for field in ("datacenters", "folders", "compute_resources"):
        for _, item in records(raw, field, origin, problems):
            moid = text(item.get("moid"))
            if moid:
                parents[moid] = text(item.get("parent"))
                if field == "datacenters":
                    names[moid] = text(item.get("name")) or moid
    found: dict[str, str] = {}
    for moid in parents:
        node: str | None = moid
        for _ in range(_MAX_DEPTH):
            if node is None or node in names:
                break
            node = parents.get(node)
        if node in names:
            found[moid] = names[node]
    return found


def topology(raw: Mapping[str, Any], inventory_name: str, origin: str) -> tuple[Topology, list[Problem]]:
    """The servers and VMs of one ``vcenter`` result; a problem (pointing into ``origin``) per unusable record."""
    problems: list[Problem] = []
    vcenter = text(raw.get("hostname")) or inventory_name
    source = f"vcenter_facts on {inventory_name}"
    datacenter = _datacenters(raw, origin, problems)
    clusters: dict[str, str] = {}
    for _, item in records(raw, "compute_resources", origin, problems):
        moid = text(item.get("moid"))
        if moid and item.get("type") == "ClusterComputeResource":
            place = datacenter.get(moid, "?")
            clusters[moid] = f"vcenter:{vcenter}/{place}/{text(item.get('name')) or moid}"

    servers: dict[str, PhysicalServer] = {}
    for where, item in records(raw, "hosts", origin, problems):
        moid = text(item.get("moid"))
        if not moid:
            problems.append(Problem(f"{where}.moid", "expected the host's managed object id: host left out"))
            continue
        uuid = uuid_or_problem(item.get("uuid"), f"{where}.uuid", problems, required=False)
        servers[moid] = PhysicalServer(
            key=f"vcenter:{vcenter}/{moid}", name=text(item.get("name")) or moid, platform="vmware", source=source,
            sockets=count(item.get("sockets")), cores=count(item.get("cores")), threads=count(item.get("threads")),
            cpu_model=text(item.get("cpu_model")), cluster=clusters.get(text(item.get("parent")) or ""), uuid=uuid)

    guests: list[GuestVM] = []
    for where, item in records(raw, "vms", origin, problems):
        if item.get("template") is True:
            continue
        name = text(item.get("name")) or text(item.get("moid")) or "?"
        server = servers.get(text(item.get("host")) or "")
        if server is None:
            problems.append(Problem(f"{where}.host", f"VM {name!r} names no reported host "
                                    f"(got {item.get('host')!r}): VM left out", "warning"))
            continue
        uuid = uuid_or_problem(item.get("uuid"), f"{where}.uuid", problems, required=True)
        if uuid is None:
            continue
        affinity = item.get("cpu_affinity")
        pinned = tuple(sorted({c for c in affinity if isinstance(c, int) and not isinstance(c, bool) and c >= 0})) \
            if isinstance(affinity, list) else ()
        state = text(item.get("power_state"))
        guests.append(GuestVM(bios_uuid=uuid, name=name, server=server.key, source=source,
                              vcpus=count(item.get("vcpus")), pinned_cpus=pinned,
                              state=POWER_STATES.get(state or "", state)))
    return Topology(servers=tuple(servers.values()), guests=tuple(guests)), problems
