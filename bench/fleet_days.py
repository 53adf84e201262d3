"""Figure 6: the fleet over ten daily scans, with 1 % of the hosts changing each day.

Day 0 stores the synthetic fleet of ``engine.py`` (``fleetgen.py``); each of the
next ``--days`` runs sees the same hosts (their spool files linked, not copied),
except ``--churn`` of the Linux hosts, which gain one package that day. Every
run goes through ``pipeline.store_spool`` (ingest, normalise, store, commit).
During each day's write a separate process reads the store in a loop
(``open_store(readonly=True).scans()``), as ``fleetsam scans`` does.

Figures (10,000 hosts; QUICK: 200)::

    fleet_day_bytes   store bytes added per day / (run record + the churned hosts' new inventories), median of the days   target 1.1
    fleet_day_write   store + commit seconds per day / day 0's, median of the days                      target 1.25
    fleet_reader      slowest read during a run / the shortest run (what a reader behind a lock waits)   target 0.5

A store that keeps what changed adds, per day, the run's own record (one line
per host it covered) and one new inventory per changed host; the store's whole
file is rewritten on commit (TinyDB), so a day's write costs about day 0's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import emit, emit_rounds, note, quick, work_dir  # noqa: E402
from engine import ensure_fleet  # noqa: E402

READER = """
import json, sys, time
from pathlib import Path
from sam_engine.store import open_store
store, stop, out = sys.argv[1:4]
lat = []
while not Path(stop).exists():
    t0 = time.perf_counter()
    with open_store(store, readonly=True) as st:
        st.scans()
    lat.append(time.perf_counter() - t0)
    time.sleep(0.5)  # a reader polling, not a second writer's worth of CPU
Path(out).write_text(json.dumps(lat))
"""


def day_spool(base: Path, root: Path, day: int, churn: float, seed: int = 11) -> tuple[Path, list[str]]:
    """The fleet of ``base`` on ``day``: every host file linked, ``churn`` of the Linux hosts changed."""
    spool = root / f"day{day:02}"
    (spool / "hosts").mkdir(parents=True)
    meta = json.loads((base / "run.json").read_text())
    when = f"2026-01-{day + 1:02}T02:00:00Z"
    meta.update(scan_id=f"day{day:02}", started=when, finished=when)
    (spool / "run.json").write_text(json.dumps(meta))
    files = sorted((base / "hosts").iterdir())
    linux = [k for k, path in enumerate(files) if path.name.startswith("lin")]  # fleetgen.host_name
    changed = set(random.Random(seed + day).sample(linux, max(1, round(len(files) * churn)))) if day else set()
    names = []
    for k, path in enumerate(files):
        target = spool / "hosts" / path.name
        doc = json.loads(path.read_text()) if k in changed else None
        if doc is None or doc["status"] != "ok":
            target.symlink_to(path.resolve())
            continue
        doc["collected_at"] = when
        doc.pop("bulk", None)  # rewritten whole: the bulk header no longer describes the file's end
        doc["result"]["software"].append({"source": "dpkg", "name": f"bench-churn-day{day}", "version": "1.0",
                                          "arch": "amd64", "vendor": "bench", "install_time": 1767225600 + day,
                                          "package_id": f"dpkg:bench-churn-day{day}:amd64", "location": None})
        target.write_text(json.dumps(doc))
        names.append(doc["inventory_name"])
    return spool, names


def store_day(spool: Path, store: Path, work: Path) -> dict:
    """Store one day's run while a reader process reads the store in a loop; the write's figures."""
    from sam_engine import pipeline

    stop, out = work / "stop", work / "latencies.json"
    stop.unlink(missing_ok=True)
    reader = None
    if store.exists():
        reader = subprocess.Popen([sys.executable, "-c", READER, str(store), str(stop), str(out)],
                                  env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        time.sleep(1.0)
    before = store.stat().st_size if store.exists() else 0
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scan, problems, _, _ = pipeline.store_spool(spool, store=str(store), timings=timings)
    seconds = time.perf_counter() - t0
    latencies = []
    if reader is not None:
        stop.touch()
        reader.wait()
        latencies = json.loads(out.read_text())
    return {"seconds": seconds, "write_s": timings.get("store", 0.0) + timings.get("commit", 0.0),
            "added": store.stat().st_size - before, "hosts": len(scan.hosts), "latencies": latencies}


def expected_bytes(store: Path, day_id: str) -> tuple[int, int]:
    """What a day should add: (its run record: scans, host_scans and summary documents; its new
    inventories: inventories and snapshot tables)."""
    doc = json.loads(store.read_text())

    def size(*tables: str) -> int:  # each document: its JSON plus its key ("123":) in the table
        return sum(len(json.dumps(d, separators=(",", ":"), ensure_ascii=False)) + 10
                   for t in tables for d in doc.get(t, {}).values() if d.get("scan_id") == day_id)

    return size("scans", "host_scans", "scan_summaries"), size("inventories", "snapshots")


def idle_latency(store: Path, reps: int = 5) -> float:
    from sam_engine.store import open_store

    lat = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with open_store(str(store), readonly=True) as st:
            st.scans()
        lat.append(time.perf_counter() - t0)
    return statistics.median(lat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200 if quick() else 10000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--churn", type=float, default=0.01)
    args = parser.parse_args(argv)
    base = ensure_fleet(args.hosts)
    with work_dir("fleet-days") as work:
        store = work / "store.json"
        rows = []
        for day in range(args.days + 1):
            spool, changed = day_spool(base, work / "spools", day, args.churn)
            idle = idle_latency(store) if store.exists() else None
            row = store_day(spool, store, work)
            record, inventories = expected_bytes(store, f"day{day:02}")
            row.update(day=day, changed=len(changed), expected=record + inventories, idle_s=idle)
            rows.append(row)
            note(f"day {day}: {row['hosts']} hosts, {row['changed']} changed, +{row['added']:,} bytes "
                 f"(run record {record:,} + new inventories {inventories:,}), write {row['write_s']:.2f} s, "
                 f"run {row['seconds']:.1f} s, reads during it {len(row['latencies'])}, slowest "
                 f"{max(row['latencies'], default=0):.3f} s, idle read {idle or 0:.3f} s")
            for path in (spool / "hosts").iterdir():
                path.unlink()
        days = rows[1:]
        added = statistics.median(r["added"] for r in days)
        expected = statistics.median(r["expected"] for r in days)
        emit_rounds("fleet_day_bytes", [r["added"] for r in days], [r["expected"] for r in days], 1.1,
                    hosts=args.hosts, days=args.days,
                    churn_hosts=days[0]["changed"], added_mb_per_day=round(added / 2**20, 2),
                    expected_mb_per_day=round(expected / 2**20, 2), day0_store_mb=round(rows[0]["added"] / 2**20, 1),
                    final_store_mb=round(store.stat().st_size / 2**20, 1))
        write = statistics.median(r["write_s"] for r in days)
        emit_rounds("fleet_day_write", [r["write_s"] for r in days], [rows[0]["write_s"]] * len(days), 1.25,
                    hosts=args.hosts, day_write_s=round(write, 2), day0_write_s=round(rows[0]["write_s"], 2))
        slowest = max(max(r["latencies"], default=0.0) for r in days)
        run = min(r["seconds"] for r in days)
        idle = statistics.median(r["idle_s"] for r in days)
        emit("fleet_reader", slowest, run, 0.5, hosts=args.hosts, slowest_read_s=round(slowest, 3),
             shortest_run_s=round(run, 2), idle_read_s=round(idle, 3), reads=sum(len(r["latencies"]) for r in days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
