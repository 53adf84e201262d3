"""Programs and Features: which raw Uninstall entries Windows lists, and as what (PF1-PF8).

``win_software_facts`` (and the ``.reg`` importer, ``regfile.windows_raw_from_reg``)
return raw Uninstall entries; ``programs_and_features`` keeps what Programs and
Features would list, by these rules (each has a test in tests/unit/test_windows.py):

PF1  no DisplayName (absent or blank): not a program.
PF2  SystemComponent = 1 (DWORD or the string "1"): hidden component.
PF3  ParentKeyName set: an update shown under its parent product.
PF4  ReleaseType in UPDATE_RELEASE_TYPES: an update, hotfix or rollup.
PF5  one product under several keys of one scope (an MSI GUID key and a named
     key), same DisplayName + DisplayVersion + Publisher (trimmed, case-blind):
     counted once.
PF6  the machine scope is both views: a 32-bit (HKLM32) and a 64-bit (HKLM64)
     copy of one product and version count once per host. For this comparison
     a trailing bitness marker ("(64-bit)", "x64", "- x86") is ignored.
PF7  per-user installs (HKU) are kept, one scope per user SID; the SID is part
     of ``package_id``.
PF8  InstallDate ``YYYYMMDD`` is 00:00 UTC of that day in epoch seconds;
     anything else is no date.
Every raw key merged into one program stays in its ``package_id``
(``windows:HKLM64:{GUID}+HKLM32:{GUID}``), the trace of PF5/PF6.
Not applied: a missing UninstallString (classic Add/Remove Programs hid such
entries); for licensing, hiding a product is worse than listing it.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

UPDATE_RELEASE_TYPES = frozenset({"update", "hotfix", "security update", "update rollup", "service pack"})

_BITS = r"(?:x64|x86|amd64|win64|win32|(?:64|32)[- ]?bits?)"
_BITNESS_GROUP = re.compile(r"\s*[(\[][^()\[\]]*\b" + _BITS + r"\b[^()\[\]]*[)\]]\s*$", re.IGNORECASE)
_BITNESS_WORD = re.compile(r"\s*(?:[-–]\s*)?\b" + _BITS + r"\s*$", re.IGNORECASE)


def value_text(value: Any) -> str | None:
    """A registry value as stripped text; None for none, bytes, a boolean or blank text."""
    if value is None or isinstance(value, (bytes, bool)):
        return None
    value = str(value).strip()
    return value or None


def _is_one(value: Any) -> bool:
    return value is not None and not isinstance(value, bool) and str(value).strip() in ("1", "0x1", "0x00000001")


def install_date(value: Any) -> int | None:
    """PF8: epoch seconds of a ``YYYYMMDD`` InstallDate, None for any other text."""
    if type(value) is str:  # fleets share a few thousand dates: each is read once
        return _install_date_text(value)
    return _install_date(value)


def _install_date(value: Any) -> int | None:
    text = value_text(value)
    if not text or not re.fullmatch(r"(19[89]\d|2\d\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", text):
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    if day > calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, 0, 0, 0))


def hidden_reason(entry: Mapping[str, Any]) -> str | None:
    """Which of PF1-PF4 hides a raw Uninstall entry, or None when Programs and Features shows it."""
    if not value_text(entry.get("DisplayName")):
        return "PF1 no DisplayName"
    if _is_one(entry.get("SystemComponent")):
        return "PF2 SystemComponent=1"
    if value_text(entry.get("ParentKeyName")):
        return "PF3 ParentKeyName"
    if (value_text(entry.get("ReleaseType")) or "").lower() in UPDATE_RELEASE_TYPES:
        return "PF4 ReleaseType"
    return None


@dataclass(frozen=True, slots=True)
class Program:
    """One line of the Windows view: a product as Programs and Features lists it, with its raw keys."""

    name: str
    version: str | None
    publisher: str | None
    install_time: int | None
    location: str | None
    hive: str  # HKLM64, HKLM32, HKU; "HKLM" when both machine views were merged
    sid: str | None
    entries: tuple[Mapping[str, Any], ...]

    @property
    def package_id(self) -> str:
        def ref(e: Mapping[str, Any]) -> str:
            return f"HKU:{e.get('sid')}:{e.get('key')}" if e.get("hive") == "HKU" else f"{e.get('hive')}:{e.get('key')}"
        return "windows:" + "+".join(ref(e) for e in self.entries)


@functools.lru_cache(maxsize=65536)
def _machine_name(name: str) -> str:
    """PF6: a machine-scope name without its bitness marker (one regex pass per distinct name)."""
    return _BITNESS_WORD.sub("", _BITNESS_GROUP.sub("", name)) or name


@functools.lru_cache(maxsize=65536)
def _install_date_text(text: str) -> int | None:
    return _install_date(text)


def _scope_and_identity(entry: Mapping[str, Any]) -> tuple:
    name = value_text(entry.get("DisplayName")) or ""
    machine = entry.get("hive") != "HKU"
    if machine:
        name = _machine_name(name)  # PF6
    scope = "machine" if machine else ("user", entry.get("sid"))
    return (scope, name.casefold(), (value_text(entry.get("DisplayVersion")) or "").casefold(),
            (value_text(entry.get("Publisher")) or "").casefold())


_FACT_KEYS = ("DisplayName", "SystemComponent", "ParentKeyName", "ReleaseType", "hive", "sid", "DisplayVersion",
              "Publisher")  # every field PF1-PF6 read
_FACTS: dict[tuple, tuple[bool, tuple | None]] = {}  # those fields' values -> (hidden, identity), per process


def _entry_facts(entry: Mapping[str, Any]) -> tuple[bool, tuple | None]:
    """(hidden by PF1-PF4, PF5/PF6 identity) of one raw entry; a fleet repeats its entries, so each
    distinct combination of the fields read is worked out once."""
    try:  # with their types: True == 1 as a key, but PF2 and value_text read them differently
        values = tuple(map(entry.get, _FACT_KEYS))
        values += tuple(map(type, values))
        facts = _FACTS.get(values)
    except TypeError:  # an unhashable value: no memo
        values, facts = None, None
    if facts is None:
        hidden = hidden_reason(entry) is not None
        facts = (hidden, None if hidden else _scope_and_identity(entry))
        if values is not None:
            if len(_FACTS) > 500_000:
                _FACTS.clear()
            _FACTS[values] = facts
    return facts


def programs_and_features(entries: Iterable[Mapping[str, Any]]) -> list[Program]:
    """The programs Programs and Features would list for these raw Uninstall entries (PF1-PF8)."""
    return [program(group) for group in program_groups(entries)]


def program_groups(entries: Iterable[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The shown entries (PF1-PF4) grouped by product (PF5-PF7), groups in the order of their first entry."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if type(entry) is dict or isinstance(entry, Mapping):
            hidden, identity = _entry_facts(entry)
            if not hidden:
                groups.setdefault(identity, []).append(entry)
    return list(groups.values())


_HIVE_ORDER = {"HKLM64": 0, "HKLM32": 1}


def program(group: list[Mapping[str, Any]]) -> Program:
    """The one program of a group of ``program_groups`` (sorted in place when it merges several keys)."""
    first = group[0]
    if len(group) == 1:  # the common case: nothing to merge
        install_time = install_date(first.get("InstallDate")) or None
        location = value_text(first.get("InstallLocation")) or None
        hive = first.get("hive")
    else:
        group.sort(key=lambda e: (_HIVE_ORDER.get(e.get("hive"), 2), not str(e.get("key", "")).startswith("{")))
        first = group[0]
        install_time = next((t for t in (install_date(e.get("InstallDate")) for e in group) if t), None)
        location = next((loc for loc in (value_text(e.get("InstallLocation")) for e in group) if loc), None)
        hive = first.get("hive") if len({e.get("hive") for e in group}) == 1 else "HKLM"
    return Program(
        name=value_text(first.get("DisplayName")),
        version=value_text(first.get("DisplayVersion")),
        publisher=value_text(first.get("Publisher")),
        install_time=install_time,
        location=location,
        hive=hive,
        sid=first.get("sid") if first.get("hive") == "HKU" else None,
        entries=tuple(group),
    )
