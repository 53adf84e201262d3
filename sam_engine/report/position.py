"""The position part of the report model: products, drill-down rows, entitlements, publishers.

``position_view`` builds it once from a ``LicencePosition`` (and the entitlements behind it);
everything here is plain JSON-able data the templates and machine formats only
format. Every product gets a report-local ``id`` (``p1``... licensable, ``f1``...
needing no licence, ``u1``... unrecognised) that the host view, the package
lists and the HTML drill-down refer to.

Drill-down rows of a licensable product:

- ``host_rows``: per host the versions installed there, the licences it
  consumes and the trace line(s) of that arithmetic (``db1: 2 sockets × 16
  cores = 32 cores × 0.5 (Intel x86) = 16``), stale hosts flagged with the scan
  their inventory comes from;
- ``entitlement_records``: every entitlement considered, with its purchase data,
  how many it counts here, and its licence keys masked (``mask_key``);
- ``servers`` and ``topology_unknown``, from ``position_to_rows``: the physical
  servers its VMs pull in under a host-level rule, and its VMs whose server is
  not known (counted per VM).
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Sequence

from sam_engine.entitlements.schema import mask_key
from sam_engine.model import Entitlement, Problem
from sam_engine.licensing.position import LicencePosition, ProductPosition, position_to_rows, product_label
from sam_engine.licensing.placements import RefList
from sam_engine.licensing.versions import PACKAGE_SOURCES
from sam_engine.vocabulary import LICENSABLE, NON_COMPLIANT, URGENCY, Status

HOST_SAMPLE = 20  # hosts named in the summary of a free or unrecognised title


def host_rows(p: ProductPosition) -> list[dict[str, Any]]:
    """Per host: versions, licences consumed and the trace lines that say why. A guest counted through
    its physical servers (the row's ``servers``) says which, with no figure of its own; so does a
    hypervisor scanned with the product, counted once with its guests."""
    lines: dict[str, list] = {}
    at_servers = {id(c.line) for c in p.consumption.servers}
    for line in p.consumption.trace:
        if len(line.hosts) == 1 and id(line) not in at_servers:
            lines.setdefault(line.hosts[0], []).append(line)
    through = counted_through(p)
    itself = {h: c.server.name for c in p.consumption.servers for h in c.itself}
    per_host: dict[str, tuple[list, bool, str]] = {}  # name -> (versions, stale, scan id)
    if isinstance(p.installations, RefList):  # read from the rows, without making a ref per installation
        for hs, versions in p.installations.versions_per_host():
            entry = per_host.setdefault(hs.inventory_name, ([], hs.stale, hs.inventory_scan_id or hs.scan_id))
            entry[0].extend(versions)
    else:
        for ref in p.installations:
            per_host.setdefault(ref.host, ([], ref.stale, ref.scan_id))[0].append(ref.version)
    rows = []
    for host in sorted(per_host, key=str.casefold):
        versions, stale, scan_id = per_host[host]
        own = lines.get(host, [])
        counted = [ln.quantity for ln in own if ln.quantity is not None]
        trace = [ln.text for ln in own]
        if host in itself:
            trace.append(f"the physical server itself: counted once for it and its VMs: {itself[host]}")
        elif host in through:
            trace.append(f"a VM: counted through the physical servers it runs on or can move to: "
                         f"{', '.join(through[host])}")
        rows.append({
            "host": host,
            "versions": sorted({v or "?" for v in versions}, key=str.casefold),
            "installations": len(versions),
            "quantity": sum(counted) if counted else None,
            "trace": trace,
            "stale": stale,
            "scan_id": scan_id,
        })
    return rows


def counted_through(p: ProductPosition) -> dict[str, list[str]]:
    """Per guest (inventory name), the servers it makes the product count."""
    out: dict[str, list[str]] = {}
    for c in p.consumption.servers:
        for guest in c.guests:
            out.setdefault(guest, []).append(c.server.name)
    return out


def _entitlement_ids(p: ProductPosition) -> list[str]:
    ids = [eid for line in p.ownership.trace for eid in line.entitlements]
    ids += [eid for eid, _ in p.ownership.entitlements]
    return list(dict.fromkeys(ids))


def entitlement_label(ent: Entitlement) -> str:
    """What a person recognises an entitlement by: product, purchase order and quantity."""
    quantity = "unlimited" if ent.quantity is None else f"{ent.quantity:,}"
    parts = [product_label(ent.publisher, ent.product, ent.edition), ent.po_number and f"PO {ent.po_number}",
             f"{quantity} {ent.metric or ''}".strip(), ent.licensing and f"licensing: {ent.licensing}"]
    return " · ".join(p for p in parts if p)


def entitlement_record(ent: Entitlement, counted: int | None | str = None) -> dict[str, Any]:
    """One entitlement with its purchase data; licence keys masked."""
    return {
        "entitlement_id": ent.entitlement_id,
        "label": entitlement_label(ent),
        "origin": ent.origin,
        "publisher": ent.publisher,
        "product": ent.product,
        "edition": ent.edition,
        "metric": ent.metric,
        "quantity": "unlimited" if ent.quantity is None else ent.quantity,
        "counted": counted,
        "version_range": ent.version_range,
        "term_start": ent.term_start,
        "term_end": ent.term_end,
        "maintenance_end": ent.maintenance_end,
        "downgrade_rights": ent.downgrade_rights,
        "vendor": ent.vendor,
        "po_number": ent.po_number,
        "invoice": ent.invoice,
        "purchase_date": ent.purchase_date,
        "unit_cost": ent.unit_cost,
        "currency": ent.currency,
        "keys": [mask_key(k) for k in ent.keys],
    }


def entitlement_records(p: ProductPosition, by_id: dict[str, Entitlement]) -> list[dict[str, Any]]:
    counted = {eid: ("unlimited" if n is None else n) for eid, n in p.ownership.entitlements}
    return [entitlement_record(by_id[eid], counted.get(eid, 0)) for eid in _entitlement_ids(p) if eid in by_id]


def unused_spend(row: dict[str, Any]) -> dict[str, Any]:
    """Licences an over-licensed product owns beyond its use, and what they cost.

    Priced at the lowest unit cost among the entitlements counted for the
    product, so the figure is never overstated; ``unused_cost`` is None when
    none of them has a unit cost (or nothing is unused).
    """
    unused = row["balance"] if row["status"] == Status.OVER_LICENSED.value and row["balance"] else 0
    prices = []
    for e in row["entitlement_records"]:
        if e["counted"] and e["counted"] != "unlimited" and e["unit_cost"]:
            try:
                prices.append((Decimal(e["unit_cost"]), e["currency"] or "(no currency)"))
            except InvalidOperation:  # reconcile notes an unpriceable cost; here it only goes unpriced
                continue
    if unused <= 0 or not prices:
        return {"unused": max(unused, 0), "unused_cost": None, "unused_currency": None}
    unit, currency = min(prices)
    return {"unused": unused, "unused_cost": str(unit * unused), "unused_currency": currency}


def _unused_totals(rows: list[dict[str, Any]]) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for r in rows:
        if r["unused_cost"]:
            totals[r["unused_currency"]] = totals.get(r["unused_currency"], Decimal(0)) + Decimal(r["unused_cost"])
    return {currency: str(amount) for currency, amount in sorted(totals.items())}


def _summary_row(pid: str, p: ProductPosition, versions: list[str], origin: str) -> dict[str, Any]:
    count, sample = p.host_summary(HOST_SAMPLE)
    return {
        "id": pid,
        "publisher": p.publisher,
        "product": p.product,
        "edition": p.edition,
        "label": product_label(p.publisher, p.product, p.edition),
        "installations": len(p.installations),
        "hosts": count,
        "host_sample": list(sample),
        "versions": versions[:HOST_SAMPLE],
        "provenance": origin,
    }


def _sort_key(p: ProductPosition) -> tuple:
    return (URGENCY.index(p.status.value), (p.publisher or "").casefold(), p.product.casefold(),
            (p.edition or "").casefold())


def _publishers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        name = r["publisher"] or "(no publisher)"
        g = groups.setdefault(name, {"publisher": name, "products": 0, "non_compliant": 0, "shortfall": 0,
                                     "by_status": Counter(), "gap_costs": {}})
        g["products"] += 1
        g["by_status"][r["status"]] += 1
        g["shortfall"] += r["shortfall"]
        if r["status"] in NON_COMPLIANT:
            g["non_compliant"] += 1
        if r["gap_cost"]:
            currency = r["currency"] or "(no currency)"
            g["gap_costs"][currency] = str(Decimal(g["gap_costs"].get(currency, "0")) + Decimal(r["gap_cost"]))
    out = []
    for g in groups.values():
        g["by_status"] = {s: g["by_status"][s] for s in URGENCY if g["by_status"][s]}
        out.append(g)
    out.sort(key=lambda g: (-g["non_compliant"], -g["products"], g["publisher"].casefold()))
    return out


def placements_of(products: Iterable[ProductPosition]) -> list:
    """The distinct ``placements.Placements`` behind the products' installations (none for plain tuples)."""
    found = {}
    for p in products:
        if isinstance(p.installations, RefList) and len(p.installations):
            found[id(p.installations.placements)] = p.installations.placements
    return list(found.values())


def distinct_packages(position: LicencePosition | None, host_count: int) -> int | None:
    """Distinct (source, name) pairs installed on the ``host_count`` hosts the position covers, read
    from reconcile's distinct rows; None when the position cannot tell (then count from the scan)."""
    found = placements_of(position) if position is not None else []
    if len(found) != 1 or len(found[0].host_scans) != host_count:
        return None
    return len({row[:2] for row, _ in found[0].distinct_rows()})


def _title_rows(products: Sequence[ProductPosition]) -> list[tuple[set[str], set[tuple[str, str | None]]]]:
    """Per product, its installed (raw) versions (``?`` for none) and its (source, vendor) pairs.

    Worked out once per distinct installation row where the installations are a
    ``placements.RefList`` (each row belongs to one product on every host), so a
    10-million-installation fleet costs its tens of thousands of distinct rows.
    Plain installation refs carry no vendor: their pairs have None.
    """
    seen: list[tuple[set[str], set[tuple[str, str | None]]]] = [(set(), set()) for _ in products]
    slot: dict[int, int] = {}  # id(reconcile group) -> index into products
    for n, p in enumerate(products):
        refs = p.installations
        group = refs.group() if isinstance(refs, RefList) else None
        if group is not None:
            slot[id(group)] = n
        else:
            seen[n][0].update(r.version or "?" for r in refs)
            seen[n][1].update((r.source, None) for r in refs)
    for m in placements_of(products):
        for row, group in m.distinct_rows():
            n = slot.get(id(group))
            if n is not None:
                seen[n][0].add(row[2] or "?")
                seen[n][1].add((row[0], row[4]))
    return seen


# Distributions and the companies behind them, by name or mail domain (dpkg Maintainer, rpm Vendor, ...).
_DISTRIBUTION = re.compile(
    r"debian|ubuntu|canonical|red ?hat|fedora|centos|rocky|almalinux|cloudlinux|suse|alpine|mageia|"
    r"arch ?linux|amazon (linux|web services)|oracle (linux|america)|linux ?mint|gentoo|slackware|mandriva",
    re.IGNORECASE)
# A vendor ending in a company form (a third party's own repository or .deb/.rpm), or makepkg's "built locally" default.
_THIRD_PARTY = re.compile(
    r"[\s,](inc|llc|ltd|limited|gmbh|corp|corporation|company|co|s\.a|ag|b\.v|s\.r\.l|pty|plc)\.?$|"
    r"^unknown packager$", re.IGNORECASE)
_MAIL = re.compile(r"\s*<[^>]*>")  # "Name <mail>": the mail's domain says nothing of a company


def provenance(pairs: Iterable[tuple[str, str | None]]) -> str:
    """``distribution`` when every installation of a title is a distribution's package, else ``third-party``.

    A distribution's package comes from a package manager (dpkg, rpm, apk,
    pacman) under a distribution's name or a person's (a distribution's
    maintainers sign with their own: ``Vaclav Ovsik <...>`` in Ubuntu). A vendor
    naming a company (``Google LLC``) or none (a local build: the parsers drop
    makepkg's ``Unknown Packager``) makes it third-party. Packages whose origin
    the collector recorded are already recognised by it (catalogue
    ``distributions.yml``); this split is for what is left, from hosts scanned
    without origins.
    """
    pairs = list(pairs)
    return "distribution" if pairs and all(
        source in PACKAGE_SOURCES and vendor
        and (_DISTRIBUTION.search(vendor) or not _THIRD_PARTY.search(_MAIL.sub("", vendor)))
        for source, vendor in pairs) else "third-party"


def status_counts(position: LicencePosition) -> dict[str, int]:
    """Products per status, most urgent first (statuses with none left out)."""
    counts = Counter(p.status.value for p in position)
    return {s: counts[s] for s in URGENCY if counts[s]}


def scan_summary(scan_id: str, position: LicencePosition) -> dict[str, Any]:
    """What the store keeps of each scan's position for the trend of later reports."""
    counts = status_counts(position)
    return {"scan_id": scan_id, "as_of": position.as_of.isoformat(),
            "non_compliant": sum(counts.get(s, 0) for s in NON_COMPLIANT),
            "products": sum(n for s, n in counts.items() if s in LICENSABLE),
            "status_counts": counts}


def position_view(position: LicencePosition | None, problems: Sequence[Problem] = (),
                  entitlements: Sequence[Entitlement] = ()) -> dict[str, Any] | None:
    """The position section of the model."""
    if position is None:
        return None
    by_id = {e.entitlement_id: e for e in entitlements}
    licensable = sorted((p for p in position.products if p.status is not Status.NO_LICENCE_NEEDED), key=_sort_key)
    free = sorted((p for p in position.products if p.status is Status.NO_LICENCE_NEEDED), key=_sort_key)
    unknown = sorted(position.unrecognised, key=_sort_key)
    rows = []
    for n, p in enumerate(licensable, 1):
        (row,) = position_to_rows([p], detail=True)
        row.update(id=f"p{n}", label=product_label(p.publisher, p.product, p.edition), host_rows=host_rows(p),
                   entitlement_records=entitlement_records(p, by_id))
        row.update(unused_spend(row))
        rows.append(row)
    facts = _title_rows(unknown)
    # third-party titles first: the distribution's own packages rarely need a licence decision
    order = sorted(range(len(unknown)), key=lambda i: provenance(facts[i][1]) != "third-party")
    unknown, facts = [unknown[i] for i in order], [facts[i] for i in order]
    titles = {}
    for prefix, group, found in (("f", free, _title_rows(free)), ("u", unknown, facts)):
        titles[prefix] = [_summary_row(f"{prefix}{n}", p, sorted(versions, key=str.casefold), provenance(pairs))
                          for n, (p, (versions, pairs)) in enumerate(zip(group, found), 1)]
    return {
        "as_of": position.as_of.isoformat(),
        "status_counts": status_counts(position),
        "licensable": rows,
        "free": titles["f"],
        "unrecognised": titles["u"],
        "publishers": _publishers(rows),
        "cost_totals": {currency: str(amount) for currency, amount in position.cost_totals},
        "unused_totals": _unused_totals(rows),
        "total_cost": None if position.total_cost is None else str(position.total_cost),
        "notes": list(position.notes),
        "problems": [str(p) for p in problems],
    }


def host_products(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per host, the licensable products installed there (id, label, status, versions)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for h in r["host_rows"]:
            out.setdefault(h["host"], []).append({"id": r["id"], "label": r["label"], "status": r["status"],
                                                  "versions": h["versions"], "quantity": h["quantity"]})
    return out
