"""The run line of a run that met a retired host: a run in which the retired web1 was unreachable
keeps no stale inventory for it, and says so in the same terms as the fleet line (and the run's
``stale_kept`` in ``as_dict``); retiring web1 a second time records nothing. Runs are written as the
collector callback writes them and ingested by the pipeline (as in ``test_fleet.py``), on each store backend.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from fleet_spools import BASH, module_result
from sam_engine import pipeline
from sam_engine.cli.main import main
from sam_engine.store import open_store


def stamp(days: float) -> str:
    """An ISO UTC time ``days`` from now (negative: before now, when the retirements are made)."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_spool(root: Path, scan_id: str, when: str, hosts: dict) -> Path:
    """``hosts``: inventory name -> True for a host that answered (bash installed), None if unreachable."""
    spool = root / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": when, "finished": when,
                                                "playbook": "scan.yml"}))
    for name, answered in hosts.items():
        doc = {"inventory_name": name, "status": "unreachable", "result": None, "error": "ssh: Connection refused",
               "collected_at": when, "groups": []}
        if answered:
            doc.update(status="ok", result=module_result(name, (BASH,), when), error=None)
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(doc))
    return spool


@pytest.fixture
def env(tmp_path, monkeypatch, store_location):
    """A scratch directory and an empty store (a TinyDB file, then a PostgreSQL database)."""
    monkeypatch.chdir(tmp_path)
    for name in ("FLEETSAM_POLICY", "FLEETSAM_NOTIFY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path, store_location


def ingest(env, scan_id: str, when: str, hosts: dict) -> pipeline.RunSummary:
    root, store = env
    return pipeline.process_spool(write_spool(root, scan_id, when, hosts), store=store,
                                  report_dir=root / "reports", installations=False)


def retire(env, capsys, *names: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--store", env[1], "hosts", "retire", *names, "--reason", "decommissioned"])
    return code, capsys.readouterr().out


def state(env) -> tuple[list, list[str]]:
    """The store's retirements and the fleet's hosts."""
    with open_store(env[1], readonly=True) as st:
        return st.retirements(), sorted(h.inventory_name for h in st.load_scan().hosts)


def run_line(summary: pipeline.RunSummary) -> str:
    (line,) = [x for x in summary.lines() if x.startswith("scan ")]
    return line


def fleet_line(summary: pipeline.RunSummary) -> str:
    (line,) = [x for x in summary.lines() if x.startswith("fleet: ")]
    return line


def test_a_retired_host_met_unreachable_is_no_stale_inventory_kept(env, capsys):
    ingest(env, "r1", stamp(-3), {"web1": True, "web2": True, "web3": True})
    assert retire(env, capsys, "web1")[0] == 0
    summary = ingest(env, "r2", stamp(-1), {"web1": None, "web2": None, "web3": True})
    line, fleet = run_line(summary), fleet_line(summary)
    assert "hosts ok=1 unreachable=2 failed=0" in line
    # web2 (still in the fleet) keeps its stale inventory; web1 is retired: not counted, and said so
    assert "(stale inventories kept: 1; not counted: 1 retired or aged-out)" in line, line
    assert fleet == "fleet: 2 hosts, 1 inventoried on their last run, 1 stale"
    assert summary.as_dict()["fleet"]["stale"] == 1


def test_with_only_the_retired_host_unreachable_both_lines_say_none(env, capsys):
    ingest(env, "r1", stamp(-3), {"web1": True, "web2": True})
    assert retire(env, capsys, "web1")[0] == 0
    summary = ingest(env, "r2", stamp(-1), {"web1": None, "web2": True})
    kept = re.search(r"stale inventories kept: (\d+)", run_line(summary)).group(1)
    stale = re.search(r"(\d+) stale$", fleet_line(summary)).group(1)
    assert (kept, stale) == ("0", "0"), summary.lines()


def test_an_unreachable_host_in_the_fleet_is_counted_as_before(env):
    ingest(env, "r1", stamp(-3), {"web1": True, "web2": True})
    summary = ingest(env, "r2", stamp(-1), {"web1": None, "web2": True})
    assert "(stale inventories kept: 1); packages found=" in run_line(summary)
    assert fleet_line(summary).endswith(", 1 stale")


def test_the_run_events_stale_kept_counts_only_hosts_still_in_the_fleet(env, capsys):
    ingest(env, "r1", stamp(-3), {"web1": True, "web2": True, "web3": True})
    assert retire(env, capsys, "web1")[0] == 0
    summary = ingest(env, "r2", stamp(-1), {"web1": None, "web2": None, "web3": True})
    run = summary.as_dict()["run"]
    assert run["stale_kept"] == 1, run  # web2; web1 is retired, out of the fleet
    assert f"(stale inventories kept: {run['stale_kept']}; not counted: 1 " in run_line(summary)


def test_retiring_a_retired_host_again_says_since_when_and_records_nothing(env, capsys):
    ingest(env, "r1", stamp(-3), {"web1": True, "web2": True})
    code, out = retire(env, capsys, "web1")
    assert code == 0 and out.startswith("retired web1 ("), out
    before = state(env)
    (first,) = before[0]
    code, out = retire(env, capsys, "web1")
    assert code == 0
    assert out == f"web1: already retired on {first.at[:10]} ({first.key}); nothing recorded\n"
    assert state(env) == before == ([first], ["web2"])
    code, out = retire(env, capsys, "web1", "web2")  # one retired already, one not
    assert code == 0 and out.splitlines()[0].startswith("web1: already retired on ")
    assert out.splitlines()[1].startswith("retired web2 (")
    assert len(state(env)[0]) == 2
