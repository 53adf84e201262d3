"""The embedded TinyDB store: the only module that imports TinyDB.

Layout of the JSON file (one TinyDB table each):

- ``scans``: one document per scan (metadata and counts);
- ``host_scans``: one document per inventory host per scan: status, derived
  host facts, and the digest of the inventory it saw (or carried over);
- ``inventories``: content-addressed inventories (``digest``, ``scan_id``,
  ``ids``, ``times``): a host whose software did not change between scans adds
  no new inventory. ``ids`` are row ids into the string/row table of the
  snapshot that first stored it (``scan_id``), ``times`` the install times;
  both are little-endian uint32/int64 arrays in base64 (12 bytes per
  installation, not a JSON row), stored in the collector's order and read back
  in canonical order (``inventory.canonical_order``);
- ``snapshots``: one document per scan that stored new inventories: its string
  table (every distinct string once) and row table (7 string ids per distinct
  installation row, ``inventory.SnapshotTable``);
- ``entitlements``: imported and hand-entered licences, one document each,
  keyed by their content id (licence files in git are not copied here);
- ``findings_state``: one document per finding id (first/last seen, what was
  last notified); ``notify_outbox``: notifications not yet delivered, one per
  channel and event, with attempts and the last (masked) error (``notify.py``);
- ``scan_summaries``: per scan, the position counts recorded when it was
  reconciled (non-compliant products), for the report's trend.

- ``retired``: hosts taken out of the fleet by hand (``fleetsam hosts retire``),
  by fleet key, with the time (``fleet.Retirement``).

``scans`` documents also hold the run's ``scope`` (the inventory names it
targeted) and ``group`` (runs that belong together, e.g. slices of one AWX job).
The fleet (``load_scan``) is built from ``host_scans`` on read (``fleet.py``):
a run adds its own documents and its new inventories, nothing else.

TinyDB rewrites the whole file on every write, so the storage below keeps the
data in memory for the session and writes once, at commit, to a temporary file
that is fsynced and renamed over the old one: a crash or a rejected import
never leaves a half-written store, and a reader always finds a whole file.
Writers queue on an exclusive ``flock`` of ``PATH.lock`` (polled up to
``FLEETSAM_LOCK_TIMEOUT`` seconds, default 300) and read the file only once
they hold it, so no run's update is lost; readers (``readonly``) take no lock
and read the last committed file. A writer that takes the lock removes the
temporary files of writers killed before their rename (``remove_stale_temps``).
A commit keeps the store file's mode; a new store is 0600 (it lists the fleet's
hosts and software).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import stat
import time
from pathlib import Path
from typing import Sequence

from tinydb import Query, TinyDB
from tinydb.storages import Storage

from sam_engine.atomic_file import atomic_open, temp_prefix
from sam_engine.ingest.inventory import RowTable, inventory_from_doc, table_from_doc
from sam_engine.model import Entitlement, HostScan, Scan
from sam_engine.store.documents import TABLES, retire_hosts, retirement_docs, scan_documents
from sam_engine.store.fleet import Retired, Retirement, RunRef, fleet_docs, fleet_index, fleet_runs, newest_doc, \
    newest_source
from sam_engine.store.interface import (
    ScanInfo,
    chronological,
    scan_info_from_doc,
    Store,
    StoreError,
    entitlement_from_doc,
    entitlement_to_doc,
    host_scan_from_doc,
    lock_timeout,
)

try:  # optional, as for spool parsing
    from orjson import dumps as _fast_dumps, loads as _fast_loads
except ImportError:  # pragma: no cover - json is used
    _fast_dumps = _fast_loads = None

FORMAT_VERSION = 3  # 2: compact inventories; 3: run scope and group, retired hosts (2 is upgraded on open)
_LOCK_POLL = 0.05


def remove_stale_temps(path: Path) -> None:
    """Remove the temporary files that killed writers left beside ``path``. Called holding the
    writers' lock: only its holder writes one, so any found then belongs to no live writer."""
    prefix = temp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return
    for name in names:
        # mkstemp's names only: the prefix and 8 characters of its alphabet (never the lock or the store)
        if name.startswith(prefix) and len(name) == len(prefix) + 8 and _TEMP_CHARS.issuperset(name[len(prefix):]):
            try:
                os.unlink(path.parent / name)
            except FileNotFoundError:
                pass


_TEMP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _encoded(data: dict) -> bytes:
    """The store file's bytes: for what a store holds (text, integers, booleans, nulls) orjson writes
    ``json.dumps``'s compact UTF-8 byte for byte, 20 times faster (0.01 s against 0.21 s for the 21 MB
    store of the 1,000-host bench fleet); json where orjson refuses a value (an integer beyond 64 bits). ``dumps``, not ``dump``:
    json.dump encodes chunk by chunk in Python."""
    if _fast_dumps is not None:
        try:
            return _fast_dumps(data)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _decoded(raw: bytes, path: Path) -> dict | None:
    """The store file's document: orjson reads it in half json's time (every reader and every run
    opens the whole file: 1.9 s for json at 10,000 hosts); json where orjson refuses the text (a lone
    surrogate escape, an integer beyond 64 bits, no document at all), and for the error it names."""
    if _fast_loads is not None:
        try:
            return _fast_loads(raw)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            pass
    text = raw.decode("utf-8")
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise StoreError(f"{path}:{exc.lineno}:{exc.colno}: not a fleetsam store: {exc.msg}") from exc


class _SessionJSONStorage(Storage):
    """Read the file once, keep writes in memory, write atomically on ``flush``."""

    def __init__(self, path: str):
        self._path = Path(path)
        self._data: dict | None = None
        self.dirty = False

    def read(self) -> dict | None:
        if self._data is None:
            try:
                raw = self._path.read_bytes()
            except FileNotFoundError:
                return None
            self._data = _decoded(raw, self._path)
        return self._data

    def write(self, data: dict) -> None:
        self._data = data
        self.dirty = True

    def flush(self) -> None:
        if not self.dirty:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:  # the store keeps the mode it was given; a new one stays 0600 (mkstemp's): it lists the fleet
            mode = stat.S_IMODE(os.stat(self._path).st_mode)
        except FileNotFoundError:
            mode = None
        with atomic_open(self._path, mode=mode, durable=True) as handle:
            handle.buffer.write(_encoded(self._data))  # nothing went through the text layer: bytes are in order
        self.dirty = False

    def close(self) -> None:
        self._data = None


class TinyDBStore(Store):
    """A fleetsam store in one TinyDB JSON file; ``readonly``: a reader that takes no lock."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = None
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = self._take_lock(lock_timeout())
            remove_stale_temps(self.path)
        self._storage: _SessionJSONStorage | None = None
        self._inventory_index: dict | None = None
        self._fleet_index: dict | None = None
        self._tables: dict[str, RowTable] = {}
        self._db = TinyDB(str(self.path), storage=self._make_storage)
        self._check_format()

    def _take_lock(self, timeout: float):
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the session
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise StoreError(f"{self.path}: another fleetsam process kept the store busy for "
                                     f"{timeout:g} s (FLEETSAM_LOCK_TIMEOUT); nothing was written") from None
                time.sleep(_LOCK_POLL)

    def _make_storage(self, path: str) -> _SessionJSONStorage:
        self._storage = _SessionJSONStorage(path)
        return self._storage

    def _check_format(self) -> None:
        meta = self._db.table("meta")
        doc = meta.get(doc_id=1)
        if doc is None:
            if not self.readonly:
                meta.insert({"format": "fleetsam", "version": FORMAT_VERSION})
        elif doc.get("format") == "fleetsam" and doc.get("version") == 2:
            # format 3 only adds fields and a table that default to empty: upgraded in place
            if not self.readonly:
                meta.update({"version": FORMAT_VERSION}, doc_ids=[1])
        elif doc.get("format") == "fleetsam" and isinstance(doc.get("version"), int) and doc["version"] < 2:
            raise StoreError(f"{self.path}: store format version {doc['version']} was written by an older fleetsam; "
                             f"this version reads formats 2 and {FORMAT_VERSION} (compact inventories): move the "
                             f"file aside and scan again, or ingest kept spools with 'fleetsam ingest'")
        elif doc.get("format") != "fleetsam" or doc.get("version") != FORMAT_VERSION:
            raise StoreError(f"{self.path}: unsupported store format {doc!r}")

    # -- writes ------------------------------------------------------------------------

    def save_scan(self, scan: Scan) -> None:
        scans = self._db.table("scans")
        if scans.contains(Query().scan_id == scan.scan_id):
            raise StoreError(f"{self.path}: scan {scan.scan_id} is already stored")
        docs = scan_documents(scan, self._inventory_docs())
        if docs.snapshot is not None:
            self._db.table("snapshots").insert(docs.snapshot)
        self._db.table("inventories").insert_multiple(docs.inventories)
        self._inventory_index = self._fleet_index = None
        self._db.table("host_scans").insert_multiple(docs.hosts)
        scans.insert(docs.scan)

    def retire(self, names: Sequence[str], reason: str = "") -> list[Retired]:
        done = retire_hosts(self._fleet(), names, self.retirements(), reason, str(self.path))
        if new := retirement_docs(done):  # hosts retired already leave the file as it was
            self._db.table("retired").insert_multiple(new)
        self._fleet_index = None
        return done

    def export_documents(self) -> dict[str, list[dict]]:
        return {name: [dict(doc) for doc in self._db.table(name).all()] for name in TABLES}

    def import_documents(self, tables: dict[str, list[dict]]) -> None:
        for name in TABLES:
            if tables.get(name):
                self._db.table(name).insert_multiple(tables[name])
        self._inventory_index = self._fleet_index = None
        self._tables.clear()

    def retirements(self) -> list[Retirement]:
        return [Retirement(d["key"], d["at"], d.get("reason") or "") for d in self._db.table("retired").all()]

    def add_entitlements(self, items: Sequence[Entitlement]) -> int:
        table = self._db.table("entitlements")
        known = {doc["entitlement_id"] for doc in table.all()}
        new = []
        for ent in items:
            if ent.entitlement_id not in known:
                known.add(ent.entitlement_id)
                new.append(entitlement_to_doc(ent))
        if new:  # an empty insert would still rewrite the file
            table.insert_multiple(new)
        return len(new)

    def remove_entitlement(self, entitlement_id: str) -> bool:
        table = self._db.table("entitlements")
        if not table.contains(Query().entitlement_id == entitlement_id):
            return False
        table.remove(Query().entitlement_id == entitlement_id)
        return True

    def _upsert(self, table_name: str, key: str, docs: Sequence[dict]) -> None:
        if not docs:  # an empty write would still rewrite the file
            return
        table = self._db.table(table_name)
        stored = {doc[key]: doc.doc_id for doc in table.all()}
        for doc in docs:
            if doc[key] in stored:
                table.update(dict(doc), doc_ids=[stored[doc[key]]])
            else:
                stored[doc[key]] = table.insert(dict(doc))

    def save_finding_states(self, docs: Sequence[dict]) -> None:
        self._upsert("findings_state", "id", docs)

    def save_deliveries(self, docs: Sequence[dict]) -> None:
        self._upsert("notify_outbox", "delivery_id", docs)

    def save_scan_summary(self, doc: dict) -> None:
        self._upsert("scan_summaries", "scan_id", [doc])

    def remove_deliveries(self, delivery_ids) -> None:
        ids = set(delivery_ids)
        table = self._db.table("notify_outbox")
        gone = [doc.doc_id for doc in table.all() if doc["delivery_id"] in ids]
        if gone:
            table.remove(doc_ids=gone)

    def commit(self) -> None:
        if self._storage is None:
            return
        if self.readonly and self._storage.dirty:
            raise StoreError(f"{self.path}: opened for reading; the changes were not written")
        self._storage.flush()

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            if self._lock is not None:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()

    # -- reads -------------------------------------------------------------------------

    def scans(self) -> list[ScanInfo]:
        return chronological(scan_info_from_doc(doc, str(self.path)) for doc in self._db.table("scans").all())

    def entitlements(self) -> list[Entitlement]:
        return [entitlement_from_doc(doc) for doc in self._db.table("entitlements").all()]

    def finding_states(self) -> list[dict]:
        return [dict(doc) for doc in self._db.table("findings_state").all()]

    def deliveries(self) -> list[dict]:
        return [dict(doc) for doc in self._db.table("notify_outbox").all()]

    def scan_summaries(self) -> dict[str, dict]:
        return {doc["scan_id"]: dict(doc) for doc in self._db.table("scan_summaries").all()}

    def _inventory_docs(self) -> dict:
        """digest -> stored inventory document, indexed once per session (not a search per host)."""
        if self._inventory_index is None:
            self._inventory_index = {doc["digest"]: doc for doc in self._db.table("inventories").all()}
        return self._inventory_index

    def _snapshot_table(self, scan_id: str) -> RowTable:
        table = self._tables.get(scan_id)
        if table is None:
            doc = self._db.table("snapshots").get(Query().scan_id == scan_id)
            if doc is None:
                raise StoreError(f"{self.path}: the string table of snapshot {scan_id} is missing")
            table = self._tables[scan_id] = table_from_doc(doc)
        return table

    def _rows(self, digest: str | None, as_collected: bool = False) -> Sequence:
        """The stored inventory ``digest`` as a compact ``Inventory`` (canonical order)."""
        if digest is None:
            return ()
        doc = self._inventory_docs().get(digest)
        if doc is None:
            raise StoreError(f"{self.path}: inventory {digest} is missing")
        return inventory_from_doc(doc, self._snapshot_table(doc["scan_id"]), as_collected)

    def load_run(self, scan_id: str) -> Scan | None:
        infos = self.scans()
        info = next((i for i in infos if i.scan_id == scan_id), None)
        if info is None:
            return None
        docs = self._db.table("host_scans").search(Query().scan_id == info.scan_id)
        return self._scan(info, docs)

    def _scan(self, info: ScanInfo, docs) -> Scan:
        hosts = tuple(host_scan_from_doc(d, self._rows(d.get("inventory_digest")), str(self.path)) for d in docs)
        return Scan(info.scan_id, info.started, info.finished, info.tool_version, info.playbook, hosts,
                    scope=info.scope, group=info.group)

    def load_scan(self, scan_id: str | None = None, as_of: dt.date | None = None) -> Scan | None:
        chosen = fleet_runs(self.scans(), scan_id, as_of)
        if chosen is None:
            return None
        last, runs, cutoff = chosen
        return self._scan(last, fleet_docs(runs, self._db.table("host_scans").all(), self.retirements(), cutoff))

    def _fleet(self) -> dict:
        """fleet key -> newest document, and inventory name -> the key it last stood for (this session)."""
        if self._fleet_index is None:
            runs = [RunRef(i.scan_id, i.finished) for i in self.scans()]
            self._fleet_index = fleet_index(runs, self._db.table("host_scans").all())
        return self._fleet_index

    def last_inventory(self, inventory_name: str, as_collected: bool = False) -> HostScan | None:
        """The fleet's record of the machine ``inventory_name`` last stood for: its newest inventory,
        whichever name collected it."""
        doc = newest_doc(self._fleet(), inventory_name)
        if doc is None or doc.get("inventory_digest") is None:
            return None
        return host_scan_from_doc(doc, self._rows(doc["inventory_digest"], as_collected), str(self.path))

    def last_source(self, inventory_name: str) -> str | None:
        found = newest_source(self._fleet(), inventory_name)
        return found[1] if found else None
