"""An ``edition: any`` entitlement covers every edition of its product, and does not change how an edition
with entitlements of its own is counted: Oracle's example licences (16 Processors of Enterprise Edition,
20 Named User Plus of Standard Edition 2) plus one every-edition Processor licence must still count SE2
per named user, its 20 licences owned there (before, the row went over to processor and owned 0)."""

import dataclasses
import datetime as dt

from sam_engine.model import HostUser
from sam_engine.vocabulary import Status

from test_position import by_product, ent, host, position, scanned

EE, SE2 = "Enterprise Edition", "Standard Edition 2"
RECENT = int(dt.datetime(2026, 6, 20, tzinfo=dt.timezone.utc).timestamp())

EXAMPLE = [  # examples/licences/oracle.yml, the database part
    ent("ORA-EE", "Oracle", "Oracle Database", "processor", 16, EE, unit_cost="47500", currency="USD"),
    ent("ORA-SE2", "Oracle", "Oracle Database", "named_user", 20, SE2, unit_cost="350", currency="USD"),
]


def every_edition(eid="ORA-ANY", quantity=1):
    return ent(eid, "Oracle", "Oracle Database", "processor", quantity, "any")


def ownership(row):
    return [t.text for t in row.ownership.trace]


def with_users(scan, *accounts):
    users = tuple(HostUser(a, "human", RECENT, "passwd") for a in accounts)
    return dataclasses.replace(scan, host=dataclasses.replace(scan.host, users=users))


def test_the_reported_case_without_installations_keeps_the_se2_named_user_licences():
    for eid in ("A-ANY", "ORA-ANY", "Z-ANY"):  # whatever the id, so wherever it sorts
        pos = position([], EXAMPLE + [every_edition(eid)])
        se2 = by_product(pos, "Oracle Database", SE2)
        assert (se2.consumption.metric, se2.owned, se2.status) == ("named_user", 20, Status.OVER_LICENSED), eid
        assert "ORA-SE2 (licences/test.yml:ORA-SE2): 20 named users, perpetual -> counts 20" in ownership(se2)
        assert (f"{eid} (licences/test.yml:{eid}): 1 processor, perpetual; metric is not named_user: not counted "
                f"here") in ownership(se2)
        assert (f"{eid} covers every edition but counts processor; this edition's own entitlements count named_user: "
                f"not counted here") in se2.notes
        assert not [n for n in se2.notes if "several metrics" in n]
        ee = by_product(pos, "Oracle Database", EE)
        assert (ee.consumption.metric, ee.status) == ("processor", Status.OVER_LICENSED)
        # the every-edition licence is owned once, in a processor row
        assert sum(p.owned for p in pos.products if p.product == "Oracle Database") == 16 + 20 + 1


def test_installations_of_two_editions_each_count_under_their_own_metric():
    scans = [scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition"),
             with_users(scanned("se1", host("se1", 2, 16), "Oracle Database 19c Standard Edition 2"), "ann", "bob"),
             with_users(scanned("se2", host("se2", 1, 8), "Oracle Database 19c Standard Edition 2"), "ann", "cy")]
    without = position(scans, EXAMPLE)
    pos = position(scans, EXAMPLE + [every_edition()])

    se2 = by_product(pos, "Oracle Database", SE2)
    # 3 people, but at least 10 Named User Plus per server: 2 servers = 20, all owned by ORA-SE2
    assert (se2.consumption.metric, se2.consumption.quantity, se2.owned, se2.shortfall) == ("named_user", 20, 20, 0)
    assert se2.status is Status.COMPLIANT and se2.cost is None
    assert se2.ownership.entitlements == (("ORA-SE2", 20),)
    old = by_product(without, "Oracle Database", SE2)
    assert (se2.consumption.quantity, se2.owned, se2.status) == (old.consumption.quantity, old.owned, old.status)

    ee = by_product(pos, "Oracle Database", EE)
    # db1: 32 cores × 0.5 = 16; owned 16 + the every-edition Processor licence
    assert (ee.consumption.metric, ee.consumption.quantity, ee.owned, ee.shortfall) == ("processor", 16, 17, 0)
    assert dict(ee.ownership.entitlements) == {"ORA-ANY": 1, "ORA-EE": 16} and ee.status is Status.COMPLIANT


def test_an_edition_with_no_active_entitlement_of_its_own_takes_the_every_edition_metric():
    scans = [scanned("se1", host("se1", 2, 16), "Oracle Database 19c Standard Edition 2")]
    expired = dataclasses.replace(EXAMPLE[1], term_end="2025-12-31")
    pos = position(scans, [expired, every_edition(quantity=2)])
    se2 = by_product(pos, "Oracle Database", SE2)
    # counted as the licence owned today is sold: 2 occupied sockets = 2 Processors, owned by the every-edition one
    assert (se2.consumption.metric, se2.consumption.quantity, se2.owned, se2.status) == (
        "processor", 2, 2, Status.COMPLIANT)
    assert "ORA-SE2 (licences/test.yml:ORA-SE2): 20 named users, expired on 2025-12-31: owns nothing" in ownership(se2)
