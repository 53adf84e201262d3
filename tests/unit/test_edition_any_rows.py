"""Where an ``edition: any`` entitlement is shown, whatever its id.

A product with installations: the every-edition entitlement counts in its editions' rows and has no row of its
own. A product with none installed: it is shelfware with its own row, the editionless one ("every edition"),
however the entitlement ids sort (before, that row came only when its id sorted before the edition-specific
ones). An every-edition licence that no edition counts under its metric is owned in no row: each of its rows
says so.
"""

import pytest

from sam_engine.licensing.position import position_to_rows
from sam_engine.vocabulary import Status

from test_edition_any import EE, EXAMPLE, SE2, every_edition, ownership, with_users
from test_position import by_product, ent, host, position, scanned

# sorting before ORA-EE, between ORA-EE and ORA-SE2, and after both
ORDERINGS = ["A-ANY", "ORA-FULL", "Z-ANY"]


def rows(pos, eid):
    """Each row, the every-edition entitlement's id written ANY: what must not depend on that id."""
    return [(p.product, p.edition, p.status, p.consumption.metric, p.consumption.quantity, p.owned,
             sorted(("ANY" if e == eid else e, n) for e, n in p.ownership.entitlements),
             sorted(n.replace(eid, "ANY") for n in p.notes)) for p in pos.products]


def counted_nowhere(eid, size="1 processor", metric="processor"):
    return (f"{eid} (every edition, {size}) is counted in no row: no edition here counts {metric} (each counts "
            f"under its own entitlements' metric), so it is owned in no row")


def se2_scans():
    return [with_users(scanned("se1", host("se1", 2, 16), "Oracle Database 19c Standard Edition 2"), "ann", "bob")]


# --- problem 1: the every-edition row, whatever the id ------------------------------------------


@pytest.mark.parametrize("eid", ORDERINGS)
def test_nothing_installed_the_every_edition_entitlement_has_its_own_row_whatever_its_id(eid):
    pos = position([], EXAMPLE + [every_edition(eid)])
    assert [(p.product, p.edition) for p in pos.products] == [
        ("Oracle Database", None), ("Oracle Database", EE), ("Oracle Database", SE2)]
    own = by_product(pos, "Oracle Database")
    assert own.edition is None
    assert (own.owned, own.consumption.quantity, own.status) == (1, 0, Status.OVER_LICENSED)
    assert own.ownership.entitlements == ((eid, 1),)
    assert f"{eid} (licences/test.yml:{eid}): 1 processor, perpetual -> counts 1" in ownership(own)
    ee = by_product(pos, "Oracle Database", EE)
    assert (ee.owned, dict(ee.ownership.entitlements)) == (16, {"ORA-EE": 16, eid: 0})
    assert sum(p.owned for p in pos.products) == 16 + 20 + 1  # owned once
    assert not [n for p in pos.products for n in p.notes if "counted in no row" in n]


def test_nothing_installed_the_rows_are_the_same_for_every_id():
    first, *others = [rows(position([], EXAMPLE + [every_edition(eid)]), eid) for eid in ORDERINGS]
    assert all(other == first for other in others)


@pytest.mark.parametrize("eid", ORDERINGS)
def test_installed_editions_show_the_every_edition_entitlement_in_their_rows_not_a_row_of_its_own(eid):
    scans = [scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition")]
    pos = position(scans, EXAMPLE + [every_edition(eid, quantity=2)])
    assert [(p.product, p.edition) for p in pos.products] == [("Oracle Database", EE), ("Oracle Database", SE2)]
    ee = by_product(pos, "Oracle Database", EE)
    assert (ee.consumption.quantity, ee.owned, dict(ee.ownership.entitlements)) == (16, 18, {"ORA-EE": 16, eid: 2})
    assert sum(p.owned for p in pos.products) == 16 + 20 + 2


def test_installed_editions_give_the_same_rows_for_every_id():
    scans = [scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition")]
    first, *others = [rows(position(scans, EXAMPLE + [every_edition(eid)]), eid) for eid in ORDERINGS]
    assert all(other == first for other in others)


@pytest.mark.parametrize("eid", ORDERINGS)
def test_an_expired_every_edition_entitlement_has_no_row(eid):
    expired = ent(eid, "Oracle", "Oracle Database", "processor", 1, "any", term_end="2025-12-31")
    pos = position([], EXAMPLE + [expired])
    assert [p.edition for p in pos.products] == [EE, SE2]


# --- problem 2: an every-edition licence no edition counts under its metric -------------------


@pytest.mark.parametrize("eid", ORDERINGS)
def test_an_every_edition_licence_no_edition_counts_says_so_on_its_rows(eid):
    pos = position(se2_scans(), [EXAMPLE[1], every_edition(eid)])
    (se2,) = pos.products
    # 2 people, at least 10 Named User Plus per server: 10, owned 20 by ORA-SE2; the Processor licence nowhere
    assert (se2.edition, se2.consumption.metric, se2.consumption.quantity, se2.owned, se2.status) == (
        SE2, "named_user", 10, 20, Status.OVER_LICENSED)
    assert se2.ownership.entitlements == (("ORA-SE2", 20),)
    assert f"{eid} (licences/test.yml:{eid}): 1 processor, perpetual; metric is not named_user: not counted here" \
        in ownership(se2)
    assert counted_nowhere(eid) in se2.notes
    (row,) = position_to_rows(pos, detail=True)
    assert counted_nowhere(eid) in row["notes"]  # where the user reads the row


def test_the_note_names_an_unlimited_every_edition_licence():
    pos = position(se2_scans(), [EXAMPLE[1], every_edition("ORA-ANY", quantity=None)])
    assert counted_nowhere("ORA-ANY", "unlimited processor") in by_product(pos, "Oracle Database", SE2).notes


@pytest.mark.parametrize("eid", ORDERINGS)
def test_no_note_when_a_row_counts_the_every_edition_metric(eid):
    # the Enterprise Edition bought and not installed: its shelfware row counts processor, and owns the licence
    pos = position(se2_scans(), EXAMPLE + [every_edition(eid)])
    ee = by_product(pos, "Oracle Database", EE)
    assert (ee.consumption.metric, ee.owned, dict(ee.ownership.entitlements)) == ("processor", 17, {"ORA-EE": 16,
                                                                                                   eid: 1})
    assert not [n for p in pos.products for n in p.notes if "counted in no row" in n]


def test_no_note_when_the_edition_takes_the_every_edition_metric():
    lapsed = ent("ORA-SE2", "Oracle", "Oracle Database", "named_user", 20, SE2, term_end="2025-12-31")
    pos = position(se2_scans(), [lapsed, every_edition(quantity=2)])
    se2 = by_product(pos, "Oracle Database", SE2)
    assert (se2.consumption.metric, se2.owned) == ("processor", 2)
    assert not [n for n in se2.notes if "counted in no row" in n]


def test_no_note_for_an_expired_every_edition_licence():
    expired = ent("ORA-ANY", "Oracle", "Oracle Database", "processor", 1, "any", term_end="2025-12-31")
    se2 = by_product(position(se2_scans(), [EXAMPLE[1], expired]), "Oracle Database", SE2)
    assert not [n for n in se2.notes if "counted in no row" in n]
