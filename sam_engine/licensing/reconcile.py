"""Reconcile: installations grouped per product and host, measured, and matched to entitlements.

Steps, each a function:

1. ``group_installations``: recognise every installation, fold suite components
   into their suite (so Word under an Office entitlement is not a product of its
   own), and group per product (publisher, product, edition).
   ``fold_editionless``: on a host that also has an edition of the product, a
   record without edition (an instance's Uninstall entry) is not counted again.
2. ``measure.group_per_host``: per product, one ``Deployment`` per host, however many
   versions or 32/64-bit copies it has; duplicate records of one installation
   are merged by ``dedup.dedup_per_installation``.
3. ``measure.measure_group``: choose the metric (the active entitlements', else the
   product rule's default, else per device) and measure consumption per
   *coverage partition*: hosts covered by the same set of entitlements.
4. ``allocation.allocate``: hand out each entitlement's quantity to the partitions
   it can cover as a max-flow; what no hand-out can cover is the shortfall.

Example: Office Professional Plus on pc1 (2019) and pc2 (2016), Word on pc3,
one entitlement E1 for Office ``==2019`` with downgrade rights listing Word,
quantity 2 -> one group "Microsoft Office Professional Plus", one partition
covered by E1 with 3 devices, E1 gives 2, shortfall 1.
"""

from __future__ import annotations

import operator
from array import array
from collections import deque
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Callable, Sequence

from sam_engine.licensing.coverage import ProductKey, TermState, covers, ent_key, matches_product, suite_owners
from sam_engine.licensing.editions import (NO_LINES, EditionLines, editionless_notes, every_edition, product_key,
                                          take_required)
from sam_engine.licensing.hardware_counts import some_of
from sam_engine.licensing.metric_rules import norm
from sam_engine.licensing.metrics import MetricResult, TraceLine
from sam_engine.ingest.inventory import RowTable
from sam_engine.licensing.placements import SHIFT, Placements, RefList, host_indexes
from sam_engine.model import Entitlement, HostScan, Installation, LicenceNeed, Recognition
from sam_engine.vocabulary import METRICS, Metric

if TYPE_CHECKING:  # measure imports this module: the partitions are only annotated here
    from sam_engine.licensing.measure import Partition


@dataclass
class ProductGroup:
    """Work record of one product while the position is computed (not part of the output).

    Its installations are packed (host index, position) pairs into ``placements``;
    ``items`` and ``refs`` make the records from them when asked. ``required_at``
    lists those (as indexes into ``packed``) whose recognition needs a licence.
    """

    key: ProductKey
    publisher: str | None
    product: str
    edition: str | None
    recognised: bool = True
    placements: Placements[ProductGroup] | None = None
    packed: array = field(default_factory=lambda: array("Q"))
    required_at: array = field(default_factory=lambda: array("Q"))
    candidates: list[Entitlement] = field(default_factory=list)  # same product, any term or metric
    usable: list[Entitlement] = field(default_factory=list)  # active, and the group's metric (or site)
    every_edition_active: list[Entitlement] = field(default_factory=list)  # active `edition: any` candidates
    metric: str = Metric.DEVICE
    rule_origin: str = "default"
    partitions: list[Partition] = field(default_factory=list)
    result: MetricResult | None = None
    coverage_lines: list[TraceLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folded: int = 0  # required installations counted under an edition (fold_editionless) or a suite instead
    folded_into: tuple[str, ...] = ()  # the editions they are counted under
    _names: dict = field(default_factory=dict, repr=False, compare=False)  # host-name cache

    @property
    def count(self) -> int:
        return len(self.packed)

    def join_required(self, packed: int) -> None:
        self.required_at.append(len(self.packed))
        self.packed.append(packed)

    @property
    def items(self) -> list[tuple[HostScan, Installation, Recognition]]:
        return list(map(self.placements.item, self.packed)) if self.placements else []

    def required_items(self) -> list[tuple[HostScan, Installation, Recognition]]:
        """The items whose recognition needs a licence (the only ones a metric counts)."""
        if not self.placements:
            return []
        return [self.placements.item(self.packed[k]) for k in self.required_at]

    @property
    def refs(self) -> RefList | tuple:
        return RefList(self.placements, self.packed) if self.placements else ()

    @property
    def required(self) -> bool:
        return len(self.required_at) > 0

    @property
    def free(self) -> bool:
        """Needs no licence and no entitlement names it (most of a fleet's titles): its row says no
        licence is needed whatever else is true of the fleet."""
        return not self.candidates and not self.required and not self.folded_into

    @property
    def hosts(self) -> tuple[str, ...]:
        return self._host_names(False)

    @property
    def stale_hosts(self) -> tuple[str, ...]:
        return self._host_names(True)

    def _host_names(self, stale_only: bool) -> tuple[str, ...]:
        if not self.placements or (stale_only and not self.placements.any_stale):
            return ()
        key = len(self.packed)  # placements only grow while grouping
        cached = self._names.get(stale_only)
        if cached is None or cached[0] != key:
            cached = self._names[stale_only] = (key, self.placements.host_names(self.packed, stale_only))
        return cached[1]


def count_text(n: int) -> str:
    """``1 installation``, ``3 installations``."""
    return "1 installation" if n == 1 else f"{n} installations"


def _label(publisher: str | None, product: str, edition: str | None) -> str:
    return " ".join(p for p in (publisher, product, edition) if p)


def group_installations(host_scans: Sequence[HostScan], recognise: Callable[[Installation], Recognition],
                        ents: Sequence[Entitlement], states: dict[str, TermState],
                        lines: EditionLines = NO_LINES) -> list[ProductGroup]:
    """Groups per product, licensable and unrecognised, plus one per active entitlement matching none.

    The editions of one edition line (``lines``) are one group, named after the line's first edition.

    An active ``edition: any`` entitlement matches a product with installations (in whichever of its editions'
    rows): it is a candidate of each of them, and ``allocate`` hands out its quantity there. Only for a product
    with no installation at all is it shelfware with a row of its own (the editionless row, "every edition"),
    whatever rows the product's other entitlements add and however the entitlement ids sort.

    Suite components fold into the suite's group only while a suite entitlement is active (``suite_owners``);
    their own entitlements are then candidates there (``_component_licences``), never rows of their own, except
    those counting another metric than the suite's own active entitlements (``_other_metric``): the component's
    installations they cover stay in its own row, counted under them, unless the suite's row has the host.

    Recognition is worked out once per distinct row (an inventory's ``RowTable`` entry),
    product key, suite folding and the ref label once per product reading (publisher,
    product, edition), not per installation; each installation then only joins its row's group.
    """
    active = {eid for eid, s in states.items() if s.active}

    def row_names(e: Entitlement) -> tuple[str, str, str | None]:
        return e.publisher, e.product, None if every_edition(e) else lines.row(e.publisher, e.product, e.edition)

    suites = suite_owners(list(ents), active, lines)
    suite_names = {ent_key(e, lines): row_names(e) for e in ents if e.suite_components}
    groups: dict[tuple[bool, ProductKey], ProductGroup] = {}
    placements = Placements(host_scans)
    folded: dict[ProductKey, dict[ProductKey, str]] = {}  # suite key -> its components' own keys -> their labels
    by_product: dict[tuple[str, str], list[Entitlement]] = {}
    for ent in ents:
        by_product.setdefault(ent_key(ent)[:2], []).append(ent)
    # a folded component's own key -> (suite key, the suite's metrics, its own licences of another metric)
    other: dict[ProductKey, tuple[ProductKey, list[str], list[Entitlement]]] = {}

    # per (known, publisher, product, edition): the group, its key, the ref label and the row's edition. Many
    # distinct rows read as one product (its versions, architectures, sources): edition line and suite are
    # looked up once.
    named: dict[tuple, tuple[ProductGroup, ProductKey, str, str | None]] = {}

    def classify(table: RowTable, rid: int) -> tuple[ProductGroup, Recognition, str, bool]:
        inst = table.installation(rid)
        rec = recognise(inst)
        known = rec.licence is not LicenceNeed.UNKNOWN
        publisher = rec.publisher or (None if known else inst.vendor)
        found = named.get((known, publisher, rec.product, rec.edition))
        first = found is None
        if first:
            found = named[(known, publisher, rec.product, rec.edition)] = product_group(known, publisher, rec)
        own, row = found[1], found[3]
        if own != found[0].key and own in other and any(e.entitlement_id in active and covers(e, own, rec, lines)[0]
                                                        for e in other[own][2]):
            group = groups.get((True, own))  # covered by its own licence of another metric: not folded
            if group is None:
                group = groups[(True, own)] = ProductGroup(own, publisher, rec.product, row, placements=placements)
            return group, rec, _label(publisher, rec.product, row), rec.licence is LicenceNeed.REQUIRED
        if first or own != found[0].key:  # a suite component: its notes depend on the group's notes so far
            add_notes(found[0], known, publisher, rec, own, row)
        return found[0], rec, found[2], rec.licence is LicenceNeed.REQUIRED

    def product_group(known: bool, publisher: str | None,
                      rec: Recognition) -> tuple[ProductGroup, ProductKey, str, str | None]:
        row = lines.row(publisher, rec.product, rec.edition) if known else rec.edition
        own = product_key(publisher, rec.product, row)
        key = suites.get(own[:2], own) if known else own
        names = suite_names[key] if key != own else (publisher, rec.product, row)
        if key != own:
            folded.setdefault(key, {})[own] = _label(publisher, rec.product, row)
            metrics, others = _other_metric(key, own, by_product, active, lines)
            if any(e.entitlement_id in active for e in others):
                other[own] = (key, metrics, others)
        group = groups.get((known, key))
        if group is None:
            group = groups[(known, key)] = ProductGroup(key, *names, recognised=known, placements=placements)
        return group, own, _label(*names), row

    def add_notes(group: ProductGroup, known: bool, publisher: str | None, rec: Recognition, own: ProductKey,
                  row: str | None) -> None:
        if group.key != own and not group.notes:
            group.notes.append("suite components are counted under the suite, not as products of their own")
        elif known and row != rec.edition and norm(row) != norm(rec.edition):  # row is the edition off a line
            line = " -> ".join(lines.place(publisher, rec.product, rec.edition)[0])
            note = (f"{rec.edition} is counted in the {row} row: one edition line ({line}, catalogue "
                    f"edition_lineage); a later edition's entitlement covers an earlier one only with downgrade rights")
            if note not in group.notes:
                group.notes.append(note)

    joins: dict[int, list] = {}  # id(table) -> per row id: its group's join (a bound method), None until classified
    for h, hs in enumerate(host_scans):
        table, ids, info = placements.view(hs)
        join = joins.setdefault(id(table), [])
        if len(join) < len(info):
            join.extend([None] * (len(info) - len(join)))
        # classify each row once, at its first installation (in inventory order); the rows not classified
        # yet are found at C speed (a join is a bound method, never false)
        for rid in list(compress(ids, map(operator.not_, map(join.__getitem__, ids)))):
            if join[rid] is None:
                info[rid] = row_info = classify(table, rid)
                join[rid] = row_info[0].join_required if row_info[3] else row_info[0].packed.append
        base = h << SHIFT
        # the per-installation step, at C speed: each installation's group appends (host << 32 | position)
        deque(map(operator.call, map(join.__getitem__, ids), range(base, base + len(ids))), maxlen=0)
    known_keys = {k for known, k in groups if known}
    # products with installations, fixed before any entitlement's row is added: the rows of shelfware entitlements
    # (an Enterprise Edition bought, none installed) must not decide whether an every-edition one has a row, or
    # that would depend on which entitlement id sorts first
    # a folded component's own entitlements are candidates of its suite's row (below), not shelfware rows; those
    # of another metric keep the component's row, even when they cover none of its installations
    components = {own for parts in folded.values() for own in parts if own not in other}
    installed = {k[:2] for k in known_keys | components}
    for ent in ents:
        key = ent_key(ent, lines)
        matched = key in known_keys or key in components or (every_edition(ent) and key[:2] in installed)
        if ent.entitlement_id in active and not matched:
            groups[(True, key)] = ProductGroup(key, *row_names(ent))
            known_keys.add(key)
    for (known, key), group in groups.items():
        if known and key in other:
            _component_row(group, *other[key], groups.get((True, other[key][0])), suite_names)
        elif known:
            group.candidates = [e for e in by_product.get(key[:2], ()) if matches_product(e, key, lines)]
            group.candidates += _component_licences(group, folded.get(key, {}), by_product, lines, other)
            group.every_edition_active = [e for e in group.candidates
                                          if every_edition(e) and e.entitlement_id in active]
            group.notes += editionless_notes(group.edition, by_product.get(key[:2], ()), active)
    return [groups[k] for k in sorted(groups, key=lambda k: (not k[0], k[1]))]


def _component_licences(group: ProductGroup, parts: dict[ProductKey, str],
                        by_product: dict[tuple[str, str], list[Entitlement]],
                        lines: EditionLines, other: dict) -> list[Entitlement]:
    """The entitlements of the components counted under a suite's row (Word x2 under Office), with a note each.

    They are candidates of the suite's row rather than rows of their own: a host with the suite and the component
    then counts once, and ``allocate`` decides which licence covers which host, so the suite's spare licences
    still cover component installations beyond the component's own (``coverage.covers``: each on its own terms).
    Those of another metric than the suite's (``other``) are not: they would vote on the row's metric.
    """
    out = []
    for own, label in parts.items():
        moved = other[own][2] if own in other else ()
        if moved:
            group.notes.append(f"{label} installations that its own {_ids(moved)} ({_metrics(moved)}; this suite's "
                               f"entitlements count {', '.join(other[own][1])}) cover are counted in its own row, "
                               f"under them, except on hosts of this row")
        ents = [e for e in by_product.get(own[:2], ()) if matches_product(e, own, lines) and e not in moved]
        if ents:
            group.notes.append(f"{label} is a component of this suite with licences of its own "
                               f"({_ids(ents)}): they cover its installations here, beside the suite's")
        out += ents
    return out


def _ids(ents: Sequence[Entitlement]) -> str:
    return ", ".join(e.entitlement_id for e in ents)


def _metrics(ents: Sequence[Entitlement]) -> str:
    return ", ".join(sorted({e.metric for e in ents}))


def _other_metric(suite: ProductKey, own: ProductKey, by_product: dict[tuple[str, str], list[Entitlement]],
                  active: set[str], lines: EditionLines) -> tuple[list[str], list[Entitlement]]:
    """The metrics of the suite's own active entitlements, and the component's own licences (any term) that
    count another one. Only the suite's own entitlements choose its row's metric: a component's licence of
    another metric (Word per device under Office per named user) cannot count there, and would otherwise
    outvote the suite's (``measure.choose_metric``) or be left owned in no row. None when the suite's own
    count no metric (site or unknown ones): its row's metric is then not the suite's to say."""
    metrics = sorted({e.metric for e in by_product.get(suite[:2], ()) if e.entitlement_id in active
                      and matches_product(e, suite, lines) and e.metric in METRICS and e.metric != Metric.SITE})
    if not metrics:
        return metrics, []
    return metrics, [e for e in by_product.get(own[:2], ()) if matches_product(e, own, lines)
                     and e.metric in METRICS and e.metric != Metric.SITE and e.metric not in metrics]


def _component_row(group: ProductGroup, suite_key: ProductKey, metrics: list[str], others: list[Entitlement],
                   suite: ProductGroup | None, suite_names: dict) -> None:
    """A suite component's own row: its installations covered by its own licences of another metric than the
    suite's, those licences its candidates. On a host of the suite's row the suite covers the component
    (licensing.md: the components must not be counted again): counted there, kept here but not counted."""
    group.candidates = list(others)
    name = _label(*suite_names[suite_key])
    group.notes.append(f"a component of {name}, whose entitlements count {', '.join(metrics)}: its installations "
                       f"that its own {_ids(others)} ({_metrics(others)}) cover are counted here, under them; "
                       f"the others under the suite")
    if suite is None or not len(group.required_at):
        return
    at, names = take_required(group, set(host_indexes(suite.packed)))
    if at:
        group.folded = len(at)
        group.notes.append(f"{count_text(len(at))} on {some_of(names, 10)}: counted under {name} on the same host, "
                           "not again here")
