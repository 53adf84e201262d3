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

from sam_engine.ingest import parallel as ingest_parallel
from sam_engine.findings import notify
from sam_engine.report import render
from sam_engine.report import model as report
from sam_engine.report.position import scan_summary
from sam_engine.model import HostStatus, Problem, Scan
from sam_engine.licensing.context import LicenceContext, LicenceSettings, load_context, position_of
from sam_engine.licensing.position import LicencePosition
from sam_engine.store.interface import open_store, require_scan


@dataclass(frozen=True)
class RunSummary:
    """What one processed run produced, for the callback's closing lines."""

    scan: Scan
    report_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    position: LicencePosition | None = None
    findings: notify.FindingsOutcome | None = None
    entitlements: int | None = None  # how many the position counted (None: not reconciled)

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
        if self.entitlements == 0:
            out.append("no entitlements: nothing is owned yet; add licences/*.yml (or FLEETSAM_LICENCES) "
                       "or run `fleetsam licence import` / `fleetsam licence add`")
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
                  alerts: notify.AlertSettings | None = None, installations: bool = True) -> RunSummary:
    """Store one run's spool as a scan snapshot, reconcile it and write the reports
    (``installations=False``: all but ``installations.csv``).

    One store session holds the whole run's writes (the scan, the findings'
    state and outbox, the position summary for the trend): the store file is
    written once. Notifications are sent after it is committed."""
    timings: dict[str, float] = {}
    with open_store(store) as st:
        scan, problems = _ingest(st, spool, timings)
        run = _reconcile(st, scan, settings, as_of, alerts or notify.AlertSettings.from_env(), timings)
        with _timed(timings, "commit"):
            st.commit()
    return _render(run, store, report_dir, timings, problems, installations)


def store_spool(spool: str | Path, *, store: str, timings: dict[str, float] | None = None):
    """The ingest, normalise and store stages of ``process_spool`` alone (benchmarks, tools):
    ``(scan, problems, history, stored entitlements)``, the scan committed to ``store``."""
    timings = {} if timings is None else timings
    with open_store(store) as st:
        scan, problems = _ingest(st, spool, timings)
        history, stored = st.scans(), st.entitlements()
        with _timed(timings, "commit"):
            st.commit()
    return scan, problems, history, stored


def render_stored(store: str, report_dir: str | Path, scan_id: str | None = None, *,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None,
                  installations: bool = True) -> RunSummary:
    """Reconcile and render the reports again from the store (latest scan by default); nothing is
    sent, and the store only gains the scan's position summary if it had none."""
    with open_store(store, create=False) as st:
        scan = require_scan(st, store, scan_id)
        run = _reconcile(st, scan, settings, as_of, notify.AlertSettings.from_env(send=False), {})
    return _render(run, store, report_dir, {}, [], installations)


@dataclass
class _Reconciled:
    """What the store session of a run produced for the steps after it."""

    scan: Scan
    history: list
    ctx: LicenceContext
    position: LicencePosition
    outbox: notify.Outbox
    previous: Scan | None
    summaries: dict


def _ingest(st, spool: str | Path, timings: dict[str, float]) -> tuple[Scan, list[Problem]]:
    with _timed(timings, "ingest+normalise"):  # streamed, on every core for a large spool
        scan, problems = ingest_parallel.build_scan_from_spool(spool, st.last_inventory)
    with _timed(timings, "store"):
        st.save_scan(scan)
    return scan, problems


def _reconcile(st, scan: Scan, settings, as_of, alerts: notify.AlertSettings, timings) -> _Reconciled:
    """Reconcile ``scan`` against the stored licence data and record, in the session ``st``, the
    findings' state and this scan's position summary (once per scan); licence-data problems are
    kept for the report without stopping the run."""
    history = st.scans()
    previous, summaries = _past(st, history, scan.scan_id)
    with _timed(timings, "reconcile"):
        ctx = load_context(settings or LicenceSettings.from_env(), as_of or dt.date.today(), st.entitlements())
        position = position_of(scan.hosts, ctx)
    with _timed(timings, "findings"):  # findings and their state; notifications are queued, not sent
        outbox = notify.record_findings(st, scan, position, ctx, alerts)
    if scan.scan_id not in summaries:
        st.save_scan_summary(scan_summary(scan.scan_id, position))
    return _Reconciled(scan, history, ctx, position, outbox, previous, summaries)


def _render(run: _Reconciled, store: str, report_dir, timings: dict[str, float], problems: list,
            installations: bool = True) -> RunSummary:
    """Send the queued notifications, then write the reports."""
    with _timed(timings, "notify"):  # never raises on a channel
        found = notify.send(store, run.outbox)
    problems = [*problems, *run.ctx.problems, *found.problems]
    with _timed(timings, "history"):  # the previous scan's position under today's licence data, for the changes
        previous_position = position_of(run.previous.hosts, run.ctx) if run.previous is not None else None
    with _timed(timings, "render"):
        model = report.build(run.scan, run.history, run.position, [*run.ctx.problems, *found.problems],
                             findings=found.rows, entitlements=run.ctx.entitlements, previous=run.previous,
                             previous_position=previous_position, summaries=run.summaries)
        files = render.write_reports(model, Path(report_dir), run.scan, run.position, installations=installations)
    return RunSummary(run.scan, tuple(files), tuple(problems), timings, run.position, found,
                      len(run.ctx.entitlements))


def _past(st, history, scan_id: str) -> tuple[Scan | None, dict]:
    """The scan stored just before ``scan_id`` (for the changes) and the recorded per-scan summaries."""
    ids = [i.scan_id for i in history]
    n = ids.index(scan_id) if scan_id in ids else len(ids)
    return (st.load_scan(ids[n - 1]) if n > 0 else None), st.scan_summaries()
