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

TinyDB rewrites the whole file on every write, so the storage below keeps the
data in memory for the session and writes once, at commit, to a temporary file
that is fsynced and renamed over the old one: a crash or a rejected import
never leaves a half-written store. An exclusive ``flock`` on ``PATH.lock``
keeps two runs from interleaving.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from tinydb import Query, TinyDB
from tinydb.storages import Storage

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable, SnapshotTable, compact_view, content_digest, \
    inventory_from_doc, table_from_doc
from sam_engine.model import Entitlement, HostScan, HostStatus, Scan
from sam_engine.store.interface import (
    ScanInfo,
    Store,
    StoreError,
    entitlement_from_doc,
    entitlement_to_doc,
    host_scan_doc,
    host_scan_from_doc,
    scan_info,
)

FORMAT_VERSION = 2  # 2: compact inventories (snapshot string/row tables, base64 id and time arrays)


class _SessionJSONStorage(Storage):
    """Read the file once, keep writes in memory, write atomically on ``flush``."""

    def __init__(self, path: str):
        self._path = Path(path)
        self._data: dict | None = None
        self.dirty = False

    def read(self) -> dict | None:
        if self._data is None:
            try:
                with self._path.open("r", encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                return None
            try:
                self._data = json.loads(text) if text.strip() else None
            except json.JSONDecodeError as exc:
                raise StoreError(f"{self._path}:{exc.lineno}:{exc.colno}: not a fleetsam store: {exc.msg}") from exc
        return self._data

    def write(self, data: dict) -> None:
        self._data = data
        self.dirty = True

    def flush(self) -> None:
        if not self.dirty:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self._path.name}.", dir=self._path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                # dumps, not dump: json.dump encodes chunk by chunk in Python, dumps in C (much faster)
                handle.write(json.dumps(self._data, separators=(",", ":"), ensure_ascii=False))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.dirty = False

    def close(self) -> None:
        self._data = None


class TinyDBStore(Store):
    """A fleetsam store in one TinyDB JSON file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the session
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise StoreError(f"{self.path}: in use by another fleetsam process") from None
        self._storage: _SessionJSONStorage | None = None
        self._inventory_index: dict | None = None
        self._tables: dict[str, RowTable] = {}
        self._db = TinyDB(str(self.path), storage=self._make_storage)
        self._check_format()

    def _make_storage(self, path: str) -> _SessionJSONStorage:
        self._storage = _SessionJSONStorage(path)
        return self._storage

    def _check_format(self) -> None:
        meta = self._db.table("meta")
        doc = meta.get(doc_id=1)
        if doc is None:
            meta.insert({"format": "fleetsam", "version": FORMAT_VERSION})
        elif doc.get("format") == "fleetsam" and isinstance(doc.get("version"), int) and doc["version"] < FORMAT_VERSION:
            raise StoreError(f"{self.path}: store format version {doc['version']} was written by an older fleetsam; "
                             f"this version reads format {FORMAT_VERSION} only (compact inventories): move the file "
                             f"aside and scan again, or ingest kept spools with 'fleetsam ingest'")
        elif doc.get("format") != "fleetsam" or doc.get("version") != FORMAT_VERSION:
            raise StoreError(f"{self.path}: unsupported store format {doc!r}")

    # -- writes ------------------------------------------------------------------------

    def save_scan(self, scan: Scan) -> None:
        scans = self._db.table("scans")
        if scans.contains(Query().scan_id == scan.scan_id):
            raise StoreError(f"{self.path}: scan {scan.scan_id} is already stored")
        inventories = self._db.table("inventories")
        known = set(self._inventory_docs())
        snapshot, fallback = SnapshotTable(), RowTable()
        new_inventories, docs = [], []
        for hs in scan.hosts:
            digest = hs.inventory_digest
            if hs.status is not HostStatus.OK and digest in known:
                pass  # a stale host's carried-over inventory: stored already
            elif hs.status is HostStatus.OK or hs.installations:
                inv = hs.installations
                if isinstance(inv, Inventory):
                    table, ids, times = inv.table, inv.ids, inv.times
                else:
                    table, ids = compact_view(inv, fallback)
                    times = [NO_TIME if i.install_time is None else i.install_time for i in inv]
                digest = getattr(inv, "digest", None) or content_digest(table, ids, times)
                if digest not in known:
                    known.add(digest)
                    sources = getattr(inv, "sources", None)  # known from ingest: kept for the reports
                    new_inventories.append({"digest": digest, "scan_id": scan.scan_id,
                                            **snapshot.encode(table, ids, times),
                                            **({"sources": sources} if sources is not None else {})})
            docs.append(host_scan_doc(hs, digest))
        if new_inventories:
            self._db.table("snapshots").insert({"scan_id": scan.scan_id, **snapshot.doc()})
        inventories.insert_multiple(new_inventories)
        self._inventory_index = None
        self._db.table("host_scans").insert_multiple(docs)
        info = scan_info(scan)
        scans.insert({f: getattr(info, f) for f in ScanInfo.__slots__})

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
        if self._storage is not None:
            self._storage.flush()

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()

    # -- reads -------------------------------------------------------------------------

    def scans(self) -> list[ScanInfo]:
        return [ScanInfo(**{f: doc[f] for f in ScanInfo.__slots__}) for doc in self._db.table("scans").all()]

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

    def _rows(self, digest: str | None) -> Sequence:
        """The stored inventory ``digest`` as a compact ``Inventory`` (canonical order)."""
        if digest is None:
            return ()
        doc = self._inventory_docs().get(digest)
        if doc is None:
            raise StoreError(f"{self.path}: inventory {digest} is missing")
        return inventory_from_doc(doc, self._snapshot_table(doc["scan_id"]))

    def load_scan(self, scan_id: str | None = None) -> Scan | None:
        infos = self.scans()
        if not infos:
            return None
        info = infos[-1] if scan_id is None else next((i for i in infos if i.scan_id == scan_id), None)
        if info is None:
            return None
        docs = self._db.table("host_scans").search(Query().scan_id == info.scan_id)
        hosts = tuple(host_scan_from_doc(d, self._rows(d.get("inventory_digest"))) for d in docs)
        return Scan(info.scan_id, info.started, info.finished, info.tool_version, info.playbook, hosts)

    def last_inventory(self, inventory_name: str) -> HostScan | None:
        found = self._db.table("host_scans").search(Query().inventory_name == inventory_name)
        if not found:
            return None
        order = {info.scan_id: n for n, info in enumerate(self.scans())}
        newest = max(found, key=lambda d: order.get(d["scan_id"], -1))
        if newest.get("inventory_digest") is None:
            return None
        return host_scan_from_doc(newest, self._rows(newest["inventory_digest"]))
