"""Ingest: the model records of a run's raw host entries (``spool.read_spool``).

A reached host's result is read by the platform that matches it
(``platforms.registry``); a result may also hold ``hypervisor`` (a hypervisor's raw
outputs, read into ``HostScan.topology`` by ``topology.collected``) or
``hypervisor_error``. A host that was not reached keeps its previous inventory
and topology, marked stale; it is never recorded as "no software". Nor is a
reached host whose software collector found nothing at all (an empty or replaced
package database): it is recorded failed, its last inventory kept
(``checked_empty``). A reached host one of whose package sources could not be read
(a corrupt rpm database beside a working dpkg) keeps that source's packages from
its last inventory, with a warning (``kept_sources``). A host of the run's scope
without a host file is recorded failed, its last inventory kept.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from sam_engine.ingest.bulk import source_key
from sam_engine.ingest.inventory import Inventory, RowTable
from sam_engine.ingest.spool import RawHost, RawRun
from sam_engine.ingest.spool_json import SpoolError, parsed
from sam_engine.model import HostScan, HostStatus, Installation, Problem, Scan, Topology
from sam_engine.platforms.registry import SOURCE_NAME, platform_of
from sam_engine.topology.collected import read_topology
from sam_engine.vocabulary import Collector

# the collector whose reading of a bulk field a stored inventory stands for (``bulk.source_key``)
BULK_READERS = {"software": Collector.LINUX.value, "windows": Collector.WINDOWS.value, "macos": Collector.MACOS.value}


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


def reached_host_scan(scan_id: str, raw: RawHost, table: RowTable,
                      stored: Sequence[Installation] | None = None) -> tuple[HostScan, list[Problem]]:
    """A host the collector reached: its platform (``platforms.registry``) reads the result into
    installations (compact, rows interned in ``table``), a host and a hypervisor's topology, and names the
    collector. ``stored``: the host's stored inventory, whose record has the ``source_key`` of ``raw``'s
    bulk (the caller checked): taken instead of reading the bulk into installations.
    Raises ``UnreadableResult`` for a result the platform cannot read (a wrong type where it
    expects a list or a mapping, a spooled bulk that is not JSON)."""
    assert raw.result is not None
    key = source_key(raw.result, raw.bulk)
    reader = BULK_READERS.get(raw.bulk.field) if raw.bulk is not None else None
    try:
        taken = stored is not None and key is not None
        # a package list is not parsed: its reading is taken, or it is read line by line; a Windows or
        # macOS bulk holds the facts too
        unparsed = reader == Collector.LINUX.value
        result = {**raw.result, "software": []} if unparsed else _with_bulk(raw)
        platform = platform_of(result)
        own = platform.collector == reader
        found = None
        if taken and own:
            found = stored, []  # the facts are read, the inventory is not
        elif unparsed and own:
            found = platform.inventory_text(result, raw.bulk.data, raw.origin, table)  # type: ignore[union-attr]
        if found is not None:
            installations, problems = found
        else:
            if unparsed:  # laid out otherwise, or another collector's result after all: read whole
                result = _with_bulk(raw)
                platform = platform_of(result)
            installations, problems = platform.inventory(result, raw.origin, table)
        # only a bulk read without a problem is keyed: a later run taking it would drop its problems
        key = key if not problems and platform.collector == reader else None
        warnings = result.get("warnings") or []
        warnings = tuple(str(w) for w in warnings) if isinstance(warnings, list) else (str(warnings),)
        host = platform.host(result, raw.inventory_name)
        topology, more = read_topology(result.get("hypervisor"), raw.origin, raw.inventory_name)
        own, more_own = platform.topology(result, raw.inventory_name, raw.origin)  # vCenter, Hyper-V, cloud
        topology = joined(topology, own)
        problems = [*problems, *more, *more_own]
        if result.get("hypervisor_error") is not None:  # the callback's note of a failed hypervisor_facts
            warnings += (f"{HYPERVISOR_FAILED}: {str(result['hypervisor_error'])[:500]}",)
        warnings += tuple(f"package source {name} failed: {message}"  # read back by FAILED_SOURCE
                          for name, message in platform.failed_sources(result).items())
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError, RecursionError,
            SpoolError) as exc:
        raise UnreadableResult(Problem(f"{raw.origin}: result", f"unreadable ({type(exc).__name__}: "
                                       f"{str(exc)[:200]}); the host is recorded failed")) from None
    return HostScan(scan_id, raw.inventory_name, HostStatus.OK, host, installations, collector=platform.collector,
                    inventory_scan_id=scan_id, warnings=warnings,
                    collected_at=raw.collected_at, groups=raw.groups, topology=topology, source_digest=key), problems


def _with_bulk(raw: RawHost) -> Mapping[str, Any]:
    """``raw``'s result with its bulk parsed into place."""
    assert raw.result is not None
    if raw.bulk is None:
        return raw.result
    return {**raw.result, raw.bulk.field: parsed(raw.bulk.data, raw.origin)}


def stored_inventory(raw: RawHost, last_source: Callable[[str], str | None] | None,
                     last_inventory: Callable[..., HostScan | None]) -> Sequence[Installation] | None:
    """The stored inventory of ``raw``'s host when its newest record was read from a bulk with the key
    of the one ``raw`` holds (``bulk.source_key``); None: the bulk is read."""
    key = source_key(raw.result or {}, raw.bulk) if last_source is not None else None
    if key is None or last_source(raw.inventory_name) != key:
        return None
    last = last_inventory(raw.inventory_name, as_collected=True)  # the order a read of the list gives
    return last.installations if last is not None and last.source_digest == key else None


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


FAILED_SOURCE = re.compile(rf"package source ({SOURCE_NAME.pattern}) failed: ")  # a warning of ``reached_host_scan``


def kept_sources(host_scan: HostScan, origin: str, last_inventory: Callable[[str], HostScan | None],
                 table: RowTable) -> tuple[HostScan, list[Problem]]:
    """``host_scan`` (a reached host) with the packages of each source its collector could not read taken
    from the machine's last inventory (the rows of that source in its newest genuine inventory): a database
    that could not be read is not software removed. Each such source's warning says what was kept, and a
    problem (a warning) says it in the run's lines. A machine without a last inventory (a first scan) is
    stored as read, with the warning. Not keyed (``source_digest`` None): a later run with the same package
    list reads it again rather than take this mix of two runs as that list's reading."""
    failed = {m[1]: k for k, w in enumerate(host_scan.warnings) if (m := FAILED_SOURCE.match(w))}
    if not failed:
        return host_scan, []
    last = last_inventory(host_scan.inventory_name)
    same = last is not None and last.host_id is not None and last.host_id == host_scan.host_id
    kept = [i for i in last.installations if i.source in failed] if same else []
    warnings = list(host_scan.warnings)
    for name, k in failed.items():
        warnings[k] += (f"; kept its {sum(i.source == name for i in kept)} packages of the last inventory, "
                        f"{_read_on(last, name)}" if same else "; no earlier inventory to keep its packages from")
    installations = host_scan.installations
    if same:  # the fresh rows of a failed source, if a collector sent any, are not the list: replaced
        installations = Inventory.of([*(i for i in installations if i.source not in failed), *kept], table)
    problems = [Problem(f"{origin}: result", warnings[k], "warning") for k in failed.values()]
    return replace(host_scan, installations=installations, warnings=tuple(warnings), source_digest=None), problems


_KEPT_ON = re.compile(r"; kept its \d+ packages of the last inventory, (of .+)$")


def _read_on(last: HostScan, source: str) -> str:
    """When the packages of ``source`` kept from ``last`` (a stored inventory) were read, for a message: the
    date ``last`` gave them when it had kept them too (a database unreadable night after night), else its own."""
    for w in last.warnings:
        if (m := FAILED_SOURCE.match(w)) and m[1] == source and (on := _KEPT_ON.search(w)):
            return on[1]
    return _of(last)


def _of(last: HostScan) -> str:
    """When ``last`` (a stored inventory) was collected, for a message."""
    return f"of {last.collected_at[:10]}" if last.collected_at else f"of scan {last.inventory_scan_id}"


NO_SOFTWARE = "no installed software found"
# the collectors that inventory a machine's software (a vCenter has none of its own)
SOFTWARE_COLLECTORS = frozenset({Collector.LINUX.value, Collector.WINDOWS.value, Collector.MACOS.value})


def checked_empty(host_scan: HostScan, origin: str,
                  last_inventory: Callable[[str], HostScan | None]) -> tuple[HostScan, list[Problem]]:
    """``host_scan`` (a reached host, ``reached_host_scan``) as it is stored when its software collector
    found nothing at all. A machine always has installed software: none is a broken or tampered
    collection (an empty package database, or one replaced by a directory), not a machine whose software
    was all removed. A host with a last inventory of any software is recorded failed, that inventory
    kept stale as for a host not reached (``stale_host_scan``: its last facts and topology, not this
    run's), with a problem; a host with none is stored as collected, with the warning ``NO_SOFTWARE``.
    Only nothing at all counts: fewer packages than last time is a change, stored as collected."""
    if host_scan.collector not in SOFTWARE_COLLECTORS or len(host_scan.installations):
        return host_scan, []
    last = last_inventory(host_scan.inventory_name)
    if last is None or not len(last.installations):
        return replace(host_scan, warnings=(*host_scan.warnings, NO_SOFTWARE)), []
    error = (f"the collector found no installed software (its last inventory, {_of(last)}, had "
             f"{len(last.installations)}): kept the last inventory")
    failed = stale_host_scan(host_scan.scan_id, host_scan.inventory_name, HostStatus.FAILED, error,
                             host_scan.groups, last)
    return failed, [Problem(f"{origin}: result", f"{error}; the host is recorded failed")]


class UnreadableResult(Exception):
    """A module result of the wrong shape; ``args[0]`` is its located ``Problem``."""


def stale_host_scan(scan_id: str, inventory_name: str, status: HostStatus, error: str | None,
                    groups: tuple[str, ...], previous: HostScan | None) -> HostScan:
    """A host not reached (or failed) in this scan: its last inventory carried over, stale, with the
    collector that produced it. The copy is the store as it stood at ingest (``load_run`` shows it); the
    fleet takes the inventory from the run that collected it (``store.fleet``), whatever the order."""
    if previous is None:
        return HostScan(scan_id, inventory_name, status, None, (), collector=None, error=error, groups=groups)
    return HostScan(scan_id, inventory_name, status, previous.host, previous.installations,
                    collector=previous.collector, inventory_scan_id=previous.inventory_scan_id,
                    inventory_digest=previous.inventory_digest, error=error, collected_at=previous.collected_at,
                    groups=groups, topology=previous.topology, source_digest=previous.source_digest)


def build_scan(
    run: RawRun,
    last_inventory: Callable[[str], HostScan | None],
    table: RowTable | None = None,
    on_host: Callable[[], object] | None = None,
    last_source: Callable[[str], str | None] | None = None,
) -> tuple[Scan, list[Problem]]:
    """The model ``Scan`` of a run; hosts not reached carry their last inventory, stale, and so do
    reached hosts whose collector found no software at all (``checked_empty``); a source that could
    not be read keeps its packages (``kept_sources``).

    Inventories are compact (``inventory.Inventory``), their distinct rows interned
    in ``table`` (a new one per scan by default). ``on_host`` is called after each host file.
    With ``last_source`` (``Store.last_source``) a package list the host's stored inventory was read
    from is not read again (``stored_inventory``).
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
                stored = stored_inventory(raw, last_source, last_inventory)
                host_scan, bad = reached_host_scan(run.scan_id, raw, table, stored)
            except UnreadableResult as exc:
                problems.append(exc.args[0])
                status, error = HostStatus.FAILED, exc.args[0].message
            else:
                host_scan, kept = kept_sources(host_scan, raw.origin, last_inventory, table)
                host_scan, empty = checked_empty(host_scan, raw.origin, last_inventory)
                hosts.append(keep_topology(host_scan, last_inventory))
                problems.extend([*bad, *kept, *empty])
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
