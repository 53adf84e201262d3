"""Figure 5: the HTML report for a 10,000-host fleet (QUICK: 200).

The synthetic fleet of ``engine.py`` is stored once (``pipeline.store_spool``);
then, in a fresh interpreter, the stored scan is reconciled and
``render.write_reports(report.build(...))`` is timed (model and rendering, both
files written).

    report  seconds / 5 s   target 1

The report is given 10 minutes (QUICK: 3); past that it is stopped and the figure
is printed as missed with ``seconds=>600``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, CACHE, Timeout, emit, quick, script_job  # noqa: E402
from engine import ensure_fleet  # noqa: E402


def main() -> int:
    hosts = 200 if quick() else 10000
    spool = ensure_fleet(hosts)
    work = CACHE / "report-work"
    work.mkdir(parents=True, exist_ok=True)
    store = work / f"store-{hosts}.json"
    for p in (store, Path(f"{store}.lock")):
        p.unlink(missing_ok=True)
    code = ("import sys; sys.path.insert(0, %r); from sam_engine import pipeline; "
            "pipeline.store_spool(%r, store=%r)" % (str(BENCH.parent), str(spool), str(store)))
    subprocess.run([sys.executable, "-c", code], check=True)
    limit = 180 if quick() else 600
    try:
        out = script_job(BENCH / "_engine_job.py", "report", spool, store, work / f"reports-{hosts}", timeout=limit)
        emit("report", out["seconds"], 5.0, 1.0, hosts=hosts, seconds=out["seconds"], build_s=out["build_seconds"],
             render_s=out["render_seconds"], html_mb=round(out["html_bytes"] / 2**20, 1), rss_mb=round(out["rss_mb"]))
    except Timeout:
        emit("report", float(limit), 5.0, 1.0, hosts=hosts, seconds=f">{limit}", timed_out=True)
    finally:  # the store and the written reports (GBs at 10,000 hosts) are not kept
        store.unlink(missing_ok=True)
        shutil.rmtree(work / f"reports-{hosts}", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
