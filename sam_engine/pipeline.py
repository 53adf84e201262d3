"""The one explicit pipeline: ingest -> normalise -> reconcile -> findings -> render.

``process_spool`` is what the collector callback calls once at the end of a
run, and what ``fleetsam ingest`` calls for a kept spool. Each stage is a
function of its own that can be called and timed alone.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import ingest, render, report
from .model import HostStatus, Problem, Scan
from .store import open_store


@dataclass(frozen=True)
class RunSummary:
    """What one processed run produced, for the callback's closing lines."""

    scan: Scan
    report_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        s = self.scan
        stale = sum(1 for h in s.hosts if h.stale and h.installations)
        out = [
            f"scan {s.scan_id}: hosts ok={s.count(HostStatus.OK)} unreachable={s.count(HostStatus.UNREACHABLE)} "
            f"failed={s.count(HostStatus.FAILED)} (stale inventories kept: {stale}); "
            f"packages found={s.installation_count}",
        ]
        out += [str(p) for p in self.problems]
        if self.report_files:
            out.append(f"report: {self.report_files[0]}")
        return out


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = time.perf_counter() - t0


def process_spool(spool: str | Path, *, store: str, report_dir: str | Path) -> RunSummary:
    """Store one run's spool as a scan snapshot and write the reports."""
    timings: dict[str, float] = {}
    with _timed(timings, "ingest"):
        run, problems = ingest.read_spool(spool)
    with open_store(store) as st:
        with _timed(timings, "normalise"):
            scan, more = ingest.build_scan(run, st.last_inventory)
            problems += more
        with _timed(timings, "store"):
            st.save_scan(scan)
        history = st.scans()
    with _timed(timings, "render"):
        files = render.write_reports(report.build(scan, history), Path(report_dir))
    return RunSummary(scan, tuple(files), tuple(problems), timings)


def render_stored(store: str, report_dir: str | Path, scan_id: str | None = None) -> RunSummary:
    """Render the reports again from the store (latest scan by default)."""
    with open_store(store) as st:
        scan = st.load_scan(scan_id)
        history = st.scans()
    if scan is None:
        raise LookupError(f"{store}: no scan {scan_id or ''} stored".replace("  ", " "))
    files = render.write_reports(report.build(scan, history), Path(report_dir))
    return RunSummary(scan, tuple(files))
