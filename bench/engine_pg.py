"""The engine into a PostgreSQL store, against the TinyDB figure on the same fleet (#14).

A real PostgreSQL server (``tests/pg_server.py``: initdb into a temporary
folder, 127.0.0.1 on a free port, stopped by PID) and the synthetic fleet of
``engine.py`` (``fleetgen.py``). Three fresh interpreters (``_engine_job.py``)
measure ``json.load`` of every host file (the baseline of figure 4), the
engine into a new TinyDB file and the engine into a new PostgreSQL database
(ingest + normalise + store + reconcile), ``--reps`` rounds (full: 3): the
median of the rounds' ratios, with their range.
Then the same fleet is stored again under a new scan id (a daily re-scan of
an unchanged fleet), while ``fleetsam check`` runs in a loop.

Figures (10,000 hosts; QUICK: 200)::

    engine_pg_time    PostgreSQL engine seconds / TinyDB engine seconds          target 1.5
    engine_pg_rss     peak RSS / 2 GiB                                           target 1
    engine_pg_rescan  WAL bytes of the re-scan / WAL bytes of the first scan     target 0.05
    engine_pg_check   slowest 'fleetsam check' during the re-scan / idle check   target 2

WAL bytes (``pg_current_wal_lsn()`` before and after each run) are what the
server wrote for the run, tables and indexes included. On a two-core machine
a check during a write shares the CPUs with the writer and the server: the
target of 2 says the reader is never held behind the writer's lock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from common import BENCH, VENV_BIN, emit, emit_rounds, note, quick, script_job, work_dir  # noqa: E402
from engine import ensure_fleet  # noqa: E402
from pg_server import PASSWORD, PgServer  # noqa: E402

JOB = BENCH / "_engine_job.py"


def rescan_spool(base: Path, root: Path, scan_id: str) -> Path:
    """``base`` again under a new scan id a day later: run.json rewritten, every host file linked."""
    spool = root / scan_id
    (spool / "hosts").mkdir(parents=True)
    meta = json.loads((base / "run.json").read_text())
    meta.update(scan_id=scan_id, started="2026-01-06T02:00:00Z", finished="2026-01-06T02:00:00Z")
    (spool / "run.json").write_text(json.dumps(meta))
    for path in (base / "hosts").iterdir():
        (spool / "hosts" / path.name).symlink_to(path.resolve())
    return spool


def wal_position(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def check_seconds(url: str, env: dict) -> float:
    """One ``fleetsam check`` of the fleet (exit 0 or 1 both answer), wall seconds."""
    t0 = time.perf_counter()
    got = subprocess.run([str(VENV_BIN / "fleetsam"), "--store", url, "check"], env=env, capture_output=True,
                         text=True)
    if got.returncode not in (0, 1):
        raise RuntimeError(f"fleetsam check failed: {got.stderr[-2000:]}")
    return time.perf_counter() - t0


def measured_write(url: str, spool: Path, env: dict, readers: bool) -> tuple[dict, int, list[float]]:
    """Store ``spool`` into ``url``; the engine job's figures, the WAL bytes it wrote and (``readers``)
    the latencies of the checks run meanwhile."""
    before = wal_position(url)
    latencies, result = [], {}
    writer = threading.Thread(target=lambda: result.update(script_job(JOB, "engine", spool, url, env=env)))
    writer.start()
    if readers:
        time.sleep(1.0)  # the writer has its session: the checks read beside it
        while writer.is_alive():
            latencies.append(check_seconds(url, env))
    writer.join()
    return result, wal_position(url) - before, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=200 if quick() else 10000)
    parser.add_argument("--reps", type=int, default=1 if quick() else 3)
    args = parser.parse_args(argv)
    spool = ensure_fleet(args.hosts)
    server = PgServer(settings={"fsync": "on"}).start()  # as in production, and as TinyDB's commit does
    os.environ["PGPASSWORD"] = PASSWORD  # libpq's, for this process and the jobs it starts
    env = {**os.environ, "FLEETSAM_LOCK_TIMEOUT": "3600"}
    try:
        with work_dir("engine-pg") as work:
            script_job(JOB, "load", spool)  # warm the page cache: every side reads from memory
            loads, tiny, pg = [], [], []
            for k in range(args.reps):  # alternate: each round's ratio is taken from runs next to each other
                loads.append(script_job(JOB, "load", spool))
                tiny.append(script_job(JOB, "engine", spool, work / f"store{k}.json"))
                (work / f"store{k}.json").unlink()
                url = server.url(server.create_db())
                subprocess.run([str(VENV_BIN / "fleetsam"), "--store", url, "store", "init"], env=env, check=True,
                               capture_output=True)
                first, first_wal, _ = measured_write(url, spool, env, readers=False)
                pg.append({**first, "wal": first_wal, "url": url})
            base, t, p = (sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2] for runs in (loads, tiny, pg))
            url = pg[-1]["url"]
            size_first = database_bytes(url)
            idle = min(check_seconds(url, env) for _ in range(2))
            again, wal_again, latencies = measured_write(url, rescan_spool(spool, work, "rescan"), env, readers=True)
            idle = min(idle, check_seconds(url, env))
            size_again = database_bytes(url)
    finally:
        server.stop()
    emit_rounds("engine_pg_time", [r["seconds"] for r in pg], [r["seconds"] for r in tiny], 1.5, hosts=args.hosts,
                pg_s=p["seconds"], tinydb_s=t["seconds"], json_load_s=base["seconds"],
                pg_vs_json_load=round(p["seconds"] / base["seconds"], 3),
                tinydb_vs_json_load=round(t["seconds"] / base["seconds"], 3),
                pg_store_s=p["timings"].get("store", 0.0) + p["timings"].get("commit", 0.0),
                tinydb_store_s=t["timings"].get("store", 0.0) + t["timings"].get("commit", 0.0),
                installations=p["installations"])
    rss = max(r["rss_mb"] for r in pg)
    emit("engine_pg_rss", rss, 2048.0, 1.0, hosts=args.hosts, rss_mb=round(rss), tinydb_rss_mb=round(t["rss_mb"]),
         limit_mb=2048)
    first_wal = pg[-1]["wal"]
    emit("engine_pg_rescan", wal_again, first_wal, 0.05, hosts=args.hosts, first_wal_mb=round(first_wal / 2**20, 1),
         rescan_wal_mb=round(wal_again / 2**20, 2), db_mb_first=round(size_first / 2**20, 1),
         db_mb_after_rescan=round(size_again / 2**20, 1), rescan_s=round(again["seconds"], 2))
    slowest = max(latencies, default=0.0)
    emit("engine_pg_check", slowest, idle, 2.0, hosts=args.hosts, idle_check_s=round(idle, 2),
         slowest_check_s=round(slowest, 2), checks_during_write=len(latencies),
         median_check_s=round(statistics.median(latencies), 2) if latencies else None)
    note("engine into PostgreSQL: " + json.dumps({"timings_pg": {k: round(v, 2) for k, v in p["timings"].items()},
                                                  "timings_tinydb": {k: round(v, 2) for k, v in t["timings"].items()}}))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
