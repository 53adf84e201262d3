"""``allocation.allocate``: entitlement quantities handed to coverage partitions with the smallest total shortfall
(a max-flow), whatever the entitlement ids (content hashes, so the PO numbers' text) and however they sort."""

import itertools

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from sam_engine.licensing.measure import Partition
from sam_engine.licensing.metrics import MetricResult
from sam_engine.licensing.position import build_position
from sam_engine.licensing.allocation import allocate
from sam_engine.licensing.reconcile import ProductGroup
from sam_engine.model import LicenceNeed, Recognition
from sam_engine.vocabulary import Status

from test_position import AS_OF, by_product, desktop, ent


def teamviewer(inst):
    """The recogniser of this file: ``TeamViewer <version>`` is TeamViewer at that version, licence required."""
    return Recognition("TeamViewer", "TeamViewer", None, inst.name.split()[1], LicenceNeed.REQUIRED, "test:tv")


# the review's case (fleetsam check said under-licensed by 1 with PO-13/23/33, compliant with PO-1/2/3)
TV_FLEET = {"h1": "15.1.0", "h2": "16.1.0", "h3": "16.1.0", "h4": "14.1.0", "h5": "17.1.0"}
TV_RANGES = ("<16", ">=15,<17", "==14.* || ==17.*")  # quantities 1, 3, 1


@pytest.mark.parametrize("ids", list(itertools.permutations(("PO-13", "PO-23", "PO-33"))))
def test_licences_that_suffice_cover_the_fleet_however_their_ids_sort(ids):
    ents = [ent(eid, "TeamViewer", "TeamViewer", "device", n, version_range=r)
            for eid, n, r in zip(ids, (1, 3, 1), TV_RANGES)]
    pos = build_position([desktop(h, f"TeamViewer {v}") for h, v in TV_FLEET.items()], teamviewer, ents, AS_OF)
    tv = by_product(pos, "TeamViewer")
    # h5 (17) from the ==14.*||==17.* line, h4 (14) from <16, h1 (15), h2, h3 (16) from >=15,<17: 5 devices, 5 owned
    assert (tv.consumption.quantity, tv.owned, tv.balance, tv.shortfall) == (5, 5, 0, 0)
    assert tv.status is Status.COMPLIANT
    bought = dict(zip(ids, (1, 3, 1)))  # each line counted in full, in the ownership lines as in the figures
    assert {t.entitlements: t.quantity for t in tv.ownership.trace} == {
        **{(eid,): n for eid, n in bought.items()}, tuple(sorted(ids)): 5}
    assert [t.text.split(": ", 1)[1] for t in tv.ownership.trace] == [
        *(f"{bought[e]} device{'s' if bought[e] > 1 else ''}, perpetual -> counts {bought[e]}" for e in sorted(ids)),
        f"{' + '.join(str(bought[e]) for e in sorted(ids))} = 5"]


# --- the total shortfall is the least any hand-out leaves -----------------------------------------------------


def least_shortfall(parts, quantities):
    """By max-flow min-cut (Hall's deficiency), brute force over every set T of partitions: the least shortfall is
    the largest need(T) - quantity of the entitlements covering some partition of T, or 0 (a T that an unlimited
    entitlement covers part of is never short)."""
    worst = 0
    for r in range(1, len(parts) + 1):
        for subset in itertools.combinations(parts, r):
            ents = {e for cover, _ in subset for e in cover}
            if any(quantities[e] is None for e in ents):
                continue
            worst = max(worst, sum(n for _, n in subset) - sum(quantities[e] for e in ents))
    return worst


def groups_of(products, quantities, ids):
    """ProductGroups ``p0``, ``p1``... as ``measure`` leaves them: entitlements usable, partitions measured."""
    ents = {e: ent(ids[e], "Acme", "Tool", "device", q) for e, q in quantities.items()}
    groups = []
    for i, parts in enumerate(products):
        group = ProductGroup(("Acme", f"p{i}", None), "Acme", f"p{i}", None)
        group.usable = [ents[e] for e in sorted({e for cover, _ in parts for e in cover})]
        group.partitions = [Partition(tuple(ids[e] for e in cover), MetricResult("device", n, ()))
                            for cover, n in parts]
        groups.append(group)
    return groups


NAMES = "ABCD"
instances = st.integers(1, 4).flatmap(lambda k: st.tuples(
    st.lists(st.lists(st.tuples(st.sets(st.sampled_from(NAMES[:k])).map(sorted), st.integers(0, 5)),
                      min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=k, max_size=k).map(lambda q: dict(zip(NAMES, q))),
    st.permutations(range(k))))


@settings(max_examples=400, deadline=None, database=None, phases=(Phase.explicit, Phase.generate))
@given(instances)
# the greedy hand-out fell short of these (random search rarely meets them): the review's case in short (A <16,
# B >=15,<17, C ==14.*||==17.*), its first random counterexample, and one where which product was short went
# with the ids' order
@example(([[(["A", "B"], 1), (["B"], 2), (["A", "C"], 1), (["C"], 1)]], {"A": 1, "B": 3, "C": 1}, (0, 1, 2)))
@example(([[(["A", "C"], 1), (["C"], 2), (["A", "B"], 1)]], {"A": 1, "B": 0, "C": 3}, (0, 1, 2)))
@example(([[(["A", "C"], 4), (["B", "C"], 2)], [(["A", "B", "C"], 2), (["A"], 0)]], {"A": 1, "B": 1, "C": 4},
          (1, 2, 0)))
def test_the_total_shortfall_is_the_least_possible_and_each_products_share_ignores_the_ids(instance):
    products, quantities, order = instance
    alloc = allocate(groups_of(products, quantities, {e: e for e in quantities}))
    assert sum(alloc.shortfall.values()) == least_shortfall([p for ps in products for p in ps], quantities)
    # the same licences under other ids, sorting in another order: each product's shortfall is the same
    renamed = {e: f"ent-{order[i]}" for i, e in enumerate(quantities)}
    assert allocate(groups_of(products, quantities, renamed)).shortfall == alloc.shortfall
    for e, q in quantities.items():  # every finite licence usable somewhere is counted in full, once
        if q is not None and any(e in cover for ps in products for cover, _ in ps):
            assert alloc.used[e] == q
