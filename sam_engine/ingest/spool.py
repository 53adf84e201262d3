"""Ingest: read a scan spool and turn raw collector results into model records.

The collector callback writes one spool directory per playbook run::

    SPOOL/run.json                 {"scan_id", "started", "finished", "playbook", "tool_version",
                                    "scope", "group"}
    SPOOL/hosts/<name>.json        {"inventory_name", "status", "result", "error", "collected_at", "groups"}

``status`` is ``ok`` (``result`` holds a collector module's result, read by the
platform that matches it: ``platforms.registry``), ``unreachable`` or
``failed``. A result may also hold ``hypervisor`` (a hypervisor's raw outputs,
read into ``HostScan.topology`` by ``topology.collected``) or ``hypervisor_error``.
A host that was not reached keeps its previous inventory and topology, marked
stale; it is never recorded as "no software". ``scope`` (may be absent) lists
the inventory names the run targeted; one of them without a host file is
recorded failed, its last inventory kept. ``group`` ties runs that belong
together (slices of one AWX job).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from sam_engine.ingest.inventory import RowTable
from sam_engine.model import HostScan, HostStatus, Problem, Scan, Topology
from sam_engine.platforms.registry import platform_of
from sam_engine.topology.collected import read_topology

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
    """The spool cannot be read at all (missing run.json, not JSON, no valid scan id or times, no hosts/)."""


def _load_json(path: Path) -> Any:
    """The JSON value of ``path``. Text UTF-8 cannot hold (a lone surrogate escape, a bad byte) becomes
    U+FFFD; nesting too deep for the parser is a ``SpoolError``, as is anything that is not JSON."""
    if _fast_loads is not None:  # orjson parses a spool file about twice as fast as json (and refuses surrogates)
        try:
            with open(path, "rb") as handle:
                return _fast_loads(handle.read())
        except Exception:  # noqa: BLE001 - anything odd: json below decides, with its own messages
            pass
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        raise SpoolError(f"{path}: missing") from None
    except OSError as exc:
        raise SpoolError(f"{path}: unreadable: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpoolError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise SpoolError(f"{path}: invalid JSON: nested too deeply") from None
    # a lone surrogate can only come from a \uD800-\uDFFF escape: one regex search, ~2% of the ingest
    # (an escaped pair is one character: the walk then changes nothing)
    if _SURROGATE_ESCAPE.search(text):
        value = _without_surrogates(value)
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD: the store
    writes UTF-8, which cannot hold one. Iterative: the depth is the parser's, not the stack's."""
    def clean(v: Any) -> Any:
        return _SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v

    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        v = parent[key]
        if isinstance(v, str):
            parent[key] = clean(v)
        elif isinstance(v, list):
            stack.extend((v, k) for k in range(len(v)))
        elif isinstance(v, dict):
            items = [(clean(k), x) for k, x in v.items()]
            v.clear()
            v.update(items)
            stack.extend((v, k) for k in v)
    return root[0]


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


def _timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def run_meta(spool: Path, problems: list[Problem]) -> dict[str, Any]:
    """The run's fields from ``run.json``, checked before anything is stored: ``SpoolError`` for a
    missing or wrong scan id or time (the run cannot be placed), a warning and the default for a
    wrong optional field."""
    where = spool / "run.json"
    meta = _load_json(where)
    if not isinstance(meta, dict):
        raise SpoolError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("scan_id"), str) or not meta["scan_id"].strip():
        raise SpoolError(f"{where}: field 'scan_id': expected a string, got {_shown(meta.get('scan_id'))}")
    # A time that is not one would be stored and break every later report and --as-of of the store.
    for key in ("started", "finished"):
        if (key == "started" or meta.get(key) is not None) and not _timestamp(meta.get(key)):
            raise SpoolError(f"{where}: field {key!r}: expected an ISO 8601 timestamp, got {_shown(meta.get(key))}")
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
    return {"scan_id": meta["scan_id"], "started": meta["started"], "finished": meta.get("finished") or meta["started"],
            "scope": tuple(dict.fromkeys(scope)), **fields}


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
    file (``name_of_file``): its last inventory is kept, stale, not dropped from the fleet."""
    for path in paths:
        try:
            doc = _load_json(path)
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
        if collected_at is not None and not _timestamp(collected_at):
            problems.append(Problem(str(path), f"collected_at: expected an ISO 8601 timestamp, got "
                                               f"{_shown(collected_at)}; the run's time is used", "warning"))
            collected_at = None
        yield RawHost(name, status, result, None if error is None else str(error)[:2000], collected_at, str(path),
                      groups)


class Unique:
    """Drops a second file for a host already read, with a problem naming both files."""

    def __init__(self, problems: list[Problem]):
        self.first: dict[str, str] = {}
        self.problems = problems

    def __call__(self, name: str, origin: str) -> bool:
        first = self.first.setdefault(name, origin)
        if first != origin:
            self.problems.append(Problem(origin, f"host {name!r} is also in {first}: this file is ignored"))
            return False
        return True


def reached_host_scan(scan_id: str, raw: RawHost, table: RowTable) -> tuple[HostScan, list[Problem]]:
    """A host the collector reached: its platform (``platforms.registry``) reads the result into
    installations (compact, rows interned in ``table``), a host and a hypervisor's topology, and names the
    collector.
    Raises ``UnreadableResult`` for a result the platform cannot read (a wrong type where it
    expects a list or a mapping)."""
    assert raw.result is not None
    try:
        platform = platform_of(raw.result)
        installations, problems = platform.inventory(raw.result, raw.origin, table)
        warnings = raw.result.get("warnings") or ()
        warnings = tuple(str(w) for w in warnings) if isinstance(warnings, list) else (str(warnings),)
        host = platform.host(raw.result, raw.inventory_name)
        topology, more = read_topology(raw.result.get("hypervisor"), raw.origin, raw.inventory_name)
        own, more_own = platform.topology(raw.result, raw.inventory_name, raw.origin)  # vCenter, Hyper-V, cloud
        topology = joined(topology, own)
        problems = [*problems, *more, *more_own]
        if raw.result.get("hypervisor_error") is not None:  # the callback's note of a failed hypervisor_facts
            warnings += (f"{HYPERVISOR_FAILED}: {str(raw.result['hypervisor_error'])[:500]}",)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError) as exc:
        raise UnreadableResult(Problem(f"{raw.origin}: result", f"unreadable ({type(exc).__name__}: "
                                       f"{str(exc)[:200]}); the host is recorded failed")) from None
    return HostScan(scan_id, raw.inventory_name, HostStatus.OK, host, installations, collector=platform.collector,
                    inventory_scan_id=scan_id, warnings=warnings, collected_at=raw.collected_at,
                    groups=raw.groups, topology=topology), problems


def joined(first: Topology | None, second: Topology | None) -> Topology | None:
    """Both views of one host (its hypervisor_facts and its own collector's), or the one there is."""
    if first is None or second is None:
        return first or second
    return Topology(servers=first.servers + second.servers, guests=first.guests + second.guests)


HYPERVISOR_FAILED = "hypervisor_facts failed; the host's last topology is kept"


def keep_topology(host_scan: HostScan, last_inventory: Callable[[str], HostScan | None]) -> HostScan:
    """``host_scan`` with its last stored topology when its hypervisor collector failed this time: like a
    host's inventory, a topology is not forgotten because one run could not read it."""
    if host_scan.topology is not None or not any(w.startswith(HYPERVISOR_FAILED) for w in host_scan.warnings):
        return host_scan
    last = last_inventory(host_scan.inventory_name)
    return replace(host_scan, topology=last.topology) if last is not None else host_scan


class UnreadableResult(Exception):
    """A module result of the wrong shape; ``args[0]`` is its located ``Problem``."""


def stale_host_scan(scan_id: str, inventory_name: str, status: HostStatus, error: str | None,
                    groups: tuple[str, ...], previous: HostScan | None) -> HostScan:
    """A host not reached (or failed) in this scan: its last inventory carried over, stale, with the
    collector that produced it."""
    if previous is None:
        return HostScan(scan_id, inventory_name, status, None, (), collector=None, error=error, groups=groups)
    return HostScan(scan_id, inventory_name, status, previous.host, previous.installations,
                    collector=previous.collector, inventory_scan_id=previous.inventory_scan_id,
                    inventory_digest=previous.inventory_digest, error=error, collected_at=previous.collected_at,
                    groups=groups, topology=previous.topology)


def build_scan(
    run: RawRun,
    last_inventory: Callable[[str], HostScan | None],
    table: RowTable | None = None,
    on_host: Callable[[], object] | None = None,
) -> tuple[Scan, list[Problem]]:
    """The model ``Scan`` of a run; hosts not reached carry their last inventory, stale.

    Inventories are compact (``inventory.Inventory``), their distinct rows interned
    in ``table`` (a new one per scan by default). ``on_host`` is called after each host file.
    """
    table = RowTable() if table is None else table
    problems: list[Problem] = []
    hosts: list[HostScan] = []
    unique = Unique(problems)
    for raw in run.hosts:
        if on_host is not None:
            on_host()
        if not unique(raw.inventory_name, raw.origin):
            continue
        status, error = raw.status, raw.error
        if status is HostStatus.OK:
            try:
                host_scan, bad = reached_host_scan(run.scan_id, raw, table)
            except UnreadableResult as exc:
                problems.append(exc.args[0])
                status, error = HostStatus.FAILED, exc.args[0].message
            else:
                hosts.append(keep_topology(host_scan, last_inventory))
                problems.extend(bad)
                continue
        hosts.append(stale_host_scan(run.scan_id, raw.inventory_name, status, error, raw.groups,
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
