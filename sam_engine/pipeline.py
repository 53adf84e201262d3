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

from . import ingest_parallel, notify, render, report
from .model import HostStatus, Problem, Scan
from .licensing import LicenceSettings, load_context, position_of
from .position import LicencePosition
from .store import StoreError, open_store


@dataclass(frozen=True)
class RunSummary:
    """What one processed run produced, for the callback's closing lines."""

    scan: Scan
    report_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    position: LicencePosition | None = None
    findings: notify.FindingsOutcome | None = None

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
        if self.findings is not None:
            out += self.findings.lines()
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
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None,
                  alerts: notify.AlertSettings | None = None) -> RunSummary:
    """Store one run's spool as a scan snapshot, reconcile it and write the reports."""
    timings: dict[str, float] = {}
    with open_store(store) as st:
        with _timed(timings, "ingest+normalise"):  # streamed, on every core for a large spool
            scan, problems = ingest_parallel.build_scan_from_spool(spool, st.last_inventory)
        with _timed(timings, "store"):
            st.save_scan(scan)
        history = st.scans()
        stored = st.entitlements()
        past = _past(st, history, scan.scan_id)
    files, position, more, found = _reconcile_and_render(scan, history, stored, report_dir, settings, as_of, timings,
                                                         store, alerts or notify.AlertSettings.from_env(), past)
    return RunSummary(scan, tuple(files), tuple(problems + more), timings, position, found)


def store_spool(spool: str | Path, *, store: str, timings: dict[str, float] | None = None):
    """The ingest, normalise and store stages of ``process_spool`` alone (benchmarks, tools):
    ``(scan, problems, history, stored entitlements)``, the scan committed to ``store``."""
    timings = {} if timings is None else timings
    with open_store(store) as st:
        with _timed(timings, "ingest+normalise"):
            scan, problems = ingest_parallel.build_scan_from_spool(spool, st.last_inventory)
        with _timed(timings, "store"):
            st.save_scan(scan)
        history = st.scans()
        stored = st.entitlements()
        t0 = time.perf_counter()
    timings["commit"] = time.perf_counter() - t0
    return scan, problems, history, stored


def render_stored(store: str, report_dir: str | Path, scan_id: str | None = None, *,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None) -> RunSummary:
    """Reconcile and render the reports again from the store (latest scan by default)."""
    with open_store(store) as st:
        scan = st.load_scan(scan_id)
        history = st.scans()
        stored = st.entitlements()
        past = _past(st, history, scan.scan_id) if scan is not None else (None, {})
    if scan is None:
        raise LookupError(f"{store}: no scan {scan_id or ''} stored".replace("  ", " "))
    files, position, problems, found = _reconcile_and_render(scan, history, stored, report_dir, settings, as_of, {},
                                                             store, notify.AlertSettings.from_env(send=False), past)
    return RunSummary(scan, tuple(files), tuple(problems), position=position, findings=found)


def _past(st, history, scan_id: str) -> tuple[Scan | None, dict]:
    """The scan stored just before ``scan_id`` (for the changes) and the recorded per-scan summaries."""
    ids = [i.scan_id for i in history]
    n = ids.index(scan_id) if scan_id in ids else len(ids)
    return (st.load_scan(ids[n - 1]) if n > 0 else None), st.scan_summaries()


def _record_summary(store: str | None, model: dict, summaries: dict) -> list[Problem]:
    """Keep this scan's position counts for the trend of later reports (once per scan)."""
    sid = model["scan"]["scan_id"]
    if store is None or model["position"] is None or sid in summaries:
        return []
    doc = {"scan_id": sid, "as_of": model["position"]["as_of"],
           "non_compliant": model["summary"]["products_non_compliant"], "products": model["summary"]["products"],
           "status_counts": model["position"]["status_counts"]}
    try:
        with open_store(store) as st:
            st.save_scan_summary(doc)
    except StoreError as exc:
        return [Problem(str(store), f"position summary of scan {sid} not recorded: {exc}", "warning")]
    return []


def _reconcile_and_render(scan: Scan, history, stored, report_dir, settings, as_of, timings, store=None,
                          alerts: notify.AlertSettings | None = None, past: tuple = (None, {})):
    """Reconcile ``scan`` against the licence data, then render; licence-data problems are
    returned (and shown in the report) without stopping the run."""
    with _timed(timings, "reconcile"):
        ctx = load_context(settings or LicenceSettings.from_env(), as_of or dt.date.today(), stored)
        position = position_of(scan.hosts, ctx)
    with _timed(timings, "findings"):  # findings, their state in the store, notifications (never raises on a channel)
        found = notify.after_reconcile(scan, position, ctx, store, alerts)
    problems = [*ctx.problems, *found.problems]
    previous, summaries = past
    with _timed(timings, "history"):  # the previous scan's position under today's licence data, for the changes
        previous_position = position_of(previous.hosts, ctx) if previous is not None else None
    with _timed(timings, "render"):
        model = report.build(scan, history, position, problems, findings=found.rows, entitlements=ctx.entitlements,
                             previous=previous, previous_position=previous_position, summaries=summaries)
        files = render.write_reports(model, Path(report_dir), scan, position)
    problems += _record_summary(store, model, summaries)
    return files, position, problems, found
