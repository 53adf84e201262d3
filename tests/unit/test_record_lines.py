"""A package list laid out a record per line (``pkg_common.software_json``, what the collector sends)
is read without decoding the lines already seen (``records.inventory_from_lines``): the same rows and
install times as decoding the list, or None (the list is then decoded whole), never another reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_common import make_record, software_json
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_origins import intern_origins
from hypothesis import HealthCheck, given, settings, strategies as st

import test_bulk_reuse
from test_recognition_cache import LINUX  # the four real package databases and their parsers

from sam_engine.ingest import parallel
from sam_engine.ingest.inventory import RowTable
from sam_engine.platforms import records
from sam_engine.platforms.records import inventory_from_lines


def real_lists(real_fixtures: Path) -> dict[str, list[dict]]:
    """Each real package database's records, their origins interned as the module sends them."""
    lists = {}
    for name, (fixture, parse) in LINUX.items():
        found = parse((real_fixtures / "linux" / fixture).read_text(encoding="utf-8"))
        intern_origins(found)
        lists[name] = found
    return lists


def reading(inv) -> list[tuple]:
    return [(inv.table.rows[rid], when) for rid, when in zip(inv.ids, inv.times)]


def decoded(text: str, table: RowTable, lines: tuple = ()) -> list[tuple]:
    """What decoding the list gives: the fast path, else the careful one."""
    found, _ = records.inventory(json.loads(text), "host.json", table, lines)
    return reading(found)


def test_real_lists_read_as_decoding_them_reads_them_and_known_lines_are_not_decoded(real_fixtures, monkeypatch):
    lists = real_lists(real_fixtures)
    lines = ("apt origin=Debian label=Debian", None, "rpm vendor=CentOS")
    table, other = RowTable(), RowTable()
    for name, found in lists.items():
        text = software_json(found)
        assert json.loads(text) == found  # the same list to any JSON reader
        inv = inventory_from_lines(text.encode(), table, lines)
        assert inv is not None and reading(inv) == decoded(text, other, lines), name
    ubuntu = lists["ubuntu"]
    for record in ubuntu:
        record["install_time"] = (record["install_time"] or 0) + 86_400  # another host: other times
    calls = []
    monkeypatch.setattr(records, "json_loads", lambda data: calls.append(data) or json.loads(data))
    inv = inventory_from_lines(software_json(ubuntu).encode(), table, lines)
    assert reading(inv) == decoded(software_json(ubuntu), other, lines)
    assert len(calls) == 2  # the times and the first line (its shape): no record decoded again


@pytest.mark.parametrize("damage", [
    lambda t: json.dumps(json.loads(t), separators=(",", ":")),  # one line: an older collector
    lambda t: t.replace(',"install_time":', ',"installed":'),  # no install time
    lambda t: t.replace('"source":', '"install_time":0,"source":').replace(',"install_time":', ',"when":'),
    lambda t: t[:-2] + ",\n{\"source\":\"dpkg\"\n]",  # a line cut short
    lambda t: t.replace('"install_time":1700000000}', '"install_time":1,2}', 1),  # two times for one record
    lambda t: t.replace('"install_time":1700000000}', '"install_time":1700000000,"name":"x"}', 1),
    lambda t: t.replace('"name":"bash"', '"name":7'),  # a record the module does not write
    lambda t: t.replace('"name":"bash"', '"name":"\\ud800"'),  # orjson refuses a lone surrogate escape
    lambda t: t + " ",
    lambda t: "[]",
])
def test_a_list_not_laid_out_as_the_module_writes_it_is_left_to_the_decoder(damage):
    found = [make_record("dpkg", "bash", "5.2", "amd64", "Debian", 1700000000),
             make_record("dpkg", "zsh", "5.9", "amd64", "Debian", None)]
    text = damage(software_json(found))
    assert inventory_from_lines(text.encode(), RowTable()) is None


def test_a_known_line_with_a_tampered_time_is_not_taken_for_another():
    table = RowTable()
    text = software_json([make_record("dpkg", "bash", "5.2", install_time=1)])
    assert reading(inventory_from_lines(text.encode(), table))[0][1] == 1
    for tail, expected in (('"x"}', records.NO_TIME), ("null}", records.NO_TIME), ("2.5}", records.NO_TIME),
                           ("[1]}", records.NO_TIME), ("99999999999999999999}", records.NO_TIME), ("1}}", None)):
        again = text.replace("1}\n]", tail + "\n]").encode()
        found = inventory_from_lines(again, table)
        assert (found if expected is None else reading(found)[0][1]) == expected, tail


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
HOSTILE = st.sampled_from([',"install_time":1}', '\n]', '",\n{"', "\x00", "=1+2", "<b>x</b>", "\u2028", "\\n"])
FIELD = st.one_of(st.none(), TEXT, HOSTILE)
RECORD = st.fixed_dictionaries({
    "source": st.sampled_from(["dpkg", "rpm", "", "apk"]), "name": st.one_of(TEXT, HOSTILE), "version": FIELD,
    "arch": FIELD, "vendor": FIELD, "install_time": st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
    "package_id": FIELD, "location": FIELD, "extra": st.dictionaries(TEXT, FIELD, max_size=2),
    "origin": st.one_of(st.none(), st.integers(0, 3))})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hosts=st.lists(st.lists(RECORD, max_size=6), min_size=1, max_size=4))
def test_any_list_reads_as_decoding_it_reads_it(hosts):
    lines = ("apt origin=Debian", None)
    table, other = RowTable(), RowTable()
    for found in hosts:
        text = software_json(found)
        assert json.loads(text) == found
        inv = inventory_from_lines(text.encode(), table, lines)
        if inv is not None:
            assert reading(inv) == decoded(text, other, lines)
        else:  # only a record the fast path refuses too (no source or name, ...), or no record at all
            assert not found or records.inventory_fast(json.loads(text), RowTable(), lines) is None


callback = test_bulk_reuse.callback  # the collector callback spooling into tmp_path (a fixture)


def test_a_spooled_run_reads_the_same_inventories_in_either_layout_serially_and_on_workers(callback, real_fixtures,
                                                                                          monkeypatch):
    host = {"machine_id": "", "hostname": "", "lscpu": "0,0,0\n", "system": "Linux"}
    for name, found in real_lists(real_fixtures).items():
        for layout, text in (("lines", software_json(found)), ("one", json.dumps(found, separators=(",", ":")))):
            result = {"changed": False, "software_json": text, "origins": [],
                      "host": {**host, "hostname": name + layout, "machine_id": (name + layout) * 4}}
            callback._record(f"{name}-{layout}", "ok", result=result)
    run_dir = Path(callback._run_dir)
    calls = []
    real = records.inventory_from_lines
    monkeypatch.setattr(records, "inventory_from_lines", lambda *a: calls.append(1) or real(*a))
    scans = [parallel.build_scan_from_spool(run_dir, lambda name: None, workers=1)[0]]
    assert len(calls) == 2 * len(LINUX) and len(scans[0].hosts) == 2 * len(LINUX)  # every list tried line by line
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)  # worker processes, however small the spool
    scans.append(parallel.build_scan_from_spool(run_dir, lambda name: None, workers=2)[0])
    for scan in scans:
        by_name = {hs.inventory_name: list(hs.installations) for hs in scan.hosts}
        for name in LINUX:
            assert by_name[f"{name}-lines"] == by_name[f"{name}-one"] and by_name[f"{name}-one"], name
    assert [list(h.installations) for h in scans[0].hosts] == [list(h.installations) for h in scans[1].hosts]
