"""The Effective Licence Position (ELP): per product, consumption against what is owned.

``build_position(host_scans, recognise, entitlements, as_of)`` is a pure
function of the fleet's ``HostScan``s (stale hosts included: their last
inventory still counts, and is flagged), a recogniser, the entitlements and
the as-of date. Every figure carries the hosts, entitlement ids and rule that
produced it, so an auditor can follow it back to hosts and scans.

Statuses (``vocabulary.Status``):
  compliant         owned covers consumption, surplus within ``over_ratio``
  under-licensed    some consumption is not covered (``shortfall`` > 0), something is owned
  over-licensed     surplus (owned - consumption) > ``over_ratio`` × consumption
  unlicensed        licence required, shortfall > 0 and nothing owned counts here
  needs data        something is owned but the metric lacks an input (per employee without
                    a headcount): consumption and balance unknown, never guessed
  no licence needed free software (per the catalogue)
  unrecognised      unknown software: listed separately, never dropped

``balance`` is owned − consumption (None when unlimited). ``shortfall`` is what
must be bought: it can exceed −balance when installations fall outside every
entitlement's version range. The cost of the gap is shortfall × the unit cost of
the most recent matching entitlement, in its currency.

Example: Oracle Database EE on db1 (2 × 16-core Xeon) and db2 (1 × 8-core Xeon),
16 Processor licences owned -> consumption 16 + 4 = 20, balance −4, shortfall 4,
under-licensed; at 47500 USD each the gap costs 190000 USD.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable, Sequence

from sam_engine.licensing.coverage import TermState, ent_key, term_state
from sam_engine.licensing.metric_rules import MetricRules, default_rules
from sam_engine.licensing.metrics import MetricContext, TraceLine
from sam_engine.licensing.named_users import People
from sam_engine.model import Entitlement, HostScan, Installation, Recognition
from sam_engine.topology import FleetTopology
from sam_engine.licensing.placements import InstallationRef, RefList
from sam_engine.licensing.editions import NO_LINES, EditionLines, fold_editionless
from sam_engine.licensing.measure import free_line, measure_group
from sam_engine.licensing.allocation import Allocation, allocate
from sam_engine.licensing.reconcile import ProductGroup, group_installations
from sam_engine.vocabulary import ANY_EDITION, URGENCY, Metric, Status, units

Recogniser = Callable[[Installation], Recognition]
DEFAULT_OVER_RATIO = Decimal("0.2")


@dataclass(frozen=True, slots=True)
class Consumption:
    """Licences consumed under ``metric``; ``rule`` is the metric_rules.yml entry (file:line) or ``default``."""

    metric: str | None
    quantity: int
    rule: str
    hosts: tuple[str, ...]
    trace: tuple[TraceLine, ...]
    missing: str | None = None  # the input the count lacks (the headcount, a PVU table row): quantity is not all
    servers: tuple = ()  # host_metrics.ServerCharge: physical servers counted for the product's VMs
    unplaced: tuple[str, ...] = ()  # VMs under a host-level rule whose server is unknown (topology-unknown)
    host_rule: str | None = None  # that rule, as the finding names it ("soft partitioning", "per-host licensing")


@dataclass(frozen=True, slots=True)
class Ownership:
    """Licences owned that count here: ``quantity`` None means unlimited (an active site licence)."""

    quantity: int | None
    entitlements: tuple[tuple[str, int | None], ...]  # (entitlement id, quantity counted here)
    trace: tuple[TraceLine, ...]


@dataclass(frozen=True, slots=True)
class GapCost:
    """The cost of the shortfall: shortfall × the unit cost of one entitlement (whole packs when it sets
    ``pack_size``), in its currency."""

    amount: Decimal
    currency: str | None
    unit_cost: Decimal
    entitlement_id: str
    trace: TraceLine


def product_label(publisher: str | None, product: str, edition: str | None = None) -> str:
    """``Oracle Database Enterprise Edition``; the publisher is left out when the product name starts with it;
    ``edition: any`` reads ``Microsoft Office, every edition``."""
    if publisher and product.casefold().startswith(publisher.casefold()):
        publisher = None
    if edition and edition.strip().casefold() == ANY_EDITION:
        return " ".join(x for x in (publisher, product) if x) + ", every edition"
    return " ".join(x for x in (publisher, product, edition) if x)


@dataclass(frozen=True, slots=True)
class ProductPosition:
    """The position of one product (publisher, product, edition)."""

    publisher: str | None
    product: str
    edition: str | None
    status: Status
    installations: Sequence[InstallationRef]  # a placements.RefList: refs made on demand, equal to their tuple
    consumption: Consumption
    ownership: Ownership
    balance: int | None
    shortfall: int
    cost: GapCost | None
    stale_hosts: tuple[str, ...]
    notes: tuple[str, ...] = ()
    follows: tuple[str, ...] = ()  # editions whose status this editionless row takes (``_follow_editions``)

    @property
    def owned(self) -> int | None:
        return self.ownership.quantity

    @property
    def hosts(self) -> tuple[str, ...]:
        if isinstance(self.installations, RefList):  # without making every ref
            return self.installations.host_names()
        return tuple(sorted({i.host for i in self.installations}))

    def host_summary(self, limit: int) -> tuple[int, tuple[str, ...]]:
        """(number of hosts, the first ``limit`` of ``hosts``), cheap for a title on thousands of hosts."""
        if isinstance(self.installations, RefList):
            return self.installations.host_summary(limit)
        hosts = self.hosts
        return len(hosts), hosts[:limit]


@dataclass(frozen=True, slots=True)
class LicencePosition:
    """The whole ELP on one date: licensable products, unrecognised software, cost totals."""

    as_of: dt.date
    products: tuple[ProductPosition, ...]
    unrecognised: tuple[ProductPosition, ...]
    cost_totals: tuple[tuple[str, Decimal], ...]  # (currency, total gap cost)
    total_cost: Decimal | None  # None when currencies are mixed or nothing is priced
    notes: tuple[str, ...] = ()

    def __iter__(self):
        yield from self.products
        yield from self.unrecognised


def _status(group: ProductGroup, consumption: int, owned: int | None, shortfall: int, over_ratio: Decimal) -> Status:
    if not group.required and not group.usable:
        return Status.NO_LICENCE_NEEDED
    if group.result.missing:  # consumption unknown: only "nothing owned" can be said for sure
        return Status.UNLICENSED if owned == 0 else Status.NEEDS_DATA if owned is not None else Status.COMPLIANT
    if shortfall > 0:
        return Status.UNLICENSED if owned == 0 else Status.UNDER_LICENSED
    if owned is None:
        return Status.COMPLIANT
    surplus = owned - consumption
    return Status.OVER_LICENSED if surplus > 0 and surplus > consumption * over_ratio else Status.COMPLIANT


def _gap_cost(group: ProductGroup, shortfall: int) -> tuple[GapCost | None, list[str]]:
    if shortfall <= 0:
        return None, []
    # the row's own product prices its gap (a suite's row also lists its components' licences: not their price)
    priced = [e for e in group.candidates
              if e.metric == group.metric and e.unit_cost and ent_key(e)[:2] == group.key[:2]]
    if not priced:
        return None, ["no unit cost known: the gap is not priced"]
    ent = max(priced, key=lambda e: (e.purchase_date or e.term_start or "", e.entitlement_id))
    try:
        unit = Decimal(ent.unit_cost)
    except InvalidOperation:
        return None, [f"{ent.entitlement_id}: unit cost {ent.unit_cost!r} is not a number: the gap is not priced"]
    currency = ent.currency or "(no currency)"
    bought = f", purchased {ent.purchase_date}" if ent.purchase_date else ""
    if ent.pack_size and ent.pack_size > 1:  # packs are bought whole
        packs = -(-shortfall // ent.pack_size)
        amount = unit * packs
        text = (f"shortfall {units(shortfall, group.metric)} = {packs} pack{'s' if packs != 1 else ''} of {ent.pack_size} "
                f"(rounded up) × {unit} {currency} per pack ({ent.entitlement_id}{bought}) = {amount} {currency}")
    else:
        amount = unit * shortfall
        text = (f"shortfall {shortfall} × {unit} {currency} (unit cost of {ent.entitlement_id}{bought}) "
                f"= {amount} {currency}")
    line = TraceLine(text, entitlements=(ent.entitlement_id,))
    return GapCost(amount, ent.currency, unit, ent.entitlement_id, line), []


def _ownership(group: ProductGroup, states: dict[str, TermState], alloc: Allocation) -> Ownership:
    lines, owned, total = [], [], 0
    for ent in group.candidates:
        eid, state = ent.entitlement_id, states[ent.entitlement_id]
        size = (f"unlimited {ent.metric}" if ent.quantity is None or ent.metric == Metric.SITE
                else units(ent.quantity, ent.metric))
        head = f"{eid} ({ent.origin}): {size}, {state.reason}"
        if state.maintenance:
            head += f"; {state.maintenance} (does not change the count)"
        if not state.active:
            lines.append(TraceLine(head, entitlements=(eid,), quantity=0))
            continue
        if (group.key, eid) not in alloc.counted:
            lines.append(TraceLine(f"{head}; metric is not {group.metric}: not counted here", entitlements=(eid,),
                                   quantity=0))
            continue
        n = alloc.counted[(group.key, eid)]
        elsewhere = alloc.used.get(eid, 0) - (n or 0)
        shared = f" ({elsewhere} counted under another product)" if n is not None and elsewhere > 0 else ""
        lines.append(TraceLine(f"{head} -> counts {'unlimited' if n is None else n}{shared}", entitlements=(eid,),
                               quantity=n))
        owned.append((eid, n))
        total = None if n is None or total is None else total + n
    if len(owned) > 1 and total is not None:
        lines.append(TraceLine(f"owned: {' + '.join(str(n) for _, n in owned)} = {total}",
                               entitlements=tuple(e for e, _ in owned), quantity=total))
    if not group.candidates:
        lines.append(TraceLine("no entitlement for this product", quantity=0))
    return Ownership(total, tuple(owned), tuple(lines))


def _unrecognised(group: ProductGroup) -> ProductPosition:
    n = group.count
    text = f"unrecognised: {n} installation{'s' if n != 1 else ''} on {', '.join(group.hosts)}; not counted"
    consumption = Consumption(None, 0, "none", group.hosts, (TraceLine(text, group.hosts),))
    return ProductPosition(group.publisher, group.product, group.edition, Status.UNRECOGNISED, group.refs,
                           consumption, Ownership(0, (), ()), None, 0, None, group.stale_hosts, tuple(group.notes))


# a free title's ownership (``_ownership`` of a group with no candidates): one record for the thousands of them
_NOTHING_OWNED = Ownership(0, (), (TraceLine("no entitlement for this product", quantity=0),))


def _stale_notes(group: ProductGroup) -> list[str]:
    """The note naming the stale hosts the group's installations were counted from (none when none is)."""
    stale = group.stale_hosts
    return [f"counted from the last inventory of stale hosts: {', '.join(stale)}"] if stale else []


def _free_product(group: ProductGroup) -> ProductPosition:
    """``_product`` of a ``ProductGroup.free`` group, most of a fleet's rows: nothing owned, consumed or short."""
    stale = group.stale_hosts
    notes = (*group.notes, *_stale_notes(group)) if stale else tuple(group.notes)
    return ProductPosition(group.publisher, group.product, group.edition, Status.NO_LICENCE_NEEDED, group.refs,
                           Consumption(None, 0, "none", (), (free_line(group, group.count),)), _NOTHING_OWNED,
                           None, 0, None, stale, notes)


def _product(group: ProductGroup, states: dict[str, TermState], alloc: Allocation, over_ratio: Decimal) -> ProductPosition:
    if group.free:
        return _free_product(group)
    result, notes = group.result, list(group.notes)
    # a title that needs no licence (most of a fleet's rows) shows no consumption: its hosts are not collected
    free = not group.required and not group.usable
    hosts = () if free else tuple(sorted({h for line in result.lines for h in line.hosts}))
    consumption = Consumption(group.metric, result.quantity, group.rule_origin, hosts,
                              tuple(group.coverage_lines) + result.lines, result.missing, result.servers,
                              result.unplaced, result.host_rule)
    ownership = _ownership(group, states, alloc)
    shortfall = alloc.shortfall.get(group.key, 0)
    status = _status(group, consumption.quantity, ownership.quantity, shortfall, over_ratio)
    balance = None if ownership.quantity is None or result.missing else ownership.quantity - consumption.quantity
    if status is Status.NO_LICENCE_NEEDED:
        consumption, balance = Consumption(None, 0, "none", (), result.lines), None
    cost, cost_notes = _gap_cost(group, shortfall)
    notes += [*result.notes, *cost_notes, *_stale_notes(group)]
    return ProductPosition(group.publisher, group.product, group.edition, status, group.refs, consumption,
                           ownership, balance, shortfall, cost, group.stale_hosts, tuple(notes))


def _follow_editions(groups: Sequence[ProductGroup], products: list[ProductPosition]) -> None:
    """A row whose every required installation is counted under an edition (``fold_editionless``)
    needs a licence all the same: it takes the most urgent status of those editions' rows, so
    its status and its installations agree, with nothing consumed here.

    Example: "Microsoft SQL Server 2019" beside "... Standard Edition" on sql1 and nothing owned:
    the Standard row is unlicensed, and so is the editionless row, consuming 0.
    """
    for n, (group, p) in enumerate(zip(groups, products)):
        if not group.folded_into or group.required or p.status is not Status.NO_LICENCE_NEEDED:
            continue
        statuses = [q.status for q in products if q.edition in group.folded_into
                    and (q.publisher, q.product) == (p.publisher, p.product)]
        if statuses and group.count == group.folded:
            status = min(statuses, key=lambda s: URGENCY.index(s.value))
            consumption = replace(p.consumption, metric=group.metric, rule=group.rule_origin)
            products[n] = replace(p, status=status, consumption=consumption, follows=group.folded_into)


def _totals(products: Sequence[ProductPosition]) -> tuple[tuple[tuple[str, Decimal], ...], Decimal | None, list[str]]:
    sums: dict[str, Decimal] = {}
    for p in products:
        if p.cost:
            currency = p.cost.currency or "(no currency)"
            sums[currency] = sums.get(currency, Decimal(0)) + p.cost.amount
    totals = tuple(sorted(sums.items()))
    if len(totals) > 1:
        return totals, None, [f"mixed currencies ({', '.join(c for c, _ in totals)}): no single total of the gap cost"]
    return totals, (totals[0][1] if totals else None), []


def build_position(host_scans: Iterable[HostScan], recognise: Recogniser, entitlements: Iterable[Entitlement],
                   as_of: dt.date, *, rules: MetricRules | None = None, headcount: int | None = None,
                   over_ratio: Decimal = DEFAULT_OVER_RATIO,
                   suites: Callable[[str, str], Sequence[str]] | None = None,
                   metric_hint: Callable[[str, str], str | None] | None = None,
                   edition_lines: EditionLines = NO_LINES,
                   people: People | None = None,
                   topology: FleetTopology | None = None, licensable_only: bool = False) -> LicencePosition:
    """The ELP of ``host_scans`` against ``entitlements`` on ``as_of``.

    ``rules`` defaults to the shipped ``catalogue/metrics/`` rule files; ``headcount`` feeds
    the employee metric; ``over_ratio`` is the over-licensed threshold (0.2: a
    surplus of more than 20% of consumption); ``suites(publisher, product)``
    (``Catalogue.suite_components``) gives the components of an entitlement that
    lists none itself; ``metric_hint(publisher, product)`` (``Catalogue.metric_hint``)
    the metric of a product with neither entitlements nor a metric rule; ``edition_lines``
    (``Catalogue.edition_lines``) the editions that succeed one another; ``people`` the users
    file's aliases, exclusions and login window for named users (``named_users.load_people``);
    ``topology`` places VMs on their physical servers for host-level rules (``host_metrics``;
    none: every VM per VM). ``licensable_only``: the position a comparison needs (``report.changes``
    compares licensable rows alone): the rows of titles that need no licence (``ProductGroup.free``) and
    the unrecognised ones are left out, the others are as in the whole position.
    """
    rules = rules or default_rules()
    ents = sorted(entitlements, key=lambda e: e.entitlement_id)
    if suites is not None:
        ents = [e if e.suite_components else replace(e, suite_components=tuple(suites(e.publisher, e.product)))
                for e in ents]
    states = {e.entitlement_id: term_state(e, as_of) for e in ents}
    ctx = MetricContext(rules.core_factors, headcount, rules.pvu, people, as_of, topology or FleetTopology())
    groups = group_installations(list(host_scans), recognise, ents, states, edition_lines)
    fold_editionless(groups)
    if licensable_only:
        groups = [g for g in groups if g.recognised and not g.free]
    for group in groups:
        if group.recognised and not group.free:
            measure_group(group, states, rules, ctx, metric_hint, edition_lines)
    alloc = allocate([g for g in groups if g.recognised])
    products = [_product(g, states, alloc, over_ratio) for g in groups if g.recognised]
    _follow_editions([g for g in groups if g.recognised], products)
    unrecognised = [_unrecognised(g) for g in groups if not g.recognised]
    totals, total, notes = _totals(products)
    return LicencePosition(as_of, tuple(products), tuple(unrecognised), totals, total, tuple(notes))


# --- rows for tables, CSV and JSON ----------------------------------------------------------


def _row(p: ProductPosition, detail: bool) -> dict:
    row = {
        "publisher": p.publisher,
        "product": p.product,
        "edition": p.edition,
        "status": p.status.value,
        "metric": p.consumption.metric,
        "installations": len(p.installations),
        "hosts": len(p.hosts),
        "consumption": p.consumption.quantity,
        "owned": "unlimited" if p.owned is None else p.owned,
        "balance": p.balance,
        "shortfall": p.shortfall,
        "gap_cost": str(p.cost.amount) if p.cost else None,
        "currency": p.cost.currency if p.cost else None,
        "stale_hosts": list(p.stale_hosts),
        "entitlements": [eid for eid, _ in p.ownership.entitlements],
        "rule": p.consumption.rule,
    }
    if detail:
        row["installation_list"] = [
            {"host": i.host, "host_id": i.host_id, "name": i.name, "version": i.version,
             "normalised_version": i.normalised_version, "source": i.source, "package_id": i.package_id,
             "scan_id": i.scan_id, "stale": i.stale, "licence": i.licence.value, "counted_as": i.counted_as,
             "catalogue_rule": i.catalogue_rule}
            for i in p.installations]
        row["trace"] = {
            "consumption": [ln.text for ln in p.consumption.trace],
            "ownership": [ln.text for ln in p.ownership.trace],
            "cost": [p.cost.trace.text] if p.cost else [],
        }
        row["notes"] = list(p.notes)
        row["servers"] = [  # per physical server a host-level rule counts: its figure and who pulls it in
            {"server": c.server.name, "key": c.server.key, "platform": c.server.platform, "cluster": c.server.cluster,
             "rule": c.rule, "quantity": c.quantity, "guests": list(c.guests), "running": list(c.running),
             "trace": c.line.text} for c in p.consumption.servers]
        row["topology_unknown"] = list(p.consumption.unplaced)
    return row


def position_to_rows(positions: LicencePosition | Iterable[ProductPosition], detail: bool = False) -> list[dict]:
    """One plain dict per product (licensable first, then unrecognised); ``detail`` adds the
    installation list and the traces. List and detail views are built from the same objects."""
    return [_row(p, detail) for p in positions]
