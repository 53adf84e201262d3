"""The recognition cache of a PostgreSQL store, kept in its database (``recognition_cache``,
schema 3): an AWX job runs in a fresh container, and the slices of a sliced job on several
execution nodes, so a cache file in the container would be gone at every run.

One row per digest (``recognition_cache.encode``'s document, zlib-compressed, as
``bytea``): measured against JSONB for a 5 MB and a 40 MB cache, it writes 1.6-2.9
times faster, reads 1.3-1.4 times faster and takes a fifth of the JSON's size
(JSONB: under a third), and needs no NUL escape (``jsonb_nul``): the document is ASCII JSON.

The cache is never part of a run's store session. It is read on a connection of
its own, without the writers' lock (a read never waits), and written after the
run's commit in one short transaction of its own: an upsert of the row for the
run's digest, then the removal of all but the ``KEEP`` most recently saved
digests, skipping rows another writer holds (``SKIP LOCKED``), so concurrent
writers (AWX slices) never wait on each other's old rows nor deadlock, and a
scan commit never waits on the cache. Any failure is a warning naming the
store (password masked) and the run stands.
"""

from __future__ import annotations

import zlib
from typing import Any, Sequence

import psycopg
from psycopg import errors

from sam_engine.model import Problem
from sam_engine.store import masked
from sam_engine.store.interface import StoreError
from sam_engine.store.postgres_store import _connect, _first_line
from sam_engine.store.recognition_cache import Cached, decode, encode, warning

KEEP = 4  # digests kept: the current one, and a few other catalogues or fleetsam versions run against this store
LEVEL = 1  # zlib: the cheapest write; reading costs the same at any level (json.loads dominates)
LOCK_WAIT = "10s"  # the longest a save waits for another run saving the same digest


class PostgresRecognitionCache:
    """The cache rows of the PostgreSQL store at ``location``: ``load`` the rows written for
    ``digest``, ``save`` new ones (``recognition_cache.RecognitionCache``'s interface)."""

    def __init__(self, location: str):
        self.location = location
        self.path = f"{masked(location)} (table recognition_cache)"  # what warnings name

    def load(self, digest: str) -> tuple[Cached | None, list[Problem]]:
        """What was saved for ``digest`` (None: no usable cache), and a warning when the row is
        there but unusable or the database cannot be read."""
        try:
            with _connect(self.location) as conn:
                conn.read_only = True
                row = conn.execute("SELECT body FROM recognition_cache WHERE digest = %s", (digest,)).fetchone()
        except StoreError as exc:
            return None, [warning(self.path, f"cannot be read ({exc})")]
        except psycopg.Error as exc:
            return None, [warning(self.path, f"cannot be read ({_first_line(exc)})")]
        if row is None:
            return None, []
        try:
            text = zlib.decompress(row[0])
        except zlib.error as exc:
            return None, [warning(self.path, f"is not zlib-compressed ({exc})")]
        cached, wrong = decode(text, digest)
        return cached, [warning(self.path, wrong)] if wrong else []

    def save(self, digest: str, rows: Sequence[tuple], catalogue: Any = None) -> list[Problem]:
        """Replace the row of ``digest`` and drop the oldest digests beyond ``KEEP``, in one short
        transaction; a database that refuses is a warning (the run stands)."""
        body = zlib.compress(encode(digest, rows, catalogue).encode("ascii"), LEVEL)
        try:
            with _connect(self.location) as conn:
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_WAIT,))
                conn.execute("INSERT INTO recognition_cache (digest, body) VALUES (%s, %s) ON CONFLICT (digest) "
                             "DO UPDATE SET body = EXCLUDED.body, saved_at = now()", (digest, body))
                conn.execute("DELETE FROM recognition_cache WHERE digest IN (SELECT digest FROM recognition_cache "
                             "WHERE digest <> %s ORDER BY saved_at DESC OFFSET %s FOR UPDATE SKIP LOCKED)",
                             (digest, KEEP - 1))
                conn.commit()
        except errors.LockNotAvailable:
            return [warning(self.path, f"cannot be written (another run kept it locked for {LOCK_WAIT}); "
                                       f"the next run recognises afresh")]
        except StoreError as exc:
            return [warning(self.path, f"cannot be written ({exc}); the next run recognises afresh")]
        except psycopg.Error as exc:
            return [warning(self.path, f"cannot be written ({_first_line(exc)}); the next run recognises afresh")]
        return []
