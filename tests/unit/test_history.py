"""History: installs added/removed/changed per host and position moves between two scans.

``history.diff`` on hand-made scans, then ``fleetsam diff`` on a fleet scanned
twice by the pipeline (tests/unit/report_fleet.py), as table, JSON and Markdown.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import report_fleet

from sam_engine.cli import main as cli
from sam_engine.report import changes as history
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.model import Entitlement, Hardware, Host, HostScan, HostStatus, Installation, Scan
from sam_engine.licensing.position import build_position
from sam_engine.store import open_store


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


def test_equal_inventory_digests_skip_the_comparison_and_different_ones_do_not():
    import dataclasses

    before = host("web1", [inst("bash", "5.2-1")], scan_id="s1")
    after = host("web1", [inst("bash", "5.2-2")])
    same = [dataclasses.replace(h, inventory_digest="d1") for h in (before, after)]
    assert history.diff_scans(scan("s1", same[0]), scan("s2", same[1])) == [], "the digest says: same content"
    other = dataclasses.replace(after, inventory_digest="d2")
    (entry,) = history.diff_scans(scan("s1", same[0]), scan("s2", other))
    assert entry["changed"][0]["after"] == "5.2-2"
    (entry,) = history.diff_scans(scan("s1", before), scan("s2", after))  # no digest: record by record
    assert entry["changed"][0]["before"] == "5.2-1"


def test_a_store_round_trip_keeps_digests_for_unchanged_hosts(tmp_path):
    from fleet_spools import ANYDESK, BASH, TEAMVIEWER, Host, store_run
    from sam_engine.store import open_store

    store = str(tmp_path / "db.json")
    store_run(tmp_path / "a", store, "s1", {"web1": Host(), "web2": Host(packages=(BASH, TEAMVIEWER))})
    store_run(tmp_path / "b", store, "s2", {"web1": Host(), "web2": Host(packages=(BASH, ANYDESK))})
    with open_store(store) as st:
        a, b = st.load_scan("s1"), st.load_scan("s2")
    assert all(h.inventory_digest for h in (*a.hosts, *b.hosts))
    (entry,) = history.diff_scans(a, b)  # web1 unchanged (same digest), web2 compared
    assert entry["host"] == "web2" and [i["name"] for i in entry["added"]] == ["anydesk"]
    assert [i["name"] for i in entry["removed"]] == ["teamviewer"]


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


# --- fleetsam diff ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    store, _ = report_fleet.scanned_twice(root)
    return root, store


@pytest.fixture
def run(fleet, capsys, monkeypatch):
    root, store = fleet
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(root / "catalogue-extra.yml"))

    def fleetsam(*args):
        code = cli.main(["--store", store, *args, "--licences", str(root / "licences"), "--as-of", "2026-06-30"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return fleetsam


def test_default_is_previous_against_latest_as_json(run):
    code, out, _ = run("diff", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert (d["from_scan"], d["to_scan"]) == ("s1", "s2")
    web2 = next(h for h in d["hosts"] if h["host"] == "web2")
    assert web2["changed"] == [{"source": "dpkg", "name": "teamviewer", "package_id": "dpkg:teamviewer:amd64",
                                "before": "15.49.2", "after": "15.51.5"}]
    moves = {m["product"]: m for m in d["position"]}
    assert (moves["TeamViewer"]["before"]["consumption"], moves["TeamViewer"]["after"]["consumption"]) == (1, 3)


def test_table_lists_hosts_and_position(run):
    code, out, _ = run("diff", "s1", "s2")
    assert code == 0
    assert "Changes from scan s1 to s2" in out
    assert "    ~ teamviewer 15.49.2 -> 15.51.5 [dpkg]" in out
    assert "    + curl 7.88.1-10 [dpkg]" in out
    assert "db2                      status   ok -> unreachable" in out
    assert "TeamViewer" in out and "worse" in out and "1->3" in out


def test_reverse_order_and_markdown(run):
    code, out, _ = run("diff", "s2", "s1", "--format", "markdown")
    assert code == 0
    assert out.startswith("## Changes from scan `s2` to `s1`")
    assert "| web2 | changed | - | - | teamviewer 15.51.5 → 15.49.2 |" in out
    assert "| web1 | changed | - | curl 7.88.1-10, teamviewer 15.49.2 | - |" in out
    assert "| TeamViewer TeamViewer | better |" in out


def test_bad_input_exits_2(run, tmp_path, capsys):
    code, _, err = run("diff", "s1", "nope")
    assert code == 2 and 'no scan with id "nope"; fleetsam scans lists them' in err
    with open_store(str(tmp_path / "empty.json")):
        pass
    code = cli.main(["--store", str(tmp_path / "empty.json"), "diff"])
    assert code == 2 and "0 scan(s) stored: a diff needs two" in capsys.readouterr().err


def test_a_licensable_only_position_has_the_whole_positions_licensable_rows_and_changes(fleet):
    """The report's changes and ``fleetsam diff`` read licensable rows alone, so they compute the
    positions without the free and unrecognised titles: the rows and the changes must be the same."""
    from sam_engine.licensing.context import LicenceSettings, load_context, position_of
    from sam_engine.licensing.position import position_to_rows
    from sam_engine.store.interface import load_fleet
    from sam_engine.vocabulary import LICENSABLE

    root, store = fleet
    with open_store(store, create=False, readonly=True) as st:
        a, b = (load_fleet(st, store, scan_id) for scan_id in ("s1", "s2"))
        stored = st.entitlements()
    settings = LicenceSettings(licences_dir=root / "licences", catalogue_extra=(root / "catalogue-extra.yml",))
    ctx = load_context(settings, dt.date(2026, 6, 30), stored)
    whole = [position_of(s.hosts, ctx) for s in (a, b)]
    short = [position_of(s.hosts, ctx, licensable_only=True) for s in (a, b)]
    for w, s in zip(whole, short):
        kept = [p for p in w.products if p.status.value in LICENSABLE]
        assert len(kept) >= 3 and len(w.products) > len(kept) and w.unrecognised  # free and unknown rows left out
        assert position_to_rows(s.products, detail=True) == position_to_rows(kept, detail=True)
        assert s.unrecognised == () and (s.cost_totals, s.total_cost, s.notes) == (w.cost_totals, w.total_cost, w.notes)
    assert history.diff(a, b, *short) == history.diff(a, b, *whole)
    assert history.diff(a, b, *short)["position"]  # the fleet's licensable rows moved between the scans
