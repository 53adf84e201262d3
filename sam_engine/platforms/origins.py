"""Package origins: the collector's per-host ``origins`` table read into one line per origin.

``fleetsam.sam.software_facts`` lists each distinct origin once (``origins``, a
list of dicts of raw facts) and gives each package record the index of its
own (``origin``). The engine keeps an installation's origin as one line, the
same for the same archive on every host, so the catalogue's ``origin`` rules
match it like any other field (``licensing.catalogue_entries``)::

    apt origin=Debian label=Debian-Security suite=oldstable-security codename=bookworm-security component=main site=deb.debian.org match=version
    rpm vendor=Rocky Enterprise Software Foundation packager=Rocky Linux Build System (Peridot) <releng@rockylinux.org> key=702d426d350d275d
    apk tag= repositories=https://dl-cdn.alpinelinux.org/alpine/v3.19/main https://dl-cdn.alpinelinux.org/alpine/v3.19/community
    pacman repo=core match=version
    brew tap=homebrew/core

The macOS collector's Homebrew receipts name their tap; ``tap_origins`` gives
those records the same kind of table. Every field of the type is written, in this order, empty when the collector
had none; line breaks and runs of spaces in a value become one space, so a
hostile Release file cannot start a field of its own line. Which origins are
a distribution's own archive is the catalogue's business, not this module's.
"""

from __future__ import annotations

from typing import Any

from sam_engine.model import Problem

FIELDS = {
    "apt": ("origin", "label", "suite", "codename", "component", "site", "match"),
    "rpm": ("vendor", "packager", "key"),
    "apk": ("tag", "repositories"),
    "pacman": ("repo", "match"),
    "brew": ("tap",),
}


def _value(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, bool)):
        return ""
    return " ".join(str(value).split())


def origin_line(entry: Any) -> str | None:
    """One origin entry as its line, or None when it is not a dict of a known ``type``."""
    if not isinstance(entry, dict) or entry.get("type") not in FIELDS:
        return None
    kind = entry["type"]
    return " ".join([kind] + [f"{name}={_value(entry.get(name))}" for name in FIELDS[kind]])


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
                                    f"{', '.join(FIELDS)}; the packages pointing at it have no origin", "warning"))
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
        tap = (record.get("extra") or {}).get("tap") if record.get("source") in ("brew", "brew-cask") else None
        if isinstance(tap, str) and tap:
            line = origin_line({"type": "brew", "tap": tap})
            record["origin"] = index.setdefault(line, len(lines))  # type: ignore[arg-type]
            if len(lines) < len(index):
                lines.append(line)
    return tuple(lines)
