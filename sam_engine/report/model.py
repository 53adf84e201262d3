"""The report model: everything a report shows, computed once, as plain data.

Templates and machine formats format this model and compute nothing. The
model is JSON-serialisable as it is; ``report.json`` is this model verbatim,
versioned by ``schema_version`` and described by ``schemas/report.schema.json``.

Top-level keys: ``scan`` (which snapshot, and the one before it), ``policy`` (where the
findings' policy came from), ``warnings`` (about the fleet, worded as ``fleetsam check`` words
them: no host, every host stale), ``summary``
(counts) and ``tiles`` (the headline numbers, each with the section and filter
it drills down to), ``findings`` (when computed: violations, the findings the
policy fails on or rates high, first; each entitlement with its label), ``position`` (see
``report.position.position_view``), ``changes`` (since the previous scan, see
``report.changes``), ``history`` (one entry per stored scan, for the trend),
``charts`` (SVG geometry, see ``report.charts``), ``hosts`` (per host: hardware, status,
installations per source and the licensable products found there) and ``topology`` (the
hypervisor servers with their guests, see ``topology_view``).

The model holds no record per installation: a fleet of 10,000 hosts has ten
million of them. ``report.installations`` streams them, each with the product
it counts under, from the scan and position into ``installations.csv``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, Mapping, Sequence

from sam_engine import __version__
from sam_engine.report import changes as scan_changes
from sam_engine.ingest.inventory import RowTable, compact_view, source_counts
from sam_engine.findings.policy import Policy
from sam_engine.model import Entitlement, HostScan, HostStatus, Problem, Scan
from sam_engine.licensing.position import LicencePosition
from sam_engine.report.charts import publisher_bars, trend
from sam_engine.report.position import distinct_packages, entitlement_label, host_products, position_view
from sam_engine.staleness import Staleness
from sam_engine.topology import FleetTopology
from sam_engine.topology.link import fleet_topology
from sam_engine.vocabulary import DEFAULT_FAIL_ON, NON_COMPLIANT, Status, severity_rank

VIOLATION_SEVERITY = severity_rank("high")  # a finding this severe is a violation even where the policy passes it
from sam_engine.store.interface import ScanInfo

SCHEMA_VERSION = "3.3"  # 3.0: no per-host package list (see installations.csv); 3.1: violations, unused spend;
# 3.2: hypervisor servers (topology), the servers each product's VMs pull in; 3.3: policy, warnings, needs data,
# hosts stale by age (age_days, hosts_out_of_date)


def _sources(hs: HostScan, fallback: RowTable, seen: dict[int, tuple[RowTable, set[int]]] | None) -> dict[str, int]:
    """Installations per source on one host (as ingest counted them, when it did); the host's
    distinct rows are added to ``seen`` (unless None)."""
    known = getattr(hs.installations, "sources", None)
    if known is not None and seen is None:
        return dict(known)
    table, ids = compact_view(hs.installations, fallback)
    if seen is not None:
        seen.setdefault(id(table), (table, set()))[1].update(ids)
    return dict(known) if known is not None else source_counts(table, ids)


def _distinct_packages(seen: dict[int, tuple[RowTable, set[int]]]) -> int:
    return len({table.rows[rid][:2] for table, ids in seen.values() for rid in ids})


def _host(hs: HostScan, sources: dict[str, int], licensable: list[dict], rule: Staleness) -> dict[str, Any]:
    host, hw = hs.host, hs.host.hardware if hs.host else None
    return {
        "inventory_name": hs.inventory_name,
        "status": hs.status.value,
        "stale": rule.stale(hs),
        "age_days": rule.age(hs),
        "error": hs.error,
        "host_id": host.host_id if host else None,
        "identity_source": host.identity_source if host else None,
        "hostname": host.hostname if host else None,
        "fqdn": host.fqdn if host else None,
        "os": " ".join(p for p in (host.os_name, host.os_version) if p) if host else None,
        "kernel": host.kernel if host else None,
        "sockets": hw.sockets if hw else None,
        "cores": hw.cores if hw else None,
        "threads": hw.threads if hw else None,
        "cpu_model": hw.cpu_model if hw else None,
        "virtualization": hw.virtualization.value if hw else None,
        "hypervisor": hw.hypervisor if hw else None,
        "memory_mb": hw.memory_mb if hw else None,
        "inventory_scan_id": hs.inventory_scan_id,
        "collected_at": hs.collected_at,
        "warnings": list(hs.warnings),
        "package_count": len(hs.installations),
        "sources": sources,
        "licensable": licensable,
        "users": None if host is None or host.users is None else [
            {"account": u.account, "kind": u.kind, "source": u.source,
             "last_login": None if u.last_login is None else
             datetime.datetime.fromtimestamp(u.last_login, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for u in host.users],
    }


def _guest(vm, host: str | None, products: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"vm": vm.name, "bios_uuid": vm.bios_uuid, "state": vm.state, "vcpus": vm.vcpus,
            "pinned_cpus": list(vm.pinned_cpus), "host": host,
            "products": [{"id": p["id"], "label": p["label"], "status": p["status"]} for p in products]}


def topology_view(topology: FleetTopology | None, hosts: Sequence[dict[str, Any]],
                  licensable: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every hypervisor server the topology knows, with its guests, scanned or not (a scanned guest names
    its inventory host and the licensable products found there), and the products whose host-level rule
    counts it; ``hosts`` are the model's host rows, ``licensable`` the position's product rows."""
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


def _number(amount: str) -> str:
    """``190000.00`` -> ``190,000``; ``1234.5`` -> ``1,234.5`` (display only; the model keeps the exact text)."""
    value = Decimal(amount)
    return f"{int(value):,}" if value == value.to_integral_value() else f"{value:,}"


def _money(cost_totals: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"currency": c, "amount": a, "display": f"{_number(a)} {c}", "number": _number(a)}
            for c, a in cost_totals.items()]


def _findings(findings: Sequence[Mapping[str, Any]], entitlements: Sequence[Entitlement],
              fail_on: Sequence[str]) -> list[dict[str, Any]]:
    """The finding rows, each marked ``violation`` (its type fails the policy, or it is high or critical)
    and with its entitlements' labels beside their ids."""
    labels = {e.entitlement_id: entitlement_label(e) for e in entitlements}
    out = []
    for f in findings:
        row = dict(f)
        row["violation"] = f["type"] in fail_on or severity_rank(f["severity"]) >= VIOLATION_SEVERITY
        row["entitlement_labels"] = [{"id": e, "label": labels.get(e, e)} for e in f["entitlements"]]
        out.append(row)
    out.sort(key=lambda r: not r["violation"])  # stable: violations first, each group in the engine's order
    return out


def _summary(scan: Scan, hosts: list[dict], distinct: int, position: dict | None,
             findings: list[dict] | None, rule: Staleness) -> dict[str, Any]:
    rows = position["licensable"] if position else []
    bad = sum(1 for r in rows if r["status"] in NON_COMPLIANT)
    needs_data = sum(1 for r in rows if r["status"] == Status.NEEDS_DATA.value)  # not known to be licensed
    never = sum(1 for h in hosts if h["stale"] and not h["collected_at"])  # no inventory to keep
    findings = findings or []
    violations = sum(1 for f in findings if f["violation"])
    third_party = sum(1 for t in position["unrecognised"] if t["provenance"] == "third-party") if position else 0
    return {
        "hosts": len(hosts),
        "hosts_ok": scan.count(HostStatus.OK),
        "hosts_unreachable": scan.count(HostStatus.UNREACHABLE),
        "hosts_failed": scan.count(HostStatus.FAILED),
        "hosts_stale": sum(1 for h in hosts if h["stale"]),
        "hosts_never_inventoried": never,
        "hosts_out_of_date": sum(1 for h in scan.hosts if rule.out_of_date(h)),
        "installations": sum(h["package_count"] for h in hosts),
        "distinct_packages": distinct,
        "products": len(rows),
        "products_non_compliant": bad,
        "products_needs_data": needs_data,
        "products_unrecognised": len(position["unrecognised"]) if position else 0,
        # none when nothing was measured: no product, or no host ever inventoried
        "compliance_rate": (round((len(rows) - bad - needs_data) / len(rows), 4)
                            if rows and never < len(hosts) else None),
        "money_at_risk": _money(position["cost_totals"]) if position else [],
        "unpriced_gaps": sum(1 for r in rows if r["shortfall"] > 0 and not r["gap_cost"]),
        "unused_spend": _money(position["unused_totals"]) if position else [],
        "unused_products": sum(1 for r in rows if r["unused"]),
        "unpriced_unused": sum(1 for r in rows if r["unused"] and not r["unused_cost"]),
        "findings_violations": violations,
        "findings_information": len(findings) - violations,
        "findings_with_hosts": sum(1 for f in findings if f["hosts"]),
        "unrecognised_third_party": third_party,
        "unrecognised_distribution": (len(position["unrecognised"]) if position else 0) - third_party,
    }


def _tile(tid: str, label: str, value: Any, detail: str, tone: str, section: str, status: str = "",
          unit: str = "") -> dict[str, Any]:
    return {"id": tid, "label": label, "value": str(value), "unit": unit, "detail": detail, "tone": tone,
            "section": section, "status": status}


def _compliance_detail(s: dict[str, Any], measured: bool) -> str:
    if not measured:
        return "no host inventoried: nothing was measured"
    detail = (f"of {s['products']:,} licensable products are fully licensed; "
              f"{s['products_non_compliant']:,} short of licences")
    if s["products_needs_data"]:
        detail += f", {s['products_needs_data']:,} needing data (not counted as fully licensed)"
    return detail


def _compliance_tone(s: dict[str, Any], measured: bool) -> str:
    if not measured or (s["products_needs_data"] and not s["products_non_compliant"]):
        return "warn"
    if s["compliance_rate"] is None:
        return "neutral"
    return "bad" if s["products_non_compliant"] else "ok"


def _tiles(s: dict[str, Any], with_findings: bool, stale: str) -> list[dict[str, Any]]:
    """The headline numbers (``stale``: the stale hosts by reason, ``Staleness.counted``); ``section``/``status``
    say where each drills down to."""
    rate, money, unused = s["compliance_rate"], s["money_at_risk"], s["unused_spend"]
    if s["unpriced_gaps"]:
        priced = f"{s['unpriced_gaps']} shortfall(s) without a unit cost"
    else:
        priced = "every shortfall priced" if money else "no priced shortfall"
    more = " + ".join(m["display"] for m in money[1:])
    idle = f"licences beyond use in {s['unused_products']:,} over-licensed product(s)"
    if s["unpriced_unused"]:
        idle += f", {s['unpriced_unused']:,} without a unit cost"
    idle = " + ".join([*(m["display"] for m in unused[1:]), idle])
    measured = s["hosts"] > s["hosts_never_inventoried"]  # some host has an inventory to judge
    tiles = [
        _tile("hosts", "hosts scanned", f"{s['hosts_ok']:,}", f"of {s['hosts']:,} in the inventory",
              "ok" if s["hosts_ok"] == s["hosts"] and measured else "warn", "hosts", "ok"),
        _tile("stale", "stale", f"{s['hosts_stale']:,}", stale, "warn" if s["hosts_stale"] else "neutral",
              "hosts", "stale"),
        _tile("unreachable", "unreachable", f"{s['hosts_unreachable']:,}", f"{s['hosts_failed']:,} failed",
              "bad" if s["hosts_unreachable"] else "neutral", "hosts", "unreachable"),
        _tile("products", "licensable products", f"{s['products']:,}",
              f"{s['products_unrecognised']:,} titles unrecognised ({s['unrecognised_third_party']:,} third-party)",
              "neutral", "position"),
        _tile("compliance", "compliance rate", "-" if rate is None else f"{rate * 100:.1f}",
              _compliance_detail(s, measured), _compliance_tone(s, measured), "position", "non-compliant",
              "" if rate is None else "%"),
        _tile("money", "money at risk", money[0]["number"] if money else "0", f"{more}; {priced}" if more else priced,
              "bad" if money else ("warn" if s["unpriced_gaps"] else "ok"), "position", "priced",
              money[0]["currency"] if money else ""),
        _tile("unused", "unused spend", unused[0]["number"] if unused else "0", idle,
              "warn" if unused else "neutral", "position", Status.OVER_LICENSED.value, unused[0]["currency"] if unused else ""),
        _tile("installations", "installations", f"{s['installations']:,}",
              f"{s['distinct_packages']:,} distinct packages", "neutral", "hosts"),
    ]
    if with_findings:
        tiles.insert(0, _tile("violations", "violations", f"{s['findings_violations']:,}",
                              f"findings the policy fails on or rates high; {s['findings_information']:,} more "
                              "for information", "bad" if s["findings_violations"] else "ok", "findings"))
    return tiles


def _history(history: Sequence[ScanInfo], scan: Scan, summaries: Mapping[str, Mapping[str, Any]],
             non_compliant: int | None) -> list[dict[str, Any]]:
    out = []
    for i in history:
        recorded = summaries.get(i.scan_id) or {}
        bad = non_compliant if i.scan_id == scan.scan_id else recorded.get("non_compliant")
        out.append({
            "scan_id": i.scan_id,
            "finished": i.finished,
            "hosts_ok": i.hosts_ok,
            "hosts_unreachable": i.hosts_unreachable,
            "hosts_failed": i.hosts_failed,
            "installations": i.installations,
            "non_compliant": bad,
        })
    return out


def _changes(previous: Scan | None, scan: Scan, previous_position: LicencePosition | None,
             position: LicencePosition | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    changes = scan_changes.diff(previous, scan, previous_position, position)
    changes["from_finished"] = previous.finished
    return changes


def build(scan: Scan, history: Sequence[ScanInfo], position: LicencePosition | None = None,
          problems: Sequence[Problem] = (), *, entitlements: Sequence[Entitlement] = (),
          previous: Scan | None = None, previous_position: LicencePosition | None = None,
          summaries: Mapping[str, Mapping[str, Any]] | None = None,
          findings: Sequence[Mapping[str, Any]] | None = None,
          fail_on: Sequence[str] = DEFAULT_FAIL_ON, topology: FleetTopology | None = None,
          policy: str | None = None, warnings: Sequence[str] = (), staleness: Staleness | None = None) -> dict[str, Any]:
    """The report model of one scan.

    ``history`` lists the stored scans (oldest first); ``previous`` is the scan
    before ``scan`` (for the changes), ``previous_position`` its position under
    the same licence data; ``summaries`` the recorded per-scan position counts
    (``{scan_id: {"non_compliant": n}}``) for the trend; ``findings`` the finding
    rows when computed (``findings.finding_row``), ``fail_on`` the finding types the
    policy fails on (which, with high severities, make a finding a violation); ``topology`` the
    hypervisor servers and their guests (``topology_view``; default: the one ``scan``'s hosts reported);
    ``policy`` where the findings' policy came from (``Policy.origin``), ``warnings`` what the findings
    cannot be trusted for (``findings.fleet_warnings``), ``staleness`` which hosts are stale (default: on the
    day ``scan`` finished, under the default policy's stale_days).
    """
    rule = staleness or Staleness.on(scan.finished_day, Policy().stale_days)
    pos = position_view(position, problems, entitlements)
    per_host = host_products(pos["licensable"]) if pos else {}
    distinct = distinct_packages(position, len(scan.hosts))
    fallback, seen = RowTable(), ({} if distinct is None else None)
    hosts = sorted((_host(h, _sources(h, fallback, seen), per_host.get(h.inventory_name, []), rule) for h in scan.hosts),
                   key=lambda h: h["inventory_name"])
    found = None if findings is None else _findings(findings, entitlements, fail_on)
    summary = _summary(scan, hosts, _distinct_packages(seen) if seen is not None else distinct, pos, found, rule)
    timeline = _history(history, scan, summaries or {}, summary["products_non_compliant"] if pos else None)
    model: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scan": {
            "scan_id": scan.scan_id,
            "started": scan.started,
            "finished": scan.finished,
            "playbook": scan.playbook,
            "previous_scan_id": previous.scan_id if previous else None,
        },
        "policy": policy,
        "warnings": list(warnings),
        "summary": summary,
        "tiles": _tiles(summary, found is not None, rule.counted(scan.hosts)),
        "position": pos,
        "changes": _changes(previous, scan, previous_position, position),
        "history": timeline,
        "charts": {
            "publishers": publisher_bars(pos["publishers"]) if pos else None,
            "trend": {**trend(timeline), "first_scan": len(timeline) < 2},
        },
        "hosts": hosts,
        "topology": topology_view(fleet_topology(scan.hosts) if topology is None else topology, hosts, pos["licensable"] if pos else []),
    }
    if found is not None:
        model["findings"] = found
    return model
