"""The virtualisation part of the report model: hypervisor servers with their guests, and per product
the servers its VMs pull in.

``topology_view`` lists every server the fleet's topology knows (``topology.FleetTopology``),
each with its guests, scanned or not: a scanned guest names its inventory host and the
licensable products found there; a guest nobody scanned is listed by its VM name. Each
server also names the products that count it (``servers`` of a product row: the
host-level rules of ``licensing.host_metrics``). Plain data; the templates only format it.
"""

from __future__ import annotations

from typing import Any, Sequence

from sam_engine.licensing.position import ProductPosition
from sam_engine.topology import FleetTopology


def server_rows(p: ProductPosition) -> list[dict[str, Any]]:
    """The physical servers a product's VMs pull in, each with the rule, the count and its arithmetic."""
    return [{"server": c.server.name, "key": c.server.key, "platform": c.server.platform, "cluster": c.server.cluster,
             "rule": c.rule, "quantity": c.quantity, "guests": list(c.guests), "running": list(c.running),
             "trace": c.line.text} for c in p.consumption.servers]


def counted_through(p: ProductPosition) -> dict[str, list[str]]:
    """Per guest (inventory name), the servers it makes the product count."""
    out: dict[str, list[str]] = {}
    for c in p.consumption.servers:
        for guest in c.guests:
            out.setdefault(guest, []).append(c.server.name)
    return out


def _guest(vm, host: str | None, products: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"vm": vm.name, "bios_uuid": vm.bios_uuid, "state": vm.state, "vcpus": vm.vcpus,
            "pinned_cpus": list(vm.pinned_cpus), "host": host,
            "products": [{"id": p["id"], "label": p["label"], "status": p["status"]} for p in products]}


def topology_view(topology: FleetTopology | None, hosts: Sequence[dict[str, Any]],
                  licensable: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every hypervisor server with its guests; ``hosts`` are the model's host rows (their licensable
    products), ``licensable`` the position's product rows (their ``servers``)."""
    if not topology:
        return []
    scanned = {(p.server.key, p.vm.bios_uuid): name for name, p in topology.placements.items()}
    on_host = {h["inventory_name"]: h["licensable"] for h in hosts}
    counting: dict[str, list[dict[str, Any]]] = {}
    for r in licensable:
        for s in r.get("servers", ()):
            counting.setdefault(s["key"], []).append({"id": r["id"], "label": r["label"], "rule": s["rule"],
                                                      "quantity": s["quantity"]})
    out = []
    for server in sorted(topology.servers.values(), key=lambda s: (s.cluster or "", s.name, s.key)):
        vms = {vm.bios_uuid: vm for vm in topology.guests.get(server.key, ())}
        for p in topology.placements.values():
            if p.server.key == server.key:
                vms.setdefault(p.vm.bios_uuid, p.vm)
        guests = []
        for vm in sorted(vms.values(), key=lambda v: (v.name, v.bios_uuid)):
            host = scanned.get((server.key, vm.bios_uuid))
            guests.append(_guest(vm, host, on_host.get(host, ()) if host else ()))
        out.append({
            "key": server.key, "name": server.name, "platform": server.platform, "source": server.source,
            "cluster": server.cluster, "sockets": server.sockets, "cores": server.cores, "threads": server.threads,
            "cpu_model": server.cpu_model, "guests": guests, "scanned_guests": sum(1 for g in guests if g["host"]),
            "products": counting.get(server.key, []),
        })
    return out
