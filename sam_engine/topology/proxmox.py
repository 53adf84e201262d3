"""Proxmox VE: ``qm`` and ``pvesh`` outputs (``hypervisor_facts`` with ``platform: proxmox``) read into a Topology.

The raw result (see the module's RETURN) holds, for the node the collector ran
on (``node``): ``qm list`` as printed, per VM the ``qm config`` lines the
engine reads (``name``, ``smbios1``, ``sockets``, ``cores``, ``vcpus``,
``affinity``), and three ``pvesh get ... --output-format json`` answers:
``/nodes`` (the cluster's nodes, ``maxcpu``), ``/nodes/NODE/status``
(``cpuinfo``: ``sockets``, ``cores`` in total, ``cpus``, ``model``) and
``/cluster/status`` (an entry of type ``cluster`` names the cluster).

A VM's BIOS UUID is ``smbios1: uuid=...``; its vCPUs ``vcpus`` when set, else
``sockets`` x ``cores`` (both default to 1); ``affinity`` (PVE 7.3+) pins it.
Each node reports only itself: every node of a cluster is scanned, so the
servers of one cluster key are the nodes its VMs can migrate to.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from sam_engine.model import GuestVM, PhysicalServer, Problem, Topology
from sam_engine.topology import uuids
from sam_engine.topology.collected import count, cpuset, key_values, text

PLATFORM = "proxmox"


def read(raw: Mapping[str, Any], where: str, inventory_name: str) -> tuple[Topology | None, list[Problem]]:
    """The node the collector ran on and the VMs ``qm list`` shows there."""
    problems: list[Problem] = []
    node = text(raw, "node").strip() or inventory_name
    cluster = _cluster_name(_json(raw, "cluster_status", where, problems))
    source = f"proxmox on {inventory_name}"
    key = f"proxmox:{cluster}/{node}" if cluster else f"proxmox:{node}"
    server = _server(raw, node, key, source, cluster, where, problems)
    states = _states(text(raw, "qm_list"))
    vms = raw.get("vms") if isinstance(raw.get("vms"), list) else []
    if raw.get("vms") is not None and not isinstance(raw.get("vms"), list):
        problems.append(Problem(f"{where}.vms", f"expected a list, got {type(raw['vms']).__name__}; no VMs recorded"))
    guests = []
    for n, vm in enumerate(vms):
        guest = _guest(vm, states, key, source, f"{where}.vms[{n}]", problems)
        if guest is not None:
            guests.append(guest)
    return Topology((server,), tuple(guests)), problems


def _json(raw: Mapping[str, Any], field: str, where: str, problems: list[Problem]) -> Any:
    output = text(raw, field)
    if not output.strip():
        return None
    try:
        return json.loads(output)
    except ValueError as exc:
        problems.append(Problem(f"{where}.{field}", f"expected pvesh JSON output ({exc}); ignored", "warning"))
        return None


def _cluster_name(status: Any) -> str | None:
    """The name of the ``cluster`` entry of ``pvesh get /cluster/status``; None on a standalone node."""
    for entry in status if isinstance(status, list) else ():
        if isinstance(entry, Mapping) and entry.get("type") == "cluster" and isinstance(entry.get("name"), str):
            return entry["name"].strip() or None
    return None


def _server(raw: Mapping[str, Any], node: str, key: str, source: str, cluster: str | None, where: str,
            problems: list[Problem]) -> PhysicalServer:
    status = _json(raw, "node_status", where, problems)
    cpuinfo = status.get("cpuinfo") if isinstance(status, Mapping) else None
    cpuinfo = cpuinfo if isinstance(cpuinfo, Mapping) else {}
    threads = count(cpuinfo.get("cpus"))
    nodes = _json(raw, "nodes", where, problems)
    for entry in nodes if isinstance(nodes, list) else ():
        if isinstance(entry, Mapping) and entry.get("node") == node:
            threads = threads or count(entry.get("maxcpu"))
    sockets, cores = count(cpuinfo.get("sockets")), count(cpuinfo.get("cores"))  # PVE's cores: all sockets'
    if sockets is None or cores is None:
        problems.append(Problem(f"{where}.node_status", "expected cpuinfo with 'sockets' and 'cores'; the node's "
                                                        "sockets and cores are unknown", "warning"))
    model = cpuinfo.get("model")
    return PhysicalServer(key=key, name=node, platform=PLATFORM, source=source, sockets=sockets, cores=cores,
                          threads=threads, cpu_model=model.strip() or None if isinstance(model, str) else None,
                          cluster=f"proxmox-cluster:{cluster}" if cluster else None)


def _states(qm_list: str) -> dict[str, str]:
    """VMID -> status column of ``qm list`` (VMID NAME STATUS MEM(MB) BOOTDISK(GB) PID)."""
    states = {}
    for line in qm_list.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0].isdigit():
            states[fields[0]] = fields[2]
    return states


def _guest(vm: Any, states: Mapping[str, str], server: str, source: str, where: str,
           problems: list[Problem]) -> GuestVM | None:
    if not isinstance(vm, Mapping):
        problems.append(Problem(where, f"expected a mapping, got {type(vm).__name__}; this VM is not recorded"))
        return None
    vmid = str(vm.get("vmid"))
    config = key_values(text(vm, "config"))
    smbios = dict(part.partition("=")[::2] for part in config.get("smbios1", "").split(","))
    bios_uuid = uuids.canonical(smbios.get("uuid"))
    if bios_uuid is None:
        problems.append(Problem(where, f"VM {vmid}: smbios1 has no usable uuid "
                                       f"(got {smbios.get('uuid', 'none')[:60]!r}); it cannot be linked and is not "
                                       "recorded", "warning"))
        return None
    vcpus = count(config.get("vcpus")) or (count(config.get("sockets")) or 1) * (count(config.get("cores")) or 1)
    pinned: tuple[int, ...] = ()
    if config.get("affinity"):
        pinned = cpuset(config["affinity"]) or ()
        if not pinned:
            problems.append(Problem(where, f"VM {vmid}: affinity: expected CPU numbers and ranges such as "
                                           f"'0-3,8', got {config['affinity'][:60]!r}; counted unpinned", "warning"))
    return GuestVM(bios_uuid=bios_uuid, name=config.get("name") or vmid, server=server, source=source,
                   vcpus=vcpus, pinned_cpus=pinned, state=states.get(vmid))
