"""Figure 5: the reports of a 10,000-host fleet (QUICK: 100): time, page size, opening, memory.

The synthetic fleet of ``engine.py`` is stored once (``pipeline.store_spool``),
then reported twice, each in a fresh interpreter:

1. ``fleetsam report --no-installations-csv`` (the nightly report: reconcile,
   findings, every file but ``installations.csv``), its peak RSS measured;
   its ``index.html`` is then opened in headless Chromium (``report_open.open_times``,
   median of three openings, each until the page's script has drawn the host view);
2. ``report.build`` then ``render.write_reports`` with every file, each file timed
   (``_engine_job.py report``): ``installations.csv`` has a row per installation.

Figures::

    report        (report.build + index.html) seconds / 5 s                       target 1
    report_html   index.html bytes / 10 MiB                                        target 1
    report_open   median opening seconds in Chromium / 3 s                         target 1
    report_rss    peak RSS of fleetsam report without installations.csv / 1 GiB    target 1

Printed beside them: the other files' seconds (``other_files_s``), and for
``installations.csv`` its seconds, size and the run's peak RSS with it
(``installations_csv_s``, ``installations_csv_mb``, ``csv_rss_mb``).

Each report is given 10 minutes (QUICK: 3); past that it is stopped and its
figures are printed as missed with ``seconds=>600``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _engine_job import AS_OF, LICENCES  # noqa: E402
from common import BENCH, VENV_BIN, Timeout, emit, emit_rounds, note, quick, run, script_job, work_dir  # noqa: E402
from engine import ensure_fleet  # noqa: E402
from report_open import OPEN_LIMIT_S, SIZE_LIMIT, open_times  # noqa: E402

RSS_LIMIT_MB = 1024


def nightly(store: Path, out: Path, hosts: int, limit: float) -> None:
    """``fleetsam report`` without installations.csv: its memory, its page's size and opening time."""
    env = {**os.environ, "FLEETSAM_LICENCES": str(LICENCES)}
    try:
        # the fleet and its findings as on the scan's day (a later day would find every host stale)
        done = run([VENV_BIN / "fleetsam", "--store", store, "report", "--as-of", AS_OF.isoformat(), "--report-dir", out,
                    "--no-installations-csv"], env=env, timeout=limit)
    except Timeout:
        emit("report_rss", 1.0, 0.0, 1.0, hosts=hosts, seconds=f">{limit}", timed_out=True)  # missed
        return
    emit("report_rss", done["rss_mb"], RSS_LIMIT_MB, 1.0, hosts=hosts, rss_mb=round(done["rss_mb"]),
         seconds=round(done["wall"], 1))
    page = out / "index.html"
    size = page.stat().st_size
    emit("report_html", size, SIZE_LIMIT, 1.0, hosts=hosts, mb=round(size / 2**20, 2))
    times = open_times(page, 3)
    note(f"{hosts} hosts: page openings {', '.join(f'{t:.2f}' for t in times)} s")
    emit_rounds("report_open", times, [OPEN_LIMIT_S] * len(times), 1.0, hosts=hosts,
                seconds=round(statistics.median(times), 2))


def main() -> int:
    hosts = 100 if quick() else 10000
    spool = ensure_fleet(hosts)
    limit = 180 if quick() else 600
    with work_dir("report") as work:  # the store and reports (GBs at 10,000 hosts) go with it
        store = work / f"store-{hosts}.json"
        code = ("import sys; sys.path.insert(0, %r); from sam_engine import pipeline; "
                "pipeline.store_spool(%r, store=%r)" % (str(BENCH.parent), str(spool), str(store)))
        subprocess.run([sys.executable, "-c", code], check=True)
        nightly(store, work / "nightly", hosts, limit)
        try:
            out = script_job(BENCH / "_engine_job.py", "report", spool, store, work / "reports", timeout=limit)
        except Timeout:
            emit("report", float(limit), 5.0, 1.0, hosts=hosts, seconds=f">{limit}", timed_out=True)
            return 0
    files = out["files_seconds"]
    other = sum(s for name, s in files.items() if name not in ("index.html", "installations.csv"))
    emit("report", out["seconds"], 5.0, 1.0, hosts=hosts, seconds=out["seconds"], build_s=out["build_seconds"],
         html_s=out["html_seconds"], other_files_s=other, installations_csv_s=files["installations.csv"],
         installations=out["installations"], installations_csv_mb=round(out["installations_csv_bytes"] / 2**20),
         csv_rss_mb=round(out["rss_mb"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
