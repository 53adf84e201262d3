"""The shared PostgreSQL store (psycopg 3): with ``postgres_cache`` (its recognition cache,
schema 3) and ``jsonb_nul``, the only modules that import psycopg.

For fleets scanned from several controllers or AWX execution nodes, where a
file beside the playbook does not survive the job. It keeps the documents of
``store.documents`` one row each (``migrations/0001_initial.sql``): key columns
(scan id, digest, entitlement id...) are unique and indexed, the rest of a
document is JSONB. Inventories are content-addressed as in TinyDB (one row per
digest), and so are a host's facts and, apart from them, its users (``host_facts``,
schema 2): an unchanged host adds nothing but its small row in the run, and a new
login only its users list (``documents.stored_row``).

A session is one database transaction: ``commit`` commits it, ``close`` without
a commit rolls everything back. Isolation:

- a writer takes a transaction-scoped advisory lock first, so writers queue
  (bounded by ``FLEETSAM_LOCK_TIMEOUT``, as in TinyDB) and each one reads the
  history only after the previous writer committed: no update is lost. Not
  SERIALIZABLE: a run's session lasts the whole engine run, and a
  serialization failure at its commit would throw the run away (the store
  cannot replay it); waiting for a turn is what TinyDB's writers do too.
- a reader (``readonly``) takes no lock: a REPEATABLE READ, READ ONLY
  transaction answers from the last committed snapshot while a writer works.

The URL's password is never printed (``interface.masked``); libpq also reads it
from ``PGPASSWORD`` or ``PGPASSFILE``. The schema is created and migrated by
``fleetsam store init`` / ``store upgrade`` (``apply_migrations``); opening a
database without the current schema says which one to run.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from typing import Iterable, Sequence

import psycopg
from psycopg import errors, sql
from psycopg.types.json import Jsonb

from sam_engine.ingest.inventory import RowTable, inventory_from_doc, table_from_doc
from sam_engine.model import Entitlement, HostScan, Scan
from sam_engine.store import jsonb_nul, scrubbed
from sam_engine.store.documents import HOST_DIGEST_AT, TABLES, USERS_DIGEST_AT, read_row, retire_hosts, \
    retirement_docs, scan_documents, stored_row
from sam_engine.store.fleet import Retired, Retirement, RunRef, fleet_docs, fleet_index, fleet_runs, newest_doc, \
    newest_source
from sam_engine.store.interface import ScanInfo, Store, StoreError, chronological, entitlement_from_doc, \
    entitlement_to_doc, host_scan_from_doc, lock_timeout, masked, scan_info_from_doc

# The key columns of each table, filled from the document of the same name.
COLUMNS = {"scans": ("scan_id",), "host_scans": ("scan_id", "inventory_name"), "snapshots": ("scan_id",),
           "inventories": ("digest", "scan_id"), "entitlements": ("entitlement_id",), "findings_state": ("id",),
           "notify_outbox": ("delivery_id",), "scan_summaries": ("scan_id",), "retired": ("key",)}
WRITER_LOCK = 0x666C656574736D  # "fleetsm": the advisory lock writers queue on (per database)
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every numbered migration shipped in ``store/migrations``, in order."""
    found = []
    for entry in resources.files("sam_engine.store").joinpath("migrations").iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def latest_version() -> int:
    return migrations()[-1][0]


def _first_line(exc: Exception) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def _connect(location: str) -> psycopg.Connection:
    try:
        conn = psycopg.connect(location, connect_timeout=10)
    except psycopg.Error as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        raise StoreError(f"{masked(location)}: cannot connect to PostgreSQL: {scrubbed(detail, location)}") from None
    jsonb_nul.install(conn)
    return conn


def _schema_version(conn: psycopg.Connection) -> int | None:
    if conn.execute("SELECT to_regclass('schema_version')").fetchone()[0] is None:
        return None
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def apply_migrations(location: str, *, init: bool) -> tuple[int | None, int]:
    """Create (``init``) or migrate (``upgrade``) the schema in one transaction; (version before,
    version after). StoreError when ``init`` meets an older schema or ``upgrade`` meets none."""
    where = masked(location)
    with _connect(location) as conn:
        _take_writer_lock(conn, where)
        before = _schema_version(conn)
        if before is None and not init:
            raise StoreError(f"{where}: no fleetsam schema in this database; create it with 'fleetsam store init'")
        if before is not None and init and before < latest_version():
            raise StoreError(f"{where}: schema version {before} is older than {latest_version()}; "
                             f"migrate it with 'fleetsam store upgrade'")
        if before is not None and before > latest_version():
            raise StoreError(f"{where}: schema version {before} was written by a newer fleetsam "
                             f"(this one knows up to {latest_version()})")
        if before is None:
            conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
        for number, name, text in migrations():
            if number > (before or 0):
                conn.execute(text)
                conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)", (number, name))
        conn.commit()
    return before, latest_version()


def _take_writer_lock(conn: psycopg.Connection, where: str) -> None:
    timeout = lock_timeout()
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(timeout * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
    except errors.LockNotAvailable:
        conn.rollback()
        raise StoreError(f"{where}: another fleetsam process kept the store busy for {timeout:g} s "
                         f"(FLEETSAM_LOCK_TIMEOUT); nothing was written") from None
    conn.execute("SELECT set_config('lock_timeout', '0', true)")


class PostgresStore(Store):
    """A fleetsam store in a PostgreSQL database; ``readonly``: a reader on a snapshot, no lock."""

    def __init__(self, location: str, readonly: bool = False):
        self.location = location
        self.where = masked(location)
        self.readonly = readonly
        self._conn = _connect(location)
        self._inventory_index: dict | None = None
        self._keyed: set[str] = set()  # inventories whose key a run asked for (``last_source``), not read yet
        self._fleet_index: dict | None = None
        self._tables: dict[str, RowTable] = {}
        try:
            if readonly:
                self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                self._conn.read_only = True
            else:
                _take_writer_lock(self._conn, self.where)
            self._check_schema()
        except BaseException:
            self._conn.close()
            raise

    def _check_schema(self) -> None:
        version = _schema_version(self._conn)
        if version is None:
            raise StoreError(f"{self.where}: no fleetsam schema in this database; create it with "
                             f"'fleetsam store init' (FLEETSAM_STORE or --store naming this database)")
        if version < latest_version():
            raise StoreError(f"{self.where}: schema version {version} is older than this fleetsam's "
                             f"{latest_version()}; migrate it with 'fleetsam store upgrade'")
        if version > latest_version():
            raise StoreError(f"{self.where}: schema version {version} was written by a newer fleetsam "
                             f"(this one knows up to {latest_version()})")

    # -- rows ----------------------------------------------------------------------------

    def _sql(self, query, params: Sequence = ()) -> psycopg.Cursor:
        """Run one statement; a lost server or connection is a StoreError (the session is gone)."""
        try:
            return self._conn.execute(query, params)
        except psycopg.OperationalError as exc:
            raise StoreError(f"{self.where}: the PostgreSQL session failed, nothing of it was written: "
                             f"{_first_line(exc)}") from None

    def _docs(self, table: str, where: str = "", params: Sequence = ()) -> list[dict]:
        query = sql.SQL("SELECT doc FROM {} " + where + " ORDER BY seq").format(sql.Identifier(table))
        return [row[0] for row in self._sql(query, params)]

    def _insert(self, table: str, docs: Iterable[dict], upsert: str | None = None) -> None:
        """Add ``docs``; with ``upsert`` (the key column) a stored document with that key gets the
        new fields merged in (what TinyDB's update does), keeping its place in the order."""
        if self.readonly:
            raise StoreError(f"{self.where}: opened for reading; the changes were not written")
        cols = COLUMNS[table]
        names = sql.SQL(", ").join(map(sql.Identifier, (*cols, "doc")))
        if table == "host_scans":
            rows = self._host_rows(docs)
        else:
            rows = [(*(doc[c] for c in cols), Jsonb(doc)) for doc in docs]
        if rows:
            try:
                with self._conn.cursor() as cur:
                    if upsert:
                        cur.executemany(sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET "
                                                "doc = {}.doc || EXCLUDED.doc").format(
                            sql.Identifier(table), names, sql.SQL(", ").join(sql.Placeholder() * len(rows[0])),
                            sql.Identifier(upsert), sql.Identifier(table)), rows)
                    else:  # COPY: a run's thousands of host documents in one stream
                        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)) as copy:
                            for row in rows:
                                copy.write_row(row)
            except psycopg.OperationalError as exc:
                raise StoreError(f"{self.where}: the PostgreSQL session failed, nothing of it was written: "
                                 f"{_first_line(exc)}") from None

    def _host_rows(self, docs: Iterable[dict]) -> list[tuple]:
        """Rows of host_scans documents (``documents.stored_row``); the facts not stored yet are added to
        ``host_facts`` (a writer holds the lock: no other writer adds them meanwhile)."""
        facts, rows = {}, []
        for doc in docs:
            stored, pairs = stored_row(doc)
            facts.update(pairs)
            rows.append((doc["scan_id"], doc["inventory_name"], Jsonb(stored)))
        known = {row[0] for row in self._sql("SELECT digest FROM host_facts WHERE digest = ANY(%s)", (list(facts),))}
        new = [(digest, Jsonb(doc)) for digest, doc in facts.items() if digest not in known]
        if new:
            with self._conn.cursor() as cur, cur.copy("COPY host_facts (digest, doc) FROM STDIN") as copy:
                for row in new:
                    copy.write_row(row)
        return rows

    def _host_docs(self, where: str = "", params: Sequence = ()) -> list[dict]:
        """host_scans documents as the engine wrote them, rows of either form (``documents.stored_row``)."""
        rows = self._sql("SELECT h.scan_id, h.inventory_name, h.doc, f.doc, u.doc FROM host_scans h "
                         "LEFT JOIN host_facts f "
                         f"ON f.digest = coalesce(h.doc->>'host_digest', h.doc->>{HOST_DIGEST_AT}) "
                         "LEFT JOIN host_facts u "
                         f"ON u.digest = coalesce(h.doc->>'users_digest', h.doc->>{USERS_DIGEST_AT}) " + where +
                         " ORDER BY h.seq", params)
        return [read_row(*row) for row in rows]

    # -- writes ------------------------------------------------------------------------

    def save_scan(self, scan: Scan) -> None:
        if self._sql("SELECT 1 FROM scans WHERE scan_id = %s", (scan.scan_id,)).fetchone():
            raise StoreError(f"{self.where}: scan {scan.scan_id} is already stored")
        known = {row[0] for row in self._sql("SELECT digest FROM inventories")}
        docs = scan_documents(scan, known)
        self._insert("scans", [docs.scan])
        if docs.snapshot is not None:
            self._insert("snapshots", [docs.snapshot])
        self._insert("inventories", docs.inventories)
        self._insert("host_scans", docs.hosts)
        self._inventory_index = self._fleet_index = None

    def retire(self, names: Sequence[str], reason: str = "") -> list[Retired]:
        done = retire_hosts(self._fleet(), names, self.retirements(), reason, self.where)
        if new := retirement_docs(done):  # as in TinyDB, hosts retired already need no write
            self._insert("retired", new)
        self._fleet_index = None
        return done

    def add_entitlements(self, items: Sequence[Entitlement]) -> int:
        known = {row[0] for row in self._sql("SELECT entitlement_id FROM entitlements")}
        new = []
        for ent in items:
            if ent.entitlement_id not in known:
                known.add(ent.entitlement_id)
                new.append(entitlement_to_doc(ent))
        self._insert("entitlements", new)
        return len(new)

    def remove_entitlement(self, entitlement_id: str) -> bool:
        if self.readonly:
            raise StoreError(f"{self.where}: opened for reading; the changes were not written")
        cur = self._sql("DELETE FROM entitlements WHERE entitlement_id = %s", (entitlement_id,))
        return cur.rowcount > 0

    def save_finding_states(self, docs: Sequence[dict]) -> None:
        self._insert("findings_state", docs, upsert="id")

    def save_deliveries(self, docs: Sequence[dict]) -> None:
        self._insert("notify_outbox", docs, upsert="delivery_id")

    def save_scan_summary(self, doc: dict) -> None:
        self._insert("scan_summaries", [doc], upsert="scan_id")

    def remove_deliveries(self, delivery_ids) -> None:
        ids = list(set(delivery_ids))
        if ids:
            if self.readonly:
                raise StoreError(f"{self.where}: opened for reading; the changes were not written")
            self._sql("DELETE FROM notify_outbox WHERE delivery_id = ANY(%s)", (ids,))

    def export_documents(self) -> dict[str, list[dict]]:
        return {name: self._host_docs() if name == "host_scans" else self._docs(name) for name in TABLES}

    def import_documents(self, tables: dict[str, list[dict]]) -> None:
        for name in TABLES:
            self._insert(name, tables.get(name) or ())
        self._inventory_index = self._fleet_index = None
        self._tables.clear()

    def commit(self) -> None:
        if not self._conn.closed:
            try:
                self._conn.commit()
            except psycopg.Error as exc:
                raise StoreError(f"{self.where}: the commit failed, nothing was written: {_first_line(exc)}") from None

    def close(self) -> None:
        if not self._conn.closed:
            self._conn.close()  # an open transaction is rolled back

    # -- reads -------------------------------------------------------------------------

    def scans(self) -> list[ScanInfo]:
        return chronological(scan_info_from_doc(doc, self.where) for doc in self._docs("scans"))

    def retirements(self) -> list[Retirement]:
        return [Retirement(d["key"], d["at"], d.get("reason") or "") for d in self._docs("retired")]

    def entitlements(self) -> list[Entitlement]:
        return [entitlement_from_doc(doc) for doc in self._docs("entitlements")]

    def finding_states(self) -> list[dict]:
        return self._docs("findings_state")

    def deliveries(self) -> list[dict]:
        return self._docs("notify_outbox")

    def scan_summaries(self) -> dict[str, dict]:
        return {doc["scan_id"]: doc for doc in self._docs("scan_summaries")}

    def _load_inventories(self, digests: set[str]) -> None:
        """Fetch the stored inventories ``digests`` not yet read in this session (one query)."""
        if self._inventory_index is None:
            self._inventory_index = {}
        missing = [d for d in digests if d not in self._inventory_index]
        if missing:
            for digest, doc in self._sql("SELECT digest, doc FROM inventories WHERE digest = ANY(%s)",
                                                  (missing,)):
                self._inventory_index[digest] = doc

    def _snapshot_table(self, scan_id: str) -> RowTable:
        table = self._tables.get(scan_id)
        if table is None:
            row = self._sql("SELECT doc FROM snapshots WHERE scan_id = %s", (scan_id,)).fetchone()
            if row is None:
                raise StoreError(f"{self.where}: the string table of snapshot {scan_id} is missing")
            table = self._tables[scan_id] = table_from_doc(row[0])
        return table

    def _rows(self, digest: str | None, as_collected: bool = False) -> Sequence:
        if digest is None:
            return ()
        wanted = {digest}
        if as_collected:  # a run taking stored inventories asks one host at a time: read every keyed one at once
            wanted |= self._keyed
            self._keyed.clear()
        self._load_inventories(wanted)
        doc = self._inventory_index.get(digest)
        if doc is None:
            raise StoreError(f"{self.where}: inventory {digest} is missing")
        return inventory_from_doc(doc, self._snapshot_table(doc["scan_id"]), as_collected)

    def _scan(self, info: ScanInfo, docs: list[dict]) -> Scan:
        self._load_inventories({d["inventory_digest"] for d in docs if d.get("inventory_digest")})
        hosts = tuple(host_scan_from_doc(d, self._rows(d.get("inventory_digest")), self.where) for d in docs)
        return Scan(info.scan_id, info.started, info.finished, info.tool_version, info.playbook, hosts,
                    scope=info.scope, group=info.group)

    def load_run(self, scan_id: str) -> Scan | None:
        info = next((i for i in self.scans() if i.scan_id == scan_id), None)
        if info is None:
            return None
        return self._scan(info, self._host_docs("WHERE h.scan_id = %s", (scan_id,)))

    def load_scan(self, scan_id: str | None = None, as_of: dt.date | None = None) -> Scan | None:
        chosen = fleet_runs(self.scans(), scan_id, as_of)
        if chosen is None:
            return None
        last, runs, cutoff = chosen
        return self._scan(last, fleet_docs(runs, self._host_docs(), self.retirements(), cutoff))

    def _fleet(self) -> dict:
        if self._fleet_index is None:
            runs = [RunRef(i.scan_id, i.finished) for i in self.scans()]
            self._fleet_index = fleet_index(runs, self._host_docs())
        return self._fleet_index

    def last_inventory(self, inventory_name: str, as_collected: bool = False) -> HostScan | None:
        doc = newest_doc(self._fleet(), inventory_name)
        if doc is None or doc.get("inventory_digest") is None:
            return None
        return host_scan_from_doc(doc, self._rows(doc["inventory_digest"], as_collected), self.where)

    def last_source(self, inventory_name: str) -> str | None:
        found = newest_source(self._fleet(), inventory_name)
        if found is None:
            return None
        self._keyed.add(found[0])
        return found[1]
