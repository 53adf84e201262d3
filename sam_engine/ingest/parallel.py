"""Ingest a large spool on every core: host files parsed and made compact in worker processes.

Reading a spool is mostly ``json`` parsing and turning records into rows, per
host and independent: ``build_scan_from_spool`` hands chunks of host files to
worker processes (plain child interpreters, ``python -m
sam_engine.ingest.parallel``: no fork of ansible-playbook's threaded process, no
re-import of its ``__main__``), each keeping its own ``RowTable``. A worker returns, per chunk, the rows it has not
sent before and, per host, the derived ``Host``, the row ids and install times
(machine arrays) and its problems; the main process maps the worker's row ids
into the scan's table (one list look-up per installation) while the workers
parse on. Hosts come back in spool order, so the ``Scan`` is the one
``host_scans.build_scan`` makes from ``ingest.read_spool`` (same hosts, order,
inventories and problems). Small spools are read in-process: a worker costs a
fresh interpreter.

``FLEETSAM_INGEST_WORKERS``: worker count (default: the CPU count, at most 4;
``0`` or ``1`` reads in-process).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from array import array
from pathlib import Path
from typing import Callable

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans
from sam_engine.ingest.bulk import source_key
from sam_engine.ingest.inventory import Inventory, RowTable, content_digest, source_counts
from sam_engine.model import HostScan, HostStatus, Problem, Scan

PARALLEL_MIN_BYTES = 48 * 2**20  # below this much raw JSON, one process is faster
CHUNK_FILES = 16

STORED = "stored"  # a worker's answer for a host whose stored inventory is taken (``_work``)
_table: RowTable | None = None  # the worker's own table
_sent = 0  # how many of its rows the worker has sent


def _worker_init() -> None:
    global _table, _sent
    _table, _sent = RowTable(), 0


def _work(paths: list[str], scope: tuple[str, ...] = (), sources: dict[str, str] | None = None,
          ) -> tuple[int, list[tuple], list, list[Problem]]:
    """Parse and derive one chunk of host files (in a worker): (pid, new rows, hosts, read problems).
    The scan id is not known here: the main process builds each ``HostScan`` again with it. A host
    whose bulk has the key its stored record has (``sources``: inventory name -> key) is
    not read: it comes back as ``STORED`` and the main process takes its stored inventory."""
    global _sent
    assert _table is not None
    read_problems: list[Problem] = []
    hosts = []
    for raw in ingest._read_hosts([Path(p) for p in paths], read_problems, scope):
        status, error = raw.status, raw.error
        if status is HostStatus.OK:
            key = source_key(raw.result or {}, raw.bulk) if sources else None
            stored = [] if key is not None and sources.get(raw.inventory_name) == key else None  # a stand-in
            try:
                scanned, bad = host_scans.reached_host_scan("", raw, _table, stored)
            except host_scans.UnreadableResult as exc:
                status, error, bad = HostStatus.FAILED, exc.args[0].message, [exc.args[0]]
        if status is HostStatus.OK:
            installations = scanned.installations
            if stored is not None and installations is stored:
                inv = STORED
            elif isinstance(installations, Inventory):  # digest and source counts are computed here, on this core
                inv = (installations.ids.tobytes(), installations.times.tobytes(),
                       content_digest(_table, installations.ids, installations.times),
                       source_counts(_table, installations.ids))
            else:
                inv = tuple(installations)
            hosts.append((raw.inventory_name, raw.origin, status.value, error, raw.collected_at, raw.groups,
                          scanned.host, inv, bad, scanned.warnings, scanned.collector, scanned.topology,
                          scanned.source_digest))
        else:
            hosts.append((raw.inventory_name, raw.origin, status.value, error, raw.collected_at, raw.groups,
                          None, None, bad if raw.status is HostStatus.OK else [], (), None, None, None))
    rows = _table.rows[_sent:]
    _sent = len(_table.rows)
    return os.getpid(), rows, hosts, read_problems


def worker_count() -> int:
    env = os.environ.get("FLEETSAM_INGEST_WORKERS", "").strip()
    if env.isdigit():
        return int(env)
    return min(4, os.cpu_count() or 1)


def _worker_main() -> None:
    """``python -m sam_engine.ingest.parallel``: read the run's scope and a list of chunks (JSON) on
    stdin, write one pickled ``_work`` result per chunk on stdout, in order."""
    job = json.loads(sys.stdin.buffer.read())
    _worker_init()
    out = sys.stdout.buffer
    for chunk in job["chunks"]:
        pickle.dump(_work(chunk, tuple(job["scope"]), job["sources"]), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


def _start_workers(chunks: list[list[str]], workers: int, scope: tuple[str, ...],
                   sources: dict[str, str]) -> list[subprocess.Popen]:
    """One plain child interpreter per worker (no multiprocessing: nothing re-imports the caller's
    ``__main__``, which inside ansible-playbook is the CLI), each given every ``workers``-th chunk."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    procs = []
    for k in range(workers):
        proc = subprocess.Popen([sys.executable, "-m", "sam_engine.ingest.parallel"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=env)
        procs.append(proc)
        proc.stdin.write(json.dumps({"scope": scope, "chunks": chunks[k::workers], "sources": sources}).encode())
        proc.stdin.close()
    return procs


def build_scan_from_spool(spool: str | Path, last_inventory: Callable[[str], HostScan | None],
                          workers: int | None = None, on_host: Callable[[], object] | None = None,
                          last_source: Callable[[str], str | None] | None = None) -> tuple[Scan, list[Problem]]:
    """``host_scans.build_scan(*ingest.read_spool(spool, stream=True))``, on ``workers`` processes for a
    large spool. Returns the scan and the problems (reading problems first, as the serial path).
    If a worker fails, the spool is read again in-process. ``on_host`` is called after each host
    file (for progress); ``last_source`` as for ``build_scan``."""
    paths = ingest.host_files(Path(spool))
    workers = worker_count() if workers is None else workers
    if workers >= 2 and sum(p.stat().st_size for p in paths) >= PARALLEL_MIN_BYTES:
        try:
            return _parallel(spool, paths, last_inventory, workers, on_host, last_source)
        except _WorkerFailed:
            pass
    run, read_problems = ingest.read_spool(spool, stream=True)
    scan, more = host_scans.build_scan(run, last_inventory, on_host=on_host, last_source=last_source)
    return scan, read_problems + more


class _WorkerFailed(Exception):
    pass


def _parallel(spool, paths, last_inventory, workers, on_host=None, last_source=None) -> tuple[Scan, list[Problem]]:
    run, read_problems = ingest.read_spool(spool, stream=True)  # run.json checked here; hosts come from workers
    table = RowTable()
    translate: dict[int, list[int]] = {}  # worker pid -> its row id -> scan row id
    build_problems: list[Problem] = []
    hosts: list[HostScan] = []
    chunks = [[str(p) for p in paths[k:k + CHUNK_FILES]] for k in range(0, len(paths), CHUNK_FILES)]
    sources = {}  # the stored key of each host the spool's file names name (``name_of_file``)
    for path in paths if last_source is not None else ():
        name = ingest.name_of_file(path, run.scope)
        sources[name] = last_source(name)
    procs = _start_workers(chunks, workers, run.scope, {n: k for n, k in sources.items() if k})
    unique = host_scans.Unique(build_problems)
    try:
        for n in range(len(chunks)):
            try:
                pid, rows, chunk, problems = pickle.load(procs[n % workers].stdout)
            except (EOFError, pickle.UnpicklingError) as exc:
                raise _WorkerFailed(str(exc)) from exc
            read_problems.extend(problems)
            mapping = translate.setdefault(pid, [])
            mapping.extend(map(table.intern, rows))
            for (name, origin, status, error, collected_at, groups, host, inv, bad, warnings, collector,
                 topology, key) in chunk:
                if on_host is not None:
                    on_host()
                if not unique(name, origin):
                    continue
                build_problems.extend(bad)
                status = HostStatus(status)
                if status is HostStatus.OK:
                    if inv == STORED:
                        last = last_inventory(name, as_collected=True)
                        if last is None or last.source_digest != key:  # cannot be: the keys came from here
                            raise _WorkerFailed(f"{origin}: no stored inventory with key {key}")
                        installations = last.installations
                    elif isinstance(inv, tuple) and len(inv) == 4 and isinstance(inv[0], bytes):
                        ids, times = array("I"), array("q")
                        ids.frombytes(inv[0])
                        times.frombytes(inv[1])
                        installations = Inventory(table, array("I", map(mapping.__getitem__, ids)), times, inv[2],
                                                  inv[3])
                    else:
                        installations = Inventory.of(inv, table)
                    reached, kept = host_scans.kept_sources(HostScan(
                        run.scan_id, name, status, host, installations, collector=collector,
                        inventory_scan_id=run.scan_id, warnings=warnings, collected_at=collected_at, groups=groups,
                        topology=topology, source_digest=key), origin, last_inventory, table)
                    reached, empty = host_scans.checked_empty(reached, origin, last_inventory)
                    build_problems.extend([*kept, *empty])
                    hosts.append(host_scans.keep_topology(reached, last_inventory))
                else:
                    hosts.append(host_scans.stale_host_scan(run.scan_id, name, status, error, groups,
                                                            last_inventory(name)))
    finally:
        for proc in procs:  # our own children, by handle
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()
    if any(proc.returncode not in (0, -9) for proc in procs):
        raise _WorkerFailed("a worker exited with an error")
    return host_scans.scan_of_run(run, hosts, last_inventory), read_problems + build_problems


if __name__ == "__main__":
    _worker_main()
