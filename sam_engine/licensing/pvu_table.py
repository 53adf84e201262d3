"""IBM's Processor Value Unit table as data: how many PVUs one core of a processor weighs.

The table is ``catalogue/metrics/pvu_table.yml`` (a user's ``FLEETSAM_RULES``
directory may hold its own copy): rows tried in order, the first that matches
a host wins. A row names the processors it is for by CPU (``match``: regular
expressions on "<cpu vendor> <cpu model>", or ``cpu_id``: ARM MIDR ids, as
the core factor table does), and may narrow them by server model (``system``),
operating system (``os``) and occupied sockets (``max_sockets``). There is no
default row: a processor the table does not list is not counted, and the
position says so, because IBM's values range from 30 to 120 PVUs per core.

Worked example: a host with ``cpu_model: "POWER10 (architected)"``,
``system_model: "IBM,9080-HEX"`` under AIX -> the "POWER10 E1080" row, 120 PVUs
per core; the same server running Linux -> "POWER, Linux", 70.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sam_engine.located_yaml import YamlFile
from sam_engine.model import Hardware, Problem

ROW_KEYS = ("label", "pvu", "match", "cpu_id", "system", "os", "max_sockets", "source")
_CPU_ID = re.compile(r"0x[0-9a-f]{2}(:0x[0-9a-f]{3})?")


def _any(patterns: tuple[str, ...], text: str | None) -> bool:
    return bool(text) and any(re.search(p, text, re.IGNORECASE) for p in patterns)


@dataclass(frozen=True, slots=True)
class PvuRow:
    """One row of the PVU table; ``origin`` is ``file:line``."""

    label: str
    pvu: int
    origin: str
    patterns: tuple[str, ...] = ()
    cpu_ids: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    systems_os: tuple[str, ...] = ()
    max_sockets: int | None = None

    def _cpu_id(self, hw: Hardware) -> str | None:
        if not (self.cpu_ids and hw.cpu_id):
            return None
        return hw.cpu_id if {hw.cpu_id, hw.cpu_id.partition(":")[0]} & set(self.cpu_ids) else None

    def matches(self, hw: Hardware, os_name: str | None) -> bool:
        cpu = f"{hw.cpu_vendor or ''} {hw.cpu_model or ''}".strip()
        if not (self._cpu_id(hw) or _any(self.patterns, cpu)):
            return False
        if self.systems and not _any(self.systems, hw.system_model):
            return False
        if self.systems_os and not _any(self.systems_os, os_name):
            return False
        return self.max_sockets is None or (hw.sockets or 1) <= self.max_sockets

    def describe(self, hw: Hardware, os_name: str | None = None) -> str:
        """How a trace names the row: its label, and the facts beyond the CPU that chose it."""
        facts = [f"CPU id {self._cpu_id(hw)}"] if self._cpu_id(hw) else []
        if self.systems:
            facts.append(f"server {hw.system_model}")
        if self.systems_os:
            facts.append(f"OS {os_name}")
        if self.max_sockets is not None:
            facts.append(f"at most {self.max_sockets} sockets")
        return f"{self.label}: {', '.join(facts)}" if facts else self.label


@dataclass(frozen=True, slots=True)
class PvuTable:
    """The ordered PVU rows."""

    rows: tuple[PvuRow, ...]

    def lookup(self, hw: Hardware, os_name: str | None = None) -> PvuRow | None:
        """The first row matching the host, else None (the processor is not in the table)."""
        return next((row for row in self.rows if row.matches(hw, os_name)), None)


def _patterns(doc: YamlFile, keys: dict, key: str, field: str) -> list[str]:
    node = keys.get(key)
    listed = [node] if isinstance(node, yaml.ScalarNode) and not doc.is_null(node) else doc.sequence(
        node, f"{field}.{key}", "a list of regular expressions")
    found = [doc.pattern(item, f"{field}.{key}[{n}]") for n, item in enumerate(listed)]
    return [p.pattern for p in found if p is not None]


def read_cpu_ids(doc: YamlFile, node: yaml.Node | None, field: str) -> tuple[list[str], bool]:
    """A row's ``cpu_id``: one ARM CPU id or a list of them, lower-cased, and whether any entry was written;
    a malformed one is a located problem (the core factor and PVU tables both match ARM processors by id)."""
    ids = [node] if isinstance(node, yaml.ScalarNode) and not doc.is_null(node) else doc.sequence(
        node, f"{field}.cpu_id", "a list of ARM CPU ids")
    cpu_ids = []
    for n, item in enumerate(ids):
        value = doc.text(item, f"{field}.cpu_id[{n}]")
        if value is not None and not _CPU_ID.fullmatch(value.lower()):
            doc.expected(item, f"{field}.cpu_id[{n}]", 'an ARM CPU id "0xII" or "0xII:0xPPP" (implementer:part)')
        elif value is not None:
            cpu_ids.append(value.lower())
    return cpu_ids, bool(ids)


def _row(doc: YamlFile, node: yaml.Node | None, field: str) -> PvuRow | None:
    before = len(doc.problems)
    if not isinstance(node, yaml.MappingNode):
        doc.expected(node, field, "a mapping with label, pvu and match or cpu_id")
        return None
    keys = doc.mapping(node, field, ROW_KEYS)
    label = doc.text(doc.required(keys, "label", node, field, "a text"), f"{field}.label")
    pvu = doc.integer(doc.required(keys, "pvu", node, field, "a whole number >= 1"), f"{field}.pvu", None, 1)
    cpu_ids, _ = read_cpu_ids(doc, keys.get("cpu_id"), field)
    patterns, systems, oses = (_patterns(doc, keys, k, field) for k in ("match", "system", "os"))
    max_sockets = doc.integer(keys.get("max_sockets"), f"{field}.max_sockets", None, 1)
    doc.text(keys.get("source"), f"{field}.source")
    if not patterns and not cpu_ids and len(doc.problems) == before:
        doc.fail(node, field, "expected match or cpu_id: which processors the row is for")
    if len(doc.problems) > before:
        return None
    return PvuRow(label, pvu, doc.line(node), tuple(patterns), tuple(cpu_ids), tuple(systems), tuple(oses), max_sockets)


def load_pvu_table(path: str | Path, label: str | None = None) -> tuple[PvuTable | None, list[Problem]]:
    """Read and validate ``pvu_table.yml``: the table (None when anything is wrong) and every mistake.

    Example of a mistake: ``pvu: seventy`` on line 12 -> ``Problem("pvu_table.yml:12:10",
    'rows[0].pvu: expected a whole number >= 1, got "seventy"')``.
    """
    doc = YamlFile(path, label=label)
    if doc.unreadable:
        return None, doc.problems
    top = doc.mapping(doc.root, "", ("rows",), "a mapping with a rows list")
    listed = doc.sequence(doc.required(top, "rows", doc.root, "", "a list of PVU rows"), "rows")
    rows = [_row(doc, node, f"rows[{n}]") for n, node in enumerate(listed)]
    if doc.problems:
        return None, doc.located()
    return PvuTable(tuple(r for r in rows if r is not None)), []
