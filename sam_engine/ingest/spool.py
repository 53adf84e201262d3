"""Ingest: read a scan spool and turn raw collector results into model records.

The collector callback writes one spool directory per playbook run::

    SPOOL/run.json                 {"scan_id", "started", "finished", "playbook", "tool_version"}
    SPOOL/hosts/<name>.json        {"inventory_name", "status", "result", "error", "collected_at", "groups"}

``status`` is ``ok`` (``result`` holds the software_facts module result),
``unreachable`` or ``failed``. A host that was not reached keeps its previous
inventory, marked stale; it is never recorded as "no software".
"""

from __future__ import annotations

import json
import operator
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from sam_engine.platforms import hardware
from sam_engine.platforms import macos
from sam_engine.platforms import windows
from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable
from sam_engine.model import Host, HostScan, HostStatus, Installation, Problem, Scan

try:  # optional: a C JSON parser; the results are the same Python values as json.loads gives
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - json is used
    _fast_loads = None

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
    groups: tuple[str, ...] = ()  # inventory groups (group_names) of the host in this run


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
    if _fast_loads is not None:  # orjson parses a spool file about twice as fast as json
        try:
            with open(path, "rb") as handle:
                return _fast_loads(handle.read())
        except Exception:  # noqa: BLE001 - anything odd: json below decides, with its own messages
            pass
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpoolError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise SpoolError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def read_spool(spool: str | Path, *, stream: bool = False) -> tuple[RawRun, list[Problem]]:
    """Read a spool directory. Hosts with malformed entries are reported, not guessed.

    With ``stream`` the host files are read one at a time while ``run.hosts`` is
    iterated (once): a fleet's raw results are never all in memory together, and
    problems of unreadable entries are appended to the returned list as they are met.
    """
    spool = Path(spool)
    meta = _load_json(spool / "run.json")
    for key in ("scan_id", "started"):
        if not isinstance(meta.get(key), str):
            raise SpoolError(f"{spool / 'run.json'}: field {key!r}: expected a string")
    problems: list[Problem] = []
    hosts = _read_hosts(sorted((spool / "hosts").glob("*.json")), problems)
    run = RawRun(
        scan_id=meta["scan_id"],
        started=meta["started"],
        finished=meta.get("finished") or meta["started"],
        playbook=meta.get("playbook"),
        tool_version=meta.get("tool_version") or "unknown",
        hosts=hosts if stream else tuple(hosts),  # type: ignore[arg-type]
    )
    return run, problems


def _read_hosts(paths: list[Path], problems: list[Problem]) -> Iterator[RawHost]:
    for path in paths:
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
        groups = doc.get("groups")
        groups = tuple(str(g) for g in groups) if isinstance(groups, list) else ()
        yield RawHost(name, status, result, doc.get("error"), doc.get("collected_at"), str(path), groups)


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


def _inventory_from_records(records: Any, origin: str, table: RowTable) -> tuple[Inventory, list[Problem]]:
    """``installations_from_result`` for a plain ``software`` list, straight into ``table``.

    The same validation and conversions, without an ``Installation`` object per
    record: each record becomes a row id (a dict look-up) and an install time.
    Raises TypeError or OverflowError for values the compact form cannot hold.
    """
    problems: list[Problem] = []
    index, rows = table.index, table.rows
    ids: list[int] = []
    times: list[int] = []
    for n, rec in enumerate(records):
        if not isinstance(rec, dict) or not rec.get("name") or not rec.get("source"):
            problems.append(Problem(f"{origin}: software[{n}]", "record without source or name", "warning"))
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


def _inventory_fast(records: Any, table: RowTable) -> Inventory | None:
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


def host_inventory(result: Mapping[str, Any], origin: str,
                   table: RowTable) -> tuple[Sequence[Installation], list[Problem]]:
    """One host's installations in compact form (see ``inventory``), with the problems found."""
    if not isinstance(result.get("windows"), dict) and not isinstance(result.get("macos"), dict):
        records = result.get("software") or ()
        if isinstance(records, list):
            fast = _inventory_fast(records, table)
            if fast is not None:
                return fast, []
        try:
            return _inventory_from_records(records, origin, table)
        except (TypeError, OverflowError):  # odd values (a list as arch, a huge time): the general path
            pass
    installations, problems = installations_from_result(result, origin)
    return Inventory.of(installations, table), problems


def derive_any_host(result: Mapping[str, Any], inventory_name: str) -> Host:
    """The model ``Host`` of one collector result (Windows, macOS or Linux)."""
    if isinstance(result.get("windows"), dict):
        return windows.derive_host_windows(result["windows"], inventory_name)
    if isinstance(result.get("macos"), dict):
        return macos.derive_host_macos(result["macos"], inventory_name)
    return hardware.derive_host(result.get("host") or {}, inventory_name)


def stale_host_scan(scan_id: str, inventory_name: str, status: HostStatus, error: str | None,
                    groups: tuple[str, ...], previous: HostScan | None) -> HostScan:
    """A host not reached (or failed) in this scan: its last inventory carried over, stale."""
    return HostScan(
        scan_id,
        inventory_name,
        status,
        previous.host if previous else None,
        previous.installations if previous else (),
        inventory_scan_id=previous.inventory_scan_id if previous else None,
        inventory_digest=previous.inventory_digest if previous else None,
        error=error,
        collected_at=previous.collected_at if previous else None,
        groups=groups,
    )


def build_scan(
    run: RawRun,
    last_inventory: Callable[[str], HostScan | None],
    table: RowTable | None = None,
) -> tuple[Scan, list[Problem]]:
    """The model ``Scan`` of a run; hosts not reached carry their last inventory, stale.

    Inventories are compact (``inventory.Inventory``), their distinct rows interned
    in ``table`` (a new one per scan by default).
    """
    table = RowTable() if table is None else table
    problems: list[Problem] = []
    hosts: list[HostScan] = []
    for raw in run.hosts:
        if raw.status is HostStatus.OK:
            assert raw.result is not None
            installations, bad = host_inventory(raw.result, raw.origin, table)
            problems.extend(bad)
            host = derive_any_host(raw.result, raw.inventory_name)
            warnings = tuple(str(w) for w in raw.result.get("warnings") or ())
            hosts.append(
                HostScan(run.scan_id, raw.inventory_name, HostStatus.OK, host, installations,
                         inventory_scan_id=run.scan_id, warnings=warnings, collected_at=raw.collected_at,
                         groups=raw.groups)
            )
            continue
        hosts.append(stale_host_scan(run.scan_id, raw.inventory_name, raw.status, raw.error, raw.groups,
                                     last_inventory(raw.inventory_name)))
    scan = Scan(run.scan_id, run.started, run.finished, run.tool_version, run.playbook, tuple(hosts))
    return scan, problems
