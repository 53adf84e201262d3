"""Ingest: read a scan spool into raw host entries, checked but not yet derived.

The collector callback writes one spool directory per playbook run::

    SPOOL/run.json                 {"scan_id", "started", "finished", "playbook", "tool_version",
                                    "scope", "group"}
    SPOOL/hosts/<name>.json        {"inventory_name", "status", "result", "error", "collected_at", "groups"}

``status`` is ``ok`` (``result`` holds a collector module's result), ``unreachable``
or ``failed``. ``scope`` (may be absent) lists the inventory names the run
targeted; ``group`` ties runs that belong together (slices of one AWX job).
Times are ISO 8601 and read into UTC ``YYYY-MM-DDTHH:MM:SSZ`` (the callback's
form; any offset converted, a time without one read as UTC with a warning), so
that every later comparison of them is sound; a run ahead of now by more than
``CLOCK_SKEW``, or ending before it started, is refused.
``host_scans`` turns the entries into model records.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from sam_engine.ingest.bulk import Bulk, split
from sam_engine.ingest.spool_json import SpoolError, fast_loads, parsed, read_bytes
from sam_engine.model import HostStatus, Problem, utc_time


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
    bulk: Bulk | None = None  # the result's bulk, not parsed yet (``result`` holds ``bulk.MARK`` in its place)


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


def _load_json(path: Path) -> Any:
    """The JSON value of ``path`` (``spool_json.parsed``)."""
    return parsed(read_bytes(path), path)


def _load_host(path: Path) -> tuple[Any, Bulk | None]:
    """A host file's JSON value and, when the callback laid it out so (``bulk.split``), its bulk
    unparsed (the value holds ``bulk.MARK`` in its place)."""
    data = read_bytes(path)
    found = split(data, fast_loads) if fast_loads is not None else None
    return found if found is not None else (parsed(data, path), None)


def read_spool(spool: str | Path, *, stream: bool = False) -> tuple[RawRun, list[Problem]]:
    """Read a spool directory. Hosts with malformed entries are reported, not guessed.

    ``run.json`` is checked whole before anything is read (``run_meta``); a spool
    without ``hosts/`` is refused (``SpoolError``). A host file that cannot be
    read is reported and its host, when its name is known (``name_of_file``),
    kept as failed. With ``stream`` the host files are read one at a time while
    ``run.hosts`` is iterated (once): a fleet's raw results are never all in
    memory together, and problems of unreadable entries are appended to the
    returned list as they are met.
    """
    spool = Path(spool)
    problems: list[Problem] = []
    meta = run_meta(spool, problems)
    hosts = _read_hosts(host_files(spool), problems, meta["scope"])
    run = RawRun(hosts=hosts if stream else tuple(hosts), **meta)  # type: ignore[arg-type]
    return run, problems


def host_files(spool: Path) -> list[Path]:
    """The spool's host files in order; ``SpoolError`` when it has no ``hosts/`` (an empty scan
    would mark nothing and look like a run)."""
    if not (spool / "hosts").is_dir():
        raise SpoolError(f"{spool / 'hosts'}: missing: the spool holds no host results; nothing was stored")
    return sorted((spool / "hosts").glob("*.json"))


# how far a controller's clock may run ahead of this one's: a run, or a host's collection, later than now
# by more would outrank every run to come and freeze its hosts
CLOCK_SKEW = dt.timedelta(days=1)


def _utc(value: Any, where: str, problems: list[Problem]) -> str | None:
    """``value`` as the UTC time records hold (``model.utc_time``: offsets converted, never compared as
    written), None when it is no ISO 8601 time. A time without a zone is read as UTC, with a warning
    naming ``where``."""
    text = utc_time(value)
    if text is not None and dt.datetime.fromisoformat(value).tzinfo is None:
        problems.append(Problem(where, f"{_shown(value)} has no time zone; read as UTC ({text})", "warning"))
    return text


def _latest_allowed() -> str:
    """The latest time a spool may hold: now plus ``CLOCK_SKEW``."""
    return utc_time((dt.datetime.now(dt.timezone.utc) + CLOCK_SKEW).isoformat())  # type: ignore[return-value]


def run_meta(spool: Path, problems: list[Problem]) -> dict[str, Any]:
    """The run's fields from ``run.json``, checked before anything is stored: ``SpoolError`` for a
    missing or wrong scan id or time (the run cannot be placed: no time, a time more than ``CLOCK_SKEW``
    ahead of now, or an end before its start), a warning and the default for a wrong optional field.
    Times are kept in UTC (``_utc``)."""
    where = spool / "run.json"
    meta = _load_json(where)
    if not isinstance(meta, dict):
        raise SpoolError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("scan_id"), str) or not meta["scan_id"].strip():
        raise SpoolError(f"{where}: field 'scan_id': expected a string, got {_shown(meta.get('scan_id'))}")
    # A time that is not one would be stored and break every later report and --as-of of the store.
    times, latest = {}, _latest_allowed()
    for key in ("started", "finished"):
        if key == "finished" and meta.get(key) is None:
            times[key] = times["started"]
            continue
        times[key] = _utc(meta.get(key), f"{where}: {key}", problems)
        if times[key] is None:
            raise SpoolError(f"{where}: field {key!r}: expected an ISO 8601 timestamp, got {_shown(meta.get(key))}")
        if times[key] > latest:
            raise SpoolError(f"{where}: field {key!r}: expected a time no later than now plus a day of clock skew "
                             f"({latest}), got {_shown(meta[key])}; nothing was stored")
    if times["finished"] < times["started"]:
        raise SpoolError(f"{where}: field 'finished': expected a time no earlier than 'started' ({times['started']}), "
                         f"got {_shown(meta['finished'])}; nothing was stored")
    scope = meta.get("scope") or []
    if not isinstance(scope, list) or not all(isinstance(n, str) for n in scope):
        problems.append(Problem(f"{where}: scope", "expected a list of inventory names; "
                                                   "the run's scope is not recorded", "warning"))
        scope = []
    fields = {}
    for key, default in (("playbook", None), ("tool_version", "unknown"), ("group", None)):
        value = meta.get(key)
        if value is not None and not isinstance(value, (str, int)) or isinstance(value, bool):
            problems.append(Problem(f"{where}: {key}", f"expected a string, got {_shown(value)}; not recorded",
                                    "warning"))
            value = None
        fields[key] = str(value) if value not in (None, "") else default
    return {"scan_id": meta["scan_id"], **times, "scope": tuple(dict.fromkeys(scope)), **fields}


def _shown(value: Any) -> str:
    """A value in a message, as JSON, cut short."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def safe_name(name: str) -> str:
    """The file name (without ``.json``) the collector callback gives the host ``name``'s result."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + "-" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:8]


def name_of_file(path: Path, scope: tuple[str, ...]) -> str:
    """The inventory name a host file stands for without reading it: the scope's host whose file
    name it is, else the name the callback's file name was made from (its hash checked), else the
    file name itself (hand-made spools: ``hosts/web1.json``)."""
    stem = path.stem
    for name in scope:
        if safe_name(name) == stem:
            return name
    base, _, tail = stem.rpartition("-")
    if base and safe_name(base) == stem:
        return base
    return stem


def _read_hosts(paths: list[Path], problems: list[Problem], scope: tuple[str, ...] = ()) -> Iterator[RawHost]:
    """Each file's host. One that cannot be read is reported and yielded failed under the name of its
    file (``name_of_file``): its last inventory is kept, stale, not dropped from the fleet. A
    ``collected_at`` is kept in UTC (``_utc``); one that is no time or is ahead of now by more than
    ``CLOCK_SKEW`` is dropped with a warning (the run's end counts instead)."""
    latest = _latest_allowed()
    for path in paths:
        try:
            doc, bulk = _load_host(path)
            if not isinstance(doc, dict):
                raise SpoolError(f"expected a JSON object, got {type(doc).__name__}")
            status = HostStatus(doc.get("status"))
            name = doc["inventory_name"]
            if not isinstance(name, str) or not name:
                raise SpoolError(f"inventory_name: expected a host name, got {_shown(name)}")
        except (SpoolError, KeyError, ValueError, TypeError) as exc:
            detail = str(exc) if isinstance(exc, SpoolError) else f"{type(exc).__name__}: {exc}"
            at = re.match(r"(:\d+:\d+)?:? ?", detail.removeprefix(str(path)))  # the parser's line:column, if any
            where, detail = f"{path}{at.group(1) or ''}", detail.removeprefix(str(path))[at.end():]
            problems.append(Problem(where, f"unreadable host entry ({detail}); the host is recorded failed"))
            yield RawHost(name_of_file(path, scope), HostStatus.FAILED, None, f"unreadable spool entry: {detail}",
                          None, str(path))
            continue
        result = doc.get("result")
        if status is HostStatus.OK and not isinstance(result, dict):
            problems.append(Problem(str(path), "status ok but no module result"))
            status, result = HostStatus.FAILED, None
        groups = doc.get("groups")
        groups = tuple(str(g) for g in groups if isinstance(g, (str, int))) if isinstance(groups, list) else ()
        error, collected_at = doc.get("error"), doc.get("collected_at")
        if collected_at is not None:
            collected_at, given = _utc(collected_at, f"{path}: collected_at", problems), collected_at
            if collected_at is None or collected_at > latest:
                expected = "an ISO 8601 timestamp" if collected_at is None else f"a time no later than {latest}"
                problems.append(Problem(str(path), f"collected_at: expected {expected}, got {_shown(given)}; "
                                                   f"the run's time is used", "warning"))
                collected_at = None
        yield RawHost(name, status, result, None if error is None else str(error)[:2000], collected_at, str(path),
                      groups, bulk if result is not None else None)
