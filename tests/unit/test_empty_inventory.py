"""A reached host whose collector found no installed software at all, through ingest, the store and ``diff``.

An empty ``/var/lib/dpkg/status`` (or one replaced by a directory) makes the collector report
``dpkg: {status: ok, count: 0}``: a broken or tampered collection, since no real machine has no
software. A host with a last inventory is recorded failed and keeps it, stale, as an unreachable
host does; a host first seen with nothing is stored as it is, with a warning; fewer packages than
last time (808 -> 1) is a change, stored as collected. So is one package source that could not be read
(``rpm -qa`` exiting 1 on a corrupt rpm database beside a working dpkg): its packages are kept from the
host's last inventory, with a warning, not counted removed. Spools are written as the collector callback
writes them (``fleet_spools``, ``test_fleet.write_spool``).
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool as spool_files
from fleet_spools import BASH, TEAMVIEWER, Host, module_result, store_run, write_run
from sam_engine import pipeline
from sam_engine.cli.main import main
from sam_engine.ingest import parallel
from sam_engine.ingest import spool as ingest
from sam_engine.ingest import host_scans
from sam_engine.model import HostStatus
from sam_engine.store import open_store
from test_fleet import facts, write_spool

CURL = ("curl", "7.88.1-10", "Debian")
MANY = tuple((f"pkg{n}", "1.0", "Debian") for n in range(808))


def host(name, packages):
    """A host that answered with exactly ``packages`` (none: an empty package database)."""
    return tuple(packages), facts(f"mid-{name}")


def store(root, scan_id, when, hosts):
    """The run stored as the pipeline stores it: ``(scan, problems)``."""
    return pipeline.store_spool(write_spool(root, scan_id, when, hosts), store=str(root / "db.json"))[:2]


def fleet(root) -> dict:
    with open_store(str(root / "db.json"), readonly=True) as st:
        return {h.inventory_name: h for h in st.load_scan().hosts}


def diff(root, capsys) -> dict:
    capsys.readouterr()
    assert main(["--store", str(root / "db.json"), "diff", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_empty_result_after_an_inventory_fails_the_host_and_keeps_the_inventory(env, capsys):
    store(env, "r1", "2026-11-29T01:00:00Z", {"web1": host("web1", (BASH, TEAMVIEWER, CURL)),
                                              "web2": host("web2", (BASH,))})
    before = fleet(env)["web1"]
    scan, problems = store(env, "r2", "2026-11-30T01:00:00Z", {"web1": host("web1", ()),
                                                               "web2": host("web2", (BASH, CURL))})
    web1 = fleet(env)["web1"]
    assert (web1.status, web1.stale, web1.scan_id, web1.inventory_scan_id, web1.collected_at) == \
           (HostStatus.FAILED, True, "r2", "r1", "2026-11-29T01:00:00Z")
    assert web1.error == ("the collector found no installed software (its last inventory, of 2026-11-29, had 3): "
                          "kept the last inventory")
    assert {i.name for i in web1.installations} == {"bash", "teamviewer", "curl"}, "the fleet still lists them"
    assert (web1.host, web1.collector, web1.inventory_digest) == (before.host, before.collector,
                                                                  before.inventory_digest)
    assert [p.source.rsplit("/", 1)[-1] for p in problems] == ["web1.json: result"]
    assert "recorded failed" in problems[0].message and problems[0].severity == "error"
    assert fleet(env)["web2"].status is HostStatus.OK and len(fleet(env)["web2"].installations) == 2

    d = diff(env, capsys)
    assert d["summary"]["installs_removed"] == 0, d["summary"]
    assert all(not h["removed"] for h in d["hosts"]), d["hosts"]
    assert main(["--store", str(env / "db.json"), "diff"]) == 0
    assert "- teamviewer" not in capsys.readouterr().out

    # still empty the next night: still failed, the same inventory of r1 carried on
    store(env, "r3", "2026-12-01T01:00:00Z", {"web1": host("web1", ())})
    web1 = fleet(env)["web1"]
    assert (web1.status, web1.inventory_scan_id, len(web1.installations)) == (HostStatus.FAILED, "r1", 3)
    assert "of 2026-11-29, had 3" in web1.error
    # a good collection again: stored as collected
    store(env, "r4", "2026-12-02T01:00:00Z", {"web1": host("web1", (BASH,))})
    web1 = fleet(env)["web1"]
    assert (web1.status, web1.inventory_scan_id, len(web1.installations), web1.error) == \
           (HostStatus.OK, "r4", 1, None)


def test_a_host_first_seen_with_no_software_is_stored_with_a_warning(env):
    scan, problems = store(env, "r1", "2026-11-29T01:00:00Z", {"new1": host("new1", ())})
    new1 = fleet(env)["new1"]
    assert (new1.status, new1.inventory_scan_id, len(new1.installations)) == (HostStatus.OK, "r1", 0)
    assert new1.warnings == (host_scans.NO_SOFTWARE,) and new1.error is None and problems == []
    store(env, "r2", "2026-11-30T01:00:00Z", {"new1": host("new1", ())})  # nothing to keep then either
    new1 = fleet(env)["new1"]
    assert (new1.status, new1.inventory_scan_id, new1.warnings) == (HostStatus.OK, "r2", (host_scans.NO_SOFTWARE,))


def test_808_packages_down_to_1_is_a_change_stored_as_collected(env, capsys):
    store(env, "r1", "2026-11-29T01:00:00Z", {"web1": host("web1", MANY)})
    scan, problems = store(env, "r2", "2026-11-30T01:00:00Z", {"web1": host("web1", (BASH,))})
    web1 = fleet(env)["web1"]
    assert (web1.status, web1.inventory_scan_id, [i.name for i in web1.installations]) == \
           (HostStatus.OK, "r2", ["bash"])
    assert web1.warnings == () and web1.error is None and problems == []
    assert diff(env, capsys)["summary"]["installs_removed"] == 808


def read_serially_and_by_workers(db: str, spool, monkeypatch):
    """The spool read against the store ``db`` in this process, then by two worker processes: the same scan and
    problems both ways (asserted); the scan and its problems."""
    with open_store(db, readonly=True) as st:
        serial, problems = host_scans.build_scan(ingest.read_spool(spool)[0], st.last_inventory,
                                                 last_source=st.last_source)
        monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(parallel, "CHUNK_FILES", 1)
        monkeypatch.setattr(host_scans, "build_scan", lambda *a, **kw: pytest.fail("read in-process, not by workers"))
        scan, problems_parallel = parallel.build_scan_from_spool(spool, st.last_inventory, workers=2,
                                                                 last_source=st.last_source)
    assert scan == serial and list(map(str, problems_parallel)) == list(map(str, problems))
    return scan, problems


def test_the_callback_layout_and_the_parallel_ingest_apply_the_same_rule(tmp_path, monkeypatch):
    db = str(tmp_path / "db.json")
    store_run(tmp_path / "a", db, "r1", {"web1": Host(packages=MANY), "web2": Host(packages=MANY),
                                         "web3": Host()}, when="2026-11-29T01:00:00Z")
    spool = write_run(tmp_path / "b", "r2", {"web1": Host(packages=()), "web2": Host(packages=(BASH,)),
                                             "web3": Host(), "new1": Host(packages=())},
                      when="2026-11-30T01:00:00Z")
    scan, problems = read_serially_and_by_workers(db, spool, monkeypatch)
    hosts = {h.inventory_name: h for h in scan.hosts}
    assert (hosts["web1"].status, hosts["web1"].inventory_scan_id, len(hosts["web1"].installations)) == \
           (HostStatus.FAILED, "r1", 808)
    assert "(its last inventory, of 2026-11-29, had 808)" in hosts["web1"].error
    assert (hosts["web2"].status, len(hosts["web2"].installations)) == (HostStatus.OK, 1)
    assert (hosts["web3"].status, hosts["web3"].inventory_scan_id) == (HostStatus.OK, "r2")
    assert (hosts["new1"].status, hosts["new1"].warnings) == (HostStatus.OK, (host_scans.NO_SOFTWARE,))
    assert [p.source.split("/")[-1] for p in problems] == ["web1.json: result"]


def test_a_vcenter_has_no_software_of_its_own_and_gets_no_warning(tmp_path):
    from pathlib import Path

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "vcenter_vcsim.json"
    result = {k: v for k, v in json.loads(fixture.read_text(encoding="utf-8")).items() if not k.startswith("_")}
    (tmp_path / "hosts").mkdir()
    (tmp_path / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-11-29T01:00:00Z"}))
    (tmp_path / "hosts" / "vc01.json").write_text(json.dumps({"inventory_name": "vc01", "status": "ok",
                                                              "result": result, "error": None}))
    with_inventory = lambda name: pytest.fail("a vCenter's last inventory is not looked up")  # noqa: E731
    scan, problems = host_scans.build_scan(ingest.read_spool(tmp_path)[0], with_inventory)
    (vc01,) = scan.hosts
    assert (vc01.status, vc01.warnings, len(vc01.installations), problems) == (HostStatus.OK, (), 0, [])


RPMS = (("openssl-libs", "3.0.7-27.el9"), ("java-17-openjdk", "17.0.9.0.9-2.el9"))
RPM_FAILED = "rpm: /usr/bin/rpm -qa exited with 1: error: sqlite failure \x1b[31mdb\x1b[0m"


def linux_spool(root, scan_id, when, hosts):
    """A run whose hosts hold dpkg and rpm packages, spooled as the collector callback writes them (the
    package list behind a header); ``hosts``: name -> (rpms, or None for an rpm source that failed)."""
    spool = root / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": when, "finished": when,
                                                "playbook": "scan.yml"}))
    for name, rpms in hosts.items():
        result = module_result(name, (BASH, CURL), when)
        result["software"] += [{"source": "rpm", "name": n, "version": v, "arch": "x86_64", "vendor": "Red Hat",
                                "install_time": 1700000000, "package_id": f"rpm:{n}-{v}.x86_64", "location": None,
                                "extra": {}} for n, v in rpms or ()]
        rpm = {"status": "failed", "count": 0, "message": RPM_FAILED} if rpms is None else \
            {"status": "ok", "count": len(rpms)}
        result["sources"] = {"dpkg": {"status": "ok", "count": 2}, "rpm": rpm, "snap": {"status": "unavailable",
                                                                                           "count": 0}}
        raw = json.dumps(result["software"], separators=(",", ":"))
        doc = {"inventory_name": name, "status": "ok", "result": result, "error": None, "collected_at": when,
               "groups": []}
        spool_files.write_json(str(spool / "hosts" / f"{name}.json"), spool_files.bulk_doc(doc, "software", raw), raw)
    return spool


def rpm_kept(count, day):
    return f"package source rpm failed: {RPM_FAILED}; kept its {count} packages of the last inventory, of {day}"


def test_a_source_that_failed_keeps_its_packages_from_the_last_inventory(env, capsys):
    pipeline.store_spool(linux_spool(env, "r1", "2026-11-29T01:00:00Z", {"rpm1": RPMS, "rpm2": RPMS}),
                         store=str(env / "db.json"))
    assert fleet(env)["rpm1"].source_digest is not None, "a clean read is keyed"
    summary = pipeline.process_spool(linux_spool(env, "r2", "2026-11-30T01:00:00Z", {"rpm1": None, "rpm2": RPMS}),
                                     store=str(env / "db.json"), report_dir=env / "reports", installations=False)
    rpm1 = fleet(env)["rpm1"]
    assert (rpm1.status, rpm1.stale, rpm1.inventory_scan_id, rpm1.error) == (HostStatus.OK, False, "r2", None)
    assert sorted(i.name for i in rpm1.installations) == ["bash", "curl", "java-17-openjdk", "openssl-libs"]
    assert rpm1.warnings == (rpm_kept(2, "2026-11-29"),)
    assert rpm1.source_digest is None, "a mix of two runs is not the reading of this package list"
    assert [(p.source.rsplit("/", 1)[-1], p.severity) for p in summary.problems] == [("rpm1.json: result", "warning")]
    lines = "\n".join(summary.lines())
    assert "package source rpm failed" in lines and "kept its 2 packages" in lines and "\x1b" not in lines
    report = json.loads((env / "reports" / "report.json").read_text(encoding="utf-8"))
    (host,) = [h for h in report["hosts"] if h["inventory_name"] == "rpm1"]
    assert host["warnings"] == [rpm_kept(2, "2026-11-29")] and host["sources"] == {"dpkg": 2, "rpm": 2}
    assert diff(env, capsys)["summary"]["installs_removed"] == 0

    capsys.readouterr()
    assert main(["--store", str(env / "db.json"), "hosts"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "ok (rpm failed)" in rows["rpm1"] and "failed" not in rows["rpm2"]
    assert main(["--store", str(env / "db.json"), "hosts", "--format", "json"]) == 0
    listed = {h["host"]: h for h in json.loads(capsys.readouterr().out)}
    assert listed["rpm1"]["warnings"] == [rpm_kept(2, "2026-11-29")] and listed["rpm1"]["packages"] == 4

    # the same package list the next night, rpm still failing: read again (not keyed), the rows kept again
    pipeline.store_spool(linux_spool(env, "r3", "2026-12-01T01:00:00Z", {"rpm1": None}), store=str(env / "db.json"))
    rpm1 = fleet(env)["rpm1"]
    assert (rpm1.inventory_scan_id, len(rpm1.installations)) == ("r3", 4)
    assert rpm1.warnings == (rpm_kept(2, "2026-11-29"),)  # the day they were read, not the last run's
    # rpm read again, one package removed meanwhile: stored as read
    pipeline.store_spool(linux_spool(env, "r4", "2026-12-02T01:00:00Z", {"rpm1": RPMS[:1]}), store=str(env / "db.json"))
    rpm1 = fleet(env)["rpm1"]
    assert (rpm1.inventory_scan_id, len(rpm1.installations), rpm1.warnings) == ("r4", 3, ())
    assert diff(env, capsys)["summary"]["installs_removed"] == 1


def test_a_first_scan_with_a_failed_source_is_stored_as_read_with_a_warning(env):
    scan, problems = pipeline.store_spool(linux_spool(env, "r1", "2026-11-29T01:00:00Z", {"new1": None}),
                                          store=str(env / "db.json"))[:2]
    new1 = fleet(env)["new1"]
    assert (new1.status, new1.inventory_scan_id) == (HostStatus.OK, "r1")
    assert sorted(i.name for i in new1.installations) == ["bash", "curl"]
    warning = f"package source rpm failed: {RPM_FAILED}; no earlier inventory to keep its packages from"
    assert new1.warnings == (warning,) and new1.source_digest is None
    assert [(p.message, p.severity) for p in problems] == [(warning, "warning")]


def test_the_parallel_ingest_keeps_a_failed_source_as_the_serial_one_does(tmp_path, monkeypatch):
    db = str(tmp_path / "db.json")
    pipeline.store_spool(linux_spool(tmp_path / "a", "r1", "2026-11-29T01:00:00Z", {"rpm1": RPMS, "rpm2": RPMS}),
                         store=db)
    spool = linux_spool(tmp_path / "b", "r2", "2026-11-30T01:00:00Z", {"rpm1": None, "rpm2": RPMS, "new1": None})
    scan, problems = read_serially_and_by_workers(db, spool, monkeypatch)
    hosts = {h.inventory_name: h for h in scan.hosts}
    assert (len(hosts["rpm1"].installations), hosts["rpm1"].warnings) == (4, (rpm_kept(2, "2026-11-29"),))
    assert (len(hosts["rpm2"].installations), hosts["rpm2"].warnings) == (4, ())
    assert len(hosts["new1"].installations) == 2 and "no earlier inventory" in hosts["new1"].warnings[0]
