"""One measured engine run in a fresh interpreter (so its peak RSS is its own).

    python bench/_engine_job.py load SPOOL            # baseline: json.load every host file
    python bench/_engine_job.py engine SPOOL STORE    # ingest + normalise + store + reconcile (STORE: a path or URL)
    python bench/_engine_job.py report SPOOL STORE OUT  # report.build + render.write_reports, each file timed

Prints one JSON line with the times (s), peak RSS (MiB) and sizes.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AS_OF = dt.date(2026, 1, 5)
# The example licence files: the benchmarks reconcile against some entitlements, as a real fleet does.
LICENCES = Path(__file__).resolve().parents[1] / "examples" / "licences"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(spool: Path) -> dict:
    """The physical limit: parse every host file of the spool, one at a time."""
    t0 = time.perf_counter()
    size = records = 0
    for path in sorted((spool / "hosts").glob("*.json")):
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
        size += path.stat().st_size
        result = doc.get("result") or {}
        records += len(result.get("software") or (result.get("windows") or {}).get("uninstall") or ())
    return {"seconds": time.perf_counter() - t0, "raw_bytes": size, "records": records, "rss_mb": rss_mb()}


def engine(spool: Path, store: Path | str) -> dict:
    from sam_engine.licensing import context as licensing
    from sam_engine import pipeline
    from sam_engine.store.recognition_cache import RecognitionCache

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scan, problems, history, stored = pipeline.store_spool(spool, store=str(store), timings=timings)
    t1 = time.perf_counter()
    memory = RecognitionCache.beside(str(store))  # as process_spool: the store's recognition cache
    ctx = licensing.load_context(licensing.LicenceSettings(licences_dir=LICENCES), AS_OF, stored, memory=memory)
    position = licensing.position_of(scan.hosts, ctx)
    t2 = time.perf_counter()
    ctx.remember()
    timings["reconcile"] = t2 - t1
    timings["remember"] = time.perf_counter() - t2
    return {"seconds": time.perf_counter() - t0, "store_seconds": t1 - t0, "reconcile_seconds": t2 - t1, "timings": timings,
            "store_bytes": None if isinstance(store, str) else store.stat().st_size,  # str: a PostgreSQL URL
            "hosts": len(scan.hosts), "installations": scan.installation_count,
            "products": len(position.products), "unrecognised": len(position.unrecognised),
            "problems": len(problems), "rss_mb": rss_mb()}


def report(spool: Path, store: Path, out: Path) -> dict:
    from sam_engine.licensing import context as licensing
    from sam_engine.report import render
    from sam_engine.report import model as report_model
    from sam_engine.store import open_store

    with open_store(str(store)) as st:
        scan = st.load_scan()
        history = st.scans()
        stored = st.entitlements()
    ctx = licensing.load_context(licensing.LicenceSettings(licences_dir=LICENCES), AS_OF, stored)
    position = licensing.position_of(scan.hosts, ctx)
    t0 = time.perf_counter()
    model = report_model.build(scan, history, position, ctx.problems)
    t1 = time.perf_counter()
    files_s: dict[str, float] = {}
    files = render.write_reports(model, out, scan, position, timings=files_s)
    html = files[0]
    return {"seconds": t1 - t0 + files_s["index.html"], "build_seconds": t1 - t0, "html_seconds": files_s["index.html"],
            "files_seconds": files_s, "html_bytes": html.stat().st_size,
            "installations_csv_bytes": (out / "installations.csv").stat().st_size,
            "hosts": len(scan.hosts), "installations": scan.installation_count, "rss_mb": rss_mb()}


def main() -> None:
    kind, args = sys.argv[1], [a if "://" in a else Path(a) for a in sys.argv[2:]]
    out = {"load": load, "engine": engine, "report": report}[kind](*args)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
