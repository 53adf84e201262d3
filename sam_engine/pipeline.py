"""The one explicit pipeline: ingest -> normalise -> reconcile -> findings -> render.

``process_spool`` is what the collector callback calls once at the end of a
run, and what ``fleetsam ingest`` calls for a kept spool. Each stage is a
function of its own that can be called and timed alone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import ingest, render, report
from .model import HostStatus, Problem, Scan
from .licensing import LicenceSettings, load_context, position_of
from .position import LicencePosition
from .store import open_store


@dataclass(frozen=True)
class RunSummary:
    """What one processed run produced, for the callback's closing lines."""

    scan: Scan
    report_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    position: LicencePosition | None = None

    def lines(self) -> list[str]:
        s = self.scan
        stale = sum(1 for h in s.hosts if h.stale and h.installations)
        out = [
            f"scan {s.scan_id}: hosts ok={s.count(HostStatus.OK)} unreachable={s.count(HostStatus.UNREACHABLE)} "
            f"failed={s.count(HostStatus.FAILED)} (stale inventories kept: {stale}); "
            f"packages found={s.installation_count}",
        ]
        if self.position is not None:
            counts = Counter(p.status.value for p in self.position.products)
            shown = ", ".join(f"{status}={counts[status]}" for status in sorted(counts))
            out.append(f"licence position: {len(self.position.products)} products ({shown}); "
                       f"unrecognised={len(self.position.unrecognised)}")
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


def process_spool(spool: str | Path, *, store: str, report_dir: str | Path,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None) -> RunSummary:
    """Store one run's spool as a scan snapshot, reconcile it and write the reports."""
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
        stored = st.entitlements()
    files, position, more = _reconcile_and_render(scan, history, stored, report_dir, settings, as_of, timings)
    return RunSummary(scan, tuple(files), tuple(problems + more), timings, position)


def render_stored(store: str, report_dir: str | Path, scan_id: str | None = None, *,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None) -> RunSummary:
    """Reconcile and render the reports again from the store (latest scan by default)."""
    with open_store(store) as st:
        scan = st.load_scan(scan_id)
        history = st.scans()
        stored = st.entitlements()
    if scan is None:
        raise LookupError(f"{store}: no scan {scan_id or ''} stored".replace("  ", " "))
    files, position, problems = _reconcile_and_render(scan, history, stored, report_dir, settings, as_of, {})
    return RunSummary(scan, tuple(files), tuple(problems), position=position)


def _reconcile_and_render(scan: Scan, history, stored, report_dir, settings, as_of, timings):
    """Reconcile ``scan`` against the licence data, then render; licence-data problems are
    returned (and shown in the report) without stopping the run."""
    with _timed(timings, "reconcile"):
        ctx = load_context(settings or LicenceSettings.from_env(), as_of or dt.date.today(), stored)
        position = position_of(scan.hosts, ctx)
    with _timed(timings, "render"):
        model = report.build(scan, history, position, ctx.problems)
        files = render.write_reports(model, Path(report_dir))
    return files, position, list(ctx.problems)
