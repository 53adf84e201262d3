"""Procurement rows that restate a stored purchase line with other values.

An entitlement's id is a hash of every field (``schema.entitlement_id``), so a
row read again unchanged is recognised and stored once. A row that describes
the same purchase line with a value changed is not: an export re-run after a
correction (a quantity fixed, an end date moved), or the same file imported
through a mapping that maps one more or one fewer column. Stored beside the
first, both would count: 8 cores and then 10 cores on one order read as 18.

The purchase line is the purchase order number with the publisher, product,
edition and metric bought on it. A row whose line is stored under another id is
``Restated``; the import refuses it unless told to replace the stored
entitlement or to keep both (two purchases of one product on one order, in
separate imports). Rows without a purchase order number have no line: only
identical rows are recognised for them.

Example: ``v1.csv:2`` stored PO-1 Microsoft SQL Server Standard, core, 8; ``v2.csv:2``
has the same with 10 -> ``v2.csv:2: purchase line PO-1 Microsoft SQL Server Standard
(core) is stored already as ent-... from v1.csv:2; this row differs in quantity (8 -> 10)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from sam_engine.entitlements.schema import FIELDS
from sam_engine.model import Entitlement, Problem
from sam_engine.plain_text import one_line

# what one line of a purchase order is; the other fields are what a restatement may change
LINE = ("po_number", "publisher", "product", "edition", "metric")
COMPARED = tuple(name for name in FIELDS if name not in (*LINE, "keys"))
CHOICES = "--replace replaces the stored entitlement with this row; --keep-both stores both (they add up)"


def purchase_line(ent: Entitlement) -> tuple[str, ...] | None:
    """The purchase line ``ent`` was bought on; None without a purchase order number."""
    if not (ent.po_number or "").strip():
        return None
    return tuple(" ".join(str(getattr(ent, name) or "").split()).casefold() for name in LINE)


@dataclass(frozen=True)
class Restated:
    """A new row and the stored entitlements of its purchase line (ids differ: some value does)."""

    row: Entitlement
    stored: tuple[Entitlement, ...]

    def problem(self, severity: str = "error") -> Problem:
        row, first = self.row, self.stored[0]
        what = one_line(" ".join(filter(None, (row.po_number, row.publisher, row.product, row.edition))))
        where = ", ".join(f"{e.entitlement_id} from {one_line(e.origin)}" for e in self.stored)
        changed = "; ".join(f"{name} ({_shown(getattr(first, name))} -> {_shown(getattr(row, name))})"
                            for name in COMPARED if getattr(first, name) != getattr(row, name))
        text = (f"purchase line {what} ({row.metric}) is stored already as {where}; this row differs in "
                f"{changed or 'its licence keys only'}")
        return Problem(row.origin, f"{text}: {CHOICES}" if severity == "error" else f"{text}: both are kept",
                       severity)


def _shown(value) -> str:
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple):
        return one_line(", ".join(map(str, value)))
    return one_line(str(value))


def restated(items: Iterable[Entitlement], stored: Sequence[Entitlement]) -> list[Restated]:
    """The ``items`` (rows of one import) not stored as they are whose purchase line is stored."""
    ids = {e.entitlement_id for e in stored}
    by_line: dict[tuple[str, ...], list[Entitlement]] = {}
    for ent in stored:
        line = purchase_line(ent)
        if line is not None:
            by_line.setdefault(line, []).append(ent)
    found = []
    for item in items:
        line = purchase_line(item)
        if item.entitlement_id not in ids and line in by_line:
            found.append(Restated(item, tuple(by_line[line])))
    return found


def replacing(found: Sequence[Restated], items: Iterable[Entitlement]) -> tuple[list[str], dict[str, Entitlement]]:
    """What ``--replace`` does: the file's rows become what is stored of each restated purchase line.
    Returns the stored ids to remove (those of the line that no row of ``items`` repeats as it is)
    and the restating rows by id as they are stored: with the keys of the entitlements they replace
    when they name none (an export without the key column must not drop the keys of a purchase)."""
    kept = {e.entitlement_id for e in items}
    removed = list(dict.fromkeys(e.entitlement_id for r in found for e in r.stored if e.entitlement_id not in kept))
    gone = set(removed)
    rows, given = {}, set()  # a key goes to one row: the first of its line that names none
    for r in found:
        keys = tuple(dict.fromkeys(k for e in r.stored if e.entitlement_id in gone for k in e.keys if k not in given))
        rows[r.row.entitlement_id] = r.row if r.row.keys or not keys else replace(r.row, keys=keys)
        given.update(rows[r.row.entitlement_id].keys)
    return removed, rows
