"""Findings: what needs someone's attention, computed after every scan (pure functions).

``compute_findings(scan, position, entitlements, policy, as_of)`` reads the
fleet (a ``Scan`` of every known host), its Effective Licence Position, the entitlements and the policy
and returns one ``Finding`` per problem, of seven types:

  under-licensed  a product uses more than is owned (something is owned)
  unlicensed      the catalogue says a licence is required and nothing owned counts
  prohibited      software on the policy's deny-list, on a host outside its allowed groups
  expiring        a subscription term or maintenance ends within ``expiring_days``, or ended
                  less than ``expiring_days`` ago (``expired``: the finding stays, never "resolved")
  shelfware       owned more than ``shelfware_ratio`` x what is used
  stale-host      a fleet host not inventoried for ``stale_days`` (or never)
  topology-unknown  VMs of a product counted at its physical servers whose server is not known:
                  counted per VM, which may understate the count

Identity: ``finding_id`` is ``f-`` + 12 hex digits of SHA-256 over the type
and the finding's *subject* (the product ``publisher|product|edition``, the
entitlement and which end, or the inventory host), case-folded. It does not
depend on the scan, the hosts or the figures, so the same problem keeps its
id from one night to the next and the notification state can follow it.

``magnitude`` is the figure that makes a finding *worse* when it grows (the
shortfall; the number of hosts with prohibited software); severity rising
(an expiry becoming urgent) is worse too. ``first_seen``/``last_seen`` are
the scan's time here; ``notify.track`` replaces ``first_seen`` with the
stored one.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from sam_engine.licensing.coverage import term_state
from sam_engine.model import Entitlement, HostScan, Scan
from sam_engine.findings.policy import DenyRule, Policy
from sam_engine.licensing.position import LicencePosition, ProductPosition, product_label
from sam_engine.staleness import Staleness
from sam_engine.vocabulary import DEFAULT_SEVERITY, URGENT_EXPIRY_SEVERITY, FindingType, Status, severity_rank, units


@dataclass(frozen=True, slots=True)
class Finding:
    finding_id: str
    type: str
    subject: str
    severity: str
    title: str
    detail: str
    hosts: tuple[str, ...] = ()
    entitlements: tuple[str, ...] = ()
    magnitude: int = 0
    first_seen: str = ""
    last_seen: str = ""
    expired: bool = False  # an expiring finding whose term has ended (announced as "expired")


def finding_id(finding_type: str, subject: str) -> str:
    blob = f"{finding_type}\0{subject.casefold()}".encode("utf-8")
    return "f-" + hashlib.sha256(blob).hexdigest()[:12]


def _label(p: ProductPosition) -> str:
    return product_label(p.publisher, p.product, p.edition)


def _subject(p: ProductPosition) -> str:
    return "|".join(x or "" for x in (p.publisher, p.product, p.edition))


def _hosts(hosts: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(hosts[:limit])
    return shown + (f" and {len(hosts) - limit} more" if len(hosts) > limit else "")


def _entitlements(p: ProductPosition) -> tuple[str, ...]:
    ids = [e for line in p.ownership.trace for e in line.entitlements] + [e for e, _ in p.ownership.entitlements]
    return tuple(dict.fromkeys(ids))


def _new(kind: FindingType, subject: str, title: str, detail: str, hosts=(), entitlements=(), magnitude: int = 0,
         severity: str | None = None, expired: bool = False) -> Finding:
    """A finding of type ``kind``, at the type's default severity unless ``severity`` is given."""
    return Finding(finding_id(kind, subject), kind.value, subject, severity or DEFAULT_SEVERITY[kind], title, detail,
                   tuple(hosts), tuple(entitlements), magnitude, expired=expired)


def licence_findings(position: LicencePosition) -> list[Finding]:
    """Under-licensed and unlicensed products of the position."""
    out = []
    for p in position.products:
        if p.follows:  # the edition's own row carries the finding
            continue
        metric = p.consumption.metric
        cost = f"; the gap costs {p.cost.amount} {p.cost.currency or ''}".rstrip() if p.cost else ""
        uses = (f"use unknown: no {p.consumption.missing}" if p.consumption.missing
                else f"uses {units(p.consumption.quantity, metric)}")
        if p.status is Status.UNDER_LICENSED:
            out.append(_new(
                FindingType.UNDER_LICENSED, _subject(p),
                f"{_label(p)}: under-licensed by {units(p.shortfall, metric)}",
                f"{uses}, owns {p.owned}, shortfall {p.shortfall}{cost}; "
                f"on {_hosts(p.hosts)}", p.hosts, _entitlements(p), p.shortfall))
        elif p.status is Status.UNLICENSED:
            out.append(_new(
                FindingType.UNLICENSED, _subject(p),
                f"{_label(p)}: commercial software without a licence",
                f"the catalogue says a licence is required; nothing owned counts; {uses}{cost}; "
                f"on {_hosts(p.hosts)}", p.hosts, _entitlements(p), p.shortfall))
    return out


def topology_findings(position: LicencePosition) -> list[Finding]:
    """Products under a host-level rule (``licensing.host_metrics``) with VMs no hypervisor reports."""
    out = []
    for p in position.products:
        vms = p.consumption.unplaced
        if not vms or p.follows:
            continue
        many = len(vms) != 1
        rule = p.consumption.host_rule or "soft partitioning"
        out.append(_new(
            FindingType.TOPOLOGY_UNKNOWN, _subject(p),
            f"{_label(p)}: {rule}: host unknown, count may be understated",
            f"{len(vms)} VM{'s' if many else ''} ({_hosts(vms)}) {'are' if many else 'is'} counted by {'their' if many else 'its'} "
            f"own virtual hardware, but the rule ({p.consumption.rule}) counts the physical servers "
            f"{'they' if many else 'it'} can run on; no scanned hypervisor reports {'them' if many else 'it'}",
            vms, _entitlements(p), len(vms)))
    return out


def _denied(rule: DenyRule, p: ProductPosition) -> bool:
    def like(pattern: str | None, value: str | None) -> bool:
        return pattern is None or (value is not None and fnmatch.fnmatchcase(value.casefold(), pattern.casefold()))

    return like(rule.product, p.product) and like(rule.publisher, p.publisher)


def prohibited_findings(position: LicencePosition, host_groups: dict[str, tuple[str, ...]],
                        rules: Sequence[DenyRule], severity: str = DEFAULT_SEVERITY[FindingType.PROHIBITED]
                        ) -> list[Finding]:
    """Deny-listed software on hosts outside the rule's allowed inventory groups."""
    out = []
    for p in position:
        rule = next((r for r in rules if _denied(r, p)), None)
        if rule is None:
            continue
        allowed = {g.casefold() for g in rule.allow_groups}
        hosts = tuple(h for h in p.hosts if not allowed & {g.casefold() for g in host_groups.get(h, ())})
        if not hosts:
            continue
        why = f" ({rule.reason})" if rule.reason else ""
        unless = f"; allowed only in groups {', '.join(rule.allow_groups)}" if rule.allow_groups else ""
        out.append(_new(
            FindingType.PROHIBITED, _subject(p),
            f"{_label(p)}: prohibited software on {len(hosts)} host{'s' if len(hosts) != 1 else ''}",
            f"denied by the policy rule for {rule.label} at {rule.origin}{why}{unless}; on {_hosts(hosts)}",
            hosts, _entitlements(p), len(hosts), rule.severity or severity))
    return out


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _terms(entitlements: Iterable[Entitlement], as_of: dt.date) -> Iterable[tuple[Entitlement, str, dt.date]]:
    """Each ``(entitlement, "subscription" | "maintenance", end)`` that can expire: the term of one that
    has started, and the maintenance of one still active (a lapsed subscription's goes with it)."""
    for ent in entitlements:
        start, end, maintenance = _date(ent.term_start), _date(ent.term_end), _date(ent.maintenance_end)
        if start is not None and as_of < start:
            continue
        if end is not None:
            yield ent, "subscription", end
        if maintenance is not None and term_state(ent, as_of).active:
            yield ent, "maintenance", maintenance


def lapsed_ids(entitlements: Iterable[Entitlement], as_of: dt.date, policy: Policy) -> frozenset[str]:
    """Ids of the expiry findings of terms that ended more than ``expiring_days`` ago: gone from the
    findings because time passed, not because anything was renewed (``notify.track``)."""
    return frozenset(finding_id(FindingType.EXPIRING, f"{ent.entitlement_id}:{which}")
                     for ent, which, end in _terms(entitlements, as_of)
                     if (as_of - end).days > policy.expiring_days)


def expiring_findings(entitlements: Iterable[Entitlement], position: LicencePosition, as_of: dt.date,
                      policy: Policy) -> list[Finding]:
    """Subscriptions and maintenance ending within ``policy.expiring_days``, or that ended less than
    ``expiring_days`` ago (``expired``, at the urgent severity: the entitlement owns nothing now)."""
    used_by: dict[str, set[str]] = {}
    for p in position.products:
        for eid, _ in p.ownership.entitlements:
            used_by.setdefault(eid, set()).update(p.hosts)
    out = []
    for ent, which, end in _terms(entitlements, as_of):
        left = (end - as_of).days
        if abs(left) > policy.expiring_days:
            continue
        severity = URGENT_EXPIRY_SEVERITY if left <= policy.expiring_urgent_days else None
        hosts = tuple(sorted(used_by.get(ent.entitlement_id, ())))
        when = ("today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}" if left > 0
                else f"{-left} day{'s' if left != -1 else ''} ago")
        out.append(_new(
            FindingType.EXPIRING, f"{ent.entitlement_id}:{which}",
            f"{product_label(ent.publisher, ent.product, ent.edition)}: {which} "
            f"{'ends' if left >= 0 else 'ended'} on {end.isoformat()} ({when})",
            f"{ent.entitlement_id} ({ent.origin}), "
            + (units(ent.quantity, ent.metric) if ent.quantity is not None else f"unlimited {ent.metric}")
            + (f", PO {ent.po_number}" if ent.po_number else "")
            + (f"; covers {_hosts(hosts)}" if hosts else ""),
            hosts, (ent.entitlement_id,), severity=severity, expired=left < 0))
    return out


def shelfware_findings(position: LicencePosition, policy: Policy) -> list[Finding]:
    """Products owned far above use: more than ``shelfware_ratio`` x consumption."""
    out = []
    for p in position.products:
        if p.status in (Status.NO_LICENCE_NEEDED, Status.UNRECOGNISED, Status.NEEDS_DATA) or p.owned is None \
                or p.owned <= 0:
            continue
        used, unused = p.consumption.quantity, p.owned - p.consumption.quantity
        if unused < max(policy.shelfware_min_unused, 1) or p.owned <= used * policy.shelfware_ratio:
            continue
        out.append(_new(
            FindingType.SHELFWARE, _subject(p),
            f"{_label(p)}: {unused} of {units(p.owned, p.consumption.metric)} unused",
            f"owns {p.owned}, uses {used} (more than {policy.shelfware_ratio} x use)"
            + (f"; on {_hosts(p.hosts)}" if p.hosts else "; installed nowhere"),
            p.hosts, _entitlements(p)))
    return out


def stale_host_findings(hosts: Iterable[HostScan], as_of: dt.date, policy: Policy) -> list[Finding]:
    """Fleet hosts not inventoried for ``stale_days`` days (not reached, or in no run's scope since),
    or never; the age is measured on the day the fleet is aged on (``staleness.aged_on``)."""
    rule, out = Staleness.on(as_of, policy.stale_days), []
    for hs in hosts:
        seen = _date(hs.collected_at)
        if seen is None and hs.stale:
            title, detail = f"{hs.inventory_name}: never scanned successfully", f"{hs.status.value}: {hs.error or ''}"
        elif seen is not None and rule.out_of_date(hs):
            why = f"{hs.status.value} ({hs.error or 'no detail'})" if hs.stale else "not in any run's scope since"
            title = f"{hs.inventory_name}: not seen for {rule.age(hs)} days"
            detail = (f"{why}; last inventory from scan {hs.inventory_scan_id} on {seen.isoformat()} still counts "
                      f"until retire_days ({policy.retire_days or 'never'})")
        else:
            continue
        out.append(_new(FindingType.STALE_HOST, f"host:{hs.inventory_name}", title, detail.strip(": "),
                        (hs.inventory_name,)))
    return out


def compute_findings(scan: Scan, position: LicencePosition, entitlements: Iterable[Entitlement], policy: Policy,
                     as_of: dt.date) -> list[Finding]:
    """Every finding of ``scan`` on ``as_of``, most severe first; ``first_seen``/``last_seen`` = the scan's end."""
    groups = {hs.inventory_name: hs.groups for hs in scan.hosts}
    found = [
        *licence_findings(position),
        *prohibited_findings(position, groups, policy.prohibited,
                             policy.severity_of(FindingType.PROHIBITED, DEFAULT_SEVERITY[FindingType.PROHIBITED])),
        *expiring_findings(entitlements, position, as_of, policy),
        *shelfware_findings(position, policy),
        *stale_host_findings(scan.hosts, as_of, policy),
        *topology_findings(position),
    ]
    out = [replace(f, severity=f.severity if f.type == FindingType.PROHIBITED else policy.severity_of(f.type, f.severity),
                   first_seen=scan.finished, last_seen=scan.finished) for f in found]
    return sort_findings(out)


def sort_findings(found: Iterable[Finding]) -> list[Finding]:
    return sorted(found, key=lambda f: (-severity_rank(f.severity), f.type, f.title.casefold(), f.finding_id))


def finding_row(f: Finding, state: str = "open") -> dict:
    """The plain dict of a finding, for report.json, webhooks and ``fleetsam check``."""
    return {"id": f.finding_id, "type": f.type, "severity": f.severity, "title": f.title, "detail": f.detail,
            "first_seen": f.first_seen, "last_seen": f.last_seen, "hosts": list(f.hosts),
            "entitlements": list(f.entitlements), "state": state}
