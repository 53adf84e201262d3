"""Figure 5: the HTML report for a 10,000-host fleet (QUICK: 100).

The synthetic fleet of ``engine.py`` is stored once (``pipeline.store_spool``);
then, in a fresh interpreter, the stored scan is reconciled and the report
written (``report.build`` then ``render.write_reports``), each step timed.

    report  (report.build + index.html) seconds / 5 s   target 1

The other files are timed too and printed beside the figure: ``report.json``,
``position.csv``, ``junit.xml`` and ``summary.md`` (``other_files_s``) and
``installations.csv``, the one file with a row per installation
(``installations_csv_s``: ten million rows at 10,000 hosts).

The report is given 10 minutes (QUICK: 3); past that it is stopped and the figure
is printed as missed with ``seconds=>600``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, Timeout, emit, quick, script_job, work_dir  # noqa: E402
from engine import ensure_fleet  # noqa: E402


def main() -> int:
    hosts = 100 if quick() else 10000
    spool = ensure_fleet(hosts)
    limit = 180 if quick() else 600
    with work_dir("report") as work:  # the store and reports (GBs at 10,000 hosts) go with it
        store = work / f"store-{hosts}.json"
        code = ("import sys; sys.path.insert(0, %r); from sam_engine import pipeline; "
                "pipeline.store_spool(%r, store=%r)" % (str(BENCH.parent), str(spool), str(store)))
        subprocess.run([sys.executable, "-c", code], check=True)
        try:
            out = script_job(BENCH / "_engine_job.py", "report", spool, store, work / "reports", timeout=limit)
        except Timeout:
            emit("report", float(limit), 5.0, 1.0, hosts=hosts, seconds=f">{limit}", timed_out=True)
            return 0
    files = out["files_seconds"]
    other = sum(s for name, s in files.items() if name not in ("index.html", "installations.csv"))
    emit("report", out["seconds"], 5.0, 1.0, hosts=hosts, seconds=out["seconds"], build_s=out["build_seconds"],
         html_s=out["html_seconds"], html_mb=round(out["html_bytes"] / 2**20, 1), other_files_s=other,
         installations_csv_s=files["installations.csv"], installations=out["installations"],
         installations_csv_mb=round(out["installations_csv_bytes"] / 2**20), rss_mb=round(out["rss_mb"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
