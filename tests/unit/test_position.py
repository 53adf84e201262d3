"""The Effective Licence Position, built from HostScans, a fake recogniser and entitlements."""

import datetime as dt
from decimal import Decimal

import pytest

from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, HostUser, Installation,
                              LicenceNeed, Recognition, Virtualization)
from sam_engine.findings.detect import licence_findings
from sam_engine.licensing.position import build_position, position_to_rows
from sam_engine.vocabulary import Status

AS_OF = dt.date(2026, 6, 30)
XEON = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz")
REQ, FREE = LicenceNeed.REQUIRED, LicenceNeed.FREE

# raw title -> (publisher, product, edition, normalised version, licence need)
CATALOGUE = {
    "Oracle Database 19c Enterprise Edition": ("Oracle", "Oracle Database", "Enterprise Edition", "19c", REQ),
    "Oracle Database 19c Standard Edition 2": ("Oracle", "Oracle Database", "Standard Edition 2", "19c", REQ),
    "Microsoft SQL Server 2019 (64-bit)": ("Microsoft", "SQL Server", "Standard", "2019", REQ),
    "Microsoft SQL Server 2019": ("Microsoft", "SQL Server", None, "2019", REQ),
    "Microsoft Windows Server 2022 Standard": ("Microsoft", "Windows Server", "Standard", "2022", REQ),
    "Microsoft Office Professional Plus 2019": ("Microsoft", "Office", "Professional Plus", "2019", REQ),
    "Microsoft Office Professional Plus 2016": ("Microsoft", "Office", "Professional Plus", "2016", REQ),
    "Microsoft Word": ("Microsoft", "Word", None, "16.0", REQ),
    "Microsoft Excel": ("Microsoft", "Excel", None, "16.0", REQ),
    "Oracle Java SE": ("Oracle", "Java SE", None, "17.0.13", REQ),
    "bash": ("GNU", "Bash", None, "5.2", FREE),
    "Acme Tool 5": ("Acme", "Tool", None, "5.0", REQ),
    "Acme Tool 5 (x64)": ("Acme", "Tool", None, "5.0", REQ),
    "Acme Tool 6": ("Acme", "Tool", None, "6.0", REQ),
}


def recognise(inst):
    """The fake recogniser: a fixed table, and "unknown" for anything else."""
    if inst.name in CATALOGUE:
        publisher, product, edition, version, need = CATALOGUE[inst.name]
        return Recognition(publisher, product, edition, version, need, f"test:{product}")
    return Recognition(None, inst.name, None, inst.version, LicenceNeed.UNKNOWN, None)


def host(name, sockets, cores, virt=Virtualization.PHYSICAL):
    threads = cores if virt is Virtualization.VM else cores * 2
    return Host(f"machine-id:{name}", name, "machine-id", hardware=Hardware(sockets, cores, threads, *XEON, virt))


def scanned(name, hw_host, *titles, status=HostStatus.OK, scan_id="s2"):
    installs = tuple(Installation("msi", t, None, "x86_64", None, None, f"{name}:{t}:{i}")
                     for i, t in enumerate(titles))
    return HostScan(scan_id, name, status, hw_host, installs,
                    inventory_scan_id="s1" if status is not HostStatus.OK else scan_id)


def ent(eid, publisher, product, metric, quantity, edition=None, **kw):
    return Entitlement(eid, publisher, product, metric, quantity, f"licences/test.yml:{eid}", edition=edition, **kw)


def position(scans, ents, **kw):
    return build_position(scans, recognise, ents, AS_OF, **kw)


def by_product(pos, product, edition=None):
    return next(p for p in pos.products if p.product == product and (edition is None or p.edition == edition))


def desktop(name, *titles, **kw):
    return scanned(name, host(name, 1, 4), *titles, **kw)


OFFICE19, OFFICE16 = "Microsoft Office Professional Plus 2019", "Microsoft Office Professional Plus 2016"


# --- the hand-computed multi-host scenario -----------------------------------------------------


def fleet():
    return [
        scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition", "bash"),
        scanned("db2", host("db2", 1, 8), "Oracle Database 19c Enterprise Edition"),
        scanned("sql1", host("sql1", 2, 2, Virtualization.VM), "Microsoft SQL Server 2019 (64-bit)"),
        scanned("sql2", host("sql2", 6, 6, Virtualization.VM), "Microsoft SQL Server 2019 (64-bit)"),
        scanned("app1", host("app1", 2, 24), "Microsoft Windows Server 2022 Standard"),
        desktop("pc1", OFFICE19, OFFICE16),  # two versions on one device
        desktop("pc2", OFFICE19, "acme-agent"),
        desktop("pc3", OFFICE19, status=HostStatus.UNREACHABLE),  # stale: last inventory from s1
    ]


FLEET_ENTS = [
    ent("E-ORA", "Oracle", "Oracle Database", "processor", 16, "Enterprise Edition", unit_cost="47500", currency="USD"),
    ent("E-SQL", "Microsoft", "SQL Server", "core", 8, "Standard", unit_cost="900.00", currency="USD"),
    ent("E-WIN", "Microsoft", "Windows Server", "core", 24, "Standard"),
    ent("E-OFF", "Microsoft", "Office", "device", 2, "Professional Plus", version_range="==2019",
        downgrade_rights=True, unit_cost="400", currency="EUR"),
]


def test_multi_host_position_computed_by_hand():
    pos = position(fleet(), FLEET_ENTS)

    oracle = by_product(pos, "Oracle Database", "Enterprise Edition")
    # db1: 2 sockets × 16 cores = 32 cores × 0.5 = 16; db2: 1 × 8 = 8 cores × 0.5 = 4; 16 + 4 = 20
    assert oracle.consumption.quantity == 20 and oracle.consumption.metric == "processor"
    assert oracle.owned == 16 and oracle.balance == -4 and oracle.shortfall == 4
    assert oracle.status is Status.UNDER_LICENSED
    assert oracle.cost.amount == Decimal("190000") and oracle.cost.currency == "USD"  # 4 × 47500
    assert "db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16" in [t.text for t in oracle.consumption.trace]

    sql = by_product(pos, "SQL Server")
    # sql1: 2 vCPU -> min 4 per VM = 4; sql2: 6 vCPU = 6 (already a multiple of 2); 4 + 6 = 10
    assert (sql.consumption.quantity, sql.owned, sql.balance, sql.shortfall) == (10, 8, -2, 2)
    assert sql.cost.amount == Decimal("1800.00")  # 2 × 900.00 USD

    windows = by_product(pos, "Windows Server")
    # 2 sockets × 12 cores = 24 >= 8 per processor, >= 16 per server -> 24; owned 24
    assert (windows.consumption.quantity, windows.owned, windows.balance) == (24, 24, 0)
    assert windows.status is Status.COMPLIANT and windows.cost is None

    office = by_product(pos, "Office")
    # pc1 (2019 + 2016 by downgrade rights) = 1, pc2 = 1, pc3 (stale) = 1 -> 3 devices; owned 2
    assert (office.consumption.quantity, office.owned, office.balance, office.shortfall) == (3, 2, -1, 1)
    assert len(office.installations) == 4 and office.stale_hosts == ("pc3",)
    assert office.cost.amount == Decimal("400") and office.cost.currency == "EUR"

    bash = by_product(pos, "Bash")
    assert bash.status is Status.NO_LICENCE_NEEDED and bash.consumption.quantity == 0

    (unknown,) = pos.unrecognised
    assert unknown.product == "acme-agent" and unknown.status is Status.UNRECOGNISED and unknown.hosts == ("pc2",)

    # USD 190000 + 1800 = 191800; EUR 400: mixed currencies, no single total
    assert pos.cost_totals == (("EUR", Decimal("400")), ("USD", Decimal("191800.00")))
    assert pos.total_cost is None and "mixed currencies (EUR, USD)" in pos.notes[0]


def test_list_and_detail_rows_agree():
    pos = position(fleet(), FLEET_ENTS)
    summary, detail = position_to_rows(pos), position_to_rows(pos, detail=True)
    assert [r["product"] for r in summary][-1] == "acme-agent"  # unrecognised listed after the products
    for short, full in zip(summary, detail):
        assert {k: full[k] for k in short} == short
        assert short["installations"] == len(full["installation_list"])
    office = next(r for r in detail if r["product"] == "Office")
    assert office["owned"] == 2 and office["entitlements"] == ["E-OFF"] and office["gap_cost"] == "400"
    assert {i["scan_id"] for i in office["installation_list"] if i["host"] == "pc3"} == {"s1"}


# --- terms ----------------------------------------------------------------------------------


def test_expired_subscription_owns_nothing():
    ents = [ent("E1", "Microsoft", "Office", "device", 10, "Professional Plus", term_end="2026-01-31")]
    p = by_product(position([desktop("pc1", OFFICE19)], ents), "Office")
    assert p.owned == 0 and p.status is Status.UNLICENSED and p.shortfall == 1
    assert "expired on 2026-01-31: owns nothing" in p.ownership.trace[0].text


def test_expired_site_licence_is_never_shown_as_unlimited():
    ents = [ent("S1", "Microsoft", "Office", "site", None, term_end="2025-12-31")]
    pos = position([desktop("pc1", OFFICE19)], ents)
    assert by_product(pos, "Office").status is Status.UNLICENSED
    assert position_to_rows(pos)[0]["owned"] == 0


def test_active_site_licence_is_unlimited():
    ents = [ent("S1", "Microsoft", "Office", "site", None, term_end="2026-12-31")]
    p = by_product(position([desktop("pc1", OFFICE19), desktop("pc2", OFFICE19)], ents), "Office")
    assert p.owned is None and p.balance is None and p.status is Status.COMPLIANT


def test_not_yet_started_subscription_owns_nothing():
    ents = [ent("E1", "Microsoft", "Office", "device", 5, "Professional Plus", term_start="2026-07-01",
                term_end="2027-06-30")]
    p = by_product(position([desktop("pc1", OFFICE19)], ents), "Office")
    assert p.owned == 0 and "term starts on 2026-07-01" in p.ownership.trace[0].text


def test_maintenance_end_is_reported_but_changes_nothing():
    ents = [ent("E1", "Microsoft", "Office", "device", 1, "Professional Plus", maintenance_end="2025-01-01")]
    p = by_product(position([desktop("pc1", OFFICE19)], ents), "Office")
    assert p.owned == 1 and p.status is Status.COMPLIANT
    assert "maintenance ended on 2025-01-01 (does not change the count)" in p.ownership.trace[0].text


# --- rights ---------------------------------------------------------------------------------


@pytest.mark.parametrize("downgrade, shortfall, status", [(True, 0, Status.COMPLIANT),
                                                           (False, 1, Status.UNDER_LICENSED)])
def test_downgrade_rights(downgrade, shortfall, status):
    ents = [ent("E1", "Microsoft", "Office", "device", 2, "Professional Plus", version_range=">=2019,<2020",
                downgrade_rights=downgrade)]
    p = by_product(position([desktop("pc1", OFFICE19), desktop("pc2", OFFICE16)], ents), "Office")
    assert p.consumption.quantity == 2 and p.shortfall == shortfall and p.status is status
    if not downgrade:
        assert any("pc2: not covered" in t.text and "no downgrade rights" in t.text for t in p.consumption.trace)


def test_suite_covers_its_components_which_are_not_counted_again():
    ents = [ent("E1", "Microsoft", "Office", "device", 2, "Professional Plus", suite_components=("Word", "Excel"))]
    pos = position([desktop("mac1", "Microsoft Word", "Microsoft Excel"), desktop("pc2", OFFICE19)], ents)
    assert [p.product for p in pos.products] == ["Office"]
    office = pos.products[0]
    assert office.consumption.quantity == 2 and office.owned == 2 and office.status is Status.COMPLIANT
    assert {i.counted_as for i in office.installations} == {"Microsoft Office Professional Plus"}


WORD_X2 = ent("W1", "Microsoft", "Word", "device", 2)


def test_an_expired_suite_leaves_its_components_to_their_own_licence():
    # reference: an expired licence covers nothing; a standalone purchase of the component is a valid licence
    ents = [WORD_X2, ent("O1", "Microsoft", "Office", "device", 10, "Professional Plus",
                         suite_components=("Word", "Excel"), term_end="2025-12-31")]
    pos = position([desktop("p1", "Microsoft Word"), desktop("p2", "Microsoft Word")], ents)
    assert [p.product for p in pos.products] == ["Word"]
    word = pos.products[0]
    assert (word.consumption.quantity, word.owned, word.shortfall, word.status) == (2, 2, 0, Status.COMPLIANT)
    assert {i.counted_as for i in word.installations} == {"Microsoft Word"} and not word.notes


def test_a_components_own_licence_covers_it_under_an_active_suite():
    # O1 (1 device) and W1 (2 devices): p3 has Office and Word (one device, O1's), p4 Office only;
    # p1, p2 Word only, covered by W1 or O1 -> 4 devices, 3 owned, 1 short, priced at the suite's price
    ents = [ent("W1", "Microsoft", "Word", "device", 2, unit_cost="100", currency="EUR", purchase_date="2026-05-01"),
            ent("O1", "Microsoft", "Office", "device", 1, "Professional Plus", suite_components=("Word", "Excel"),
                unit_cost="300", currency="EUR", purchase_date="2024-01-01")]
    scans = [desktop("p1", "Microsoft Word"), desktop("p2", "Microsoft Word"),
             desktop("p3", OFFICE19, "Microsoft Word"), desktop("p4", OFFICE16)]
    pos = position(scans, ents)
    assert [p.product for p in pos.products] == ["Office"]
    office = pos.products[0]
    assert (office.consumption.quantity, office.owned, office.shortfall) == (4, 3, 1)
    assert office.status is Status.UNDER_LICENSED and dict(office.ownership.entitlements) == {"O1": 1, "W1": 2}
    assert office.cost.amount == Decimal("300") and office.cost.entitlement_id == "O1"
    texts = [t.text for t in office.consumption.trace]
    assert "covered by O1, W1:" in texts and "covered by O1:" in texts
    assert any("Microsoft Word is a component of this suite with licences of its own (W1)" in n for n in office.notes)


@pytest.mark.parametrize("as_of, folded", [(dt.date(2026, 6, 30), True), (dt.date(2026, 7, 1), False)])
def test_a_suite_folds_its_components_only_inside_its_term(as_of, folded):
    ents = [WORD_X2, ent("O1", "Microsoft", "Office", "device", 1, "Professional Plus",
                         suite_components=("Word", "Excel"), term_end="2026-06-30")]
    scans = [desktop("p1", "Microsoft Word"), desktop("p2", "Microsoft Word"), desktop("p3", OFFICE19)]
    pos = build_position(scans, recognise, ents, as_of)
    rows = {p.product: (p.consumption.quantity, p.owned, p.status) for p in pos.products}
    office = by_product(pos, "Office")
    suite_note = "suite components are counted under the suite, not as products of their own"
    if folded:  # the last day of the term: Word under the suite, W1 a candidate there
        assert rows == {"Office": (3, 3, Status.COMPLIANT)} and suite_note in office.notes
    else:  # the day after: O1 owns nothing, Word is a row of its own again
        assert rows == {"Office": (1, 0, Status.UNLICENSED), "Word": (2, 2, Status.COMPLIANT)}
        assert office.notes == ("no unit cost known: the gap is not priced",)


def user_desktop(name, person, *titles):
    """A desktop whose only user, ``person``, logged in on 2026-06-01 (inside the named-user window)."""
    users = (HostUser(person, "human", int(dt.datetime(2026, 6, 1).timestamp()), "wtmp"),)
    return scanned(name, Host(f"machine-id:{name}", name, "machine-id", hardware=host(name, 1, 4).hardware,
                              users=users), *titles)


def office_suite(metric):
    return ent("O1", "Microsoft", "Office", metric, 1, "Professional Plus", suite_components=("Word", "Excel"))


def test_a_suites_own_named_user_licence_decides_its_row_beside_a_components_device_licence():
    # reference: a suite entitlement covers its components; a standalone purchase of the component is a valid
    # licence. O1 (Office, 1 named user) covers carol on p3; W1 (Word, 2 devices) covers p1 and p2: compliant.
    # Word's device licence must not switch the Office row to per device (O1 would count nowhere, p3 short)
    scans = [user_desktop("p1", "jdoe", "Microsoft Word"), user_desktop("p2", "bob", "Microsoft Word"),
             user_desktop("p3", "carol", OFFICE19)]
    pos = position(scans, [ent("W1", "Microsoft", "Word", "device", 2), office_suite("named_user")])
    rows = {p.product: (p.consumption.metric, p.consumption.quantity, p.owned, p.status) for p in pos.products}
    assert rows == {"Office": ("named_user", 1, 1, Status.COMPLIANT), "Word": ("device", 2, 2, Status.COMPLIANT)}
    word, office = by_product(pos, "Word"), by_product(pos, "Office")
    assert dict(office.ownership.entitlements) == {"O1": 1} and dict(word.ownership.entitlements) == {"W1": 2}
    assert [i.host for i in word.installations] == ["p1", "p2"]
    assert {i.counted_as for i in word.installations} == {"Microsoft Word"}
    assert any("W1 (device; this suite's entitlements count named_user)" in n for n in office.notes)
    assert "total: 1 + 1 = 2" in [t.text for t in word.consumption.trace]


@pytest.mark.parametrize("word_on_p3", [False, True])
def test_a_components_named_user_licence_keeps_its_row_beside_a_device_suite(word_on_p3):
    # O1 (Office, 1 device) covers p3; W1 (Word, 2 named users) covers jdoe and bob: compliant. W1 must be
    # owned in a row (it was in none, and p1, p2 short of devices). Word on p3, beside the suite, is the
    # suite's (reference: components must not be counted again): not a third named user of W1
    p3 = (OFFICE19, "Microsoft Word") if word_on_p3 else (OFFICE19,)
    scans = [user_desktop("p1", "jdoe", "Microsoft Word"), user_desktop("p2", "bob", "Microsoft Word"),
             user_desktop("p3", "carol", *p3)]
    pos = position(scans, [ent("W1", "Microsoft", "Word", "named_user", 2), office_suite("device")])
    rows = {p.product: (p.consumption.metric, p.consumption.quantity, p.owned, p.status) for p in pos.products}
    assert rows == {"Office": ("device", 1, 1, Status.COMPLIANT), "Word": ("named_user", 2, 2, Status.COMPLIANT)}
    word = by_product(pos, "Word")
    assert dict(word.ownership.entitlements) == {"W1": 2}
    assert any(t.text.endswith("bob, jdoe = 2") for t in word.consumption.trace)
    assert any("1 installation on p3: counted under Microsoft Office Professional Plus on the same host" in n
               for n in word.notes) is word_on_p3


def test_a_suite_row_says_components_are_counted_under_it_only_when_one_is():
    """Word all under its own named-user licence, no Office installed: the suite's row (its licence, shelfware)
    must not claim the components are counted under the suite."""
    scans = [user_desktop("p1", "jdoe", "Microsoft Word"), user_desktop("p2", "bob", "Microsoft Word")]
    pos = position(scans, [ent("W1", "Microsoft", "Word", "named_user", 2), office_suite("device")])
    assert not [n for p in pos.products for n in p.notes if n.startswith("suite components are counted")]
    assert by_product(pos, "Word").status is Status.COMPLIANT


def test_suite_components_can_come_from_the_catalogue():
    ents = [ent("E1", "Microsoft", "Office", "device", 1, "Professional Plus")]
    suites = {("Microsoft", "Office"): ("Word", "Excel")}
    pos = position([desktop("mac1", "Microsoft Word", "Microsoft Excel")], ents,
                   suites=lambda publisher, product: suites.get((publisher, product), ()))
    assert [(p.product, p.consumption.quantity, p.status) for p in pos.products] == [("Office", 1, Status.COMPLIANT)]


def test_an_every_edition_entitlement_is_not_counted_twice():
    ents = [ent("E1", "Oracle", "Oracle Database", "processor", 20, "any")]
    pos = position([scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition"),
                    scanned("db3", host("db3", 2, 16), "Oracle Database 19c Standard Edition 2")], ents)
    ee = by_product(pos, "Oracle Database", "Enterprise Edition")
    se2 = by_product(pos, "Oracle Database", "Standard Edition 2")
    assert (ee.consumption.quantity, se2.consumption.quantity) == (16, 2)  # core factor vs occupied sockets
    assert ee.owned + se2.owned == 20 and ee.shortfall == se2.shortfall == 0


def test_duplicate_records_count_once_per_installation_and_per_device():
    # pc1: Tool 5 under two registry keys (one installation) + Tool 6 = 2 installations, 1 device
    scans = [desktop("pc1", "Acme Tool 5", "Acme Tool 5 (x64)", "Acme Tool 6"), desktop("pc2", "Acme Tool 6")]
    per_install = by_product(position(scans, [ent("T1", "Acme", "Tool", "installation", 3)]), "Tool")
    assert per_install.consumption.quantity == 3 and len(per_install.installations) == 4  # 2 + 1
    per_device = by_product(position(scans, [ent("T2", "Acme", "Tool", "device", 3)]), "Tool")
    assert per_device.consumption.quantity == 2  # pc1 + pc2


# --- statuses and other rules -----------------------------------------------------------------


def test_stale_hosts_are_counted_and_flagged():
    scans = [desktop("pc1", OFFICE19), desktop("pc2", OFFICE19, status=HostStatus.FAILED)]
    p = by_product(position(scans, []), "Office")
    assert p.consumption.quantity == 2 and p.stale_hosts == ("pc2",) and p.status is Status.UNLICENSED
    assert any("stale" in n for n in p.notes)
    assert "pc2 (stale: inventory of scan s1): 1 installation on one device = 1" in [
        t.text for t in p.consumption.trace]


def test_free_titles_name_their_stale_hosts_only():
    """A free title's row (built without measuring) names its stale hosts in name order, and a free
    title seen on fresh hosts alone names none, though the fleet has stale hosts."""
    scans = [desktop("pc9", "bash", status=HostStatus.UNREACHABLE), desktop("pc1", "bash", OFFICE19),
             desktop("pc5", "bash", status=HostStatus.FAILED), desktop("pc2", "bash")]
    scans.append(scanned("pc3", host("pc3", 1, 4), "Acme Tool 5"))
    free_everywhere = by_product(position(scans, []), "Bash")
    assert free_everywhere.status is Status.NO_LICENCE_NEEDED
    assert free_everywhere.stale_hosts == ("pc5", "pc9")
    assert free_everywhere.notes == ("counted from the last inventory of stale hosts: pc5, pc9",)
    assert [t.text for t in free_everywhere.consumption.trace] == [
        "no licence needed: 4 installations on pc1, pc2, pc5, pc9"]
    fresh = [desktop("pc1", "bash"), desktop("pc9", OFFICE19, status=HostStatus.UNREACHABLE)]
    only_fresh = by_product(position(fresh, []), "Bash")
    assert only_fresh.stale_hosts == () and only_fresh.notes == ()
    assert only_fresh.consumption.trace[0].hosts == ("pc1",)


@pytest.mark.parametrize("owned, status", [(28, Status.COMPLIANT), (30, Status.OVER_LICENSED)])
def test_over_licensed_threshold(owned, status):
    ents = [ent("E1", "Microsoft", "Windows Server", "core", owned, "Standard")]
    scans = [scanned("app1", host("app1", 2, 24), "Microsoft Windows Server 2022 Standard")]
    # consumption 24; surplus 4 <= 20% of 24 (4.8) is compliant, surplus 6 is over-licensed
    assert by_product(position(scans, ents), "Windows Server").status is status
    assert by_product(position(scans, ents, over_ratio=Decimal("0.5")), "Windows Server").status is Status.COMPLIANT


def test_shelfware_entitlement_without_installations_is_listed():
    p = by_product(position([], [ent("E1", "Microsoft", "Visio", "device", 5)]), "Visio")
    assert (p.consumption.quantity, p.owned, p.status) == (0, 5, Status.OVER_LICENSED)


def test_employee_metric_uses_the_headcount():
    scans = [desktop("pc1", "Oracle Java SE"), desktop("pc2", "Oracle Java SE")]
    ents = [ent("J1", "Oracle", "Java SE", "employee", 300)]
    p = by_product(position(scans, ents, headcount=250), "Java SE")
    assert (p.consumption.quantity, p.owned, p.balance, p.status) == (250, 300, 50, Status.COMPLIANT)


def test_employee_metric_without_headcount_needs_data_instead_of_inventing_a_count():
    scans = [desktop("pc1", "Oracle Java SE")]
    owned = by_product(position(scans, [ent("J1", "Oracle", "Java SE", "employee", 450)]), "Java SE")
    assert (owned.consumption.quantity, owned.owned, owned.balance, owned.status) == (0, 450, None, Status.NEEDS_DATA)
    assert any("headcount" in n for n in owned.notes)
    assert owned.consumption.trace[0].text.startswith("headcount not configured: employee count unknown")
    nothing = by_product(position(scans, []), "Java SE")
    assert nothing.status is Status.UNLICENSED  # whatever the headcount, nothing owned is short


def test_catalogue_metric_hint_applies_without_rule_or_entitlement():
    scans = [desktop("pc1", "Acme Tool 6")]
    p = by_product(position(scans, [], metric_hint=lambda publisher, product: "installation"), "Tool")
    assert (p.consumption.metric, p.consumption.rule) == ("installation", "catalogue metric_hint")
    assert by_product(position(scans, []), "Tool").consumption.metric == "device"


def test_unpriced_gap_and_single_currency_total():
    ents = [ent("E1", "Microsoft", "Office", "device", 1, "Professional Plus", unit_cost="100.50", currency="EUR")]
    scans = [desktop("pc1", OFFICE19), desktop("pc2", OFFICE19), desktop("pc3", OFFICE19),
             scanned("db1", host("db1", 1, 8), "Oracle Database 19c Standard Edition 2")]
    pos = position(scans, ents)
    assert by_product(pos, "Office").cost.amount == Decimal("201.00")
    assert "no unit cost known" in " ".join(by_product(pos, "Oracle Database").notes)
    assert pos.total_cost == Decimal("201.00") and pos.cost_totals == (("EUR", Decimal("201.00")),)


# --- coverage rules on their own ----------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [(">=2016,<2020", "<2020"), ("2019", "<=2019"), (">=2016", "*"),
                                            ("==17.*", "<17 || ==17.*"), (">=17,<=17.0.12 || >=21", "*")])
def test_downgrade_drops_the_lower_bounds(spec, expected):
    from sam_engine.licensing.coverage import downgrade_spec

    assert downgrade_spec(spec) == expected


def test_term_state_bounds_are_inclusive():
    from sam_engine.licensing.coverage import term_state

    e = ent("E1", "A", "B", "device", 1, term_start="2026-01-01", term_end="2026-06-30")
    assert term_state(e, dt.date(2026, 6, 30)).active and term_state(e, dt.date(2026, 1, 1)).active
    assert not term_state(e, dt.date(2026, 7, 1)).active and not term_state(e, dt.date(2025, 12, 31)).active
    assert not term_state(ent("E2", "A", "B", "device", 1, term_end="not a date"), AS_OF).active


def test_editionless_record_beside_an_edition_on_one_host_is_not_counted_again():
    vm = host("sql1", 2, 2, Virtualization.VM)
    scans = [scanned("sql1", vm, "Microsoft SQL Server 2019 (64-bit)", "Microsoft SQL Server 2019"),
             scanned("sql2", host("sql2", 1, 8), "Microsoft SQL Server 2019")]
    pos = position(scans, [])
    standard = by_product(pos, "SQL Server", "Standard")
    assert standard.hosts == ("sql1",) and standard.consumption.quantity == 4
    (bare,) = [p for p in pos.products if p.product == "SQL Server" and p.edition is None]
    assert bare.hosts == ("sql1", "sql2"), "both records stay visible"
    assert bare.consumption.quantity == 8, "sql2 has no edition record: its 8 cores count; sql1's do not again"
    assert any("1 installation on sql1: counted under the Standard edition" in n for n in bare.notes)
    alone = position(scans[:1], [])
    (bare,) = [p for p in alone.products if p.product == "SQL Server" and p.edition is None]
    # its installation needs a licence (counted under Standard): the row says so, not "no licence needed"
    assert (bare.status, bare.consumption.quantity) == (Status.UNLICENSED, 0)
    assert bare.status is by_product(alone, "SQL Server", "Standard").status
    assert bare.consumption.trace[0].text == ("1 installation on sql1: counted under the Standard edition on the "
                                              "same host; nothing more to count here")
    owned = position(scans[:1], [ent("E1", "Microsoft", "SQL Server", "core", 4, "Standard")])
    (bare,) = [p for p in owned.products if p.product == "SQL Server" and p.edition is None]
    assert bare.status is Status.COMPLIANT and bare.balance is None


@pytest.mark.parametrize("order", ["by name", "reversed", "duplicate names"])
def test_host_summary_counts_and_names_like_hosts(order):
    names = ["a1", "b2", "c3", "d4"]
    scans = [desktop(n, OFFICE19, "bash", *(["bash"] if n == "b2" else [])) for n in names]
    if order == "reversed":
        scans.reverse()
    elif order == "duplicate names":
        scans.append(desktop("a1", "bash"))
    pos = position(scans, [])
    for p in pos:
        assert p.host_summary(2) == (len(p.hosts), p.hosts[:2]), p.product
        assert p.host_summary(10) == (len(p.hosts), p.hosts)
    assert by_product(pos, "Bash").host_summary(3) == (4, ("a1", "b2", "c3"))


def test_a_gap_is_priced_in_whole_packs_when_the_unit_cost_is_a_packs_price():
    scans = [scanned("app1", host("app1", 2, 24), "Microsoft Windows Server 2022 Standard")]
    packs = [ent("E-WIN", "Microsoft", "Windows Server", "core", 16, "Standard", unit_cost="6155.00",
                 currency="USD", pack_size=16)]
    windows = by_product(position(scans, packs), "Windows Server")
    # 24 cores used, 16 owned: 8 short -> one 16-core pack (packs are bought whole), not 8 × 6155
    assert windows.shortfall == 8 and windows.cost.amount == Decimal("6155.00")
    assert windows.cost.trace.text == ("shortfall 8 cores = 1 pack of 16 (rounded up) × 6155.00 USD per pack "
                                       "(E-WIN) = 6155.00 USD")
    per_core = [ent("E-WIN", "Microsoft", "Windows Server", "core", 16, "Standard", unit_cost="384.69",
                    currency="USD")]
    assert by_product(position(scans, per_core), "Windows Server").cost.amount == Decimal("3077.52")  # 8 × 384.69


def test_an_editionless_row_following_its_edition_raises_no_second_finding():
    vm = host("sql1", 2, 2, Virtualization.VM)
    pos = position([scanned("sql1", vm, "Microsoft SQL Server 2019 (64-bit)", "Microsoft SQL Server 2019")], [])
    (bare,) = [p for p in pos.products if p.product == "SQL Server" and p.edition is None]
    assert bare.follows == ("Standard",)
    (finding,) = licence_findings(pos)
    assert "Standard" in finding.title


def test_an_entitlement_without_edition_covers_only_editionless_installations_and_says_so():
    pos = position([desktop("pc1", OFFICE19)], [ent("E-BARE", "Microsoft", "Office", "device", 5)])
    office = by_product(pos, "Office", "Professional Plus")
    assert (office.owned, office.status) == (0, Status.UNLICENSED)
    assert ("E-BARE names no edition: it covers only installations recognised without an edition, not the "
            "Professional Plus edition; write `edition: any` if it covers every edition, or name the edition it "
            "was bought for") in office.notes
    bare = by_product(pos, "Office")  # the entitlement's own row: nothing of it is installed
    assert (bare.edition, bare.owned, bare.consumption.quantity, bare.status) == (None, 5, 0, Status.OVER_LICENSED)


def test_an_every_edition_entitlement_covers_each_edition():
    scans = [desktop("pc1", OFFICE19), scanned("db1", host("db1", 2, 32), "Oracle Database 19c Enterprise Edition")]
    pos = position(scans, [ent("E-ANY", "Microsoft", "Office", "device", 5, "any")])
    office = by_product(pos, "Office", "Professional Plus")
    assert (office.owned, office.status) == (5, Status.OVER_LICENSED)
    assert not [n for n in office.notes if "names no edition" in n]


def test_a_free_title_line_names_ten_hosts_and_keeps_them_all():
    from sam_engine.licensing.measure import NAMED_HOSTS, _named_hosts

    hosts = [f"h{i:02d}" for i in range(25)]
    assert _named_hosts(hosts) == ", ".join(hosts[:NAMED_HOSTS]) + f" and {25 - NAMED_HOSTS} more"
    assert _named_hosts(hosts[:3]) == "h00, h01, h02"
