"""Package records (the ``software`` list of ``fleetsam.sam.software_facts``) to installations.

A record is a dict with ``source``, ``name``, ``version``, ``arch``, ``vendor``,
``install_time``, ``package_id``, ``location``, ``extra`` and ``origin`` (an
index into the result's ``origins``, read by ``origin_lines``); the Linux
module sends them as they are and the macOS reader (``macos.software_records``)
makes them from raw command output. A record without ``source`` or ``name`` is
a warning, never a guess.

Origins: ``fleetsam.sam.software_facts`` lists each distinct origin once
(``origins``, a list of dicts of raw facts) and gives each package record the
index of its own (``origin``). The engine keeps an installation's origin as
one line, the same for the same archive on every host, so the catalogue's
``origin`` rules match it like any other field (``licensing.catalogue_entries``)::

    apt origin=Debian label=Debian-Security suite=oldstable-security codename=bookworm-security component=main site=deb.debian.org match=version
    rpm vendor=Rocky Enterprise Software Foundation packager=Rocky Linux Build System (Peridot) <releng@rockylinux.org> key=702d426d350d275d
    apk tag= repositories=https://dl-cdn.alpinelinux.org/alpine/v3.19/main https://dl-cdn.alpinelinux.org/alpine/v3.19/community
    pacman repo=core match=version
    brew tap=homebrew/core license=BSD-3-Clause

The macOS collector's Homebrew records name their tap (and, from ``brew info``,
the formula's licence); ``tap_origins`` gives those records the same kind of table. Every field of the type is written, in
order, empty when the collector had none; line breaks and runs of spaces in a
value become one space, so a hostile Release file cannot start a line of its
own. Which origins are a distribution's own archive is the catalogue's
business, not this module's.

A Linux fleet is most of a spool's bytes, so records also go straight into the
compact form (``ingest.inventory``): ``inventory_fast`` at C speed for records
of the module's exact shape, ``inventory_careful`` for anything else; both
give what ``installations`` gives (tests/unit/test_inventory.py). A spooled list
as the module writes it (``software_json``: a record per line, its install time
last) is read before it is decoded (``inventory_from_lines``): a line is the
same on every host with that package, so the lines the table has seen are
looked up as they are, and only new ones are decoded (tests/unit/test_record_lines.py).
"""

from __future__ import annotations

import json
import operator
from array import array
from itertools import compress, repeat
from typing import Any, Iterable

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable
from sam_engine.ingest.spool_json import fast_loads
from sam_engine.model import Installation, Problem


ORIGIN_FIELDS = {  # per origin type, its fields in the order its line gives them
    "apt": ("origin", "label", "suite", "codename", "component", "site", "match"),
    "rpm": ("vendor", "packager", "key"),
    "apk": ("tag", "repositories"),
    "pacman": ("repo", "match"),
    "brew": ("tap", "license"),
    "chocolatey": ("license", "spdx", "source", "owners"),  # owners last: the one value with spaces
    "winget": ("source", "id", "licence"),  # licence last: the Store's sentence has spaces
}


def _value(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return " ".join(str(value).split())


def origin_line(entry: Any) -> str | None:
    """One origin entry as its line, or None when it is not a dict of a known ``type``."""
    if not isinstance(entry, dict) or entry.get("type") not in ORIGIN_FIELDS:
        return None
    kind = entry["type"]
    return " ".join([kind] + [f"{name}={_value(entry.get(name))}" for name in ORIGIN_FIELDS[kind]])


def origin_lines(table: Any, where: str) -> tuple[tuple[str | None, ...], list[Problem]]:
    """The line of each entry of a result's ``origins`` (None where an entry is unreadable), with a
    warning per unreadable entry; a missing table is no origins and no problem."""
    if table is None:
        return (), []
    if not isinstance(table, list):
        return (), [Problem(f"{where}: origins", f"expected a list of origins, found {type(table).__name__}; "
                                                 "package origins are left out", "warning")]
    lines, problems = [], []
    for n, entry in enumerate(table):
        line = origin_line(entry)
        if line is None:
            problems.append(Problem(f"{where}: origins[{n}]", f"expected a mapping with type one of "
                                    f"{', '.join(ORIGIN_FIELDS)}; the packages pointing at it have no origin",
                                    "warning"))
        lines.append(line)
    return tuple(lines), problems


def origin_of(index: Any, lines: tuple[str | None, ...]) -> str | None:
    """The origin line a record's ``origin`` index points at; None for none or an index out of range."""
    if type(index) is int and 0 <= index < len(lines):
        return lines[index]
    return None


def tap_origins(records: list[dict[str, Any]]) -> tuple[str | None, ...]:
    """Homebrew formulae and casks (``brew``, ``brew-cask`` records of ``platforms.macos``): each
    record's ``origin`` set to the index of its tap's line, which are returned."""
    lines: list[str | None] = []
    index: dict[str, int] = {}
    for record in records:
        extra = (record.get("extra") or {}) if record.get("source") in ("brew", "brew-cask") else {}
        tap = extra.get("tap")
        if isinstance(tap, str) and tap:
            line = origin_line({"type": "brew", "tap": tap, "license": extra.get("license")})
            record["origin"] = index.setdefault(line, len(lines))  # type: ignore[arg-type]
            if len(lines) < len(index):
                lines.append(line)
    return tuple(lines)


def _bad(origin: str, n: int) -> Problem:
    return Problem(f"{origin}: software[{n}]", "record without source or name", "warning")


_TEXT = (str, int, float)  # a number where text is expected (a version 2.1) is read as its text
_FIELDS = ("source", "name", "version", "arch", "vendor", "package_id", "location")
_INT64 = (-2**63, 2**63 - 1)


def _row(rec: Any, origin: str, n: int, lines: tuple = ()) -> tuple[tuple, int] | Problem:
    """The installation row and install time of record ``n``, or the problem that drops it: not a
    dict, no source or name, or a field that is not text (``software[12].arch: expected a string``)."""
    if not isinstance(rec, dict) or not rec.get("name") or not rec.get("source"):
        return _bad(origin, n)
    for key in _FIELDS:
        value = rec.get(key)
        if value is not None and (not isinstance(value, _TEXT) or isinstance(value, bool)):
            return Problem(f"{origin}: software[{n}].{key}", f"expected a string, found {type(value).__name__}; "
                                                             f"the record is left out", "warning")
    source, name, version = rec["source"], rec["name"], rec.get("version")
    arch, vendor, location = (rec.get(k) for k in ("arch", "vendor", "location"))
    install_time = rec.get("install_time")
    if not isinstance(install_time, int) or isinstance(install_time, bool) \
            or not _INT64[0] <= install_time <= _INT64[1]:
        install_time = NO_TIME
    return (str(source), str(name), None if version is None else str(version), str(arch) if arch else None,
            str(vendor) if vendor else None, str(rec.get("package_id") or f"{source}:{name}"),
            str(location) if location else None, origin_of(rec.get("origin"), lines)), install_time


def installations(records: Iterable[Any], origin: str, lines: tuple = ()) -> tuple[tuple[Installation, ...],
                                                                                   list[Problem]]:
    """Model installations of ``records`` (``lines``: the result's origin lines); a record that is not
    a dict with a source and a name, or has a field that is not text, is a problem (``_row``)."""
    items: list[Installation] = []
    problems: list[Problem] = []
    for n, rec in enumerate(records):
        read = _row(rec, origin, n, lines)
        if isinstance(read, Problem):
            problems.append(read)
            continue
        (source, name, version, arch, vendor, package_id, location, from_), install_time = read
        items.append(Installation(source=source, name=name, version=version, arch=arch, vendor=vendor,
                                  install_time=None if install_time == NO_TIME else install_time,
                                  package_id=package_id, location=location, origin=from_))
    return tuple(items), problems


def inventory_careful(records: Iterable[Any], origin: str, table: RowTable,
                      lines: tuple = ()) -> tuple[Inventory, list[Problem]]:
    """``installations`` straight into ``table``: the same checks and conversions, without an
    ``Installation`` object per record (each becomes a row id and an install time)."""
    problems: list[Problem] = []
    index, rows = table.index, table.rows
    ids: list[int] = []
    times: list[int] = []
    for n, rec in enumerate(records):
        read = _row(rec, origin, n, lines)
        if isinstance(read, Problem):
            problems.append(read)
            continue
        row, install_time = read
        rid = index.get(row)
        if rid is None:
            rid = index[row] = len(rows)
            rows.append(row)
        ids.append(rid)
        times.append(install_time)
    return Inventory(table, array("I", ids), array("q", times)), problems


_RAW_ROW = operator.itemgetter("source", "name", "version", "arch", "vendor", "package_id", "location", "origin")
_RAW_ROW_OLD = operator.itemgetter("source", "name", "version", "arch", "vendor", "package_id", "location")
_RAW_TIME = operator.itemgetter("install_time")


def _new_row(raw: tuple, with_origin: bool, lines: tuple) -> tuple | None:
    """The row of a raw record of the module's shape (its fields as sent, the origin as its index);
    None when it has no source or name, or a value that is not text (the careful path says which)."""
    fields, index = (raw[:7], raw[7]) if with_origin else (raw, None)
    if not raw[0] or not raw[1] or not all(v is None or type(v) is str for v in fields) \
            or not (index is None or type(index) is int):
        return None
    source, name, version, arch, vendor, package_id, location = fields
    return (source, name, version, arch or None, vendor or None, package_id or f"{source}:{name}",
            location or None, origin_of(index, lines))


def inventory_fast(records: list, table: RowTable, lines: tuple = ()) -> Inventory | None:
    """The common case at C speed: every record a dict with every key (as the module writes them).

    Each distinct raw record (its row fields as sent, the origin as its index) is
    converted once and remembered on the table for hosts with the same origin
    lines; a record is then one tuple and one dict look-up. Records of a collector
    older than origins have no ``origin`` key. None when a record is not of that
    shape or not valid: the careful path decides.
    """
    with_origin = bool(records) and isinstance(records[0], dict) and "origin" in records[0]
    raw_index = table.cache.setdefault(("raw", with_origin, lines), {})  # type: ignore[call-overload]
    try:
        raws = list(map(_RAW_ROW if with_origin else _RAW_ROW_OLD, records))
        ids = list(map(raw_index.get, raws))
        times = _times(list(map(_RAW_TIME, records)))
    except (KeyError, TypeError, OverflowError):
        return None
    if None in ids:  # the records the table has not seen, found at C speed (most of a host's are known)
        for k in compress(range(len(ids)), map(operator.is_, ids, repeat(None))):
            row = _new_row(raws[k], with_origin, lines)
            if row is None:
                return None
            ids[k] = raw_index[raws[k]] = table.intern(row)
    return Inventory(table, array("I", ids), times)


def _times(values: list) -> array:
    """Install times: every one an int is one C call; else None and anything not an int (a float, a
    string) are ``NO_TIME``."""
    try:
        return array("q", values)
    except TypeError:
        return array("q", [t if isinstance(t, int) else NO_TIME for t in values])


# a package list as ``software_json`` lays it out: "[\n", a record per line, each with its install time as
# its last key, ",\n" between them, "\n]"
_TIME_KEY = b',"install_time":'
_AT_TIME = operator.methodcaller("rpartition", _TIME_KEY)
_HEAD, _CUT, _TAIL = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)
_VALUE = operator.methodcaller("removesuffix", b"}")
json_loads = fast_loads or json.loads  # orjson refuses a lone surrogate escape: that list is decoded whole


def inventory_from_lines(data: bytes, table: RowTable, lines: tuple = ()) -> Inventory | None:
    """``inventory_fast`` of a package list's JSON text laid out a record per line (``software_json``),
    without decoding the lines the table has seen: a line cut before its install time is the same
    on every host with that package, so it is the key; the install times are decoded as one array.
    A line not seen yet is decoded alone. None when the text is not laid out so, or a record is not
    of the module's shape: the caller decodes the list whole."""
    if not (data.startswith(b"[\n") and data.endswith(b"\n]")):
        return None
    cut = list(map(_AT_TIME, data[2:-2].split(b",\n")))  # JSON escapes line breaks within strings
    if b"" in map(_CUT, cut):  # a record whose install time is not its last key
        return None
    heads = list(map(_HEAD, cut))
    try:
        times = json_loads(b"[" + b",".join(map(_VALUE, map(_TAIL, cut))) + b"]")
        first = json_loads(heads[0] + b"}")
        if len(times) != len(heads) or not isinstance(first, dict):
            return None
        with_origin = "origin" in first
        line_index = table.cache.setdefault(("lines", with_origin, lines), {})  # type: ignore[call-overload]
        ids = list(map(line_index.get, heads))
        if None in ids:
            shape = _RAW_ROW if with_origin else _RAW_ROW_OLD
            for k in compress(range(len(ids)), map(operator.is_, ids, repeat(None))):
                rec = json_loads(heads[k] + b"}")
                row = _new_row(shape(rec), with_origin, lines) if isinstance(rec, dict) else None
                if row is None:
                    return None
                ids[k] = line_index[heads[k]] = table.intern(row)
        return Inventory(table, array("I", ids), _times(times))
    except (ValueError, KeyError, TypeError, OverflowError):  # not JSON after all, or not of that shape
        return None


def inventory(records: Any, origin: str, table: RowTable, lines: tuple = ()) -> tuple[Inventory, list[Problem]]:
    """Records in compact form with the problems found: the fast path, else the careful one.
    A ``software`` that is not a list is a problem, and no installations."""
    if not isinstance(records, (list, tuple)):
        return Inventory(table, array("I"), array("q")), [Problem(f"{origin}: software", "expected a list of "
                                                                  f"package records, found {type(records).__name__}")]
    fast = inventory_fast(records, table, lines)
    if fast is not None:
        return fast, []
    return inventory_careful(records, origin, table, lines)
