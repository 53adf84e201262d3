"""Store administration: create or migrate a store's schema, copy a store between backends.

``fleetsam store init`` / ``store upgrade`` / ``store copy`` (``cli/stores.py``)
call these; they work on either backend through ``open_store`` and the
documents of ``store.documents``, so the CLI needs no database module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sam_engine.store.documents import TABLES, table_digest
from sam_engine.store import is_server_location, masked, open_store
from sam_engine.store.interface import StoreError


def init_store(location: str) -> str:
    """Create the store at ``location`` (its schema, for PostgreSQL); what was done, in words."""
    if is_server_location(location):
        from sam_engine.store.postgres_store import apply_migrations

        before, after = apply_migrations(location, init=True)
        if before is None:
            return f"{masked(location)}: created the fleetsam schema (version {after})"
        return f"{masked(location)}: already holds the fleetsam schema (version {after}); nothing changed"
    existed = os.path.exists(location.removeprefix("tinydb://"))
    with open_store(location):
        pass
    return f"{location}: {'already a fleetsam store; nothing changed' if existed else 'created an empty store'}"


def upgrade_store(location: str) -> str:
    """Migrate the store at ``location`` to this version's schema; what was done, in words."""
    if is_server_location(location):
        from sam_engine.store.postgres_store import apply_migrations

        before, after = apply_migrations(location, init=False)
        if before == after:
            return f"{masked(location)}: schema already at version {after}; nothing changed"
        return f"{masked(location)}: schema migrated from version {before} to {after}"
    if not os.path.exists(location.removeprefix("tinydb://")):
        raise StoreError(f"{location}: no store here; create it with 'fleetsam store init'")
    with open_store(location):  # a writer upgrades an older TinyDB format in place
        pass
    return f"{location}: store at the current format"


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table of a copy: documents and digest in the source and in the destination."""

    table: str
    source_count: int
    copy_count: int
    source_digest: str
    copy_digest: str

    @property
    def same(self) -> bool:
        return self.source_count == self.copy_count and self.source_digest == self.copy_digest


def copy_store(source: str, destination: str) -> list[TableCheck]:
    """Copy every document of ``source`` into the empty store ``destination`` in one session, then
    read both back and compare each table's count and digest. StoreError when the destination is
    not empty or when the copy differs (its session is then committed: the message says what
    differs and the destination can be dropped)."""
    if masked(source) == masked(destination):
        raise StoreError(f"{masked(source)}: source and destination are the same store")
    with open_store(source, create=False, readonly=True) as src:
        tables = src.export_documents()
    with open_store(destination) as dst:
        held = {name: len(docs) for name, docs in dst.export_documents().items() if docs}
        if held:
            raise StoreError(f"{masked(destination)}: not empty ({', '.join(f'{n} {t}' for t, n in held.items())}); "
                             f"copy into a new store only; nothing was written")
        dst.import_documents(tables)
    with open_store(destination, create=False, readonly=True) as dst:
        copied = dst.export_documents()
    checks = [TableCheck(name, len(tables.get(name, ())), len(copied.get(name, ())),
                         table_digest(tables.get(name, ())), table_digest(copied.get(name, ())))
              for name in TABLES]
    differ = [c for c in checks if not c.same]
    if differ:
        raise StoreError(f"{masked(destination)}: the copy differs from {masked(source)}: " + "; ".join(
            f"{c.table}: {c.source_count} documents (digest {c.source_digest[:12]}) copied as {c.copy_count} "
            f"(digest {c.copy_digest[:12]})" for c in differ))
    return checks
