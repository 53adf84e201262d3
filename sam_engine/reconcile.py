"""Reconcile: installations grouped per product and host, measured, and matched to entitlements.

Steps, each a function:

1. ``group_installations``: recognise every installation, fold suite components
   into their suite (so Word under an Office entitlement is not a product of its
   own), and group per product (publisher, product, edition).
   ``fold_editionless``: on a host that also has an edition of the product, a
   record without edition (an instance's Uninstall entry) is not counted again.
2. ``group_per_host``: per product, one ``Deployment`` per host, however many
   versions or 32/64-bit copies it has; duplicate records of one installation
   are merged by ``dedup.dedup_per_installation``.
3. ``measure_group``: choose the metric (the active entitlements', else the
   product rule's default, else per device) and measure consumption per
   *coverage partition*: hosts covered by the same set of entitlements.
4. ``allocate``: hand out each entitlement's quantity to the partitions it can
   cover, most constrained first; what no entitlement covers is the shortfall.

Example: Office Professional Plus on pc1 (2019) and pc2 (2016), Word on pc3,
one entitlement E1 for Office ``==2019`` with downgrade rights listing Word,
quantity 2 -> one group "Microsoft Office Professional Plus", one partition
covered by E1 with 3 devices, E1 gives 2, shortfall 1.
"""

from __future__ import annotations

import heapq
import operator
import sys
from array import array
from collections import Counter, deque
from collections.abc import Sequence as _Sequence
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from .coverage import ProductKey, TermState, covers, ent_key, matches_product, product_key, suite_owners
from .dedup import dedup_per_installation
from .metric_rules import MetricRules
from .metrics import METRICS, Deployment, MetricContext, MetricResult, TraceLine, measure
from .inventory import RowTable, compact_view
from .model import Entitlement, Hardware, HostScan, Installation, LicenceNeed, Recognition


@dataclass(frozen=True, slots=True)
class InstallationRef:
    """One installation behind a position: where, what exactly, and which scan saw it."""

    host: str
    host_id: str | None
    name: str  # raw title
    version: str | None  # raw version
    normalised_version: str | None
    source: str
    package_id: str
    scan_id: str  # the scan whose inventory it is (older than the latest scan when stale)
    stale: bool
    licence: LicenceNeed
    counted_as: str  # the product it is counted under (the suite, for a suite's components)
    catalogue_rule: str | None = None  # the catalogue entry that recognised it


@dataclass(frozen=True, slots=True)
class Partition:
    """Hosts of one product covered by the same entitlements, and their consumption."""

    covering: tuple[str, ...]  # entitlement ids
    result: MetricResult


_call = getattr(operator, "call", None) or (lambda f, *args: f(*args))  # operator.call: Python 3.11+
_SHIFT = 32  # an installation is packed as host index << 32 | position in that host's inventory
_LOW = (1 << _SHIFT) - 1
_HIGH = 1 if sys.byteorder == "little" else 0  # which 32-bit half of a packed 64-bit value is the host index
assert array("I").itemsize * 2 == array("Q").itemsize == 8


class Members:
    """Where the installations of a position are: the host scans and each one's compact view.

    Shared by every group of one ``group_installations`` call. An installation is
    (host index, position in that host's inventory), packed in one integer; per
    distinct row of each row table, ``info`` holds what reconcile derived from it
    once: (group, recognition, label, needs a licence).
    """

    def __init__(self, host_scans: Sequence[HostScan]):
        self.host_scans = host_scans
        self.fallback = RowTable()  # rows of plain-tuple inventories
        self.views: list[tuple[RowTable, Sequence[int], list]] = []  # per host: (table, row ids, row infos)
        self.infos: dict[int, tuple[RowTable, list]] = {}  # id(table) -> (table, row infos)
        self._rank: list[int] | None = None
        self._stale: set[int] | None = None

    def view(self, hs: HostScan) -> tuple[RowTable, Sequence[int], list]:
        table, ids = compact_view(hs.installations, self.fallback)
        entry = self.infos.get(id(table))
        if entry is None:
            entry = self.infos[id(table)] = (table, [])
        info = entry[1]
        if len(info) < len(table.rows):
            info.extend([None] * (len(table.rows) - len(info)))
        view = (table, ids, info)
        self.views.append(view)
        return view

    def ref(self, packed: int) -> InstallationRef:
        h, pos = packed >> _SHIFT, packed & _LOW
        hs = self.host_scans[h]
        table, ids, info = self.views[h]
        rid = ids[pos]
        row, (_, rec, label, _) = table.rows[rid], info[rid]
        return InstallationRef(hs.inventory_name, hs.host_id, row[1], row[2], rec.version, row[0], row[5],
                               hs.inventory_scan_id or hs.scan_id, hs.stale, rec.licence, label, rec.rule)

    def group_at(self, packed: int) -> "Group":
        """The group the installation ``packed`` joined (a row's group is the same on every host)."""
        h, pos = packed >> _SHIFT, packed & _LOW
        _, ids, info = self.views[h]
        return info[ids[pos]][0]

    def distinct_rows(self) -> Iterator[tuple[tuple, "Group"]]:
        """Every distinct installation row seen (``inventory.ROW_FIELDS``) with the group it joined."""
        for table, info in self.infos.values():
            for row, row_info in zip(table.rows, info):
                if row_info is not None:
                    yield row, row_info[0]

    def host_views(self) -> Iterator[tuple[HostScan, RowTable, Sequence[int], list]]:
        """Per host scan (in the order given): its row table, row ids and the per-row infos."""
        for hs, (table, ids, info) in zip(self.host_scans, self.views):
            yield hs, table, ids, info

    def versions_per_host(self, packed: array) -> dict[int, list[str | None]]:
        """Host index -> the raw version of each of its ``packed`` installations, without making refs."""
        out: dict[int, list[str | None]] = {}
        views = self.views
        for value in packed:
            h = value >> _SHIFT
            table, ids, _ = views[h]
            out.setdefault(h, []).append(table.rows[ids[value & _LOW]][2])
        return out

    def item(self, packed: int) -> tuple[HostScan, Installation, Recognition]:
        h, pos = packed >> _SHIFT, packed & _LOW
        hs = self.host_scans[h]
        table, ids, info = self.views[h]
        return hs, hs.installations[pos], info[ids[pos]][1]

    def _names(self) -> None:
        scans = self.host_scans
        by_name = sorted(range(len(scans)), key=lambda h: scans[h].inventory_name)
        self._rank = [0] * len(scans)
        for rank, h in enumerate(by_name):
            self._rank[h] = rank
        self._names_by_rank = [scans[h].inventory_name for h in by_name]
        self._dupes = len(set(self._names_by_rank)) != len(scans)
        self._in_name_order = by_name == list(range(len(scans)))  # usual: spool files sort by name
        self._stale = {h for h, hs in enumerate(scans) if hs.stale}

    def host_names(self, packed: array, stale_only: bool = False) -> tuple[str, ...]:
        """Sorted inventory names of the hosts of ``packed`` installations (only stale ones with ``stale_only``)."""
        if self._rank is None:
            self._names()
        if stale_only and not self._stale:
            return ()
        if self._in_name_order and not stale_only:  # packed is in host order: no sort needed
            names = tuple(map(self._names_by_rank.__getitem__, dict.fromkeys(_host_indexes(packed))))
        else:
            hosts = set(_host_indexes(packed))
            if stale_only:
                hosts &= self._stale
            names = tuple(map(self._names_by_rank.__getitem__, sorted(map(self._rank.__getitem__, hosts))))
        return tuple(dict.fromkeys(names)) if self._dupes else names

    def host_summary(self, packed: array, limit: int) -> tuple[int, tuple[str, ...]]:
        """(number of hosts, the first ``limit`` host names in name order) of ``packed`` installations,
        without naming every host (the free and unrecognised titles of a large fleet)."""
        if self._rank is None:
            self._names()
        if self._dupes:
            names = self.host_names(packed)
            return len(names), names[:limit]
        indexes = _host_indexes(packed)
        count = len(set(indexes))
        if self._in_name_order:  # packed is in host order, hosts are in name order: the first distinct ones
            first: list[int] = []
            for h in indexes:
                if not first or h != first[-1]:
                    first.append(h)
                    if len(first) == limit:
                        break
        else:
            first = heapq.nsmallest(limit, map(self._rank.__getitem__, set(indexes)))
        return count, tuple(map(self._names_by_rank.__getitem__, first))


def _host_indexes(packed: array) -> array:
    """The host index (the high 32 bits) of every packed installation, sliced out at C speed."""
    return array("I", packed.tobytes())[_HIGH::2]


class RefList(_Sequence):
    """The ``InstallationRef``s of one product, made on demand from packed (host, position) pairs.

    A read-only sequence that compares equal to the tuple of the same refs; at
    fleet scale it holds 8 bytes per installation instead of a record each.
    """

    __slots__ = ("members", "packed")

    def __init__(self, members: Members, packed: array):
        self.members, self.packed = members, packed

    def __len__(self) -> int:
        return len(self.packed)

    def __iter__(self):
        return map(self.members.ref, self.packed)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self)[index]
        return self.members.ref(self.packed[index])

    def __eq__(self, other) -> bool:
        if isinstance(other, (RefList, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<RefList of {len(self)} installations>"

    def host_names(self, stale_only: bool = False) -> tuple[str, ...]:
        """The sorted inventory names of the hosts (only stale ones with ``stale_only``), without refs."""
        return self.members.host_names(self.packed, stale_only)

    def host_summary(self, limit: int) -> tuple[int, tuple[str, ...]]:
        """(number of hosts, the first ``limit`` names), without naming every host."""
        return self.members.host_summary(self.packed, limit)

    def versions_per_host(self) -> list[tuple[HostScan, list[str | None]]]:
        """Per host scan (in host order), the raw versions of its installations here, without making refs."""
        scans = self.members.host_scans
        return [(scans[h], versions) for h, versions in self.members.versions_per_host(self.packed).items()]

    def group(self) -> "Group | None":
        """The reconcile group these installations belong to (None when empty)."""
        return self.members.group_at(self.packed[0]) if len(self.packed) else None


@dataclass
class Group:
    """Work record of one product while the position is computed (not part of the output).

    Its installations are packed (host index, position) pairs into ``members``;
    ``items`` and ``refs`` make the records from them when asked. ``required_at``
    lists those (as indexes into ``packed``) whose recognition needs a licence.
    """

    key: ProductKey
    publisher: str | None
    product: str
    edition: str | None
    recognised: bool = True
    members: Members | None = None
    packed: array = field(default_factory=lambda: array("Q"))
    required_at: array = field(default_factory=lambda: array("Q"))
    candidates: list[Entitlement] = field(default_factory=list)  # same product, any term or metric
    usable: list[Entitlement] = field(default_factory=list)  # active, and the group's metric (or site)
    metric: str = "device"
    rule_origin: str = "default"
    partitions: list[Partition] = field(default_factory=list)
    result: MetricResult | None = None
    coverage_lines: list[TraceLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    folded: int = 0  # required installations counted under an edition of the product instead (fold_editionless)
    _names: dict = field(default_factory=dict, repr=False, compare=False)  # host-name cache

    @property
    def count(self) -> int:
        return len(self.packed)

    def join_required(self, packed: int) -> None:
        self.required_at.append(len(self.packed))
        self.packed.append(packed)

    @property
    def items(self) -> list[tuple[HostScan, Installation, Recognition]]:
        return list(map(self.members.item, self.packed)) if self.members else []

    def required_items(self) -> list[tuple[HostScan, Installation, Recognition]]:
        """The items whose recognition needs a licence (the only ones a metric counts)."""
        if not self.members:
            return []
        return [self.members.item(self.packed[k]) for k in self.required_at]

    @property
    def refs(self) -> RefList | tuple:
        return RefList(self.members, self.packed) if self.members else ()

    @property
    def required(self) -> bool:
        return len(self.required_at) > 0

    @property
    def hosts(self) -> tuple[str, ...]:
        return self._host_names(False)

    @property
    def stale_hosts(self) -> tuple[str, ...]:
        return self._host_names(True)

    def _host_names(self, stale_only: bool) -> tuple[str, ...]:
        if not self.members:
            return ()
        key = len(self.packed)  # members only grow while grouping
        cached = self._names.get(stale_only)
        if cached is None or cached[0] != key:
            cached = self._names[stale_only] = (key, self.members.host_names(self.packed, stale_only))
        return cached[1]


def _count(n: int) -> str:
    return "1 installation" if n == 1 else f"{n} installations"


def _label(publisher: str | None, product: str, edition: str | None) -> str:
    return " ".join(p for p in (publisher, product, edition) if p)


def group_installations(host_scans: Sequence[HostScan], recognise: Callable[[Installation], Recognition],
                        ents: Sequence[Entitlement], states: dict[str, TermState]) -> list[Group]:
    """Groups per product, licensable and unrecognised, plus one per active entitlement matching none.

    Recognition, product key, suite folding and the ref label are worked out once
    per distinct row (an inventory's ``RowTable`` entry), not per installation;
    each installation then only joins its row's group.
    """
    active = {eid for eid, s in states.items() if s.active}
    suites = suite_owners(list(ents), active)
    suite_names = {ent_key(e): (e.publisher, e.product, e.edition) for e in ents if e.suite_components}
    groups: dict[tuple[bool, ProductKey], Group] = {}
    members = Members(host_scans)

    def classify(table: RowTable, rid: int) -> tuple[Group, Recognition, str, bool]:
        inst = table.installation(rid)
        rec = recognise(inst)
        known = rec.licence is not LicenceNeed.UNKNOWN
        own = product_key(rec.publisher or (None if known else inst.vendor), rec.product, rec.edition)
        key = suites.get(own[:2], own) if known else own
        names = suite_names[key] if key != own else (rec.publisher or (None if known else inst.vendor),
                                                     rec.product, rec.edition)
        group = groups.get((known, key))
        if group is None:
            group = groups[(known, key)] = Group(key, *names, recognised=known, members=members)
        if key != own and not group.notes:
            group.notes.append("suite components are counted under the suite, not as products of their own")
        return group, rec, _label(*names), rec.licence is LicenceNeed.REQUIRED

    joins: dict[int, tuple[list, set]] = {}  # id(table) -> (per row id: its group's join, row ids seen)
    for h, hs in enumerate(host_scans):
        table, ids, info = members.view(hs)
        join, seen = joins.setdefault(id(table), ([], set()))
        if len(join) < len(info):
            join.extend([None] * (len(info) - len(join)))
        new = set(ids).difference(seen)
        if new:  # classify each row once, at its first installation (in inventory order)
            for rid in [rid for rid in ids if rid in new]:
                if join[rid] is None:
                    info[rid] = row_info = classify(table, rid)
                    join[rid] = row_info[0].join_required if row_info[3] else row_info[0].packed.append
            seen.update(new)
        base = h << _SHIFT
        # the per-installation step, at C speed: each installation's group appends (host << 32 | position)
        deque(map(_call, map(join.__getitem__, ids), range(base, base + len(ids))), maxlen=0)
    known_keys = {k for known, k in groups if known}
    known_products = {k[:2] for k in known_keys}
    for ent in ents:
        publisher, product, edition = ent_key(ent)
        matched = (publisher, product, edition) in known_keys if edition else (publisher, product) in known_products
        if ent.entitlement_id in active and not matched:
            groups[(True, ent_key(ent))] = Group(ent_key(ent), ent.publisher, ent.product, ent.edition)
            known_keys.add(ent_key(ent))
            known_products.add(ent_key(ent)[:2])
    by_product: dict[tuple[str, str], list[Entitlement]] = {}
    for ent in ents:
        by_product.setdefault(ent_key(ent)[:2], []).append(ent)
    for (known, key), group in groups.items():
        if known:
            group.candidates = [e for e in by_product.get(key[:2], ()) if matches_product(e, key)]
    return [groups[k] for k in sorted(groups, key=lambda k: (not k[0], k[1]))]


def fold_editionless(groups: Sequence[Group]) -> None:
    """On a host that also has an edition of the same product, a record without edition is that
    edition's software (shared components, the Programs-and-Features entry of an instance): it is
    kept among the product's installations but not counted again.

    Example: win01 has "Microsoft SQL Server 2017 (64-bit) Standard Edition" (the instance,
    edition from its Setup key) and "Microsoft SQL Server 2017" (its Uninstall entry): SQL Server
    Standard counts win01's cores; the editionless SQL Server group counts nothing on win01.
    """
    editions: dict[tuple, list[Group]] = {}
    for g in groups:
        if g.recognised and g.members is not None and g.key[2]:
            editions.setdefault(g.key[:2], []).append(g)
    for g in groups:
        siblings = editions.get(g.key[:2]) if g.recognised and g.members is not None and not g.key[2] else None
        if not siblings or not g.required:
            continue
        covered: dict[int, str] = {}  # host index -> the edition counted there
        for sibling in siblings:
            for h in set(_host_indexes(sibling.packed)):
                covered.setdefault(h, sibling.edition or "")
        keep = array("Q", (k for k in g.required_at if g.packed[k] >> _SHIFT not in covered))
        folded = len(g.required_at) - len(keep)
        if not folded:
            continue
        hosts = sorted({g.members.host_scans[g.packed[k] >> _SHIFT].inventory_name for k in g.required_at
                        if g.packed[k] >> _SHIFT in covered}, key=str.casefold)
        names = sorted(set(covered[g.packed[k] >> _SHIFT] for k in g.required_at if g.packed[k] >> _SHIFT in covered))
        g.required_at, g.folded = keep, folded
        shown = ", ".join(hosts[:10]) + (f" and {len(hosts) - 10} more" if len(hosts) > 10 else "")
        g.notes.append(f"{_count(folded)} on {shown}: counted under the {' / '.join(names)} edition found on the "
                       f"same host, not again here")


def group_per_host(items: Sequence[tuple[HostScan, Installation, Recognition]]
                   ) -> list[tuple[Deployment, tuple[Recognition, ...]]]:
    """One ``Deployment`` per host (by host id, else inventory name), with the recognitions of
    every installation there (coverage must hold for each of them).

    Several versions, or 32- and 64-bit copies, on one host become one deployment,
    which the per-device metrics count once. Its ``installations`` are those
    ``dedup.dedup_per_installation`` keeps (an MSI GUID key and a named key of one
    install are one installation; distinct versions or locations stay distinct),
    which is what the per-installation metric counts.
    """
    by_host: dict[str, list[tuple[HostScan, Installation, Recognition]]] = {}
    for item in items:
        by_host.setdefault(item[0].host_id or item[0].inventory_name, []).append(item)
    out = []
    for entries in by_host.values():
        hs = entries[0][0]
        kept = dedup_per_installation([(inst, rec) for _, inst, rec in entries])
        deployment = Deployment(hs.inventory_name, hs.host.hardware if hs.host else Hardware(),
                                tuple(c.installation for c in kept), hs.host_id, hs.inventory_scan_id or hs.scan_id,
                                hs.stale)
        out.append((deployment, tuple(r for _, _, r in entries)))
    return sorted(out, key=lambda d: d[0].host)


def choose_metric(group: Group, states: dict[str, TermState], rules: MetricRules,
                  hint: Callable[[str, str], str | None] | None = None) -> tuple[str, str, list[str]]:
    """(metric, rule origin, notes): the active entitlements' metric, else the rule's default, else
    the catalogue's ``metric_hint`` (``hint(publisher, product)``), else per device."""
    notes = []
    rule = rules.rule_for(group.publisher, group.product, group.edition)
    for ent in group.candidates:
        if ent.metric not in METRICS:
            notes.append(f"{ent.entitlement_id}: unknown metric {ent.metric!r}: not counted")
    live = sorted({e.metric for e in group.candidates if states[e.entitlement_id].active
                   and e.metric in METRICS and e.metric != "site"})
    if not live:  # an expired entitlement still says how the product is sold
        live = sorted({e.metric for e in group.candidates if e.metric in METRICS and e.metric != "site"})
    default = rule.default_metric if rule and rule.default_metric else None
    if len(live) == 1:
        metric = live[0]
    elif live:
        metric = default if default in live else live[0]
        notes.append(f"entitlements use several metrics ({', '.join(live)}): counted under {metric}; "
                     f"the others are not counted here")
    else:
        hinted = hint(group.publisher or "", group.product) if hint and not default else None
        metric = default or (hinted if hinted in METRICS else None) or "device"
        if hinted in METRICS and metric == hinted:
            return metric, "catalogue metric_hint", notes
    if rule and metric in rule.params:
        origin = rule.params[metric].origin
    else:
        origin = rule.origin if rule else "default"
    return metric, origin, notes


def measure_group(group: Group, states: dict[str, TermState], rules: MetricRules, ctx: MetricContext,
                  hint: Callable[[str, str], str | None] | None = None) -> None:
    """Fill in the group's metric, usable entitlements, coverage partitions and consumption."""
    group.metric, group.rule_origin, notes = choose_metric(group, states, rules, hint)
    group.notes += notes
    group.usable = [e for e in group.candidates
                    if states[e.entitlement_id].active and e.metric in (group.metric, "site")]
    required = group.required_items()
    free = group.count - len(required) - group.folded
    if free and required:
        group.notes.append(f"{_count(free)} need no licence (by version): not counted")
    params = rules.params(group.publisher, group.product, group.edition, group.metric)
    hosts = group_per_host(required)
    if not required and not group.usable:
        text = f"no licence needed: {_count(group.count)} on {', '.join(group.hosts)}"
        group.result = MetricResult(group.metric, 0, (TraceLine(text, group.hosts, quantity=0),))
        return
    by_cover: dict[tuple[str, ...], list[Deployment]] = {}
    for deployment, recs in hosts:
        if group.metric == "employee":
            cover = tuple(e.entitlement_id for e in group.usable)
        else:
            cover = tuple(e.entitlement_id for e in group.usable
                          if all(covers(e, group.key, rec)[0] for rec in recs))
        if group.usable and not cover:
            why = "; ".join(f"{e.entitlement_id}: {reason}" for e in group.usable for rec in recs
                            for ok, reason in [covers(e, group.key, rec)] if not ok)
            group.coverage_lines.append(TraceLine(f"{deployment.label}: not covered ({why})", (deployment.host,),
                                                  tuple(e.entitlement_id for e in group.usable)))
        by_cover.setdefault(cover, []).append(deployment)
    if group.metric == "employee" or not by_cover:
        by_cover = {tuple(e.entitlement_id for e in group.usable): [d for d, _ in hosts]}
    for cover, deployments in sorted(by_cover.items(), key=lambda kv: (not kv[0], kv[0])):
        group.partitions.append(Partition(cover, measure(group.metric, deployments, params, ctx)))
    group.result = _combine(group.metric, group.partitions)


def _combine(metric: str, partitions: list[Partition]) -> MetricResult:
    if len(partitions) == 1:
        return partitions[0].result
    lines, notes = [], []
    for p in partitions:
        head = f"covered by {', '.join(p.covering)}:" if p.covering else "covered by no entitlement:"
        lines.append(TraceLine(head, entitlements=p.covering))
        lines += p.result.lines
        notes += p.result.notes
    total = sum(p.result.quantity for p in partitions)
    summed = " + ".join(str(p.result.quantity) for p in partitions)
    hosts = tuple(h for p in partitions for ln in p.result.lines for h in ln.hosts)
    lines.append(TraceLine(f"consumption: {summed} = {total}", tuple(dict.fromkeys(hosts)), quantity=total))
    return MetricResult(metric, total, tuple(lines), tuple(dict.fromkeys(notes)))


@dataclass(frozen=True, slots=True)
class Allocation:
    """Entitlement quantities handed out: per (product key, entitlement id) and the shortfalls."""

    counted: dict  # (ProductKey, entitlement id) -> int, or None for unlimited
    shortfall: dict  # ProductKey -> int
    used: dict  # entitlement id -> total counted over all products (finite ones)


def _unlimited(ent: Entitlement) -> bool:
    return ent.quantity is None or ent.metric == "site"


def allocate(groups: Sequence[Group]) -> Allocation:
    """Give each partition licences from the entitlements covering it, most constrained first.

    Unlimited entitlements are used before counted ones; among counted ones the
    entitlement able to serve the fewest partitions goes first. What is left of
    an entitlement is counted under the first product it is usable for.
    """
    ents = {e.entitlement_id: e for g in groups for e in g.usable}
    capacity = {eid: None if _unlimited(e) else e.quantity for eid, e in ents.items()}
    spread = Counter(eid for g in groups for p in g.partitions for eid in p.covering)
    counted: dict = {(g.key, e.entitlement_id): 0 for g in groups for e in g.usable}
    shortfall: dict = {}
    work = [(g, p) for g in groups for p in g.partitions]
    work.sort(key=lambda gp: (len(gp[1].covering) == 0, len(gp[1].covering), gp[0].key))
    for group, part in work:
        need = part.result.quantity
        for eid in sorted(part.covering, key=lambda e: (capacity[e] is not None, spread[e], e)):
            if need <= 0:
                break
            if capacity[eid] is None:
                counted[(group.key, eid)], need = None, 0
                break
            take = min(need, capacity[eid])
            capacity[eid] -= take
            need -= take
            if counted[(group.key, eid)] is not None:
                counted[(group.key, eid)] += take
        shortfall[group.key] = shortfall.get(group.key, 0) + need
    for eid, left in capacity.items():  # the rest of each entitlement: under its first product
        here = [g.key for g in groups if (g.key, eid) in counted]
        if left is None:
            if all(counted[(k, eid)] is not None for k in here):
                counted[(here[0], eid)] = None
        elif left:
            home = next((k for k in here if counted[(k, eid)]), here[0])
            counted[(home, eid)] += left
    used = {eid: sum(n for (k, e), n in counted.items() if e == eid and n is not None) for eid in ents}
    return Allocation(counted, shortfall, used)
