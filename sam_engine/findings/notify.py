"""Notification state: tell people only when a finding is new, gets worse, expires, or is resolved.

After every scan the pipeline calls ``record_findings`` in the scan's store
session: it computes the findings (``detect.compute_findings``), compares them
with the state kept in the store (table ``findings_state``, one document per
finding id) and queues one *event* per channel for what changed (table
``notify_outbox``), and claims the pending deliveries this run sends (``outbox``). Once
that session is committed, ``send`` gives each channel one message with all its claimed
events; what was delivered leaves the outbox, what failed stays there with its attempt
count and (masked) last error and is sent again on the next run, unless it was refused
for good (``outbox``). A nightly scan of an unchanged fleet queues nothing and sends nothing.

The state of a finding (``track``, a pure function)::

    first_seen, last_seen, resolved_at             the finding itself
    severity, magnitude, title, detail, hosts ...  as last computed
    notified_state                                 None | new | worse | expired | resolved | lapsed
    notified_severity, notified_magnitude          the baseline "worse" is measured from

* present, a term that has ended (``Finding.expired``), not announced so -> event ``expired``
* present, never announced (or announced resolved)  -> event ``new``
* present, severity or magnitude above the baseline -> event ``worse``
* present, better than the baseline                 -> baseline lowered, no event
* absent, its term ended a while ago (``lapsed``)   -> closed quietly (``expired`` if never told)
* absent, announced new/worse/expired               -> event ``resolved``

An expiry finding leaves the findings when its entitlement is renewed or removed
(resolved) or some time after the term ended (``detect.lapsed_ids``): a term that
ends is never announced as resolved.

Without a notification file (or with a broken one) the findings are still
tracked but the baseline is left alone, so everything is announced once the
configuration works. ``record_findings`` works in the caller's store session
(the scan's own, in the pipeline); ``send`` runs after it is committed, so a
crash or a dead server loses nothing and a slow server holds no store lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from sam_engine.located_yaml import ConfigError
from sam_engine.findings import outbox
from sam_engine.findings.detect import Finding, compute_findings, finding_row, lapsed_ids
from sam_engine.model import Problem, Scan
from sam_engine.findings.notify_config import EVENTS, NotifyConfig, load_notify_config, notify_path
from sam_engine.findings.policy import Policy, load_policy, policy_path
from sam_engine.licensing.position import LicencePosition
from sam_engine.vocabulary import SEVERITIES, severity_rank


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


ANNOUNCED = ("new", "worse", "expired")  # notified states of a finding people were told is there


def track(findings: Sequence[Finding], states: Mapping[str, dict], now: str, notifying: bool,
          scan_id: str = "", replay: bool = False, lapsed: frozenset[str] = frozenset()) -> Tracked:
    """New state documents, report rows and events for ``findings`` against the stored ``states``.

    ``replay``: the scan ``scan_id`` was tracked before (``fleetsam report``): its rows get the
    labels they had then, so a report rendered again equals the first one. ``lapsed``: ids of
    expiry findings gone because their term ended a while ago, not because anything was renewed.
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
            if f.expired and doc["notified_state"] != "expired":
                label = "expired"
                _announce(doc, "expired", now)
            elif doc["notified_state"] not in ANNOUNCED:
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
        if fid in lapsed:  # the term ended: nothing was resolved
            if doc.get("resolved_at") is not None and doc.get("notified_state") not in ANNOUNCED:
                continue
            doc.update(resolved_at=doc.get("resolved_at") or now, resolved_scan_id=scan_id)
            if notifying and doc.get("notified_state") in ("new", "worse"):  # its end fell between two runs
                _announce(doc, "expired", now)
                events.append({"event": "expired", "at": now, "finding": _row_of_state(doc, "expired")})
            if notifying:
                doc["notified_state"] = "lapsed"
            docs.append(doc)
            continue
        if doc.get("resolved_at") is None:
            doc.update(resolved_at=now, resolved_scan_id=scan_id)
            rows.append(_row_of_state(doc, "resolved"))
        elif not (notifying and doc.get("notified_state") in ANNOUNCED):
            continue
        if notifying and doc.get("notified_state") in ANNOUNCED:
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
    dead: dict[str, int] = field(default_factory=dict)  # channel -> events given up by this run
    pending: int = 0  # events still waiting after this run
    pending_by: dict[str, int] = field(default_factory=dict)  # channel -> events still waiting
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
            changed = ", ".join(f"{kinds[k]} {k}" for k in EVENTS if kinds[k]) or "nothing new"
            sent = ", ".join(f"{c} ({n})" for c, n in self.sent.items())
            text = f"notifications: {changed}" + (f"; sent to {sent}" if sent else "")
            out.append(text)
            for channel, error in self.failed.items():
                waiting = self.pending_by.get(channel, 0)
                out.append(f"notifications: {channel} failed: {error}"
                           + (f"; {waiting} pending, retried on the next run" if waiting else ""))
            for channel, dead in self.dead.items():
                out.append(f"notifications: {channel}: {dead} event{'s' if dead != 1 else ''} given up (refused "
                           f"for good or after {outbox.MAX_ATTEMPTS} attempts), kept undeliverable in the store's "
                           f"outbox; new events go in new messages")
        return out




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


@dataclass
class Outbox:
    """What ``record_findings`` left for ``send``: the outcome so far and the deliveries to make."""

    outcome: FindingsOutcome
    config: NotifyConfig | None = None
    pending: list[dict] = field(default_factory=list)  # claimed by this run (``run_id``)
    now: str = ""
    run_id: str = ""


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
    clock, notifying = dt.datetime.now(dt.timezone.utc), config is not None
    now = outbox.stamp(clock)
    tracked = track(found, {d["id"]: d for d in st.finding_states()}, now, notifying, scan.scan_id,
                    replay=not settings.send, lapsed=lapsed_ids(ctx.entitlements, ctx.as_of, policy))
    outcome.rows, outcome.events, outcome.notifying = tracked.rows, tracked.events, notifying
    if not settings.send:
        return Outbox(outcome)
    st.save_finding_states(tracked.states)
    if config is None:
        return Outbox(outcome)
    st.save_deliveries(outbox.queue(tracked.events, config))
    known = {c.name for c in config.channels}
    orphans = [d["delivery_id"] for d in st.deliveries() if d["channel"] not in known]
    if orphans:
        st.remove_deliveries(orphans)
        outcome.problems.append(Problem(str(settings.notify), f"{len(orphans)} pending notifications dropped: "
                                                              "their channel is no longer configured", "warning"))
    run_id = uuid.uuid4().hex
    claimed = outbox.claim(st, config, clock, run_id)
    outbox.count_pending(st, config, outcome)
    return Outbox(outcome, config, claimed, now, run_id)


def send(store: str, box: Outbox) -> FindingsOutcome:
    """Send what ``record_findings`` claimed, outside any store session (a slow server holds no lock),
    then keep the result: delivered events leave the outbox, failed ones stay for the next run."""
    if box.config is None or not box.pending:  # nothing claimed: no second store session (it would rewrite the file)
        return box.outcome
    delivered, failed = outbox.dispatch(box.config, box.pending, box.now, box.outcome)
    outbox.settle(store, box.config, box.run_id, delivered, failed, box.outcome)
    return box.outcome
