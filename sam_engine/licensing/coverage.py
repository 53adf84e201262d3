"""Which entitlement covers which installation: terms, editions, versions, suites.

Rules, each a small function:

* term: an entitlement owns something only on ``term_start <= as_of <= term_end``
  (absent bounds are open: no ``term_end`` is perpetual). Expired and not yet
  started entitlements own nothing. The maintenance end changes nothing in the
  count; it is only reported.
* product: publisher and product must match (case-insensitive). An entitlement
  naming an edition covers that edition; one naming ``edition: any`` covers
  every edition; one naming no edition covers only installations recognised
  without an edition (so an editionless Office entitlement never silently
  covers Standard and Home as well).
* edition lines: editions the catalogue lists as succeeding one another
  (``edition_lineage``: Professional Plus, then LTSC Professional Plus) are one
  row; an entitlement for a later edition covers an earlier edition's
  installations only with downgrade rights, never the reverse.
* version: inside ``version_range`` (``>=2016,<2020``); with downgrade rights
  also every earlier version (the range's lower bounds are dropped).
* suite: an active entitlement listing ``suite_components`` also covers those
  products of the same publisher, which are then counted under the suite; a
  component's own entitlements (Word) still cover its installations there, those
  of the suite's metric (``reconcile`` keeps what the others cover in Word's row).

Example: as of 2026-06-30, ``E1`` (Office Professional Plus, ``==2019``,
downgrade rights, term_end 2026-12-31) covers Office 2016 on pc1; ``E2`` (same
without downgrade rights) does not; an ``E3`` that ended on 2026-01-31 owns nothing;
``E4`` (Office LTSC Professional Plus, ``==2021``, downgrade rights) covers
Professional Plus 2019 and 2016 in the same row.

Versions are compared by ``versions.version_in_range`` (range syntax there).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sam_engine.licensing.editions import (NO_LINES, EditionLines, ProductKey, covers_edition, every_edition,
                                           product_key)
from sam_engine.licensing.metric_rules import norm
from sam_engine.model import Entitlement, Recognition
from sam_engine.licensing.versions import version_in_range

_SPEC = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class TermState:
    """Whether an entitlement owns anything on the as-of date, and why (text for traces)."""

    active: bool
    reason: str
    maintenance: str | None = None  # reported only, never changes the count


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text[:10]) if text else None


def term_state(ent: Entitlement, as_of: dt.date) -> TermState:
    """``TermState`` of ``ent`` on ``as_of``.

    >>> term_state(Entitlement("E1", "Oracle", "Database", "processor", 4, "x", term_end="2025-12-31"),
    ...            dt.date(2026, 1, 1)).reason
    'expired on 2025-12-31: owns nothing'
    """
    try:
        start, end, maint = _date(ent.term_start), _date(ent.term_end), _date(ent.maintenance_end)
    except ValueError as exc:
        return TermState(False, f"unreadable term date ({exc}): owns nothing")
    maintenance = None
    if maint is not None:
        maintenance = (f"maintenance ended on {maint.isoformat()}" if maint < as_of
                       else f"maintenance until {maint.isoformat()}")
    if start is not None and as_of < start:
        return TermState(False, f"term starts on {start.isoformat()}: owns nothing yet", maintenance)
    if end is not None and end < as_of:
        return TermState(False, f"expired on {end.isoformat()}: owns nothing", maintenance)
    reason = f"subscription until {end.isoformat()}" if end else "perpetual"
    return TermState(True, reason, maintenance)


# --- versions --------------------------------------------------------------------------------


def _downgrade_alternative(clauses: list[tuple[str, str]]) -> list[list[str]]:
    """One alternative of a range with its lower bounds dropped (a prefix ``==X.*`` becomes two)."""
    options: list[list[str]] = [[]]
    for op, bound in clauses:
        if op in (">", ">="):
            continue
        if op == "==" and bound.endswith(".*"):
            choices = [f"<{bound[:-2]}", f"=={bound}"]
        elif op == "==":
            choices = [f"<={bound}"]
        else:
            choices = [f"{op}{bound}"]
        options = [kept + [choice] for kept in options for choice in choices]
    return options


def downgrade_spec(spec: str) -> str:
    """The range with its lower bounds dropped: ``>=2016,<2020`` -> ``<2020``; ``2019`` -> ``<=2019``.

    A range with an alternative that has no upper bound covers every version: ``*``.
    """
    alternatives = []
    for alternative in spec.split("||"):
        clauses = []
        for part in alternative.split(","):
            if part.strip():
                m = _SPEC.match(part)
                if not m:
                    raise ValueError(f"version range {spec!r}: bad clause {part!r}")
                clauses.append(("==" if m.group(1) in (None, "=") else m.group(1), m.group(2)))
        for option in _downgrade_alternative(clauses):
            if not option:
                return "*"
            alternatives.append(",".join(option))
    return " || ".join(alternatives) or "*"


def covers_version(ent: Entitlement, version: str | None) -> tuple[bool, str]:
    """Whether ``ent``'s version range (widened by downgrade rights) covers ``version``, and why."""
    if not ent.version_range:
        return True, "any version"
    if not version:
        return False, f"version unknown, cannot check against {ent.version_range}"
    try:
        if version_in_range(version, ent.version_range):
            return True, f"{version} in {ent.version_range}"
        spec = downgrade_spec(ent.version_range) if ent.downgrade_rights else ""
        if spec and version_in_range(version, spec):
            return True, f"{version} earlier than {ent.version_range}: downgrade rights"
    except ValueError as exc:
        return False, f"version range {ent.version_range!r} unreadable: {exc}"
    why = "no downgrade rights" if not ent.downgrade_rights else "not an earlier version"
    return False, f"{version} outside {ent.version_range} ({why})"


# --- products, editions and suites ----------------------------------------------------------

def ent_key(ent: Entitlement, lines: EditionLines = NO_LINES) -> ProductKey:
    """The row an entitlement belongs to; an ``edition: any`` entitlement's is the editionless row."""
    if every_edition(ent):
        return product_key(ent.publisher, ent.product, None)
    return lines.key(ent.publisher, ent.product, ent.edition)


def matches_product(ent: Entitlement, key: ProductKey, lines: EditionLines = NO_LINES) -> bool:
    """Same publisher and product, and the same row: same edition (line), none for none, or ``any``."""
    publisher, product, edition = ent_key(ent, lines)
    return (publisher, product) == key[:2] and (every_edition(ent) or edition == key[2])


def covers(ent: Entitlement, key: ProductKey, rec: Recognition, lines: EditionLines = NO_LINES) -> tuple[bool, str]:
    """Whether ``ent`` covers an installation recognised as ``rec`` counted under ``key``.

    A suite component's own entitlement (Word) covers its installations counted under the suite on its own terms.
    """
    own = lines.key(rec.publisher, rec.product, rec.edition)
    if key != own and matches_product(ent, own, lines):
        key = own
    if not matches_product(ent, key, lines):
        return False, "other product or edition"
    if key != own:  # counted under a suite
        if norm(rec.product) in {norm(c) for c in ent.suite_components}:
            return True, f"{rec.product} is a component of the suite"
        return False, f"{rec.product} is not among this entitlement's suite components"
    ok, edition = covers_edition(ent, rec, lines)
    if not ok:
        return False, edition
    ok, version = covers_version(ent, rec.version)
    return ok, f"{edition}; {version}" if edition and ok else version


def suite_owners(entitlements: list[Entitlement], active: set[str],
                 lines: EditionLines = NO_LINES) -> dict[tuple[str, str], ProductKey]:
    """(publisher, component) -> the suite's product key, from active suite entitlements only: an expired
    suite covers nothing, so its components stay products of their own (their own licences cover them).

    Example: an active Office Professional Plus entitlement listing Word and Excel maps
    ``("microsoft", "word")`` to ``("microsoft", "office", "professional plus")``.
    """
    owners: dict[tuple[str, str], ProductKey] = {}
    for ent in sorted(entitlements, key=lambda e: e.entitlement_id):
        if ent.entitlement_id not in active:
            continue
        for component in ent.suite_components:
            owners.setdefault((norm(ent.publisher), norm(component)), ent_key(ent, lines))
    return owners
