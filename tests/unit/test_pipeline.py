"""Spool -> store -> reports, as the callback hands a run over."""

import datetime as dt
import json
import re

import pytest
from report_browser import read_island

from sam_engine import pipeline
from sam_engine.ingest.spool import SpoolError, read_spool
from sam_engine.licensing.context import LicenceSettings
from sam_engine.model import HostStatus
from sam_engine.store import open_store

RESULT = {
    "changed": False,
    "software": [
        {"source": "dpkg", "name": "bash", "version": "5.2.15-2+b7", "arch": "amd64", "vendor": "Debian",
         "install_time": 1700000000, "package_id": "dpkg:bash:amd64", "location": None, "extra": {}},
        {"source": "rpm", "name": "<script>alert(1)</script>", "version": "1:2.0-1", "arch": "noarch",
         "vendor": "Evil & Co", "install_time": None, "package_id": "rpm:x", "location": None, "extra": {}},
    ],
    "sources": {"dpkg": {"status": "ok", "count": 1}},
    "host": {"machine_id": "abc123", "hostname": "web1", "lscpu": "0,0,0\n0,1,1\n", "system": "Linux"},
}


def write_spool(root, scan_id, hosts):
    spool = root / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": "2026-11-29T01:00:00Z",
                                                 "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    for name, status, result in hosts:
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(
            {"inventory_name": name, "status": status, "result": result, "error": None if result else "boom"}))
    return spool


def test_scan_then_unreachable_keeps_inventory_stale(tmp_path):
    store, reports = str(tmp_path / "db.json"), tmp_path / "reports"
    first = pipeline.process_spool(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]), store=store, report_dir=reports)
    assert first.scan.installation_count == 2
    second = pipeline.process_spool(write_spool(tmp_path, "s2", [("web1", "unreachable", None)]), store=store,
                                    report_dir=reports)
    (hs,) = second.scan.hosts
    assert hs.status is HostStatus.UNREACHABLE and hs.stale
    assert len(hs.installations) == 2, "an unreachable host keeps its last inventory"
    assert hs.inventory_scan_id == "s1"
    assert hs.host.host_id == "machine-id:abc123"
    report = json.loads((reports / "report.json").read_text())
    (host,) = report["hosts"]
    assert host["stale"] and host["package_count"] == 2 and host["inventory_scan_id"] == "s1"
    assert report["summary"]["hosts_unreachable"] == 1
    assert "stale" in " ".join(second.lines())


def test_host_never_reached_has_no_inventory(tmp_path):
    out = pipeline.process_spool(write_spool(tmp_path, "s1", [("ghost", "unreachable", None)]),
                                 store=str(tmp_path / "db.json"), report_dir=tmp_path / "r")
    (hs,) = out.scan.hosts
    assert hs.installations == () and hs.host is None and hs.inventory_scan_id is None
    assert hs.collector is None, "no collector ran on a host never reached"
    with open_store(str(tmp_path / "db.json"), create=False, readonly=True) as st:
        (stored,) = st.load_scan("s1").hosts
    assert stored.collector is None


def test_html_escapes_package_names(tmp_path):
    pipeline.process_spool(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]),
                           store=str(tmp_path / "db.json"), report_dir=tmp_path / "r")
    html = (tmp_path / "r" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    island = html.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in island, "the data island escapes markup"
    assert "<" not in island and ">" not in island and "&" not in island
    titles = [row[2] for row in read_island(html)["unrecognised"]]
    assert "<script>alert(1)</script>" in titles


def test_malformed_host_entry_is_reported_with_its_file(tmp_path):
    spool = write_spool(tmp_path, "s1", [("web1", "ok", RESULT)])
    (spool / "hosts" / "bad.json").write_text("{not json")
    run, problems = read_spool(spool)
    # kept, failed, under its file's name (#18 item 7): never silently out of the fleet
    assert [(h.inventory_name, h.status.value) for h in run.hosts] == [("bad", "failed"), ("web1", "ok")]
    assert len(problems) == 1 and "bad.json:1:2" in problems[0].source + problems[0].message


def test_render_stored_matches_the_stored_scan(tmp_path):
    store = str(tmp_path / "db.json")
    pipeline.process_spool(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]), store=store, report_dir=tmp_path / "a")
    pipeline.render_stored(store, tmp_path / "b")
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    a.pop("generated"), b.pop("generated")
    assert a == b
    with open_store(store) as st:
        assert [i.scan_id for i in st.scans()] == ["s1"]


def test_a_run_writes_the_store_file_once_with_its_trend_summary(tmp_path, monkeypatch):
    import os

    store, reports = tmp_path / "db.json", tmp_path / "reports"
    writes = []
    real_replace = os.replace

    def counting_replace(src, dst, *args, **kwargs):
        if os.fspath(dst) == str(store):
            writes.append(dst)
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", counting_replace)
    monkeypatch.delenv("FLEETSAM_NOTIFY", raising=False)
    for n, scan_id in enumerate(("s1", "s2"), 1):
        pipeline.process_spool(write_spool(tmp_path, scan_id, [("web1", "ok", RESULT)]), store=str(store),
                               report_dir=reports)
        assert len(writes) == n, "scan, findings' state and position summary: one store write per run"
    with open_store(str(store)) as st:
        summaries = st.scan_summaries()
    assert set(summaries) == {"s1", "s2"} and summaries["s2"]["products"] >= 0
    trend = json.loads((reports / "report.json").read_text())["history"]
    assert [h["scan_id"] for h in trend] == ["s1", "s2"]
    assert trend[0]["non_compliant"] == summaries["s1"]["non_compliant"]


def test_without_installations_csv_the_older_one_goes_and_report_writes_it_again(tmp_path):
    store, reports = str(tmp_path / "db.json"), tmp_path / "reports"
    pipeline.process_spool(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]), store=store, report_dir=reports)
    assert (reports / "installations.csv").exists()
    second = pipeline.process_spool(write_spool(tmp_path, "s2", [("web1", "ok", RESULT)]), store=store,
                                    report_dir=reports, installations=False)
    assert not (reports / "installations.csv").exists(), "an older list would not match this scan"
    assert [p.name for p in second.report_files] == ["index.html", "report.json", "position.csv", "junit.xml",
                                                     "summary.md"]
    assert json.loads((reports / "report.json").read_text())["scan"]["scan_id"] == "s2"
    again = pipeline.render_stored(store, reports)
    rows = (reports / "installations.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == 1 + 2 and rows[1].startswith("s2,") and "installations.csv" in {p.name for p in again.report_files}


def test_closing_lines_say_how_to_add_entitlements_when_there_are_none(tmp_path):
    spool = write_spool(tmp_path, "s1", [("web1", "ok", RESULT)])
    bare = pipeline.process_spool(spool, store=str(tmp_path / "a.json"), report_dir=tmp_path / "ra",
                                  settings=LicenceSettings(licences_dir=tmp_path / "none"))
    assert bare.entitlements == 0
    assert any(line.startswith("no entitlements:") and "fleetsam licence import" in line for line in bare.lines())
    licences = tmp_path / "licences"
    licences.mkdir()
    (licences / "oracle.yml").write_text("entitlements:\n  - {publisher: Oracle, product: Oracle Database, "
                                         "edition: Enterprise Edition, metric: processor, quantity: 2}\n")
    owned = pipeline.process_spool(write_spool(tmp_path / "again", "s1", [("web1", "ok", RESULT)]),
                                   store=str(tmp_path / "b.json"), report_dir=tmp_path / "rb",
                                   settings=LicenceSettings(licences_dir=licences))
    assert owned.entitlements == 1 and not owned.problems
    assert not any(line.startswith("no entitlements:") for line in owned.lines())


def test_a_run_with_times_that_are_not_times_is_refused_and_the_store_stays_usable(tmp_path):
    """A ``finished`` of 5 was stored and broke every later run's report and every --as-of read."""
    store = str(tmp_path / "s.json")
    pipeline.process_spool(write_spool(tmp_path, "good", [("web1", "ok", RESULT)]), store=store, report_dir=tmp_path / "r")
    before = (tmp_path / "s.json").read_bytes()
    for scan_id, times in (("bad1", {"finished": 5}), ("bad2", {"started": "garbage"}),
                           ("bad3", {"finished": "2026-13-40T00:00:00Z"})):
        spool = write_spool(tmp_path, scan_id, [("web1", "ok", RESULT)])
        meta = {**json.loads((spool / "run.json").read_text()), **times}
        (spool / "run.json").write_text(json.dumps(meta))
        with pytest.raises(SpoolError, match=rf"run.json: field '{next(iter(times))}': expected an ISO 8601"):
            pipeline.process_spool(spool, store=store, report_dir=tmp_path / "r")
    (tmp_path / "list").mkdir()
    (tmp_path / "list" / "run.json").write_text("[1, 2]")
    with pytest.raises(SpoolError, match="run.json: expected a JSON object, got list"):
        read_spool(tmp_path / "list")
    assert (tmp_path / "s.json").read_bytes() == before
    pipeline.process_spool(write_spool(tmp_path, "next", [("web1", "ok", RESULT)]), store=store, report_dir=tmp_path / "r")


def test_host_entries_with_a_bad_name_or_collection_time_are_located(tmp_path):
    spool = write_spool(tmp_path, "s1", [("web1", "ok", RESULT)])
    (spool / "hosts" / "listed.json").write_text(json.dumps({"inventory_name": ["a"], "status": "ok",
                                                              "result": RESULT}))
    doc = json.loads((spool / "hosts" / "web1.json").read_text())
    (spool / "hosts" / "web1.json").write_text(json.dumps({**doc, "collected_at": "yesterday"}))
    run, problems = read_spool(spool)
    # the entry with a bad name stays a host, failed, under its file's name (#18 item 7)
    assert [(h.inventory_name, h.status.value, h.collected_at) for h in run.hosts] == [("listed", "failed", None),
                                                                                        ("web1", "ok", None)]
    assert [(p.source.rsplit("/", 1)[-1], p.severity) for p in problems] == [("listed.json", "error"),
                                                                              ("web1.json", "warning")]
    assert 'inventory_name: expected a host name, got ["a"]' in problems[0].message
    assert 'collected_at: expected an ISO 8601 timestamp, got "yesterday"' in problems[1].message


def test_ingest_shows_each_long_stage_on_stderr_and_keeps_stdout_for_the_summary(tmp_path, monkeypatch, capsys):
    from sam_engine.cli import scans
    from sam_engine.cli.main import main
    from sam_engine.report.render import REPORT_FILES

    monkeypatch.setattr(scans, "PROGRESS_AFTER", 0.0)  # every stage counts as long
    spool = write_spool(tmp_path, "s1", [("web1", "ok", RESULT), ("web2", "unreachable", None)])
    assert main(["--store", str(tmp_path / "db.json"), "ingest", str(spool), "--report-dir", str(tmp_path / "r")]) == 0
    out, err = capsys.readouterr()
    ended = [re.sub(r"\d+ s$", "N s", line) for line in err.splitlines() if " in " in line]  # a stage's closing line
    assert ended == ["fleetsam: ingest: 2 hosts in N s", "fleetsam: reconcile: done in N s",
                     f"fleetsam: report: {len(REPORT_FILES)} files in N s"]
    assert all(line.startswith("fleetsam: ") for line in err.splitlines())
    assert "fleetsam:" not in out and "web" not in err


def test_render_stored_of_a_past_scan_counts_the_licence_terms_of_its_day(tmp_path):
    # fleetsam report --scan: the fleet right after the run, with the entitlements valid on the day it ended (UTC)
    store = str(tmp_path / "db.json")
    spool = write_spool(tmp_path, "s1", [("web1", "ok", RESULT)])
    run = json.loads((spool / "run.json").read_text())
    (spool / "run.json").write_text(json.dumps({**run, "started": "2026-06-29T21:00:00-05:00",
                                                 "finished": "2026-06-29T22:00:00-05:00"}))
    pipeline.process_spool(spool, store=store, report_dir=tmp_path / "a")
    pipeline.render_stored(store, tmp_path / "b", "s1")
    assert json.loads((tmp_path / "b" / "report.json").read_text())["position"]["as_of"] == "2026-06-30"
    pipeline.render_stored(store, tmp_path / "c", "s1", as_of=dt.date(2026, 7, 2))
    assert json.loads((tmp_path / "c" / "report.json").read_text())["position"]["as_of"] == "2026-07-02"


def with_times(spool, collected_at=None, **times):
    """``spool`` with its run.json times (and web1's collected_at) replaced."""
    (spool / "run.json").write_text(json.dumps({**json.loads((spool / "run.json").read_text()), **times}))
    if collected_at is not None:
        host = spool / "hosts" / "web1.json"
        host.write_text(json.dumps({**json.loads(host.read_text()), "collected_at": collected_at}))
    return spool


def test_spool_times_are_read_into_utc_and_a_time_without_a_zone_is_utc_with_a_warning(tmp_path):
    """Times were compared as written: --as-of took the day of 23:00-05:00 (1 July UTC) as 30 June, and a
    basic ISO time (20261202T010000Z) passed validation but broke --as-of and ageing."""
    store = str(tmp_path / "db.json")
    run, problems = read_spool(with_times(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]),
                                          started="20260630T220000-0500", finished="2026-06-30T23:00:00-05:00",
                                          collected_at="2026-06-30T22:30:00-05:00"))
    assert (run.started, run.finished, run.hosts[0].collected_at) == \
           ("2026-07-01T03:00:00Z", "2026-07-01T04:00:00Z", "2026-07-01T03:30:00Z") and not problems
    pipeline.process_spool(tmp_path / "s1", store=store, report_dir=tmp_path / "r")
    with open_store(store, readonly=True) as st:
        assert st.load_scan(as_of=dt.date(2026, 6, 30)) is None, "it ended on 1 July, UTC"
        assert st.load_scan(as_of=dt.date(2026, 7, 1)).hosts[0].collected_at == "2026-07-01T03:30:00Z"
    run, problems = read_spool(with_times(write_spool(tmp_path, "s2", [("web1", "ok", RESULT)]),
                                          started="2026-06-30T23:00:00", finished=None,
                                          collected_at="2026-06-30T23:00:30"))
    assert (run.started, run.finished, run.hosts[0].collected_at) == ("2026-06-30T23:00:00Z",) * 2 + \
           ("2026-06-30T23:00:30Z",)
    assert [(p.source.rsplit("/", 1)[-1], p.severity) for p in problems] == [
        ("run.json: started", "warning"), ("web1.json: collected_at", "warning")]
    assert 'has no time zone; read as UTC (2026-06-30T23:00:00Z)' in problems[0].message


def test_a_run_from_the_future_or_ending_before_it_started_is_refused(tmp_path, capsys):
    """A run.json finished in 2096 was stored and froze its hosts: every later run ranked below it."""
    from sam_engine.cli.main import main

    store = str(tmp_path / "db.json")
    pipeline.process_spool(write_spool(tmp_path, "good", [("web1", "ok", RESULT)]), store=store,
                           report_dir=tmp_path / "r")
    before = (tmp_path / "db.json").read_bytes()
    for scan_id, times, field, expected in (
            ("f1", {"finished": "2096-01-01T00:00:00Z"}, "finished", "a time no later than now plus a day"),
            ("f2", {"started": "2096-01-01T00:00:00Z", "finished": "2096-01-01T01:00:00Z"}, "started",
             "a time no later than now plus a day"),
            ("f3", {"started": "2026-11-29T02:00:00Z"}, "finished", "a time no earlier than 'started'")):
        spool = with_times(write_spool(tmp_path, scan_id, [("web1", "ok", RESULT)]), **times)
        assert main(["--store", store, "ingest", str(spool), "--report-dir", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert f"run.json: field '{field}': expected {expected}" in err and "Traceback" not in err
    assert (tmp_path / "db.json").read_bytes() == before
    # a host's collection time ahead of now is not kept (it would outrank every later inventory)
    run, problems = read_spool(with_times(write_spool(tmp_path, "f4", [("web1", "ok", RESULT)]),
                                          collected_at="2096-01-01T00:00:00Z"))
    assert run.hosts[0].collected_at is None and problems[0].severity == "warning"
    assert "collected_at: expected a time no later than" in problems[0].message
