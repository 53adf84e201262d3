"""Notification state: tell people only when a finding is new, gets worse, or is resolved.

After every scan the pipeline calls ``record_findings`` in the scan's store
session: it computes the findings (``detect.compute_findings``), compares them
with the state kept in the store (table ``findings_state``, one document per
finding id) and queues one *event* per channel for what changed (table
``notify_outbox``). Once that session is committed, ``send`` gives each channel one
message with all its pending events; what was delivered leaves the outbox,
what failed stays there with its attempt count and (masked) last error and is
sent again on the next run. A nightly scan of an unchanged fleet queues nothing and sends nothing.

The state of a finding (``track``, a pure function)::

    first_seen, last_seen, resolved_at             the finding itself
    severity, magnitude, title, detail, hosts ...  as last computed
    notified_state                                 None | new | worse | resolved
    notified_severity, notified_magnitude          the baseline "worse" is measured from

* present, never announced (or announced resolved)  -> event ``new``
* present, severity or magnitude above the baseline -> event ``worse``
* present, better than the baseline                 -> baseline lowered, no event
* absent, announced new/worse                       -> event ``resolved``

Without a notification file (or with a broken one) the findings are still
tracked but the baseline is left alone, so everything is announced once the
configuration works. ``record_findings`` works in the caller's store session
(the scan's own, in the pipeline); ``send`` runs after it is committed, so a
crash or a dead server loses nothing and a slow server holds no store lock.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from sam_engine.located_yaml import ConfigError
from sam_engine.findings.detect import Finding, compute_findings, finding_row
from sam_engine.model import Problem, Scan
from sam_engine.findings.notify_config import NotifyConfig, load_notify_config, notify_path
from sam_engine.findings.policy import Policy, load_policy, policy_path
from sam_engine.licensing.position import LicencePosition
from sam_engine.vocabulary import SEVERITIES, severity_rank
from sam_engine.store import open_store


@dataclass(frozen=True)
class AlertSettings:
    """Where the policy and the notification file are, and secrets given by the caller."""

    policy: Path | None = None
    notify: Path | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    send: bool = True  # False: compute and label findings, write and send nothing (fleetsam report)

    @classmethod
    def from_env(cls, policy: str | Path | None = None, notify: str | Path | None = None,
                 secrets: Mapping[str, str] | None = None, send: bool = True) -> "AlertSettings":
        return cls(policy_path(policy), notify_path(notify), dict(secrets or {}), send)


@dataclass
class Tracked:
    rows: list[dict]  # current findings (state new/worse/open) and those resolved now (state resolved)
    states: list[dict]  # state documents to save
    events: list[dict]  # what to announce


def _state_doc(f: Finding, previous: dict | None, reopened: bool) -> dict:
    doc = dict(previous or {})
    doc.update({"id": f.finding_id, "type": f.type, "severity": f.severity, "magnitude": f.magnitude,
                "title": f.title, "detail": f.detail, "hosts": list(f.hosts), "entitlements": list(f.entitlements),
                "first_seen": f.first_seen if reopened else doc.get("first_seen", f.first_seen),
                "last_seen": f.last_seen, "resolved_at": None})
    doc.setdefault("notified_state", None)
    return doc


def _row_of_state(doc: dict, state: str) -> dict:
    return {"id": doc["id"], "type": doc["type"], "severity": doc["severity"], "title": doc["title"],
            "detail": doc.get("detail", ""), "first_seen": doc.get("first_seen"), "last_seen": doc.get("last_seen"),
            "hosts": list(doc.get("hosts") or ()), "entitlements": list(doc.get("entitlements") or ()),
            "state": state}


def _announce(doc: dict, kind: str, now: str) -> None:
    doc.update(notified_state=kind, notified_severity=doc["severity"], notified_magnitude=doc["magnitude"],
               notified_at=now)


def track(findings: Sequence[Finding], states: Mapping[str, dict], now: str, notifying: bool,
          scan_id: str = "", replay: bool = False) -> Tracked:
    """New state documents, report rows and events for ``findings`` against the stored ``states``.

    ``replay``: the scan ``scan_id`` was tracked before (``fleetsam report``): its rows get the
    labels they had then, so a report rendered again equals the first one.
    """
    rows, docs, events = [], [], []
    current = {f.finding_id for f in findings}
    for f in findings:
        previous = states.get(f.finding_id)
        if replay and previous and previous.get("scan_id") == scan_id:
            rows.append(_row_of_state(_state_doc(f, previous, False), previous.get("label", "open")))
            continue
        reopened = previous is None or previous.get("resolved_at") is not None
        doc = _state_doc(f, previous, reopened)
        label = "new" if reopened else "open"
        if notifying:
            if doc["notified_state"] in (None, "resolved"):
                label = "new"
                _announce(doc, "new", now)
            elif (severity_rank(f.severity) > severity_rank(doc.get("notified_severity") or SEVERITIES[0])
                  or f.magnitude > (doc.get("notified_magnitude") or 0)):
                label = "worse"
                _announce(doc, "worse", now)
            else:
                label = "open"
                doc["notified_severity"] = min(doc.get("notified_severity") or f.severity, f.severity,
                                               key=severity_rank)
                doc["notified_magnitude"] = min(doc.get("notified_magnitude") or 0, f.magnitude)
            if label != "open":
                events.append({"event": label, "at": now, "finding": _row_of_state(doc, label)})
        doc.update(scan_id=scan_id, label=label)
        docs.append(doc)
        rows.append(_row_of_state(doc, label))
    for fid, previous in states.items():
        if fid in current:
            continue
        doc = dict(previous)
        if replay:
            if doc.get("resolved_scan_id") == scan_id:
                rows.append(_row_of_state(doc, "resolved"))
            continue
        if doc.get("resolved_at") is None:
            doc.update(resolved_at=now, resolved_scan_id=scan_id)
            rows.append(_row_of_state(doc, "resolved"))
        elif not (notifying and doc.get("notified_state") in ("new", "worse")):
            continue
        if notifying and doc.get("notified_state") in ("new", "worse"):
            _announce(doc, "resolved", now)
            events.append({"event": "resolved", "at": now, "finding": _row_of_state(doc, "resolved")})
        docs.append(doc)
    return Tracked(rows, docs, events)


@dataclass
class FindingsOutcome:
    """What the findings stage did, for the report and the run's closing lines."""

    findings: list[Finding]
    rows: list[dict]
    policy: Policy
    problems: list[Problem] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)  # channel -> events delivered
    failed: dict[str, str] = field(default_factory=dict)  # channel -> masked error
    pending: int = 0  # events still waiting after this run
    terminal: list[str] = field(default_factory=list)
    notifying: bool = False

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if self.policy.fails(f.type)]

    def lines(self) -> list[str]:
        counts = Counter(f.severity for f in self.findings)
        shown = ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=severity_rank, reverse=True))
        out = [f"findings: {len(self.findings)}" + (f" ({shown})" if shown else "")
               + f"; {len(self.violations)} fail the policy ({self.policy.origin})"]
        out += self.terminal
        if self.notifying:
            kinds = Counter(e["event"] for e in self.events)
            changed = ", ".join(f"{kinds[k]} {k}" for k in ("new", "worse", "resolved") if kinds[k]) or "nothing new"
            sent = ", ".join(f"{c} ({n})" for c, n in self.sent.items())
            text = f"notifications: {changed}" + (f"; sent to {sent}" if sent else "")
            out.append(text)
            for channel, error in self.failed.items():
                out.append(f"notifications: {channel} failed: {error}; {self.pending} pending, retried on the next run")
        return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(settings: AlertSettings) -> tuple[Policy, NotifyConfig | None, list[Problem]]:
    problems: list[Problem] = []
    try:
        policy = load_policy(settings.policy)
    except ConfigError as exc:
        policy, problems = Policy(origin=f"{settings.policy}: rejected, defaults used"), exc.problems
    config = None
    if settings.notify is not None and settings.send:
        try:
            config = load_notify_config(settings.notify, settings.secrets)
        except ConfigError as exc:
            problems += exc.problems + [Problem(str(settings.notify), "notifications are off until this is fixed; "
                                                                      "nothing is lost", "warning")]
    return policy, config, problems


def _outbox(tracked: Tracked, config: NotifyConfig) -> list[dict]:
    docs = []
    for event in tracked.events:
        f = event["finding"]
        for channel in config.channels:
            if channel.wants(f["type"], f["severity"]):
                docs.append({"delivery_id": f"{channel.name}:{f['id']}:{event['event']}:{event['at']}",
                             "channel": channel.name, **event, "attempts": 0, "last_error": None})
    return docs


def _dispatch(config: NotifyConfig, pending: list[dict], now: str, outcome: FindingsOutcome) -> tuple[list, list]:
    """Send each channel its pending events; (delivered ids, updated failed docs)."""
    # only a run with notifications to send pays for SMTP, HTTP and TLS (a tenth of the engine's import)
    from sam_engine.findings.channels import DeliveryFailed, deliver

    delivered, failed = [], []
    for channel in config.channels:
        mine = [d for d in pending if d["channel"] == channel.name]
        if not mine:
            continue
        try:
            outcome.terminal += deliver(channel, mine, now)
        except DeliveryFailed as exc:
            outcome.failed[channel.display] = str(exc)
            failed += [{**d, "attempts": d.get("attempts", 0) + 1, "last_error": str(exc), "last_attempt": now}
                       for d in mine]
            continue
        except Exception as exc:  # a bug in one channel must not cost the others or the scan
            message = channel.mask(f"{exc.__class__.__name__}: {exc}")
            outcome.failed[channel.display] = message
            failed += [{**d, "attempts": d.get("attempts", 0) + 1, "last_error": message, "last_attempt": now}
                       for d in mine]
            continue
        if channel.type != "terminal":
            outcome.sent[channel.display] = len(mine)
        delivered += [d["delivery_id"] for d in mine]
    return delivered, failed


@dataclass
class Outbox:
    """What ``record_findings`` left for ``send``: the outcome so far and the deliveries to make."""

    outcome: FindingsOutcome
    config: NotifyConfig | None = None
    pending: list[dict] = field(default_factory=list)
    now: str = ""


def record_findings(st, scan: Scan, position: LicencePosition, ctx,
                    settings: AlertSettings | None = None) -> Outbox:
    """Findings of ``scan``; with an open store session ``st``, track them there and queue the
    notifications they call for (nothing is sent: see ``send``)."""
    settings = settings or AlertSettings.from_env()
    policy, config, problems = _load(settings)
    found = compute_findings(scan, position, ctx.entitlements, policy, ctx.as_of)
    outcome = FindingsOutcome(found, [finding_row(f, "open") for f in found], policy, problems)
    if st is None:
        return Outbox(outcome)
    now, notifying = _now(), config is not None
    tracked = track(found, {d["id"]: d for d in st.finding_states()}, now, notifying, scan.scan_id,
                    replay=not settings.send)
    outcome.rows, outcome.events, outcome.notifying = tracked.rows, tracked.events, notifying
    if not settings.send:
        return Outbox(outcome)
    st.save_finding_states(tracked.states)
    if config is None:
        return Outbox(outcome)
    st.save_deliveries(_outbox(tracked, config))
    known = {c.name for c in config.channels}
    orphans = [d["delivery_id"] for d in st.deliveries() if d["channel"] not in known]
    if orphans:
        st.remove_deliveries(orphans)
        outcome.problems.append(Problem(str(settings.notify), f"{len(orphans)} pending notifications dropped: "
                                                              "their channel is no longer configured", "warning"))
    return Outbox(outcome, config, st.deliveries(), now)


def send(store: str, box: Outbox) -> FindingsOutcome:
    """Send what ``record_findings`` queued, outside any store session (a slow server holds no lock),
    then keep the result: delivered events leave the outbox, failed ones stay for the next run."""
    if box.config is None:
        return box.outcome
    if not box.pending:  # nothing queued: no second store session (it would rewrite the file)
        box.outcome.pending = 0
        return box.outcome
    delivered, failed = _dispatch(box.config, box.pending, box.now, box.outcome)
    with open_store(store) as st:
        st.remove_deliveries(delivered)
        st.save_deliveries(failed)
        box.outcome.pending = len(st.deliveries())
    return box.outcome
