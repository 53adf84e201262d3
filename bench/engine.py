"""Figure 4: the engine at fleet scale (ingest + normalise + store + reconcile).

Baseline: ``json.load`` of every host file of the same spool, one at a time (the
physical limit of reading the raw facts). Baseline and engine alternate, three
rounds per size (QUICK: one); each figure is the median of the rounds' ratios,
with their range (``rounds=N range=LOW-HIGH``). Each engine run is a first run (a new
store, no recognition cache); a repeat run follows it into the same store: the same
host files under a run one day later (``night_spool``), what a nightly run over an
unchanged fleet pays (the recognition cache warm, every Linux package list stored
before, so taken from the store: ``sam_engine/ingest/bulk.py``). Each size runs in fresh interpreters
(``_engine_job.py``), so peak RSS is the run's own. Spools come from
``fleetgen.py``; the largest is generated once (two processes) and smaller
fleets are prefixes of it (symlinked host files), cached under ``.cache/bench``.

Figures (at 10,000 hosts; QUICK: at 200; sizes 1,000 and 10,000, QUICK: 100 and 200)::

    engine_time   engine seconds / json.load seconds         target 2
    engine_repeat_NNNh  the same for the repeat run           target 2
    engine_rss    peak RSS / 2 GiB                           target 1
    engine_store  store file bytes / raw JSON bytes          target 1.5
    engine_growth (seconds per host at the largest size) / (at the smallest)  target 1.25 (linear)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, CACHE, cache_lock, emit, emit_rounds, note, quick, script_job, work_dir  # noqa: E402

SEED = 7


def ensure_fleet(hosts: int) -> Path:
    """The spool of the first ``hosts`` hosts, generated (or extended) in two processes; one run at a time."""
    name = f"fleet-seed{SEED}-v{_generator_version()}"
    with cache_lock(name):
        return _ensure_fleet(CACHE / name, hosts)


def _ensure_fleet(root: Path, hosts: int) -> Path:
    full = root / "all"
    have = len(list((full / "hosts").glob("*.json"))) if (full / "hosts").is_dir() else 0
    marker = root / "generated"
    done = int(marker.read_text()) if marker.exists() else 0
    if done < hosts:
        start = done if have >= done else 0
        procs = [subprocess.Popen([sys.executable, str(BENCH / "fleetgen.py"), str(full), "--hosts", str(hosts),
                                   "--seed", str(SEED), "--start", str(start + k), "--step", "2"])
                 for k in range(2)]
        if any(p.wait() for p in procs):
            raise RuntimeError("fleetgen failed")
        marker.write_text(str(hosts))
    spool = root / f"n{hosts}"
    if not (spool / "hosts").is_dir() or len(list((spool / "hosts").iterdir())) != hosts:
        shutil.rmtree(spool, ignore_errors=True)
        (spool / "hosts").mkdir(parents=True)
        (spool / "run.json").symlink_to(full / "run.json")
        sys.path.insert(0, str(BENCH))
        import fleetgen

        for i in range(hosts):
            name = fleetgen.host_name(i)
            (spool / "hosts" / f"{name}.json").symlink_to(full / "hosts" / f"{name}.json")
    return spool


def _generator_version() -> int:
    sys.path.insert(0, str(BENCH))
    import fleetgen

    return fleetgen.GENERATOR_VERSION


def night_spool(spool: Path, work: Path) -> Path:
    """The run after ``spool``'s: its host files (linked) under a new scan id, one day later."""
    night = work / f"{spool.name}-night"
    if not night.exists():
        night.mkdir()
        (night / "hosts").symlink_to((spool / "hosts").resolve())
        meta = json.loads((spool / "run.json").read_text())
        meta.update(scan_id=meta["scan_id"] + "-night", started="2026-01-06T02:00:00Z",
                    finished="2026-01-06T02:40:00Z")
        (night / "run.json").write_text(json.dumps(meta))
    return night


def measure(hosts: int, work: Path, reps: int) -> dict:
    spool = ensure_fleet(hosts)
    night = night_spool(spool, work)
    job = BENCH / "_engine_job.py"
    script_job(job, "load", spool)  # warm the page cache: both sides read from memory
    store = work / f"store-{hosts}.json"
    loads, engines, repeats = [], [], []
    for _ in range(reps):  # alternate: each round's ratio is taken from runs next to each other
        loads.append(script_job(job, "load", spool))
        for p in (store, Path(f"{store}.lock"), Path(f"{store}.recognition")):
            p.unlink(missing_ok=True)
        engines.append(script_job(job, "engine", spool, store))
        repeats.append(script_job(job, "engine", night, store))  # the next night, into the same store
    return {"hosts": hosts, "loads": loads, "engines": engines, "repeats": repeats, "store": str(store),
            "load": _median_run(loads), "engine": {**_median_run(engines), "rss_mb": max(r["rss_mb"] for r in engines)},
            "repeat": _median_run(repeats)}


def _median_run(runs: list[dict]) -> dict:
    """The run of median time (its stage timings are then one run's, not a mix)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help="comma-separated host counts")
    parser.add_argument("--target-size", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None, help="alternating rounds per size (the median counts)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ("100,200" if quick() else "1000,10000")).split(",")]
    args.reps = args.reps or (1 if quick() else 3)
    target_size = args.target_size or (10000 if 10000 in sizes else max(sizes))
    ensure_fleet(max(sizes))
    rows = []
    with work_dir("engine") as work:
        for n in sizes:
            m = measure(n, work, args.reps)
            rows.append(m)
            e, b = m["engine"], m["load"]
            t = e["timings"]
            loads = [x["seconds"] for x in m["loads"]]
            emit_rounds(f"engine_time_{n}h", [x["seconds"] for x in m["engines"]], loads, 2.0, engine_s=e["seconds"],
                        json_load_s=b["seconds"], ingest_normalise_s=t.get("ingest+normalise", 0.0),
                        store_s=t.get("store", 0.0) + t.get("commit", 0.0), reconcile_s=e["reconcile_seconds"],
                        installations=e["installations"], rss_mb=round(e["rss_mb"]), load_rss_mb=round(b["rss_mb"]),
                        store_mb=round(e["store_bytes"] / 2**20, 1), raw_mb=round(b["raw_bytes"] / 2**20, 1))
            r, t = m["repeat"], m["repeat"]["timings"]
            emit_rounds(f"engine_repeat_{n}h", [x["seconds"] for x in m["repeats"]], loads, 2.0, engine_s=r["seconds"],
                        json_load_s=b["seconds"], ingest_normalise_s=t.get("ingest+normalise", 0.0),
                        store_s=t.get("store", 0.0) + t.get("commit", 0.0), reconcile_s=r["reconcile_seconds"],
                        rss_mb=round(r["rss_mb"]))
            for p in (Path(m["store"]), Path(f"{m['store']}.recognition")):
                p.unlink(missing_ok=True)
    top = next(r for r in rows if r["hosts"] == target_size)
    e, b = top["engine"], top["load"]
    emit_rounds("engine_time", [x["seconds"] for x in top["engines"]], [x["seconds"] for x in top["loads"]], 2.0,
                hosts=target_size, engine_s=e["seconds"], json_load_s=b["seconds"])
    emit("engine_rss", e["rss_mb"], 2048.0, 1.0, hosts=target_size, rss_mb=round(e["rss_mb"]), limit_mb=2048)
    emit("engine_store", e["store_bytes"], b["raw_bytes"], 1.5, hosts=target_size,
         store_mb=round(e["store_bytes"] / 2**20, 1), raw_mb=round(b["raw_bytes"] / 2**20, 1))
    small, large = rows[0], rows[-1]
    per = [r["engine"]["seconds"] / r["hosts"] for r in (small, large)]
    emit("engine_growth", per[1], per[0], 1.25, hosts=f"{small['hosts']}..{large['hosts']}",
         ms_per_host_small=round(per[0] * 1000, 2), ms_per_host_large=round(per[1] * 1000, 2),
         rss_mb_small=round(small["engine"]["rss_mb"]), rss_mb_large=round(large["engine"]["rss_mb"]))
    note("engine per size: " + json.dumps([{"hosts": r["hosts"], "engine_s": round(r["engine"]["seconds"], 2),
                                            "json_load_s": round(r["load"]["seconds"], 2),
                                            "rss_mb": round(r["engine"]["rss_mb"])} for r in rows]))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
