"""A spooled package list is read once: the callback writes it behind a header (its size and SHA-256),
ingest checks it and, when the host's stored record was read from a list with the same key, takes the
stored inventory instead of reading the list again (sam_engine/ingest/bulk.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import orjson
import pytest
from ansible_collections.fleetsam.sam.plugins.callback import collector
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers
from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool

from sam_engine import pipeline
from sam_engine.ingest import bulk
from sam_engine.ingest import parallel
from sam_engine.ingest import spool as ingest
from sam_engine.platforms import records
from sam_engine.store import open_store

HOST = {"machine_id": "4c4c4544004a3510804bb4c04f4e3332", "hostname": "web1", "lscpu": "0,0,0\n", "system": "Linux"}
SMALL = [{"source": "dpkg", "name": "bash", "version": "5.2.15-2+b7", "arch": "amd64", "vendor": "Debian",
          "install_time": 1700000000, "package_id": "dpkg:bash:amd64", "location": None, "extra": {}}]


@pytest.fixture
def dpkg_text(real_fixtures):
    """A real Ubuntu 18.04 dpkg database's records as the collector hands them over (JSON text)."""
    text = (real_fixtures / "linux" / "trivy_ubuntu18.04_var-lib-dpkg-status").read_text(encoding="utf-8")
    return json.dumps(pkg_parsers.parse_dpkg_status(text), separators=(",", ":"))


@pytest.fixture
def callback(tmp_path, monkeypatch):
    monkeypatch.setattr(collector.CallbackModule, "get_option",
                        lambda self, name: str(tmp_path / "spool") if name == "spool_dir" else None)
    monkeypatch.setenv(spool.HANDOFF_ENV, "")
    cb = collector.CallbackModule()
    cb._start_run("scan.yml")
    return cb


def spooled(callback, dpkg_text, origins=None) -> Path:
    """The callback's run directory with web1 (the real dpkg list) and web2 (one package)."""
    for name, text in (("web1", dpkg_text), ("web2", json.dumps(SMALL))):
        result = {"changed": False, "software_json": text, "host": {**HOST, "hostname": name,
                                                                    "machine_id": name * 8}}
        if origins is not None:
            result["origins"] = origins
        callback._record(name, "ok", result=result)
    return Path(callback._run_dir)


def next_night(run_dir: Path, tmp_path: Path, scan_id: str = "night2") -> Path:
    """The same host files under a later run."""
    night = tmp_path / scan_id
    shutil.copytree(run_dir / "hosts", night / "hosts")
    meta = json.loads((run_dir / "run.json").read_text())
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.update(scan_id=scan_id, started=later, finished=later)  # later, yet within a day of now (further ahead is refused)
    (night / "run.json").write_text(json.dumps(meta))
    return night


def reads_of(monkeypatch) -> list[str]:
    """The spool files whose package list is read from now on."""
    seen = []
    real = records.inventory

    def counted(items, origin, *args, **kw):
        seen.append(Path(origin).name.split("-")[0])
        return real(items, origin, *args, **kw)
    monkeypatch.setattr(records, "inventory", counted)
    return seen


def test_the_callbacks_host_file_splits_into_its_facts_and_its_unparsed_list(callback, dpkg_text):
    run_dir = spooled(callback, dpkg_text)
    path = next((run_dir / "hosts").glob("web1-*.json"))
    data = path.read_bytes()
    doc, found = bulk.split(data, orjson.loads)
    assert found.field == "software" and found.data == dpkg_text.encode() and doc["result"]["software"] == bulk.MARK
    whole = json.loads(data)  # still one JSON value for any reader
    assert whole["bulk"]["sha256"] == found.sha256 and whole["result"]["software"] == json.loads(dpkg_text)
    run, problems = ingest.read_spool(run_dir)
    assert not problems and all(h.bulk is not None for h in run.hosts)


@pytest.mark.parametrize("damage", ["a byte of the list", "a rewrite", "a shorter size"])
def test_a_file_that_is_not_the_callbacks_layout_is_read_whole(callback, dpkg_text, damage):
    run_dir = spooled(callback, dpkg_text)
    path = next((run_dir / "hosts").glob("web2-*.json"))
    text = path.read_text()
    if damage == "a byte of the list":
        text = text.replace('"5.2.15-2+b7"', '"5.2.15-2+b8"')
    elif damage == "a rewrite":  # what the hypervisor join does: the header goes, the list is re-encoded
        spool.set_result_key(str(path), "hypervisor", {"kind": "libvirt"})
        text = path.read_text()
    else:
        text = text.replace('"bytes":', '"bytes":1', 1)
    path.write_text(text)
    assert bulk.split(path.read_bytes(), orjson.loads) is None
    run, problems = ingest.read_spool(run_dir)
    (raw,) = [h for h in run.hosts if h.inventory_name == "web2"]
    assert not problems and raw.bulk is None
    assert raw.result["software"][0]["version"] == ("5.2.15-2+b8" if damage == "a byte of the list" else "5.2.15-2+b7")


def test_a_nightly_run_takes_each_unchanged_list_from_the_store(callback, dpkg_text, tmp_path, monkeypatch):
    store = str(tmp_path / "store.json")
    run_dir = spooled(callback, dpkg_text)
    first, _, _, _ = pipeline.store_spool(run_dir, store=store)
    night = next_night(run_dir, tmp_path)
    web2 = next((night / "hosts").glob("web2-*.json"))  # web2 installed a package overnight
    doc = json.loads(web2.read_text())
    doc["result"]["software"].append({**SMALL[0], "name": "curl", "package_id": "dpkg:curl:amd64"})
    raw = json.dumps(doc["result"]["software"])
    doc["result"]["software"] = None
    spool.write_json(str(web2), spool.bulk_doc(doc, "software", raw), raw)
    seen = reads_of(monkeypatch)
    second, problems, _, _ = pipeline.store_spool(night, store=store)
    assert not problems and seen == ["web2"], "only the changed list is read"
    before, after = ({h.inventory_name: h for h in s.hosts} for s in (first, second))
    assert after["web1"].installations == before["web1"].installations, "in the order a read gives"
    assert len(after["web2"].installations) == len(before["web2"].installations) + 1
    assert after["web1"].source_digest == before["web1"].source_digest is not None
    assert after["web2"].source_digest not in (None, before["web2"].source_digest)
    with open_store(store, readonly=True) as st:
        fleet = {h.inventory_name: h for h in st.load_scan().hosts}
        assert st.last_source("web1") == before["web1"].source_digest
        assert sorted(map(repr, fleet["web1"].installations)) == sorted(map(repr, after["web1"].installations))
        assert len(st.export_documents()["inventories"]) == 3, "web1's inventory stored once"


def test_workers_take_stored_lists_as_the_serial_read_does(callback, dpkg_text, tmp_path, monkeypatch):
    store = str(tmp_path / "store.json")
    run_dir = spooled(callback, dpkg_text)
    pipeline.store_spool(run_dir, store=store)
    night = next_night(run_dir, tmp_path)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    with open_store(store, readonly=True) as st:
        serial, p1 = parallel.build_scan_from_spool(night, st.last_inventory, workers=0, last_source=st.last_source)
        workers, p2 = parallel.build_scan_from_spool(night, st.last_inventory, workers=2, last_source=st.last_source)
    assert serial == workers and p1 == p2 == []
    assert [h.source_digest for h in workers.hosts] == [h.source_digest for h in serial.hosts]
    parallel._worker_init()  # what a worker answers, in this process
    paths = [str(p) for p in sorted((night / "hosts").iterdir())]
    keys = {h.inventory_name: h.source_digest for h in serial.hosts}
    _, rows, hosts, _ = parallel._work(paths, (), {"web1": keys["web1"]})
    answers = {h[0]: h[7] for h in hosts}
    assert answers["web1"] == parallel.STORED and answers["web2"] != parallel.STORED


def test_the_key_follows_the_list_the_origins_and_the_reading_code(callback, dpkg_text, tmp_path, monkeypatch):
    run_dir = spooled(callback, dpkg_text)
    run, _ = ingest.read_spool(run_dir)
    web1, web2 = sorted(run.hosts, key=lambda h: h.inventory_name)
    key = bulk.source_key(web1.result, web1.bulk)
    assert key and key != bulk.source_key(web2.result, web2.bulk)
    assert key != bulk.source_key({**web1.result, "origins": {"apt": "x"}}, web1.bulk)
    assert bulk.source_key(web1.result, None) is None
    monkeypatch.setattr(bulk, "reading_version", lambda: "another reading")
    assert bulk.source_key(web1.result, web1.bulk) not in (None, key)


def test_a_list_read_with_a_problem_is_not_keyed(callback, tmp_path):
    odd = [*SMALL, {"source": "dpkg", "name": ["not", "a", "name"], "version": "1"}]
    callback._record("web3", "ok", result={"changed": False, "software_json": json.dumps(odd), "host": HOST})
    store = str(tmp_path / "store.json")
    scan, problems, _, _ = pipeline.store_spool(callback._run_dir, store=store)
    assert problems and scan.hosts[0].source_digest is None, "a later run would drop the problem"


RECORDED_WINDOWS = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "windows_composite-host.json"


def test_a_windows_hosts_unchanged_inventory_is_taken_and_its_facts_still_read(callback, tmp_path, monkeypatch):
    """The raw Windows inventory (a recorded win_software_facts result) is keyed like a package list; a
    nightly run takes the stored installations but still reads the facts and users from the same bulk."""
    from sam_engine.platforms import windows

    store = str(tmp_path / "store.json")
    win = json.loads(RECORDED_WINDOWS.read_text())["windows"]
    profiles = RECORDED_WINDOWS.parent / "users" / "windows_profilelist.json"  # crafted ProfileList records
    win["profiles"] = json.loads(profiles.read_text())["profiles"]
    for name in ("win1", "win2"):
        raw = json.dumps(win, separators=(",", ":"))
        doc = {"inventory_name": name, "status": "ok", "result": {"changed": False, "windows": None},
               "error": None, "collected_at": "2026-06-30T01:00:00Z", "groups": []}
        spool.write_json(spool.host_file(callback._run_dir, name), spool.bulk_doc(doc, "windows", raw), raw)
    run_dir = Path(callback._run_dir)
    first, problems, _, _ = pipeline.store_spool(run_dir, store=store)
    assert not problems and all(h.source_digest for h in first.hosts) and first.hosts[0].warnings == ()
    night = next_night(run_dir, tmp_path)
    win2 = next((night / "hosts").glob("win2-*.json"))  # win2 installed a program overnight
    changed = {**win, "uninstall": [*win["uninstall"], {**win["uninstall"][0], "key": "NewApp",
                                                        "DisplayName": "New App", "DisplayVersion": "1.0"}]}
    raw = json.dumps(changed, separators=(",", ":"))
    doc = json.loads(win2.read_text())
    doc["result"]["windows"] = None
    spool.write_json(str(win2), spool.bulk_doc(doc, "windows", raw), raw)
    seen = []
    real = windows.inventory_from_windows
    monkeypatch.setattr(windows, "inventory_from_windows",
                        lambda w, origin, table: seen.append(Path(origin).name.split("-")[0]) or real(w, origin, table))
    second, problems, _, _ = pipeline.store_spool(night, store=store)
    assert not problems and seen == ["win2"], "only the changed inventory is read"
    before, after = ({h.inventory_name: h for h in s.hosts} for s in (first, second))
    assert after["win1"].installations == before["win1"].installations
    assert after["win1"].host == before["win1"].host and after["win1"].host.users, "facts and users read again"
    assert after["win1"].source_digest == before["win1"].source_digest
    assert len(after["win2"].installations) == len(before["win2"].installations) + 1
    assert after["win2"].source_digest not in (None, before["win2"].source_digest)


def test_a_bulks_key_names_its_field():
    """The same bytes under another field are another reading: never the same key."""
    result = {"changed": False}
    keys = {bulk.source_key(result, bulk.Bulk(field, b"{}", "0" * 64)) for field in ("software", "windows", "macos")}
    assert len(keys) == 3 and None not in keys
