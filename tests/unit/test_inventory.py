"""Compact inventories, store format 2 and parallel ingest: same results as the plain forms.

No timing here: the figures are in bench/ (BENCHMARKS.md).
"""

from __future__ import annotations

from collections import Counter

import json
from pathlib import Path

import pytest

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans
from sam_engine.ingest import parallel as ingest_parallel
from sam_engine.ingest.inventory import Inventory, RowTable, canonical_order
from sam_engine.model import HostStatus, Installation
from sam_engine.platforms.registry import LINUX, Windows
from sam_engine.store.interface import StoreError
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]


def inst(name, version="1.0", source="dpkg", vendor="Acme <a@example.com>", t=None, location=None):
    return Installation(source, name, version, "amd64", vendor, t, f"{source}:{name}:amd64", location)


def test_inventory_is_a_sequence_equal_to_its_tuple():
    table = RowTable()
    items = (inst("b", t=5), inst("a"), inst("b", t=7), inst("c", location="/opt/c"))
    inv = Inventory.of(items, table)
    assert isinstance(inv, Inventory) and len(table) == 3  # b twice: one row, two times
    assert inv == items and items == inv and list(inv) == list(items)
    assert inv[2] == items[2] and inv[-1] == items[-1] and inv[1:3] == items[1:3]
    assert bool(inv) and not Inventory.of((), table)


def test_huge_install_time_keeps_the_plain_tuple():
    items = (inst("a", t=2 ** 70),)
    assert Inventory.of(items, RowTable()) == items and isinstance(Inventory.of(items, RowTable()), tuple)


def _record(name, version, t=1700000000, **extra):
    return {"source": "dpkg", "name": name, "version": version, "arch": "amd64", "vendor": "V <v@x.org>",
            "install_time": t, "package_id": f"dpkg:{name}:amd64", "location": None, "extra": extra}


def test_fast_and_careful_record_paths_agree():
    records = [_record("a", "1"), _record("b", None, t=None), _record("a", "1", t=5),
               {**_record("c", 2), "arch": "", "package_id": ""}]
    fast, problems = LINUX.inventory({"software": records}, "x", RowTable())
    assert problems == []
    plain, _ = LINUX.installations({"software": records}, "x")
    assert fast == plain
    odd = records + [{"source": "dpkg"}, "junk", {**_record("d", "1"), "arch": ["list"]}]
    careful, problems = LINUX.inventory({"software": odd}, "x", RowTable())
    plain, expected = LINUX.installations({"software": odd}, "x")
    assert tuple(careful) == plain and problems == expected and len(problems) == 3  # the list arch is one (#18)


def _entry(key, name, hive="HKLM64", date="20240105", **values):
    return {"hive": hive, "sid": None, "key": key, "DisplayName": name, "DisplayVersion": "1.0", "Publisher": "ACME",
            "InstallDate": date, "InstallLocation": None, "SystemComponent": None, "ParentKeyName": None,
            "ReleaseType": None, **values}


CHOCO = REPO / "tests/fixtures/real/windows/chocolatey"


def test_windows_compact_path_agrees_with_the_plain_one():
    recorded = json.loads((REPO / "tests/fixtures/recorded/windows_composite-host.json").read_text(encoding="utf-8"))
    win = recorded["windows"]
    table, windows = RowTable(), Windows()
    hosts = [win, {**win, "uninstall": [dict(e, InstallDate="20230301") for e in win["uninstall"]]},  # same keys
             {"uninstall": [_entry("{A}", "Tool"), _entry("{A}", "Tool", hive="HKLM32"),  # PF6: one program
                            _entry("v1", "Odd", DisplayVersion=1), _entry("v2", "Odd", DisplayVersion=True),
                            _entry("{B}", "Bad date", date="20230231"), _entry("{C}", "Hidden", SystemComponent=1)]},
             {"uninstall": [_entry("v2", "Odd", DisplayVersion=True), _entry("v1", "Odd", DisplayVersion=1),
                            _entry("{L}", "Listed", InstallLocation=["not", "text"])], "os": {"Caption": "Win"}},
             {"uninstall": [_entry("Git_is1", "Git", DisplayVersion="2.34.1")], "chocolatey": [  # real nuspec texts
                 {"path": f"C:/ProgramData/chocolatey/lib/{n}", "text": (CHOCO / n).read_text(encoding="utf-8")}
                 for n in ("vlc.nuspec", "7zip.install.nuspec")] + [{"path": "C:/broken.nuspec", "text": "<p"}]},
             {"uninstall": [_entry("Git_is1", "Git", DisplayVersion="2.34.1"), _entry("{V}", "VLC media player")],
              "winget": [{"Name": "Git", "Id": "Git.Git", "InstalledVersion": "2.34.1", "Source": "winget"},
                         {"Name": "Absent", "Id": "Acme.Absent", "InstalledVersion": "1", "Source": "winget"}]}]
    for n, host in enumerate(hosts * 2):  # the second round reads every program from the table's memo
        compact, problems = windows.inventory({"windows": host}, f"h{n}", table)
        plain, expected = windows.installations({"windows": host}, f"h{n}")
        assert tuple(compact) == plain and problems == expected and plain
    assert [i.origin for i in plain if i.name == "Git"] == ["winget source=winget id=Git.Git licence="]
    odd = tuple(windows.inventory({"windows": hosts[3]}, "x", table)[0])
    assert [(i.version, i.package_id) for i in odd[:2]] == [(None, "windows:HKLM64:v2"), ("1", "windows:HKLM64:v1")]


def test_canonical_order_is_the_stored_order_of_format_1():
    table = RowTable()
    items = (inst("zeta"), inst("alpha", "2"), inst("alpha", "1"), inst("mid", source="rpm"))
    inv = Inventory.of(items, table)
    order = canonical_order(table, inv.ids)
    expected = sorted(items, key=lambda i: (i.source, i.package_id, i.name, i.version or ""))
    assert [items[p] for p in order] == expected


def test_store_round_trip_and_content_addressing(tmp_path):
    table = RowTable()
    from sam_engine.model import HostScan, Scan

    items = (inst("b", t=5), inst("a", "2", t=6))
    hosts = tuple(HostScan("s1", f"h{n}", HostStatus.OK, None, Inventory.of(items, table)) for n in range(3))
    store = str(tmp_path / "store.json")
    with open_store(store) as st:
        st.save_scan(Scan("s1", "t0", "t1", "v", None, hosts))
    doc = json.loads(Path(store).read_text())
    assert len(doc["inventories"]) == 1 and len(doc["snapshots"]) == 1  # three hosts, one inventory
    with open_store(store) as st:
        loaded = st.load_scan()
    sorted_items = tuple(sorted(items, key=lambda i: (i.source, i.package_id, i.name, i.version or "")))
    assert all(h.installations == sorted_items for h in loaded.hosts)


@pytest.mark.parametrize("width, ids", [
    (8, [0, 1, 2, 3, 4, 5, 6, 7, 1, 0, 2, 3, 4, 5, 6, 7]),  # the stored form: distinct rows
    (7, [0, 1, 2, 3, 4, 5, 6]),  # a snapshot stored before origins: no width, rows get no origin
    (8, [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7]),  # a row twice: the first id kept
    (8, [0, 1, 2, 3, 4, 5, 6, 7, 1, 0, 2]),  # cut short: the tail is a short row, as row by row
])
def test_stored_table_reads_as_interning_row_by_row(width, ids):
    from array import array

    from sam_engine.ingest.inventory import _b64, table_from_doc

    strings = ["dpkg", "bash", "5.2", "amd64", "Debian", "dpkg:bash", "/usr", "main"]
    doc = {"strings": strings, "rows": _b64(array("I", ids))} | ({"width": 8} if width == 8 else {})
    table = table_from_doc(doc)
    pad = (None,) * (8 - width)
    expected = RowTable(tuple(strings[i] for i in ids[k:k + width]) + pad for k in range(0, len(ids), width))
    assert table.rows == expected.rows and table.index == expected.index


def test_old_store_format_is_refused_clearly(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"meta": {"1": {"format": "fleetsam", "version": 1}}}))
    with pytest.raises(StoreError, match="older fleetsam"):
        open_store(str(path))


def _spool(root: Path, hosts: int) -> Path:
    """A spool of ``hosts`` hosts from the benchmark generator (Linux and Windows), one unreachable."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    import fleetgen

    fleetgen.write_spool(root, hosts, seed=3)
    (root / "hosts" / "zz-unreachable.json").write_text(json.dumps(
        {"inventory_name": "zz", "status": "unreachable", "result": None, "error": "down", "collected_at": None}))
    (root / "hosts" / "zz-broken.json").write_text("{not json")
    return root


def test_parallel_ingest_builds_the_same_scan(tmp_path, monkeypatch):
    spool = _spool(tmp_path / "spool", 12)
    run, problems = ingest.read_spool(spool)
    serial, more = host_scans.build_scan(run, lambda name: None)
    monkeypatch.setattr(ingest_parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest_parallel, "CHUNK_FILES", 5)
    parallel, problems_parallel = ingest_parallel.build_scan_from_spool(spool, lambda name: None, workers=2)
    assert parallel == serial
    assert [h.inventory_name for h in parallel.hosts] == [h.inventory_name for h in serial.hosts]
    assert problems_parallel == problems + more and any("unreadable" in p.message for p in problems_parallel)
    counted = [h for h in parallel.hosts if getattr(h.installations, "sources", None) is not None]
    assert counted, "the workers count installations per source"
    for h in counted:
        assert h.installations.sources == dict(sorted(Counter(i.source for i in h.installations).items()))


def test_source_counts_survive_the_store_and_reach_the_report(tmp_path, monkeypatch):
    from sam_engine.report import model as report
    from sam_engine.store import open_store

    spool = _spool(tmp_path / "spool", 6)
    monkeypatch.setattr(ingest_parallel, "PARALLEL_MIN_BYTES", 0)
    scan, _ = ingest_parallel.build_scan_from_spool(spool, lambda name: None, workers=2)
    with open_store(str(tmp_path / "db.json")) as st:
        st.save_scan(scan)
    with open_store(str(tmp_path / "db.json")) as st:
        loaded = st.load_scan()
    plain = {h.inventory_name: dict(sorted(Counter(i.source for i in h.installations).items()))
             for h in scan.hosts if h.installations}
    assert {h.inventory_name: h.installations.sources for h in loaded.hosts if h.installations} == plain
    for s in (scan, loaded):
        hosts = {h["inventory_name"]: h["sources"] for h in report.build(s, [])["hosts"] if h["package_count"]}
        assert hosts == plain


@pytest.mark.parametrize("pattern, words", [
    ("(Microsoft )?Visio", {"microsoft", "visio"}),
    ("VLC( media player)?", {"vlc"}),
    ("Micro(soft)?", {"micro", "microsoft"}),
    ("code(-insiders)?", {"code"}),
    ("Acrobat|Reader X", {"acrobat", "reader"}),
    ("Adobe\\s+Reader", None),  # \s+ : the first word is fixed, but only a class follows: not indexed
    ("(?P<name>.+)", None),
    ("\\.NET", None),
])
def test_catalogue_first_words(pattern, words):
    from sam_engine.licensing import rule_index

    found = rule_index.first_words(pattern)
    assert (None if found is None else set(found)) == words


def test_catalogue_index_finds_what_a_full_scan_finds(monkeypatch):
    """Every title in the benchmark fleet gets the same recognition with and without the word index."""
    import sys

    from sam_engine.licensing import catalogue, rule_index

    sys.path.insert(0, str(REPO / "bench"))
    import fleetgen

    pools = fleetgen.Pools(3)
    titles = [(t["name"], t["vendor"], "dpkg") for t in pools.linux_core + pools.linux_tail[:400]]
    titles += [(t["title"], t.get("publisher"), "windows") for t in pools.win_required + pools.win_free
               + pools.win_tail[:100]]
    fast, _ = catalogue.load_catalogue([])
    monkeypatch.setattr(rule_index, "literal_word", lambda pattern: None)
    monkeypatch.setattr(rule_index, "first_words", lambda pattern: None)
    slow = catalogue.Catalogue(fast.entries, today=fast.today)
    for name, vendor, source in titles:
        item = Installation(source, name, "1.0", None, vendor, None, f"{source}:{name}", None)
        assert fast.recognise(item) == slow.recognise(item), name
