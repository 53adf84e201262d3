"""Allocation: each entitlement's quantity handed to the coverage partitions it can cover (step 4 of
``reconcile``), with the smallest total shortfall whatever the entitlement ids."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from sam_engine.model import Entitlement
from sam_engine.vocabulary import METRICS, Metric, units

if TYPE_CHECKING:  # annotations only: reconcile builds the groups
    from sam_engine.licensing.reconcile import ProductGroup


@dataclass(frozen=True, slots=True)
class Allocation:
    """Entitlement quantities handed out: per (product key, entitlement id) and the shortfalls."""

    counted: dict  # (ProductKey, entitlement id) -> int, or None for unlimited
    shortfall: dict  # ProductKey -> int
    used: dict  # entitlement id -> total counted over all products (finite ones)


def _unlimited(ent: Entitlement) -> bool:
    return ent.quantity is None or ent.metric == Metric.SITE


def _counted_nowhere(groups: Sequence[ProductGroup], usable: dict[str, Entitlement]) -> None:
    """A note on each row of an active ``edition: any`` entitlement that no row counts under its metric.

    An edition with active entitlements of its own counts under their metric (``measure.choose_metric``), so
    one every-edition Processor licence beside Standard Edition 2 rows counting Named User Plus, and no row
    counting processor, is a candidate of every row and usable in none: owned in no row, left out of the
    totals. This is accepted and said, not mended: the licence does cover those installations (counting them
    under it instead is the licence manager's choice, not the engine's), so a shelfware row of its own would
    misstate it, and such a row, made after the metrics are chosen, would need a step of its own to be
    measured. The note stands beside each row's trace line ("metric is not named_user: not counted here").
    """
    for group in groups:
        for ent in group.every_edition_active:
            if ent.entitlement_id in usable or ent.metric not in METRICS or ent.metric == Metric.SITE:
                continue  # counted in some row, or its unknown metric is noted already (a site one is always usable)
            size = f"unlimited {ent.metric}" if ent.quantity is None else units(ent.quantity, ent.metric)
            note = (f"{ent.entitlement_id} (every edition, {size}) is counted in no row: no edition here counts "
                    f"{ent.metric} (each counts under its own entitlements' metric), so it is owned in no row")
            if note not in group.notes:
                group.notes.append(note)


def _augment(start: int, need: int, covering: list[list[str]], users: dict[str, list[int]],
             flows: list[dict[str, int]], left: dict[str, int | None]) -> int:
    """Serve partition ``start`` up to ``need`` (``flows``: what each partition takes from each entitlement,
    ``left``: what is left of each, None without limit) and return what stays short.

    Each round takes the shortest augmenting path, breadth first: an entitlement of the partition with
    quantity left (in the partition's preference order), else one that a partition served before holds
    while another of its entitlements has quantity left (it moves there), and so on. Served partitions keep
    what they have; a partition left short has no such path, and no later round opens one.

    The paths of one step (the partition's own entitlements with quantity left) are taken first in one pass,
    as the rounds would take them: a partition served by thousands of one-seat licences costs one pass over
    them, not a search from the top of its list per seat.
    """
    flow = flows[start]
    for eid in covering[start]:
        if need == 0:
            return 0
        have = left[eid]
        take = need if have is None else min(need, have)
        if take:
            flow[eid] += take
            need -= take
            if have is not None:
                left[eid] = have - take
    while need > 0:
        via: dict[str, int] = {}  # entitlement -> the partition it was reached from
        came: dict[int, str | None] = {start: None}  # partition -> the entitlement that reached it
        queue, end = deque([start]), None
        while queue and end is None:
            j = queue.popleft()
            for eid in covering[j]:
                if eid in via:
                    continue
                via[eid] = j
                if left[eid] is None or left[eid] > 0:
                    end = eid
                    break
                for k in users[eid]:
                    if k not in came and flows[k][eid]:
                        came[k] = eid
                        queue.append(k)
        if end is None:
            return need
        step, j = need if left[end] is None else min(need, left[end]), via[end]
        while came[j] is not None:  # the bottleneck: what the moved partitions hold
            step, j = min(step, flows[j][came[j]]), via[came[j]]
        j = via[end]
        flows[j][end] += step
        while came[j] is not None:
            eid = came[j]
            flows[j][eid] -= step
            j = via[eid]
            flows[j][eid] += step
        if left[end] is not None:
            left[end] -= step
        need -= step
    return 0


def _serve(covering: list[list[str]], needs: Sequence[int], left: dict[str, int | None]
           ) -> tuple[list[dict[str, int]], list[int]]:
    """Serve each partition (``covering``: its entitlements in preference order, ``needs``: its consumption) in
    turn from ``left`` (updated): what each takes from each entitlement, and what each stays short."""
    users: dict[str, list[int]] = {eid: [] for eid in left}
    for i, eids in enumerate(covering):
        for eid in eids:
            users[eid].append(i)
    flows = [dict.fromkeys(eids, 0) for eids in covering]
    return flows, [_augment(i, need, covering, users, flows, left) for i, need in enumerate(needs)]


def least_shortfall(needs: Sequence[tuple[Sequence[str], int]], ents: Sequence[Entitlement]) -> int:
    """The smallest total shortfall of partitions (``needs``: the ids of the entitlements covering each, its
    consumption) served from ``ents`` alone: how ``measure`` compares two ways of counting one product."""
    left = {e.entitlement_id: None if _unlimited(e) else e.quantity for e in ents}
    return sum(_serve([sorted(c) for c, _ in needs], [n for _, n in needs], left)[1])


def allocate(groups: Sequence[ProductGroup]) -> Allocation:
    """Give each partition licences from the entitlements covering it, with the smallest total shortfall.

    A bipartite max-flow from the partitions to the entitlements covering them, their quantities as capacities
    (unlimited and site ones without limit). Partitions are served in turn, most constrained first (fewest
    covering entitlements, then product key), each from its own entitlements in preference order (unlimited
    ones first, then the one able to serve the fewest partitions), and, once those are used up, by moving
    partitions served before onto their other entitlements (``_augment``). So the shortfall is the least any
    hand-out leaves, whatever the entitlement ids (content hashes: a greedy hand-out fell short or not with the
    PO numbers' text), and a shortfall no hand-out avoids lands on the partitions served last. What is left
    of an entitlement is counted under the first product it is usable for. An active ``edition: any``
    entitlement usable in no row is said on its rows (``_counted_nowhere``).
    """
    ents = {e.entitlement_id: e for g in groups for e in g.usable}
    _counted_nowhere(groups, ents)
    capacity = {eid: None if _unlimited(e) else e.quantity for eid, e in ents.items()}
    spread = Counter(eid for g in groups for p in g.partitions for eid in p.covering)
    work = [(g, p) for g in groups for p in g.partitions]
    work.sort(key=lambda gp: (len(gp[1].covering) == 0, len(gp[1].covering), gp[0].key))
    prefer = {eid: (capacity[eid] is not None, spread[eid], eid) for eid in ents}
    covering = [sorted(p.covering, key=prefer.__getitem__) for _, p in work]
    flows, short = _serve(covering, [p.result.quantity for _, p in work], capacity)
    counted: dict = {(g.key, e.entitlement_id): 0 for g in groups for e in g.usable}
    shortfall: dict = {}
    for (group, _), flow, need in zip(work, flows, short):
        shortfall[group.key] = shortfall.get(group.key, 0) + need
        for eid, n in flow.items():
            if n and capacity[eid] is None:
                counted[(group.key, eid)] = None
            elif n and counted[(group.key, eid)] is not None:
                counted[(group.key, eid)] += n
    homes: dict[str, list] = {eid: [] for eid in ents}  # per entitlement, the products it is usable for, in order
    for key, eid in counted:
        homes[eid].append(key)
    for eid, left in capacity.items():  # the rest of each entitlement: under its first product
        here = homes[eid]
        if left is None:
            if all(counted[(k, eid)] is not None for k in here):
                counted[(here[0], eid)] = None
        elif left:
            home = next((k for k in here if counted[(k, eid)]), here[0])
            counted[(home, eid)] += left
    used = {eid: sum(n for (k, e), n in counted.items() if e == eid and n is not None) for eid in ents}
    return Allocation(counted, shortfall, used)
