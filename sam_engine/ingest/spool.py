"""Ingest: read a scan spool and turn raw collector results into model records.

The collector callback writes one spool directory per playbook run::

    SPOOL/run.json                 {"scan_id", "started", "finished", "playbook", "tool_version",
                                    "scope", "group"}
    SPOOL/hosts/<name>.json        {"inventory_name", "status", "result", "error", "collected_at", "groups"}

``status`` is ``ok`` (``result`` holds a collector module's result, read by the
platform that matches it: ``platforms.registry``), ``unreachable`` or
``failed``. A host that was not reached keeps its previous inventory, marked
stale; it is never recorded as "no software". ``scope`` (may be absent) lists
the inventory names the run targeted; one of them without a host file is
recorded failed, its last inventory kept. ``group`` ties runs that belong
together (slices of one AWX job).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from sam_engine.ingest.inventory import RowTable
from sam_engine.model import HostScan, HostStatus, Problem, Scan
from sam_engine.platforms.registry import platform_of

try:  # optional: a C JSON parser; the results are the same Python values as json.loads gives
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - json is used
    _fast_loads = None

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
    scope: tuple[str, ...] = ()
    group: str | None = None


class SpoolError(Exception):
    """The spool cannot be read at all (missing run.json, not JSON, no valid scan id or times)."""


def _is_timestamp(value: Any) -> bool:
    """Whether ``value`` is an ISO 8601 date and time (the store orders runs and ages hosts by them)."""
    try:
        dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


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
    if not isinstance(meta, dict):
        raise SpoolError(f"{spool / 'run.json'}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("scan_id"), str) or not meta["scan_id"]:
        raise SpoolError(f"{spool / 'run.json'}: field 'scan_id': expected a string, got {_shown(meta.get('scan_id'))}")
    # A time that is not one would be stored and break every later report and --as-of of the store.
    for key in ("started", "finished"):
        if (key == "started" or meta.get(key) is not None) and not _is_timestamp(meta.get(key)):
            raise SpoolError(f"{spool / 'run.json'}: field {key!r}: expected an ISO 8601 timestamp, "
                             f"got {_shown(meta.get(key))}")
    problems: list[Problem] = []
    scope = meta.get("scope") or []
    if not isinstance(scope, list) or not all(isinstance(n, str) for n in scope):
        problems.append(Problem(f"{spool / 'run.json'}: scope", "expected a list of inventory names; "
                                                                  "the run's scope is not recorded", "warning"))
        scope = []
    group = meta.get("group")
    hosts = _read_hosts(sorted((spool / "hosts").glob("*.json")), problems)
    run = RawRun(
        scan_id=meta["scan_id"],
        started=meta["started"],
        finished=meta.get("finished") or meta["started"],
        playbook=meta.get("playbook"),
        tool_version=meta.get("tool_version") or "unknown",
        hosts=hosts if stream else tuple(hosts),  # type: ignore[arg-type]
        scope=tuple(dict.fromkeys(scope)),
        group=str(group) if group not in (None, "") else None,
    )
    return run, problems


def _read_hosts(paths: list[Path], problems: list[Problem]) -> Iterator[RawHost]:
    for path in paths:
        try:
            doc = _load_json(path)
            status = HostStatus(doc.get("status"))
            name = doc["inventory_name"]
            if not isinstance(name, str) or not name:
                raise ValueError(f"inventory_name: expected a host name, got {_shown(name)}")
        except (SpoolError, KeyError, ValueError, AttributeError) as exc:
            problems.append(Problem(str(path), f"unreadable host entry: {exc}"))
            continue
        collected_at = doc.get("collected_at")
        if collected_at is not None and not _is_timestamp(collected_at):
            problems.append(Problem(str(path), f"collected_at: expected an ISO 8601 timestamp, got "
                                               f"{_shown(collected_at)}; the run's time is used", "warning"))
            collected_at = None
        result = doc.get("result")
        if status is HostStatus.OK and not isinstance(result, dict):
            problems.append(Problem(str(path), "status ok but no module result"))
            status, result = HostStatus.FAILED, None
        groups = doc.get("groups")
        groups = tuple(str(g) for g in groups) if isinstance(groups, list) else ()
        yield RawHost(name, status, result, doc.get("error"), collected_at, str(path), groups)


def reached_host_scan(scan_id: str, raw: RawHost, table: RowTable) -> tuple[HostScan, list[Problem]]:
    """A host the collector reached: its platform (``platforms.registry``) reads the result into
    installations (compact, rows interned in ``table``) and a host, and names the collector."""
    assert raw.result is not None
    platform = platform_of(raw.result)
    installations, problems = platform.inventory(raw.result, raw.origin, table)
    warnings = tuple(str(w) for w in raw.result.get("warnings") or ())
    return HostScan(scan_id, raw.inventory_name, HostStatus.OK, platform.host(raw.result, raw.inventory_name),
                    installations, collector=platform.collector, inventory_scan_id=scan_id, warnings=warnings,
                    collected_at=raw.collected_at, groups=raw.groups), problems


def stale_host_scan(scan_id: str, inventory_name: str, status: HostStatus, error: str | None,
                    groups: tuple[str, ...], previous: HostScan | None) -> HostScan:
    """A host not reached (or failed) in this scan: its last inventory carried over, stale, with the
    collector that produced it."""
    if previous is None:
        return HostScan(scan_id, inventory_name, status, None, (), error=error, groups=groups)
    return HostScan(scan_id, inventory_name, status, previous.host, previous.installations,
                    collector=previous.collector, inventory_scan_id=previous.inventory_scan_id,
                    inventory_digest=previous.inventory_digest, error=error, collected_at=previous.collected_at,
                    groups=groups)


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
            host_scan, bad = reached_host_scan(run.scan_id, raw, table)
            hosts.append(host_scan)
            problems.extend(bad)
            continue
        hosts.append(stale_host_scan(run.scan_id, raw.inventory_name, raw.status, raw.error, raw.groups,
                                     last_inventory(raw.inventory_name)))
    return scan_of_run(run, hosts, last_inventory), problems


NO_RESULT = "targeted by the run, but no collector result came back"


def scan_of_run(run: RawRun, hosts: list[HostScan], last_inventory: Callable[[str], HostScan | None]) -> Scan:
    """The ``Scan`` of ``run`` with ``hosts``, plus a failed (stale) record for each host of the
    run's scope that sent nothing: it was targeted, so it must not look untouched."""
    seen = {h.inventory_name for h in hosts}
    hosts = list(hosts)
    missing = [name for name in run.scope if name not in seen]
    for name in missing:
        last = last_inventory(name)
        hosts.append(stale_host_scan(run.scan_id, name, HostStatus.FAILED, NO_RESULT, last.groups if last else (),
                                     last))
    return Scan(run.scan_id, run.started, run.finished, run.tool_version, run.playbook, tuple(hosts),
                scope=run.scope, group=run.group)
