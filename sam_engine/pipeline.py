"""The one explicit pipeline: ingest -> normalise -> reconcile -> findings -> render.

``process_spool`` is what the collector callback calls once at the end of a
run, and what ``fleetsam ingest`` calls for a kept spool. Each stage is a
function of its own that can be called and timed alone.

A run stores only the hosts it covered; reconcile, findings and reports work
on the fleet (``store/fleet.py``): every known host with its newest inventory,
less the hosts retired by hand or by age (``store.interface.load_fleet``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from sam_engine.ingest import parallel as ingest_parallel
from sam_engine.ingest.spool import host_files
from sam_engine.findings import notify
from sam_engine.findings.fleet_warnings import all_stale, no_host
from sam_engine.report import render
from sam_engine.report import model as report
from sam_engine.report.position import scan_summary
from sam_engine.model import HostStatus, Problem, Scan
from sam_engine.licensing.context import LicenceContext, LicenceSettings, PreparedCatalogue, load_context, position_of
from sam_engine.licensing.position import LicencePosition
from sam_engine.plain_text import one_line
from sam_engine.progress import NO_PROGRESS, StageProgress
from sam_engine.staleness import Staleness
from sam_engine.findings.policy import retire_days
from sam_engine.store.interface import load_fleet
from sam_engine.store import open_store
from sam_engine.store.recognition_cache import RecognitionCache


@dataclass(frozen=True)
class RunSummary:
    """What one processed run produced, for the callback's closing lines."""

    scan: Scan  # the fleet the position and the reports were computed on
    report_files: tuple[Path, ...]
    problems: tuple[Problem, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    position: LicencePosition | None = None
    findings: notify.FindingsOutcome | None = None
    entitlements: int | None = None  # how many the position counted (None: not reconciled)
    run: Scan | None = None  # the run just stored (None when rendering from the store)
    licence_errors: bool = False  # a licence file was rejected: the position lacks it (the commands exit 2)
    stale: int = 0  # the fleet's stale hosts (``staleness``), as the report's stale tile counts them

    def _stale_kept(self) -> tuple[int, int]:
        """(stale inventories the run carried over, those of hosts still in the fleet). Only the latter
        are kept: a host retired by hand or aged out (retire_days) is not in the fleet, so the run's
        count agrees with the fleet's stale count."""
        names = {h.inventory_name for h in self.scan.hosts}
        ids = {h.host_id for h in self.scan.hosts if h.host_id}
        stale = [h for h in self.run.hosts if h.stale and h.installations]
        return len(stale), sum(1 for h in stale if h.inventory_name in names or h.host_id in ids)

    def lines(self) -> list[str]:
        out = []
        f = self.scan
        if self.run is not None:
            s = self.run
            stale, kept = self._stale_kept()
            gone = f"; not counted: {stale - kept} retired or aged-out" if stale > kept else ""
            out.append(f"scan {one_line(s.scan_id)}: hosts ok={s.count(HostStatus.OK)} "
                       f"unreachable={s.count(HostStatus.UNREACHABLE)} failed={s.count(HostStatus.FAILED)} "
                       f"(stale inventories kept: {kept}{gone}); packages found={s.installation_count}")
        out.append(f"fleet: {len(f.hosts)} hosts, {f.count(HostStatus.OK)} inventoried on their last run, "
                   f"{self.stale} stale")
        if self.position is not None:
            counts = Counter(p.status.value for p in self.position.products)
            shown = ", ".join(f"{status}={counts[status]}" for status in sorted(counts))
            out.append(f"licence position: {len(self.position.products)} products ({shown}); "
                       f"unrecognised={len(self.position.unrecognised)}")
        if self.entitlements == 0 and not self.licence_errors:
            out.append("no entitlements: nothing is owned yet; add licences/*.yml (or FLEETSAM_LICENCES) "
                       "or run `fleetsam licence import` / `fleetsam licence add`")
        if self.findings is not None:
            out += self.findings.lines()
        out += [str(p) for p in self.problems]
        if self.report_files:
            out.append(f"report: {self.report_files[0]}")
        return out

    def as_dict(self) -> dict:
        """The same facts as ``lines`` as one JSON-ready mapping (the callback's structured event
        under ansible-runner): the run's and the fleet's counts, the position, the findings, the
        problems and the report files."""
        f = self.scan
        out: dict = {"scan_id": self.run.scan_id if self.run is not None else f.scan_id}
        if self.run is not None:
            s = self.run
            out["run"] = {"ok": s.count(HostStatus.OK), "unreachable": s.count(HostStatus.UNREACHABLE),
                          "failed": s.count(HostStatus.FAILED),
                          "stale_kept": self._stale_kept()[1],
                          "packages": s.installation_count}
        out["fleet"] = {"hosts": len(f.hosts), "inventoried": f.count(HostStatus.OK),
                        "stale": self.stale}
        if self.position is not None:
            out["position"] = {"products": len(self.position.products),
                               "by_status": dict(sorted(Counter(p.status.value for p in self.position.products).items())),
                               "unrecognised": len(self.position.unrecognised)}
        out["entitlements"] = self.entitlements
        if self.findings is not None:
            out["findings"] = {"total": len(self.findings.findings), "violations": len(self.findings.violations),
                               "by_severity": dict(sorted(Counter(x.severity for x in self.findings.findings).items())),
                               "notifications_pending": self.findings.pending}
        out["problems"] = [str(p) for p in self.problems]
        out["licence_errors"] = self.licence_errors
        out["reports"] = [str(p) for p in self.report_files]
        return out


class Timings(dict):
    """Seconds per step, in the order they ran; ``on_step(step, None)`` hears a step start and
    ``on_step(step, seconds)`` its end (``StageProgress.on_step``)."""

    def __init__(self, on_step: Callable[[str, float | None], None] | None = None):
        super().__init__()
        self.on_step = on_step


@contextmanager
def _timed(timings: dict[str, float], stage: str):
    on_step = getattr(timings, "on_step", None)
    if on_step:
        on_step(stage, None)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = time.perf_counter() - t0
    if on_step:  # only a step that ended normally is reported done
        on_step(stage, timings[stage])


def process_spool(spool: str | Path, *, store: str, report_dir: str | Path,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None,
                  alerts: notify.AlertSettings | None = None, installations: bool = True,
                  progress: StageProgress = NO_PROGRESS, catalogue: PreparedCatalogue | None = None) -> RunSummary:
    """Store one run's spool as a scan snapshot, reconcile it and write the reports
    (``installations=False``: all but ``installations.csv``), telling ``progress`` how far each
    stage (ingest, reconcile, report) is (the callback's lines on long runs) and when each timed
    step starts and ends (its ``on_step``: ``fleetsam scan``'s display). ``catalogue``: prepared
    while the hosts were scanned (``sam_engine.standby``), used when it fits the run.

    One store session holds the whole run's writes (the scan, the findings'
    state and outbox, the position summary for the trend): the store file is
    written once. Notifications are sent after it is committed."""
    timings = Timings(progress.on_step)
    alerts = alerts or notify.AlertSettings.from_env()
    host_files(Path(spool))  # a spool with no results is refused before the store is created or locked
    with open_store(store) as st:
        with progress.stage("ingest", total=len(host_files(Path(spool)))) as stage:
            scan, problems = _ingest(st, spool, timings, stage.advance)
        with progress.stage("reconcile"):
            with _timed(timings, "fleet"):
                fleet = load_fleet(st, store, retire_days=retire_days(alerts.policy), day=as_of)
            run = _reconcile(st, store, fleet, settings, as_of, alerts, timings, prepared=catalogue)
            run.warnings = _warnings(st, store, run, None, None)
            with _timed(timings, "commit"):
                st.commit()
    summary = _render(run, store, report_dir, timings, problems, installations, progress)
    # a writer's run only (readers leave the store's folder alone); after both positions, so it holds both
    return replace(summary, run=scan, problems=(*summary.problems, *run.ctx.remember()))


def store_spool(spool: str | Path, *, store: str, timings: dict[str, float] | None = None):
    """The ingest, normalise and store stages of ``process_spool`` alone (benchmarks, tools):
    ``(scan, problems, history, stored entitlements)``, the scan committed to ``store``."""
    timings = {} if timings is None else timings
    host_files(Path(spool))
    with open_store(store) as st:
        scan, problems = _ingest(st, spool, timings)
        history, stored = st.scans(), st.entitlements()
        with _timed(timings, "commit"):
            st.commit()
    return scan, problems, history, stored


def render_stored(store: str, report_dir: str | Path, scan_id: str | None = None, *,
                  settings: LicenceSettings | None = None, as_of: dt.date | None = None,
                  installations: bool = True, policy: str | Path | None = None) -> RunSummary:
    """Reconcile and render the reports again from the store: the fleet now, right after run
    ``scan_id``, or as it stood on ``as_of`` (with the entitlements valid then; after a run without
    ``as_of``: those valid on the day it finished), under ``policy`` (default: ``policy_path``'s).
    A reader: nothing is sent or written to the store."""
    alerts = notify.AlertSettings.from_env(policy=policy, send=False)
    with open_store(store, create=False, readonly=True) as st:
        fleet = load_fleet(st, store, scan_id, as_of, retire_days(alerts.policy))
        terms = as_of or (fleet.finished_day if scan_id is not None else None)
        run = _reconcile(st, store, fleet, settings, terms, alerts, {}, record=False)
        run.warnings = _warnings(st, store, run, as_of, scan_id)
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
    warnings: tuple[str, ...] = ()  # what the findings cannot be trusted for (``findings.fleet_warnings``)


def _ingest(st, spool: str | Path, timings: dict[str, float], on_host=None) -> tuple[Scan, list[Problem]]:
    with _timed(timings, "ingest+normalise"):  # streamed, on every core for a large spool
        scan, problems = ingest_parallel.build_scan_from_spool(spool, st.last_inventory, on_host=on_host,
                                                               last_source=st.last_source)
    with _timed(timings, "store"):
        st.save_scan(scan)
    return scan, problems


def _reconcile(st, location: str, scan: Scan, settings, as_of, alerts: notify.AlertSettings, timings,
               record: bool = True, prepared: PreparedCatalogue | None = None) -> _Reconciled:
    """Reconcile the fleet ``scan`` against the stored licence data and (``record``) record, in the
    session ``st``, the findings' state and this scan's position summary (once per scan);
    licence-data problems are kept for the report without stopping the run."""
    history = st.scans()
    previous, summaries = _past(st, history, scan.scan_id)
    with _timed(timings, "reconcile"):
        ctx = load_context(settings or LicenceSettings.from_env(), as_of or dt.date.today(), st.entitlements(),
                           memory=RecognitionCache.beside(location), prepared=prepared)
        position = position_of(scan.hosts, ctx)
    held = record and ctx.has_errors  # a rejected licence file is missing from the position: keep nothing of it
    with _timed(timings, "findings"):  # findings and their state; notifications are queued, not sent
        outbox = notify.record_findings(None if held else st, scan, position, ctx, alerts)
    if held:
        outbox.outcome.problems.append(Problem(
            str(ctx.settings.licences_dir), "the licence data has errors: the scan is stored, but no finding is "
            "recorded or notified and the scan's position is not kept; fix them, then run fleetsam report", "error"))
    elif record and scan.scan_id not in summaries:
        st.save_scan_summary(scan_summary(scan.scan_id, position))
    return _Reconciled(scan, history, ctx, position, outbox, previous, summaries)


def _warnings(st, location: str, run: _Reconciled, as_of: dt.date | None, scan_id: str | None) -> tuple[str, ...]:
    """The fleet's warnings as ``fleetsam check`` words them: no host (the fleet after run ``scan_id`` or
    at the end of ``as_of``), or every host stale; the report must not pass a fleet nothing was measured on."""
    policy = run.outbox.outcome.policy
    if not run.scan.hosts:
        return (no_host(st, location, run.scan, as_of, policy.retire_days, scan_id),)
    return all_stale(run.scan, run.ctx.as_of, policy.stale_days)


def _render(run: _Reconciled, store: str, report_dir, timings: dict[str, float], problems: list,
            installations: bool = True, progress: StageProgress = NO_PROGRESS) -> RunSummary:
    """Send the queued notifications, then write the reports."""
    # no time left for files: installations.csv alone takes most of it
    with progress.stage("report", total=len(render.REPORT_FILES) - (not installations), unit="files",
                        estimate=False) as stage:
        return _send_and_write(run, store, report_dir, timings, problems, installations, stage)


def _send_and_write(run: _Reconciled, store: str, report_dir, timings, problems, installations,
                    stage) -> RunSummary:
    with _timed(timings, "notify"):  # never raises on a channel
        found = notify.send(store, run.outbox)
    problems = [*problems, *run.ctx.problems, *found.problems]
    with _timed(timings, "history"):  # the previous scan's position under today's licence data, for the changes
        previous_position = (None if run.previous is None
                             else position_of(run.previous.hosts, run.ctx, licensable_only=True))
    rule = Staleness.on(run.ctx.as_of, found.policy.stale_days)
    with _timed(timings, "render"):
        model = report.build(run.scan, run.history, run.position, [*run.ctx.problems, *found.problems],
                             findings=found.rows, entitlements=run.ctx.entitlements, previous=run.previous,
                             previous_position=previous_position, summaries=run.summaries,
                             fail_on=found.policy.fail_on, policy=found.policy.origin, warnings=run.warnings,
                             staleness=rule)
        files = render.write_reports(model, Path(report_dir), run.scan, run.position, installations=installations,
                                     on_file=stage.step)
        stage.finish()
    return RunSummary(run.scan, tuple(files), tuple(problems), timings, run.position, found,
                      len(run.ctx.entitlements), licence_errors=run.ctx.has_errors,
                      stale=sum(1 for h in run.scan.hosts if rule.stale(h)))


def _past(st, history, scan_id: str) -> tuple[Scan | None, dict]:
    """The fleet as it stood after the run stored just before ``scan_id`` (for the changes) and the
    recorded per-scan summaries."""
    ids = [i.scan_id for i in history]
    n = ids.index(scan_id) if scan_id in ids else len(ids)
    return (st.load_scan(ids[n - 1]) if n > 0 else None), st.scan_summaries()
