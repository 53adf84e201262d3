"""The platform registry: each collector's result read by its own platform, and the collector recorded.

Real data: the recorded Windows and macOS module outputs in tests/fixtures/recorded/
(see test_windows.py and test_macos.py for how they are built from captures).
"""

import json
from pathlib import Path

from sam_engine.ingest import parallel as ingest_parallel
from sam_engine.ingest import spool as ingest
from sam_engine.ingest import host_scans
from sam_engine.platforms.registry import LINUX, PLATFORMS, platform_of
from sam_engine.store import open_store

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
LINUX_COLLECTOR = "fleetsam.sam.software_facts"
WINDOWS_COLLECTOR = "fleetsam.sam.win_software_facts"
MACOS_COLLECTOR = "fleetsam.sam.macos_software_facts"
LINUX_RESULT = {
    "software": [{"source": "dpkg", "name": "bash", "version": "5.2.15-2", "arch": "amd64", "vendor": "Debian",
                  "install_time": 1700000000, "package_id": "dpkg:bash:amd64", "location": None, "extra": {}}],
    "host": {"machine_id": "0123abcd", "system": "Linux"},
}


def recorded(name):
    result = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return {k: v for k, v in result.items() if not k.startswith("_")}


def write_spool(root, scan_id, hosts):
    """A spool of ``hosts`` (inventory name -> module result, None for an unreachable host)."""
    (root / "hosts").mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": "2026-11-29T01:00:00Z",
                                               "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    for name, result in hosts.items():
        entry = {"inventory_name": name, "status": "ok" if result else "unreachable", "result": result,
                 "error": None if result else "timed out"}
        (root / "hosts" / f"{name}.json").write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
    return root


def collectors(scan):
    return {h.inventory_name: (h.collector, h.stale) for h in scan.hosts}


def test_each_recorded_result_is_read_by_its_own_platform():
    win, mac = recorded("windows_composite-host.json"), recorded("macos_arm64-sample6.json")
    assert platform_of(win).collector == WINDOWS_COLLECTOR
    assert platform_of(mac).collector == MACOS_COLLECTOR
    assert platform_of(LINUX_RESULT) is LINUX and LINUX.collector == LINUX_COLLECTOR
    for result in (win, mac, LINUX_RESULT):  # exactly one platform claims each
        assert [p for p in PLATFORMS if p.matches(result)] == [platform_of(result)]
    assert platform_of({"changed": False}) is LINUX  # claimed by none: read as the Linux module's, as always
    assert len({p.collector for p in PLATFORMS}) == len(PLATFORMS)


def test_platform_reads_installations_and_host():
    win, mac = recorded("windows_composite-host.json"), recorded("macos_arm64-sample6.json")
    items, problems = platform_of(win).installations(win, "win1.json")
    assert len(items) == 24 and problems == []
    assert platform_of(win).host(win, "win1").os_family == "Windows"
    assert platform_of(mac).host(mac, "mac1").host_id == "platform-uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    (bash,), problems = LINUX.installations(LINUX_RESULT, "lin1.json")
    assert (bash.name, bash.version, problems) == ("bash", "5.2.15-2", [])
    assert LINUX.host(LINUX_RESULT, "lin1").host_id == "machine-id:0123abcd"


def test_collector_recorded_per_host_through_ingest_and_the_store(tmp_path, monkeypatch):
    hosts = {"lin1": LINUX_RESULT, "mac1": recorded("macos_arm64-sample6.json"),
             "win1": recorded("windows_composite-host.json")}
    spool = write_spool(tmp_path / "s1", "s1", hosts)
    run, problems = ingest.read_spool(spool)
    scan, more = host_scans.build_scan(run, lambda name: None)
    assert problems == more == []
    expected = {"lin1": (LINUX_COLLECTOR, False), "mac1": (MACOS_COLLECTOR, False), "win1": (WINDOWS_COLLECTOR, False)}
    assert collectors(scan) == expected
    monkeypatch.setattr(ingest_parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest_parallel, "CHUNK_FILES", 1)
    parallel, _ = ingest_parallel.build_scan_from_spool(spool, lambda name: None, workers=2)
    assert collectors(parallel) == expected and parallel == scan

    db = str(tmp_path / "db.json")
    with open_store(db) as st:
        st.save_scan(scan)
    with open_store(db) as st:
        assert collectors(st.load_scan("s1")) == expected
        # the next run reaches only the Linux host: the others keep their inventory and its collector, stale
        run2, _ = ingest.read_spool(write_spool(tmp_path / "s2", "s2", {**hosts, "mac1": None, "win1": None}))
        scan2, _ = host_scans.build_scan(run2, st.last_inventory)
        st.save_scan(scan2)
    stale = {"lin1": (LINUX_COLLECTOR, False), "mac1": (MACOS_COLLECTOR, True), "win1": (WINDOWS_COLLECTOR, True)}
    assert collectors(scan2) == stale
    with open_store(db) as st:
        assert collectors(st.load_scan("s2")) == stale
