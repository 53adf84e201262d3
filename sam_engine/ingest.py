"""Ingest: read a scan spool and turn raw collector results into model records.

The collector callback writes one spool directory per playbook run::

    SPOOL/run.json                 {"scan_id", "started", "finished", "playbook", "tool_version"}
    SPOOL/hosts/<name>.json        {"inventory_name", "status", "result", "error", "collected_at"}

``status`` is ``ok`` (``result`` holds the software_facts module result),
``unreachable`` or ``failed``. A host that was not reached keeps its previous
inventory, marked stale; it is never recorded as "no software".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import hardware, macos, windows
from .model import HostScan, HostStatus, Installation, Problem, Scan

RECORD_KEYS = ("source", "name", "version", "arch", "vendor", "install_time", "package_id", "location")


@dataclass(frozen=True, slots=True)
class RawHost:
    """One host's entry in the spool, validated but not yet derived."""

    inventory_name: str
    status: HostStatus
    result: Mapping[str, Any] | None
    error: str | None
    collected_at: str | None
    origin: str  # the spool file it came from


@dataclass(frozen=True, slots=True)
class RawRun:
    scan_id: str
    started: str
    finished: str
    playbook: str | None
    tool_version: str
    hosts: tuple[RawHost, ...]


class SpoolError(Exception):
    """The spool cannot be read at all (missing run.json, not JSON)."""


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpoolError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise SpoolError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def read_spool(spool: str | Path) -> tuple[RawRun, list[Problem]]:
    """Read a spool directory. Hosts with malformed entries are reported, not guessed."""
    spool = Path(spool)
    meta = _load_json(spool / "run.json")
    for key in ("scan_id", "started"):
        if not isinstance(meta.get(key), str):
            raise SpoolError(f"{spool / 'run.json'}: field {key!r}: expected a string")
    problems: list[Problem] = []
    hosts = []
    for path in sorted((spool / "hosts").glob("*.json")):
        try:
            doc = _load_json(path)
            status = HostStatus(doc.get("status"))
            name = doc["inventory_name"]
        except (SpoolError, KeyError, ValueError, AttributeError) as exc:
            problems.append(Problem(str(path), f"unreadable host entry: {exc}"))
            continue
        result = doc.get("result")
        if status is HostStatus.OK and not isinstance(result, dict):
            problems.append(Problem(str(path), "status ok but no module result"))
            status, result = HostStatus.FAILED, None
        hosts.append(RawHost(name, status, result, doc.get("error"), doc.get("collected_at"), str(path)))
    run = RawRun(
        scan_id=meta["scan_id"],
        started=meta["started"],
        finished=meta.get("finished") or meta["started"],
        playbook=meta.get("playbook"),
        tool_version=meta.get("tool_version") or "unknown",
        hosts=tuple(hosts),
    )
    return run, problems


def installations_from_result(result: Mapping[str, Any], origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
    """Model installations from the module's ``software`` list; bad records are problems."""
    if isinstance(result.get("windows"), dict):  # fleetsam.sam.win_software_facts: raw, rules in windows.py
        return windows.installations_from_windows(result["windows"], origin)
    items: list[Installation] = []
    problems: list[Problem] = []
    records = result.get("software") or ()
    if isinstance(result.get("macos"), dict):  # fleetsam.sam.macos_software_facts: raw outputs, read in macos.py
        records, problems = macos.software_records(result["macos"], origin)
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or not rec.get("name") or not rec.get("source"):
            problems.append(Problem(f"{origin}: software[{n}]", "record without source or name", "warning"))
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


def build_scan(
    run: RawRun,
    last_inventory: Callable[[str], HostScan | None],
) -> tuple[Scan, list[Problem]]:
    """The model ``Scan`` of a run; hosts not reached carry their last inventory, stale."""
    problems: list[Problem] = []
    hosts: list[HostScan] = []
    for raw in run.hosts:
        if raw.status is HostStatus.OK:
            assert raw.result is not None
            installations, bad = installations_from_result(raw.result, raw.origin)
            problems.extend(bad)
            if isinstance(raw.result.get("windows"), dict):
                host = windows.derive_host_windows(raw.result["windows"], raw.inventory_name)
            elif isinstance(raw.result.get("macos"), dict):
                host = macos.derive_host_macos(raw.result["macos"], raw.inventory_name)
            else:
                host = hardware.derive_host(raw.result.get("host") or {}, raw.inventory_name)
            warnings = tuple(str(w) for w in raw.result.get("warnings") or ())
            hosts.append(
                HostScan(run.scan_id, raw.inventory_name, HostStatus.OK, host, installations,
                         inventory_scan_id=run.scan_id, warnings=warnings, collected_at=raw.collected_at)
            )
            continue
        previous = last_inventory(raw.inventory_name)
        hosts.append(
            HostScan(
                run.scan_id,
                raw.inventory_name,
                raw.status,
                previous.host if previous else None,
                previous.installations if previous else (),
                inventory_scan_id=previous.inventory_scan_id if previous else None,
                inventory_digest=previous.inventory_digest if previous else None,
                error=raw.error,
                collected_at=previous.collected_at if previous else None,
            )
        )
    scan = Scan(run.scan_id, run.started, run.finished, run.tool_version, run.playbook, tuple(hosts))
    return scan, problems
