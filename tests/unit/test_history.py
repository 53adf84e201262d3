"""History: installs added/removed/changed per host and position moves between two scans."""

import datetime as dt

from sam_engine import history
from sam_engine.model import Hardware, Host, HostScan, HostStatus, Installation, Scan
from sam_engine.position import build_position
from sam_engine.catalogue import load_catalogue
from sam_engine.model import Entitlement


def inst(name, version, source="dpkg"):
    return Installation(source, name, version, "amd64", "Vendor", None, f"{source}:{name}:amd64")


def host(name, installs, status=HostStatus.OK, scan_id="s2", inventory_scan_id=None):
    hw = Hardware(sockets=1, cores=4, threads=8)
    return HostScan(scan_id, name, status, Host(f"id-{name}", name, "machine-id", hardware=hw), tuple(installs),
                    inventory_scan_id=inventory_scan_id or scan_id)


def scan(scan_id, *hosts):
    return Scan(scan_id, "2026-06-30T01:00:00Z", "2026-06-30T01:05:00Z", "0.1.0", "scan.yml", tuple(hosts))


def test_added_removed_and_version_change_on_one_host():
    a = scan("s1", host("web1", [inst("bash", "5.2-1"), inst("vim", "9.0"), inst("curl", "7.88")], scan_id="s1"))
    b = scan("s2", host("web1", [inst("bash", "5.2-2"), inst("curl", "7.88"), inst("git", "2.39")]))
    (entry,) = history.diff_scans(a, b)
    assert entry["change"] == "changed" and entry["host"] == "web1"
    assert [(i["name"], i["version"]) for i in entry["added"]] == [("git", "2.39")]
    assert [(i["name"], i["version"]) for i in entry["removed"]] == [("vim", "9.0")]
    assert [(i["name"], i["before"], i["after"]) for i in entry["changed"]] == [("bash", "5.2-1", "5.2-2")]


def test_hosts_added_removed_and_unreachable():
    a = scan("s1", host("old", [inst("bash", "1")], scan_id="s1"), host("db", [inst("bash", "1")], scan_id="s1"))
    stale = host("db", [inst("bash", "1")], status=HostStatus.UNREACHABLE, inventory_scan_id="s1")
    b = scan("s2", stale, host("new", [inst("bash", "1"), inst("zsh", "5")]))
    entries = {e["host"]: e for e in history.diff_scans(a, b)}
    assert entries["new"]["change"] == "added" and len(entries["new"]["added"]) == 2
    assert entries["old"]["change"] == "removed" and len(entries["old"]["removed"]) == 1
    db = entries["db"]
    assert db["change"] == "status" and db["stale"], "unreachable keeps its inventory: no 'everything removed'"
    assert (db["status_before"], db["status_after"]) == ("ok", "unreachable")
    assert db["added"] == db["removed"] == db["changed"] == []


def test_unchanged_scans_have_no_entries():
    a = scan("s1", host("web1", [inst("bash", "1")], scan_id="s1"))
    b = scan("s2", host("web1", [inst("bash", "1")]))
    d = history.diff(a, b)
    assert d["hosts"] == [] and d["position"] == []
    assert set(d["summary"].values()) == {0}


def test_duplicate_records_are_counted_as_a_multiset():
    a = scan("s1", host("w", [inst("lib", "1"), inst("lib", "1")], scan_id="s1"))
    b = scan("s2", host("w", [inst("lib", "1")]))
    (entry,) = history.diff_scans(a, b)
    assert len(entry["removed"]) == 1 and entry["added"] == []


def _position(s, ents=()):
    catalogue, _ = load_catalogue()
    return build_position(s.hosts, catalogue.recognise, ents, dt.date(2026, 6, 30))


def test_position_moves_with_direction():
    tv = inst("teamviewer", "15.49.2")
    a = scan("s1", host("web1", [tv], scan_id="s1"))
    b = scan("s2", host("web1", [tv]), host("web2", [tv]))
    ent = Entitlement("ent-1", "TeamViewer", "TeamViewer", "device", 1, "test")
    d = history.diff(a, b, _position(a, [ent]), _position(b, [ent]))
    (move,) = d["position"]
    assert (move["publisher"], move["product"]) == ("TeamViewer", "TeamViewer")
    assert move["before"]["status"] == "compliant" and move["after"]["status"] == "under-licensed"
    assert (move["before"]["consumption"], move["after"]["consumption"]) == (1, 2)
    assert move["direction"] == "worse"
    back = history.diff(b, a, _position(b, [ent]), _position(a, [ent]))
    assert back["position"][0]["direction"] == "better"
    assert d["summary"]["products_worse"] == 1 and back["summary"]["products_better"] == 1


def test_product_appearing_is_a_move_from_nothing():
    a = scan("s1", host("web1", [inst("bash", "1")], scan_id="s1"))
    b = scan("s2", host("web1", [inst("bash", "1"), inst("teamviewer", "15.49.2")]))
    (move,) = history.diff_positions(_position(a), _position(b))
    assert move["before"] is None and move["after"]["status"] == "unlicensed" and move["direction"] == "worse"
