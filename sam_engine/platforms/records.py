"""Package records (the ``software`` list of ``fleetsam.sam.software_facts``) to installations.

A record is a dict with ``source``, ``name``, ``version``, ``arch``, ``vendor``,
``install_time``, ``package_id``, ``location`` and ``extra``; the Linux module
sends them as they are and the macOS reader (``macos.software_records``) makes
them from raw command output. A record without ``source`` or ``name`` is a
warning, never a guess.

A Linux fleet is most of a spool's bytes, so records also go straight into the
compact form (``ingest.inventory``): ``inventory_fast`` at C speed for records
of the module's exact shape, ``inventory_careful`` for anything else; both
give what ``installations`` gives (tests/unit/test_inventory.py).
"""

from __future__ import annotations

import operator
from array import array
from typing import Any, Iterable

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable
from sam_engine.model import Installation, Problem


def _bad(origin: str, n: int) -> Problem:
    return Problem(f"{origin}: software[{n}]", "record without source or name", "warning")


def installations(records: Iterable[Any], origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
    """Model installations of ``records``; a record that is not a dict with a source and a name is a problem."""
    items: list[Installation] = []
    problems: list[Problem] = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or not rec.get("name") or not rec.get("source"):
            problems.append(_bad(origin, n))
            continue
        install_time = rec.get("install_time")
        items.append(
            Installation(
                source=str(rec["source"]),
                name=str(rec["name"]),
                version=None if rec.get("version") is None else str(rec["version"]),
                arch=rec.get("arch") or None,
                vendor=rec.get("vendor") or None,
                install_time=install_time if isinstance(install_time, int) else None,
                package_id=str(rec.get("package_id") or f"{rec['source']}:{rec['name']}"),
                location=rec.get("location") or None,
            )
        )
    return tuple(items), problems


def inventory_careful(records: Iterable[Any], origin: str, table: RowTable) -> tuple[Inventory, list[Problem]]:
    """``installations`` straight into ``table``: the same checks and conversions, without an
    ``Installation`` object per record (each becomes a row id and an install time).
    Raises TypeError or OverflowError for values the compact form cannot hold."""
    problems: list[Problem] = []
    index, rows = table.index, table.rows
    ids: list[int] = []
    times: list[int] = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or not rec.get("name") or not rec.get("source"):
            problems.append(_bad(origin, n))
            continue
        source, name, version = rec["source"], rec["name"], rec.get("version")
        install_time = rec.get("install_time")
        row = (str(source), str(name), None if version is None else str(version), rec.get("arch") or None,
               rec.get("vendor") or None, str(rec.get("package_id") or f"{source}:{name}"),
               rec.get("location") or None)
        rid = index.get(row)
        if rid is None:
            rid = index[row] = len(rows)
            rows.append(row)
        ids.append(rid)
        times.append(install_time if isinstance(install_time, int) else NO_TIME)
    return Inventory(table, array("I", ids), array("q", times)), problems


_RAW_ROW = operator.itemgetter("source", "name", "version", "arch", "vendor", "package_id", "location")
_RAW_TIME = operator.itemgetter("install_time")


def inventory_fast(records: list, table: RowTable) -> Inventory | None:
    """The common case at C speed: every record a dict with every key (as the module writes them).

    Each distinct raw record (its 7 row fields as sent) is converted once and
    remembered on the table; a record is then one tuple and one dict look-up.
    None when a record is not of that shape or not valid: the careful path decides.
    """
    raw_index = table.cache.setdefault("raw", {})
    try:
        raws = list(map(_RAW_ROW, records))
        ids = list(map(raw_index.get, raws))
        times = array("q", [t if isinstance(t, int) else NO_TIME for t in map(_RAW_TIME, records)])
    except (KeyError, TypeError, OverflowError):
        return None
    if None in ids:
        for k, rid in enumerate(ids):
            if rid is None:
                raw = raws[k]
                source, name, version, arch, vendor, package_id, location = raw
                if not name or not source:
                    return None
                row = (str(source), str(name), None if version is None else str(version), arch or None,
                       vendor or None, str(package_id or f"{source}:{name}"), location or None)
                ids[k] = raw_index[raw] = table.intern(row)
    return Inventory(table, array("I", ids), times)


def inventory(records: Any, origin: str, table: RowTable) -> tuple[Inventory | tuple[Installation, ...], list[Problem]]:
    """Records in compact form with the problems found: the fast path, else the careful one, else
    (values the compact form cannot hold) the plain tuple of ``installations``."""
    if isinstance(records, list):
        fast = inventory_fast(records, table)
        if fast is not None:
            return fast, []
    try:
        return inventory_careful(records, origin, table)
    except (TypeError, OverflowError):  # odd values (a list as arch, a huge time): the general path
        pass
    items, problems = installations(records, origin)
    return Inventory.of(items, table), problems
