"""Changes: what changed between two fleet states, as plain data (pure functions).

``diff(scan_a, scan_b, position_a, position_b)`` compares two stored ``Scan``s
and their Effective Licence Positions and returns a JSON-able dict:

- ``hosts``: one entry per inventory host that changed, with the installations
  ``added`` and ``removed`` and the ones whose version ``changed`` (same
  source and package id, another version), or a host that appeared, left the
  inventory or only changed status (reached / unreachable);
- ``position``: one entry per licensable product whose consumption, owned
  quantity, shortfall or status moved, with ``before`` and ``after`` figures and
  a ``direction`` (``worse``, ``better`` or ``changed``);
- ``summary``: the counts of both.

Hosts are matched by inventory name; installations by (source, package id,
version), so an upgrade shows once, as a version change. A stale host keeps its
last inventory, so an unreachable host shows a status change, never "every
package removed". Example: web1 upgraded bash 5.2-1 -> 5.2-2 and installed
curl -> ``{"host": "web1", "change": "changed", "added": [curl],
"changed": [bash 5.2-1 -> 5.2-2], "removed": []}``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from sam_engine.model import HostScan, Installation, Scan
from sam_engine.licensing.position import LicencePosition, ProductPosition
from sam_engine.vocabulary import LICENSABLE, URGENCY

_InstallKey = tuple[str, str, str, str]  # source, package id, name, version


def _key(i: Installation) -> _InstallKey:
    return (i.source, i.package_id or i.name, i.name, i.version or "")


def _item(key: _InstallKey) -> dict[str, Any]:
    source, package_id, name, version = key
    return {"source": source, "name": name, "version": version or None, "package_id": package_id}


def installation_changes(before: Iterable[Installation], after: Iterable[Installation]) -> dict[str, list[dict]]:
    """``added``, ``removed`` and ``changed`` (version) installations between two inventories."""
    old, new = Counter(map(_key, before)), Counter(map(_key, after))
    gone, came = sorted((old - new).elements()), sorted((new - old).elements())
    by_package: dict[tuple[str, str], list[_InstallKey]] = {}
    for key in came:
        by_package.setdefault(key[:2], []).append(key)
    changed, removed = [], []
    for key in gone:
        candidates = by_package.get(key[:2])
        if candidates:
            to = candidates.pop(0)
            changed.append({"source": key[0], "name": to[2], "package_id": key[1],
                            "before": key[3] or None, "after": to[3] or None})
        else:
            removed.append(_item(key))
    added = [_item(k) for keys in by_package.values() for k in keys]
    added.sort(key=lambda i: (i["name"].casefold(), i["source"], i["version"] or ""))
    removed.sort(key=lambda i: (i["name"].casefold(), i["source"], i["version"] or ""))
    changed.sort(key=lambda i: (i["name"].casefold(), i["source"]))
    return {"added": added, "removed": removed, "changed": changed}


def _digest(hs: HostScan) -> str | None:
    return hs.inventory_digest or getattr(hs.installations, "digest", None)


def _same_inventory(before: HostScan, after: HostScan) -> bool:
    """Whether both hold the same inventory, told by its content digest when both have one (most
    hosts of a nightly scan: no installation is compared then)."""
    digest = _digest(before)
    return digest is not None and digest == _digest(after)


def host_change(before: HostScan | None, after: HostScan | None) -> dict[str, Any] | None:
    """What changed on one inventory host; None when nothing did."""
    name = (after or before).inventory_name  # type: ignore[union-attr]
    entry: dict[str, Any] = {
        "host": name,
        "status_before": before.status.value if before else None,
        "status_after": after.status.value if after else None,
        "stale": bool(after and after.stale),
    }
    if before is not None and after is not None and _same_inventory(before, after):
        changes = {"added": [], "removed": [], "changed": []}
    else:
        changes = installation_changes(before.installations if before else (), after.installations if after else ())
    entry.update(changes)
    if before is None:
        entry["change"] = "added"
    elif after is None:
        entry["change"] = "removed"
    elif any(changes.values()):
        entry["change"] = "changed"
    elif before.status is not after.status:
        entry["change"] = "status"
    else:
        return None
    return entry


def diff_scans(scan_a: Scan, scan_b: Scan) -> list[dict[str, Any]]:
    """Per-host changes from ``scan_a`` to ``scan_b``, by host name."""
    old = {h.inventory_name: h for h in scan_a.hosts}
    new = {h.inventory_name: h for h in scan_b.hosts}
    out = []
    for name in sorted(old.keys() | new.keys(), key=str.casefold):
        entry = host_change(old.get(name), new.get(name))
        if entry is not None:
            out.append(entry)
    return out


def _figures(p: ProductPosition | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "status": p.status.value,
        "installations": len(p.installations),
        "hosts": len(p.hosts),
        "consumption": p.consumption.quantity,
        "owned": "unlimited" if p.owned is None else p.owned,
        "shortfall": p.shortfall,
        "gap_cost": str(p.cost.amount) if p.cost else None,
        "currency": p.cost.currency if p.cost else None,
    }


def _direction(before: dict | None, after: dict | None) -> str:
    if before is None or after is None:
        worse = after is not None and after["shortfall"] > 0
        return "worse" if worse else ("better" if before and before["shortfall"] > 0 else "changed")
    rank_before, rank_after = URGENCY.index(before["status"]), URGENCY.index(after["status"])
    if after["shortfall"] > before["shortfall"] or (rank_after < rank_before and after["shortfall"] > 0):
        return "worse"
    if after["shortfall"] < before["shortfall"] or (rank_after > rank_before and before["shortfall"] > 0):
        return "better"
    return "changed"


def _licensable(position: LicencePosition | None) -> dict[tuple, ProductPosition]:
    if position is None:
        return {}
    return {(p.publisher or "", p.product, p.edition or ""): p for p in position.products
            if p.status.value in LICENSABLE}


def diff_positions(position_a: LicencePosition | None, position_b: LicencePosition | None) -> list[dict[str, Any]]:
    """Licensable products whose figures or status moved between two positions."""
    old, new = _licensable(position_a), _licensable(position_b)
    moves = []
    for key in old.keys() | new.keys():
        before, after = _figures(old.get(key)), _figures(new.get(key))
        if before == after:
            continue
        sample = new.get(key) or old[key]
        moves.append({
            "publisher": sample.publisher,
            "product": sample.product,
            "edition": sample.edition,
            "before": before,
            "after": after,
            "direction": _direction(before, after),
        })
    order = {"worse": 0, "better": 1, "changed": 2}
    moves.sort(key=lambda m: (order[m["direction"]], (m["publisher"] or "").casefold(), m["product"].casefold(),
                              (m["edition"] or "").casefold()))
    return moves


def diff(scan_a: Scan, scan_b: Scan, position_a: LicencePosition | None = None,
         position_b: LicencePosition | None = None) -> dict[str, Any]:
    """Everything that changed from ``scan_a`` to ``scan_b`` (see the module docstring)."""
    hosts = diff_scans(scan_a, scan_b)
    moves = diff_positions(position_a, position_b)
    return {
        "from_scan": scan_a.scan_id,
        "to_scan": scan_b.scan_id,
        "summary": {
            "hosts_added": sum(1 for h in hosts if h["change"] == "added"),
            "hosts_removed": sum(1 for h in hosts if h["change"] == "removed"),
            "hosts_changed": sum(1 for h in hosts if h["change"] in ("changed", "status")),
            "installs_added": sum(len(h["added"]) for h in hosts),
            "installs_removed": sum(len(h["removed"]) for h in hosts),
            "installs_changed": sum(len(h["changed"]) for h in hosts),
            "products_moved": len(moves),
            "products_worse": sum(1 for m in moves if m["direction"] == "worse"),
            "products_better": sum(1 for m in moves if m["direction"] == "better"),
        },
        "hosts": hosts,
        "position": moves,
    }
