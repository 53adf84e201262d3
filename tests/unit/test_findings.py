"""Findings: the six types, stable ids, thresholds and exceptions from the policy (pure functions)."""

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from sam_engine.findings.detect import compute_findings, finding_id, finding_row
from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, Installation, LicenceNeed,
                              Recognition, Scan, Virtualization)
from sam_engine.findings.policy import DenyRule, Policy
from sam_engine.licensing.position import build_position

AS_OF = dt.date(2026, 6, 30)
REQ, FREE = LicenceNeed.REQUIRED, LicenceNeed.FREE
CATALOGUE = {
    "Acme Tool": ("Acme", "Tool", REQ),
    "TeamViewer": ("TeamViewer", "TeamViewer", REQ),
    "AnyDesk": ("AnyDesk", "AnyDesk", REQ),
    "uTorrent Web": ("Rainberry", "uTorrent Web", FREE),
    "bash": ("GNU", "Bash", FREE),
}


def recognise(inst):
    if inst.name in CATALOGUE:
        publisher, product, need = CATALOGUE[inst.name]
        return Recognition(publisher, product, None, "1.0", need, f"test:{product}")
    return Recognition(None, inst.name, None, inst.version, LicenceNeed.UNKNOWN, None)


def host_scan(name, *titles, groups=(), status=HostStatus.OK, collected="2026-06-30T01:00:00Z", scan_id="s2"):
    host = Host(f"machine-id:{name}", name, "machine-id",
                hardware=Hardware(1, 4, 8, "GenuineIntel", "Xeon", Virtualization.PHYSICAL))
    installs = tuple(Installation("dpkg", t, "1.0", "amd64", None, None, f"dpkg:{t}") for t in titles)
    return HostScan(scan_id, name, status, host, installs, inventory_scan_id="s1" if status is not HostStatus.OK
                    else scan_id, collected_at=collected, groups=tuple(groups), error=None)


def ent(eid, product, quantity, publisher="Acme", **kw):
    return Entitlement(eid, publisher, product, "device", quantity, f"licences/test.yml:{eid}", **kw)


def findings(hosts, ents=(), policy=Policy(), as_of=AS_OF, scan_id="s2"):
    scan = Scan(scan_id, "2026-06-30T01:00:00Z", "2026-06-30T01:05:00Z", "0.1.0", "scan.yml", tuple(hosts))
    position = build_position(scan.hosts, recognise, ents, as_of)
    return compute_findings(scan, position, ents, policy, as_of)


def by_type(found, kind):
    return [f for f in found if f.type == kind]


def test_under_licensed_names_hosts_entitlements_and_shortfall():
    found = findings([host_scan(h, "Acme Tool") for h in ("a", "b", "c")], [ent("E1", "Tool", 1)])
    (f,) = by_type(found, "under-licensed")
    assert f.severity == "high" and f.magnitude == 2
    assert f.hosts == ("a", "b", "c") and f.entitlements == ("E1",)
    assert f.title == "Acme Tool: under-licensed by 2 devices" and f.detail.startswith("uses 3 devices, owns 1")
    assert f.first_seen == f.last_seen == "2026-06-30T01:05:00Z"


def test_unlicensed_commercial_software_but_not_free_software():
    found = findings([host_scan("a", "TeamViewer", "bash")])
    (f,) = by_type(found, "unlicensed")
    assert f.title.startswith("TeamViewer: commercial software without a licence")
    assert not [x for x in found if "Bash" in x.title]


def test_ids_are_stable_across_scans_hosts_and_figures():
    first = findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 0)], scan_id="s1")
    later = findings([host_scan(h, "Acme Tool") for h in "abcd"], [ent("E1", "Tool", 0)], scan_id="s9")
    assert {f.finding_id for f in first} == {f.finding_id for f in later}
    assert finding_id("prohibited", "x|Tool|") != finding_id("unlicensed", "x|Tool|")
    assert finding_id("stale-host", "host:Web1") == finding_id("stale-host", "host:web1")
    assert finding_id("unlicensed", "a|b|").startswith("f-") and len(finding_id("unlicensed", "a|b|")) == 14


def test_prohibited_by_product_with_group_exception():
    policy = Policy(prohibited=(DenyRule("TeamViewer", None, ("helpdesk",), "remote access", None, "policy.yml:3:5"),))
    found = findings([host_scan("web1", "TeamViewer", groups=("web",)),
                      host_scan("desk1", "TeamViewer", groups=("helpdesk", "windows"))], policy=policy)
    (f,) = by_type(found, "prohibited")
    assert f.hosts == ("web1",) and f.magnitude == 1 and f.severity == "high"
    assert "policy.yml:3:5" in f.detail and "remote access" in f.detail and "helpdesk" in f.detail
    allowed = findings([host_scan("desk1", "TeamViewer", groups=("HelpDesk",))], policy=policy)
    assert not by_type(allowed, "prohibited"), "every host is in an allowed group (case-insensitive)"


def test_prohibited_by_publisher_and_wildcard_with_rule_severity():
    policy = Policy(prohibited=(DenyRule(None, "anydesk", severity="critical"), DenyRule("utorrent*", None)))
    found = findings([host_scan("a", "AnyDesk", "uTorrent Web", "bash")], policy=policy)
    prohibited = {f.title.split(":")[0]: f.severity for f in by_type(found, "prohibited")}
    assert prohibited == {"AnyDesk": "critical", "Rainberry uTorrent Web": "high"}
    assert found[0].severity == "critical", "most severe first"


def test_prohibited_unrecognised_software_by_raw_name():
    policy = Policy(prohibited=(DenyRule("cryptominer*", None),))
    (f,) = by_type(findings([host_scan("a", "cryptominer-xmr")], policy=policy), "prohibited")
    assert f.hosts == ("a",)


def test_expiring_subscription_and_maintenance_within_threshold():
    ents = [ent("SOON", "Tool", 5, term_end="2026-07-10"),  # 10 days: medium
            ent("URGENT", "Tool", 5, maintenance_end="2026-07-03"),  # 3 days: high
            ent("LATER", "Tool", 5, term_end="2026-09-30"),  # outside 30 days
            ent("GONE", "Tool", 5, term_end="2026-06-01"),  # ended 29 days ago: expired, still told
            ent("OLD", "Tool", 5, term_end="2026-04-01")]  # ended 90 days ago: past the window
    found = by_type(findings([host_scan("a", "Acme Tool")], ents), "expiring")
    got = {f.entitlements[0]: (f.severity, f.subject.split(":")[1], f.expired) for f in found}
    assert got == {"SOON": ("medium", "subscription", False), "URGENT": ("high", "maintenance", False),
                   "GONE": ("high", "subscription", True)}
    soon = next(f for f in found if f.entitlements == ("SOON",))
    assert "in 10 days" in soon.title and "a" in soon.hosts
    gone = next(f for f in found if f.entitlements == ("GONE",))
    assert gone.title.endswith("subscription ended on 2026-06-01 (29 days ago)")
    wider = by_type(findings([host_scan("a", "Acme Tool")], ents, Policy(expiring_days=120)), "expiring")
    assert {f.entitlements[0] for f in wider} == {"SOON", "URGENT", "LATER", "GONE", "OLD"}


def test_expiring_becomes_high_when_urgent_same_id():
    ents = [ent("E", "Tool", 5, term_end="2026-07-10")]
    (early,) = by_type(findings([host_scan("a", "Acme Tool")], ents, as_of=dt.date(2026, 6, 20)), "expiring")
    (late,) = by_type(findings([host_scan("a", "Acme Tool")], ents, as_of=dt.date(2026, 7, 8)), "expiring")
    assert (early.severity, late.severity) == ("medium", "high") and early.finding_id == late.finding_id


def test_shelfware_ratio_and_minimum_from_policy():
    found = findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 10)])
    (f,) = by_type(found, "shelfware")
    assert f.severity == "low" and "9 of 10" in f.title and f.entitlements == ("E1",)
    assert not by_type(findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 2)]), "shelfware")
    strict = Policy(shelfware_ratio=Decimal(20))
    assert not by_type(findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 10)], strict), "shelfware")
    assert not by_type(findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 10)],
                                Policy(shelfware_min_unused=10)), "shelfware")


def test_shelfware_for_an_entitlement_installed_nowhere():
    (f,) = by_type(findings([host_scan("a", "bash")], [ent("E1", "Tool", 3)]), "shelfware")
    assert "installed nowhere" in f.detail and f.hosts == ()


def test_stale_hosts_after_threshold_or_never_seen():
    hosts = [host_scan("fresh", "bash"),
             host_scan("recent", "bash", status=HostStatus.UNREACHABLE, collected="2026-06-27T01:00:00Z"),
             host_scan("old", "bash", status=HostStatus.UNREACHABLE, collected="2026-06-10T01:00:00Z"),
             replace(host_scan("ghost", status=HostStatus.UNREACHABLE, collected=None), host=None,
                     error="Connection refused")]
    found = {f.hosts[0]: f for f in by_type(findings(hosts), "stale-host")}
    assert set(found) == {"old", "ghost"}
    assert "not seen for 20 days" in found["old"].title and "never scanned" in found["ghost"].title
    assert set(f.hosts[0] for f in by_type(findings(hosts, policy=Policy(stale_days=2)), "stale-host")) == {
        "recent", "old", "ghost"}


def test_severity_override_and_row_shape():
    found = findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 10)], Policy(severity={"shelfware": "info"}))
    (f,) = by_type(found, "shelfware")
    assert f.severity == "info"
    row = finding_row(f, "new")
    assert set(row) == {"id", "type", "severity", "title", "detail", "first_seen", "last_seen", "hosts",
                        "entitlements", "state"}
    assert row["state"] == "new" and row["hosts"] == ["a"] and row["entitlements"] == ["E1"]


def test_clean_fleet_has_no_findings():
    assert findings([host_scan("a", "bash"), host_scan("b", "Acme Tool")], [ent("E1", "Tool", 2)]) == []


def test_finding_wording_reads_right_for_one_many_and_an_unknown_count():
    (one,) = by_type(findings([host_scan(h, "Acme Tool") for h in ("a", "b")], [ent("E1", "Tool", 1)]),
                     "under-licensed")
    assert one.title == "Acme Tool: under-licensed by 1 device" and one.detail.startswith("uses 2 devices, owns 1")
    (spare,) = by_type(findings([host_scan("a", "Acme Tool")], [ent("E1", "Tool", 20)]), "shelfware")
    assert spare.title == "Acme Tool: 19 of 20 devices unused"
    java = Entitlement("J1", "Acme", "Tool", "employee", 0, "licences/test.yml:J1")
    (unknown,) = by_type(findings([host_scan("a", "Acme Tool")], [java]), "unlicensed")
    assert "use unknown: no headcount" in unknown.detail
    assert "uses 0" not in unknown.detail and "employee;" not in unknown.detail
