"""The fleet across partial, repeated and retired runs, on a real TinyDB store file.

Each run is written as the collector callback writes it (``fleet_spools``) and
ingested by the pipeline; the fleet is read back the way the commands read it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


from fleet_spools import BASH, TEAMVIEWER, module_result
from sam_engine import pipeline
from sam_engine.cli.main import main
from sam_engine.model import HostStatus
from sam_engine.store import interface, open_store
from sam_engine.store.fleet import Retirement, holds_out

CURL = ("curl", "7.88.1-10", "Debian")


def facts(machine_id=None, board=None, serial=None):
    """Raw host facts as the collector sends them: a machine-id and DMI board identity."""
    dmi = {k: v for k, v in (("product_uuid", board), ("product_serial", serial)) if v}
    return {"machine_id": machine_id, "dmi": dmi}


def write_spool(root: Path, scan_id: str, when: str, hosts: dict, scope=None, group=None) -> Path:
    """``hosts``: inventory name -> (packages, facts) for a host that answered, None if unreachable."""
    spool = root / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    meta = {"scan_id": scan_id, "started": when, "finished": when, "playbook": "scan.yml"}
    if scope is not None:
        meta["scope"] = scope
    if group is not None:
        meta["group"] = group
    (spool / "run.json").write_text(json.dumps(meta))
    for name, entry in hosts.items():
        doc = {"inventory_name": name, "status": "unreachable", "result": None, "error": "ssh: Connection refused",
               "collected_at": when, "groups": []}
        if entry is not None:
            packages, raw = entry
            result = module_result(name, packages, when)
            result["host"].update({k: v for k, v in raw.items() if v is not None})
            doc.update(status="ok", result=result, error=None)
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(doc))
    return spool


def ingest(root: Path, scan_id: str, when: str, hosts: dict, **kw) -> None:
    pipeline.process_spool(write_spool(root, scan_id, when, hosts, **kw), store=str(root / "db.json"),
                           report_dir=root / "reports", installations=False)


def fleet(root: Path, **kw):
    with open_store(str(root / "db.json"), readonly=True) as st:
        return st.load_scan(**kw)


def by_name(scan) -> dict:
    return {h.inventory_name: h for h in scan.hosts}


def host(name, *packages, **raw):
    return (packages or (BASH,)), facts(raw.get("machine_id", f"mid-{name}"), raw.get("board"), raw.get("serial"))


def test_partial_runs_add_up_and_an_unreachable_host_stays_stale(env):
    ingest(env, "a1", "2026-06-01T01:00:00Z", {"a1": host("a1"), "a2": host("a2", BASH, CURL)})
    ingest(env, "b1", "2026-06-02T01:00:00Z", {"b1": host("b1")})
    ingest(env, "a2", "2026-06-03T01:00:00Z", {"a1": host("a1", BASH, CURL), "a2": None})
    hosts = by_name(fleet(env))
    assert sorted(hosts) == ["a1", "a2", "b1"], "a run that did not target b1 leaves it in the fleet"
    assert (hosts["a1"].status, hosts["a1"].inventory_scan_id, len(hosts["a1"].installations)) == \
           (HostStatus.OK, "a2", 2)
    assert hosts["a2"].status is HostStatus.UNREACHABLE and hosts["a2"].stale
    assert (hosts["a2"].inventory_scan_id, hosts["a2"].collected_at) == ("a1", "2026-06-01T01:00:00Z")
    assert {i.name for i in hosts["a2"].installations} == {"bash", "curl"}, "the last inventory is kept"
    assert (hosts["b1"].status, hosts["b1"].scan_id, hosts["b1"].collected_at) == \
           (HostStatus.OK, "b1", "2026-06-02T01:00:00Z"), "out of scope: untouched"
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert [h.inventory_name for h in st.load_run("b1").hosts] == ["b1"], "a run keeps only its own hosts"


def test_a_run_ingested_after_a_later_one_does_not_roll_hosts_back(env, capsys):
    """A spool kept after a failed run and ingested after the next nightly run: the fleet, the
    history and diff follow when runs finished, not the order they were stored in."""
    ingest(env, "late", "2026-06-02T01:00:00+00:00", {"web1": None, "web2": host("web2", BASH, CURL)})
    ingest(env, "early", "2026-06-01T01:00:00Z", {"web1": host("web1"), "web2": host("web2")})
    hosts = by_name(fleet(env))
    assert hosts["web1"].status is HostStatus.UNREACHABLE and hosts["web1"].scan_id == "late"
    assert hosts["web1"].inventory_scan_id == "early", "its inventory: the one run that reached it"
    assert (hosts["web2"].scan_id, len(hosts["web2"].installations)) == ("late", 2)
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert [i.scan_id for i in st.scans()] == ["early", "late"]
        assert {h.inventory_name: h.scan_id for h in st.load_scan("early").hosts} == {"web1": "early",
                                                                                    "web2": "early"}
    capsys.readouterr()
    assert main(["--store", str(env / "db.json"), "diff"]) == 0
    assert capsys.readouterr().out.startswith("Changes from scan early to late")


def test_a_host_in_scope_without_a_result_is_failed_and_keeps_its_inventory(env):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"a1": host("a1", BASH, CURL), "a2": host("a2")})
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"a2": host("a2")}, scope=["a1", "a2"])
    a1 = by_name(fleet(env))["a1"]
    assert (a1.status, a1.scan_id, a1.inventory_scan_id) == (HostStatus.FAILED, "r2", "r1")
    assert "no collector result" in a1.error and len(a1.installations) == 2
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert st.scans()[-1].scope == ("a1", "a2")


def test_one_machine_under_two_inventory_names_is_one_host(env):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"10.0.0.5": host("x", BASH, machine_id="m-1", board="u-1")})
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"web1.example": host("x", BASH, CURL, machine_id="m-1",
                                                                        board="u-1")})
    (only,) = fleet(env).hosts
    assert (only.inventory_name, only.host_id, len(only.installations)) == ("web1.example", "machine-id:m-1", 2)
    # the old name unreachable later: a name the machine no longer carries changes neither its name nor its status
    ingest(env, "r3", "2026-06-03T01:00:00Z", {"10.0.0.5": None})
    (only,) = fleet(env).hosts
    assert (only.inventory_name, only.status, only.inventory_scan_id, len(only.installations)) == \
           ("web1.example", HostStatus.OK, "r2", 2)
    # its newest name unreachable: stale, with that inventory
    ingest(env, "r4", "2026-06-04T01:00:00Z", {"web1.example": None})
    (only,) = fleet(env).hosts
    assert only.stale and (only.scan_id, only.inventory_scan_id, len(only.installations)) == ("r4", "r2", 2)


def test_images_cloned_with_one_machine_id_are_two_hosts(env):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"c1": host("c1", machine_id="m-same", board="u-1"),
                                               "c2": host("c2", machine_id="m-same", board="u-2")})
    hosts = by_name(fleet(env))
    assert sorted(hosts) == ["c1", "c2"]
    # without DMI access (no board id) the machine-id alone decides: one machine, as before
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"d1": host("d1", machine_id="m-other"),
                                               "d2": host("d2", machine_id="m-other")})
    assert sorted(by_name(fleet(env))) == ["c1", "c2", "d2"]


def test_ten_unchanged_daily_runs_add_only_their_run_records(env):
    hosts = {f"h{n}": host(f"h{n}", BASH, CURL, TEAMVIEWER) for n in range(20)}
    ingest(env, "d00", "2026-06-01T01:00:00Z", hosts)
    store = env / "db.json"
    first = store.stat().st_size
    sizes = []
    for day in range(1, 11):
        ingest(env, f"d{day:02}", f"2026-06-{day + 1:02}T01:00:00Z", hosts)
        sizes.append(store.stat().st_size)
    doc = json.loads(store.read_text())
    assert len(doc["inventories"]) == 1 and len(doc["snapshots"]) == 1, "twenty equal inventories: one stored"
    growth = [b - a for a, b in zip([first, *sizes], sizes)]
    per_run = len(json.dumps(list(doc["host_scans"].values())[-20:])) + len(json.dumps(doc["scans"]["11"]))
    assert max(growth) - min(growth) < 200, f"every unchanged run adds the same: {growth}"
    assert max(growth) < per_run + 2000, f"a run adds its run and host records, findings state: {growth}"
    # one host changes: one new inventory
    ingest(env, "d11", "2026-06-12T01:00:00Z", {**hosts, "h0": host("h0", BASH)})
    assert len(json.loads(store.read_text())["inventories"]) == 2


LICENCES = """\
entitlements:
  - publisher: TeamViewer
    product: TeamViewer
    metric: device
    quantity: 5
    term_end: 2026-06-12
"""


def position(env, capsys, as_of) -> dict:
    capsys.readouterr()
    assert main(["--store", str(env / "db.json"), "position", "--licences", str(env / "licences"), "--format",
                 "json", "--as-of", as_of]) == 0
    out = json.loads(capsys.readouterr().out)
    return {p["product"]: (p["installations"], p["consumption"], p["owned"], p["status"]) for p in out["products"]}


def test_position_as_of_each_date_of_a_three_run_history(env, capsys):
    (env / "licences").mkdir()
    (env / "licences" / "tv.yml").write_text(LICENCES)
    tv = (BASH, TEAMVIEWER)
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"h1": host("h1", *tv), "h2": host("h2", *tv)})
    ingest(env, "r2", "2026-06-10T01:00:00Z", {"h3": host("h3", *tv)})
    ingest(env, "r3", "2026-06-20T01:00:00Z", {"h1": host("h1", BASH), "h2": None})
    # hand-computed: 06-05 h1,h2 (5 owned); 06-15 + h3, licence ended 06-12;
    # 06-25 h1 without TeamViewer, h2 stale with it, h3 untouched with it
    assert position(env, capsys, "2026-06-05")["TeamViewer"] == (2, 2, 5, "over-licensed")
    assert position(env, capsys, "2026-06-15")["TeamViewer"] == (3, 3, 0, "unlicensed")
    assert position(env, capsys, "2026-06-25")["TeamViewer"] == (2, 2, 0, "unlicensed")
    assert main(["--store", str(env / "db.json"), "position", "--as-of", "2026-05-31"]) == 2, "nothing stored yet"


def test_retired_hosts_leave_the_position_and_stay_in_history(env, capsys):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"h1": host("h1"), "h2": host("h2")})
    capsys.readouterr()
    assert main(["--store", str(env / "db.json"), "hosts", "retire", "h2", "--reason", "decommissioned"]) == 0
    assert "retired h2 (machine-id:mid-h2)" in capsys.readouterr().out
    assert sorted(by_name(fleet(env))) == ["h1"]
    assert sorted(by_name(fleet(env, scan_id="r1"))) == ["h1", "h2"], "the fleet as it stood then"
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert [h.inventory_name for h in st.load_run("r1").hosts] == ["h1", "h2"]
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"h2": None})
    assert sorted(by_name(fleet(env))) == ["h1"], "unreachable after retirement: still retired"
    assert main(["--store", str(env / "db.json"), "hosts", "retire", "nope"]) == 2


def test_a_host_inventoried_after_its_retirement_comes_back_whatever_offset_its_times_carry(env, capsys):
    """Retired at 15:45Z, inventoried at 11:45-05:00 (16:45Z): the times were compared as written."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ingest(env, "r1", (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), {"h1": host("h1")})
    assert main(["--store", str(env / "db.json"), "hosts", "retire", "h1"]) == 0
    assert fleet(env).hosts == ()
    later = (now + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()
    ingest(env, "r2", later, {"h1": host("h1")})
    (back,) = fleet(env).hosts
    assert back.collected_at == (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # a store written before times were made UTC: its texts are compared as instants too
    doc = {"scan_id": "old", "collected_at": "2026-12-04T11:45:37-05:00"}
    assert not holds_out(Retirement("k", "2026-12-04T15:45:34Z"), doc, {})
    assert holds_out(Retirement("k", "2026-12-04T16:45:38Z"), doc, {})


def test_retire_days_ages_hosts_out_of_the_position(env, tmp_path):
    ingest(env, "r1", "2026-03-01T01:00:00Z", {"old": host("old")})
    ingest(env, "r2", "2026-06-01T01:00:00Z", {"new": host("new")})
    with open_store(str(env / "db.json"), readonly=True) as st:
        day = dt.date(2026, 6, 1)
        assert sorted(by_name(interface.load_fleet(st, "db.json", as_of=day, retire_days=90))) == ["new"]
        assert sorted(by_name(interface.load_fleet(st, "db.json", as_of=day, retire_days=0))) == ["new", "old"]
        assert sorted(by_name(interface.load_fleet(st, "db.json", as_of=day, retire_days=93))) == ["new", "old"]


def test_a_host_never_inventoried_ages_out_from_the_last_run_that_tried_it(env):
    """An unreachable host no run has reached leaves the fleet retire_days after the last run that tried it,
    as an inventoried host does after its last inventory; tried again recently, it stays."""
    ingest(env, "r1", "2026-01-05T01:00:00Z", {"gone": None, "web1": host("web1")})
    ingest(env, "r2", "2026-05-01T01:00:00Z", {"tried": None, "web2": host("web2")})
    with open_store(str(env / "db.json"), readonly=True) as st:
        fleet_then = interface.load_fleet(st, "db.json", as_of=dt.date(2026, 5, 2), retire_days=90)
        assert sorted(by_name(fleet_then)) == ["tried", "web2"]
        fleet_later = interface.load_fleet(st, "db.json", as_of=dt.date(2026, 8, 1), retire_days=90)
        assert sorted(by_name(fleet_later)) == []
        everyone = interface.load_fleet(st, "db.json", as_of=dt.date(2026, 8, 1), retire_days=0)
        assert sorted(by_name(everyone)) == ["gone", "tried", "web1", "web2"]


def test_an_inventory_without_its_time_ages_from_the_run_that_collected_it(env):
    """collected_at is optional in a host file: the inventory then ages from its own run's end, not from the
    later run that found the host unreachable and carried it."""
    spool = write_spool(env, "r1", "2026-01-05T01:00:00Z", {"h1": host("h1")})
    doc = json.loads((spool / "hosts" / "h1.json").read_text())
    del doc["collected_at"]
    (spool / "hosts" / "h1.json").write_text(json.dumps(doc))
    pipeline.process_spool(spool, store=str(env / "db.json"), report_dir=env / "reports", installations=False)
    ingest(env, "r2", "2026-06-01T01:00:00Z", {"h1": None})
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert by_name(interface.load_fleet(st, "db.json", as_of=dt.date(2026, 6, 2), retire_days=90)) == {}
        assert sorted(by_name(interface.load_fleet(st, "db.json", as_of=dt.date(2026, 3, 1), retire_days=90))) == ["h1"]


def test_a_date_after_today_ages_nothing_out_past_today(env, capsys):
    """A check on a day to come counts that day's licence terms against today's fleet: no host leaves it
    by age beyond today, so the check cannot pass on an empty fleet."""
    today = dt.date.today()
    when = f"{today.isoformat()}T00:00:00Z"
    ingest(env, "r1", when, {"web1": host("web1", BASH, TEAMVIEWER)})
    future = today + dt.timedelta(days=400)
    with open_store(str(env / "db.json"), readonly=True) as st:
        assert sorted(by_name(interface.load_fleet(st, "db.json", as_of=future, retire_days=90))) == ["web1"]
    capsys.readouterr()
    main(["--store", str(env / "db.json"), "hosts", "--as-of", future.isoformat()])
    assert "web1" in capsys.readouterr().out


def test_hosts_says_how_old_an_inventory_is_past_the_stale_threshold(env, capsys):
    ingest(env, "r1", "2026-05-20T01:00:00Z", {"old": host("old")})
    ingest(env, "r2", "2026-06-01T01:00:00Z", {"new": host("new"), "gone": None})
    capsys.readouterr()
    assert main(["--store", str(env / "db.json"), "hosts", "--as-of", "2026-06-01", "--format", "json"]) == 0
    rows = {r["host"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["old"]["status"] == "ok (stale: 12 d old)" and rows["old"]["age_days"] == 12  # out of r2's scope
    assert rows["new"]["status"] == "ok" and rows["new"]["age_days"] == 0 and not rows["new"]["stale"]
    assert rows["gone"]["status"] == "unreachable (stale: never inventoried)" and rows["gone"]["age_days"] is None
    assert rows["old"]["stale"] and rows["gone"]["stale"]
    (env / "p60.yml").write_text("thresholds:\n  stale_days: 60\n")  # the policy check and report would use
    assert main(["--store", str(env / "db.json"), "hosts", "--as-of", "2026-06-01", "--format", "json",
                 "--policy", str(env / "p60.yml")]) == 0
    assert {r["host"]: r["stale"] for r in json.loads(capsys.readouterr().out)}["old"] is False


def test_findings_of_hosts_out_of_scope_are_not_resolved(env):
    today = dt.date.today().isoformat()  # the run's position is today's: its hosts must not have aged out
    ingest(env, "r1", f"{today}T00:00:01Z", {"win": host("win", BASH, TEAMVIEWER), "mac": host("mac")})
    ingest(env, "r2", f"{today}T00:00:02Z", {"mac": host("mac")})
    with open_store(str(env / "db.json"), readonly=True) as st:
        states = st.finding_states()
    unlicensed = [d for d in states if d["type"] == "unlicensed"]
    assert unlicensed and all(d["resolved_at"] is None for d in unlicensed)


def test_a_format_2_store_opens_and_is_upgraded_on_the_first_write(env):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"h1": host("h1")})
    store = env / "db.json"
    doc = json.loads(store.read_text())
    doc["meta"]["1"]["version"] = 2
    for scan in doc["scans"].values():  # format 2 had neither scope nor group
        scan.pop("scope", None), scan.pop("group", None)
    doc.pop("retired", None)
    store.write_text(json.dumps(doc))
    before = store.read_bytes()
    assert [h.inventory_name for h in fleet(env).hosts] == ["h1"]
    assert store.read_bytes() == before, "a reader does not upgrade"
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"h2": host("h2")})
    assert json.loads(store.read_text())["meta"]["1"]["version"] == 3
    assert sorted(by_name(fleet(env))) == ["h1", "h2"]


def test_concurrent_writers_all_land_and_readers_always_answer(env):
    """Four real ``fleetsam ingest`` processes into one store at once, ``fleetsam scans`` and
    ``fleetsam hosts`` in a loop meanwhile: every run commits, every read answers."""
    import os
    import subprocess
    import sys
    import time

    today = dt.date.today().isoformat()
    spools = [write_spool(env, f"w{k}", f"{today}T00:00:0{k}Z",
                          {f"w{k}-{n}": host(f"w{k}-{n}", BASH, CURL) for n in range(30)}) for k in range(4)]
    store = str(env / "db.json")
    cli = [sys.executable, "-m", "sam_engine.cli.main", "--store", store]
    run_env = {**os.environ, "FLEETSAM_LOCK_TIMEOUT": "120"}
    writers = [subprocess.Popen([*cli, "ingest", str(s), "--report-dir", str(env / f"rep{k}"),
                                 "--no-installations-csv"], env=run_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for k, s in enumerate(spools)]
    reads, seen = 0, set()
    while any(w.poll() is None for w in writers) or reads < 2:
        if not os.path.exists(store):
            time.sleep(0.05)
            continue
        got = subprocess.run([*cli, "scans", "--format", "json"], env=run_env, capture_output=True, text=True)
        assert got.returncode == 0, f"a reader failed during the writes: {got.stderr}"
        seen.add(len(json.loads(got.stdout)))
        reads += 1
    for w in writers:
        out, err = w.communicate()
        assert w.returncode == 0, f"a writer failed: {err}"
    assert reads >= 2
    hosts = fleet(env).hosts
    assert len(hosts) == 120 and {h.scan_id for h in hosts} == {"w0", "w1", "w2", "w3"}
    with open_store(store, readonly=True) as st:
        assert sorted(i.scan_id for i in st.scans()) == ["w0", "w1", "w2", "w3"]


def test_a_name_of_two_hosts_is_retired_only_by_host_id(env, capsys):
    ingest(env, "r1", "2026-06-01T01:00:00Z", {"web1": host("web1", machine_id="m-old")})
    ingest(env, "r2", "2026-06-02T01:00:00Z", {"web1": host("web1", machine_id="m-new")})  # reinstalled
    assert main(["--store", str(env / "db.json"), "hosts", "retire", "web1"]) == 2
    assert "names 2 hosts (machine-id:m-new, machine-id:m-old)" in capsys.readouterr().err
    assert main(["--store", str(env / "db.json"), "hosts", "retire", "machine-id:m-old"]) == 0
    (only,) = fleet(env).hosts
    assert only.host_id == "machine-id:m-new"


def _stale_views(root: Path, capsys, *as_of: str) -> tuple[dict, dict, str]:
    """(report.json written again, fleetsam hosts rows, fleetsam check's output) of the store, on ``as_of``."""
    store, policy = str(root / "db.json"), str(Path(__file__).resolve().parents[2] / "examples" / "policy.yml")
    assert main(["--store", store, "report", *as_of, "--policy", policy, "--report-dir", str(root / "again"),
                 "--no-installations-csv"]) == 0
    capsys.readouterr()
    assert main(["--store", store, "hosts", *as_of, "--format", "json"]) == 0
    rows = {r["host"]: r for r in json.loads(capsys.readouterr().out)}
    assert main(["--store", store, "check", *as_of, "--policy", policy]) == 0  # stale-host is not in fail_on
    said = capsys.readouterr().out
    return json.loads((root / "again" / "report.json").read_text(encoding="utf-8")), rows, said


def test_the_tile_hosts_findings_and_check_agree_on_a_fleet_inventoried_14_days_ago(workdir, capsys):
    """One definition of stale (``sam_engine.staleness``): a fleet whose one scan is 14 days old is stale
    in the report's tile and host data, in fleetsam hosts, in the findings and in check's warning."""
    today = dt.date.today()
    then = today - dt.timedelta(days=14)
    summary = pipeline.process_spool(write_spool(workdir, "r1", f"{then}T01:00:00Z",
                                                 {f"web{n}": host(f"web{n}") for n in range(3)}),
                                     store=str(workdir / "db.json"), report_dir=workdir / "reports", installations=False)
    assert "fleet: 3 hosts, 3 inventoried on their last run, 3 stale" in summary.lines()
    assert summary.as_dict()["fleet"]["stale"] == 3
    model, rows, said = _stale_views(workdir, capsys)
    tile = {t["id"]: t for t in model["tiles"]}["stale"]
    why = f"3 last inventoried 7 days or more before {today}"
    assert (tile["value"], tile["tone"], tile["detail"]) == ("3", "warn", why)
    assert model["summary"]["hosts_stale"] == model["summary"]["hosts_out_of_date"] == 3
    assert [(h["stale"], h["age_days"]) for h in model["hosts"]] == [(True, 14)] * 3
    stale = sorted(f["title"] for f in model["findings"] if f["type"] == "stale-host" and f["state"] != "resolved")
    assert stale == [f"web{n}: not seen for 14 days" for n in range(3)]
    assert {r["status"] for r in rows.values()} == {"ok (stale: 14 d old)"} and all(r["stale"] for r in rows.values())
    note = (f"every host of the fleet (3) is stale ({why}), the newest inventory on {then}; the findings judged their "
            "last inventories: run a scan")
    assert f"fleetsam check: warning: {note}\n" in said and model["warnings"] == [note]
    assert all(f"web{n}: not seen for 14 days" in said for n in range(3))


def test_a_date_to_come_ages_inventories_to_today_in_every_text(workdir, capsys):
    """--as-of a day to come counts its licence terms against today's fleet: no text says an inventory is
    older than it is today (load_fleet ages the fleet on today)."""
    today = dt.date.today()
    then = today - dt.timedelta(days=14)
    ingest(workdir, "r1", f"{then}T01:00:00Z", {"web0": host("web0"), "web1": host("web1")})
    ingest(workdir, "r2", f"{today}T00:00:01Z", {"web0": None, "web1": host("web1")})
    future = (today + dt.timedelta(days=1138)).isoformat()
    model, rows, said = _stale_views(workdir, capsys, "--as-of", future)
    why = f"1 not reached when last targeted (last inventory kept), 1 last inventoried 7 days or more before {today}"
    tile = {t["id"]: t for t in model["tiles"]}["stale"]
    assert (tile["value"], tile["detail"]) == ("1", why)
    assert {h["inventory_name"]: (h["stale"], h["age_days"]) for h in model["hosts"]} == {
        "web0": (True, 14), "web1": (False, 0)}
    (finding,) = [f for f in model["findings"] if f["type"] == "stale-host" and f["state"] != "resolved"]
    assert finding["title"] == "web0: not seen for 14 days" and "web0: not seen for 14 days" in said
    assert "1138" not in said and "1152" not in json.dumps(model)
    assert (rows["web0"]["status"], rows["web0"]["age_days"]) == ("unreachable (stale: 14 d old)", 14)
    assert (rows["web1"]["status"], rows["web1"]["stale"]) == ("ok", False)
    assert "every host" not in said and model["warnings"] == []
