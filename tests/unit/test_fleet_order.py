"""The fleet is the same whatever order its runs were ingested in, on both backends.

AWX slices commit in any order and a spool may be ingested days later: each
host's inventory is its newest genuine one (ranked by when it was collected),
its status that of its newest run. Every test ingests the same spools (written
as the collector callback writes them) in every order into a fresh store of
each backend and compares the fleets, now and ``--as-of`` each day.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from fleet_spools import BASH, TEAMVIEWER, module_result
from sam_engine.cli.main import main
from sam_engine.ingest import host_scans
from sam_engine.ingest import spool as ingest
from sam_engine.store import open_store
from sam_engine.store.fleet import RunRef, fleet_docs


def write(root: Path, scan_id: str, finished: str, hosts: dict, collected: str | None = None,
          started: str | None = None) -> Path:
    """A run's spool; ``hosts``: name -> (packages, machine-id) for a host reached, None if unreachable."""
    spool = root / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": started or finished,
                                                "finished": finished, "playbook": "scan.yml"}))
    for name, entry in hosts.items():
        doc = {"inventory_name": name, "status": "unreachable", "result": None, "error": "ssh: refused",
               "collected_at": collected or finished, "groups": []}
        if entry is not None:
            result = module_result(name, entry[0], collected or finished)
            result["host"]["machine_id"] = entry[1] if len(entry) > 1 else f"mid-{name}"
            doc.update(status="ok", result=result, error=None)
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(doc))
    return spool


@pytest.fixture(params=["tinydb", "postgresql"])
def new_store(request, tmp_path, monkeypatch):
    """A factory of fresh, empty stores of one backend (one per ingest order)."""
    made = iter(range(1000))
    if request.param == "tinydb":
        return lambda: str(tmp_path / f"store{next(made)}.json")
    from pg_server import PASSWORD
    from sam_engine.store.postgres_store import apply_migrations

    server = request.getfixturevalue("pg_server")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)

    def fresh() -> str:
        url = server.url(server.create_db())
        apply_migrations(url, init=True)
        return url
    return fresh


def ingest_all(location: str, spools) -> None:
    """Each spool as the pipeline's ingest and store stages take it, in the order given."""
    for spool in spools:
        run, _ = ingest.read_spool(spool)
        with open_store(location) as st:
            scan, _ = host_scans.build_scan(run, st.last_inventory, last_source=st.last_source)
            st.save_scan(scan)


def view(location: str, **kw) -> dict:
    """The fleet as comparable text: name -> (status, inventory run, collected, packages)."""
    with open_store(location, readonly=True) as st:
        fleet = st.load_scan(**kw)
    return {h.inventory_name: (h.status.value, h.inventory_scan_id, h.collected_at,
                               tuple(sorted(i.name for i in h.installations))) for h in fleet.hosts}


def every_order(new_store, spools, days=()) -> dict:
    """The fleet now and as of each of ``days`` after ingesting ``spools`` in each order; asserts they agree."""
    seen = {}
    for order in itertools.permutations(spools):
        location = new_store()
        ingest_all(location, order)
        seen[tuple(s.name for s in order)] = [view(location)] + [view(location, as_of=d) for d in days]
    first = next(iter(seen.values()))
    for order, got in seen.items():
        assert got == first, f"ingested in the order {order}"
    return dict(zip(("now", *days), first))


def test_a_late_ingested_runs_inventory_is_not_lost_to_an_older_copy(tmp_path, new_store):
    spools = [write(tmp_path, "A", "2026-12-01T01:00:00Z", {"web1": ((BASH,),)}),
              write(tmp_path, "B", "2026-12-02T01:00:00Z", {"web1": ((BASH, TEAMVIEWER),)}),
              write(tmp_path, "C", "2026-12-03T01:00:00Z", {"web1": None, "web2": ((BASH,),)})]
    d1, d2 = dt.date(2026, 12, 1), dt.date(2026, 12, 2)
    got = every_order(new_store, spools, (d1, d2))
    assert got["now"]["web1"] == ("unreachable", "B", "2026-12-02T01:00:00Z", ("bash", "teamviewer"))
    assert got["now"]["web2"][:2] == ("ok", "C")
    assert got[d1] == {"web1": ("ok", "A", "2026-12-01T01:00:00Z", ("bash",))}
    assert got[d2] == {"web1": ("ok", "B", "2026-12-02T01:00:00Z", ("bash", "teamviewer"))}


def test_as_of_a_day_never_brings_in_an_inventory_collected_after_it(tmp_path, new_store):
    spools = [write(tmp_path, "A", "2026-12-01T01:00:00Z", {"web1": ((BASH,),)}),
              write(tmp_path, "B", "2026-12-02T01:00:00Z", {"web1": None}),
              write(tmp_path, "C", "2026-12-03T01:00:00Z", {"web1": ((BASH, TEAMVIEWER),)})]
    d2 = dt.date(2026, 12, 2)
    got = every_order(new_store, spools, (d2,))
    assert got[d2] == {"web1": ("unreachable", "A", "2026-12-01T01:00:00Z", ("bash",))}
    assert got["now"] == {"web1": ("ok", "C", "2026-12-03T01:00:00Z", ("bash", "teamviewer"))}


def test_overlapping_runs_keep_the_inventory_collected_last(tmp_path, new_store):
    """A long run X collected web1 at 00:10 and ended at 05:00; a --limit run Y collected it at 01:10."""
    spools = [write(tmp_path, "X", "2026-12-01T05:00:00Z", {"web1": ((BASH,),)}, collected="2026-12-01T00:10:00Z",
                    started="2026-12-01T00:00:00Z"),
              write(tmp_path, "Y", "2026-12-01T01:30:00Z", {"web1": ((BASH, TEAMVIEWER),)},
                    collected="2026-12-01T01:10:00Z", started="2026-12-01T01:00:00Z")]
    got = every_order(new_store, spools)
    assert got["now"] == {"web1": ("ok", "Y", "2026-12-01T01:10:00Z", ("bash", "teamviewer"))}


def test_a_renamed_machine_keeps_its_new_name_when_the_old_one_is_unreachable(tmp_path, new_store):
    spools = [write(tmp_path, "A", "2026-12-02T01:00:00Z", {"web1": ((BASH,), "mid-web1")}),
              write(tmp_path, "B", "2026-12-03T01:00:00Z", {"web1b": ((BASH, TEAMVIEWER), "mid-web1")}),
              write(tmp_path, "C", "2026-12-04T01:00:00Z", {"web1": None})]
    got = every_order(new_store, spools, (dt.date(2026, 12, 2),))
    assert got["now"] == {"web1b": ("ok", "B", "2026-12-03T01:00:00Z", ("bash", "teamviewer"))}
    assert got[dt.date(2026, 12, 2)] == {"web1": ("ok", "A", "2026-12-02T01:00:00Z", ("bash",))}


def doc(scan_id, name, status, inventory_scan_id, collected_at, digest, machine="m-1"):
    """A stored host document as ``interface.host_scan_doc`` writes it (only what the fleet reads)."""
    return {"scan_id": scan_id, "inventory_name": name, "status": status, "inventory_scan_id": inventory_scan_id,
            "collected_at": collected_at, "inventory_digest": digest, "error": None, "groups": [],
            "host": {"host_id": f"machine-id:{machine}"} if digest else None}


def test_fleet_docs_ignores_what_a_stale_record_carried_whatever_the_documents_order():
    """C (web1 unreachable) stored before B: it carried A's inventory, or (as of a day before C) one collected
    after that day; neither outranks a genuine inventory, nor comes in from a run not counted."""
    runs = [RunRef("A", "2026-12-01T01:00:00Z"), RunRef("B", "2026-12-02T01:00:00Z"), RunRef("C", "2026-12-03T01:00:00Z")]
    a = doc("A", "web1", "ok", "A", "2026-12-01T01:00:00Z", "dA")
    b = doc("B", "web1", "ok", "B", "2026-12-02T01:00:00Z", "dB")
    for carried in (("A", "2026-12-01T01:00:00Z", "dA"), ("B", "2026-12-02T01:00:00Z", "dB"), (None, None, None)):
        c = doc("C", "web1", "unreachable", *carried)
        for docs in itertools.permutations([a, b, c]):
            (got,) = fleet_docs(runs, docs)
            assert (got["scan_id"], got["status"], got["inventory_scan_id"], got["inventory_digest"],
                    got["collected_at"]) == ("C", "unreachable", "B", "dB", "2026-12-02T01:00:00Z")
    # as of 12-01 the fleet has A only; B's genuine inventory carried by a stale record of A's day is left out
    early = doc("A", "web1", "unreachable", "B", "2026-12-02T01:00:00Z", "dB")
    (got,) = fleet_docs(runs[:1], [early, b])
    assert (got["status"], got["inventory_digest"], got["collected_at"]) == ("unreachable", None, None)


def test_hosts_and_check_after_a_late_ingest_show_the_late_runs_inventory(tmp_path, capsys):
    """The reviewer's case through ``fleetsam ingest``: A, C, then B (TeamViewer unlicensed on web1)."""
    store = str(tmp_path / "db.json")
    spools = {"A": write(tmp_path, "A", "2026-12-01T01:00:00Z", {"web1": ((BASH,),)}),
              "B": write(tmp_path, "B", "2026-12-02T01:00:00Z", {"web1": ((BASH, TEAMVIEWER),)}),
              "C": write(tmp_path, "C", "2026-12-03T01:00:00Z", {"web1": None, "web2": ((BASH,),)})}
    for scan_id in "ACB":
        assert main(["--store", store, "ingest", str(spools[scan_id]), "--report-dir", str(tmp_path / "r"),
                     "--no-installations-csv"]) in (0, 1)
    capsys.readouterr()
    assert main(["--store", store, "hosts", "--format", "json", "--as-of", "2026-12-04"]) == 0
    rows = {r["host"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["web1"]["status"], rows["web1"]["packages"], rows["web1"]["last_seen"]) == \
           ("unreachable (stale)", 2, "2026-12-02T01:00:00Z")
    assert main(["--store", store, "check", "--as-of", "2026-12-04"]) == 1, "TeamViewer on web1 is unlicensed"
