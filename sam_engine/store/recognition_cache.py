"""The recognition cache: what the catalogue said about each distinct installation record, kept
between runs with the store.

Recognising a fleet's distinct titles against the catalogue is most of the
reconcile stage's fixed cost, and a nightly run sees nearly the same titles
as the night before. The licensing side (``licensing.context``) names the
cache's validity as one digest of everything recognition depends on (the
catalogue files, the user's catalogue overrides, the metric rules and the
recognition code) and hands over plain rows; this module only keeps them.

Where: a file store ``fleet.json`` keeps its cache in ``fleet.json.recognition``
in the same folder (written like the store: temp file, fsync, rename, so a
reader sees the old or the new cache, never half of one). A PostgreSQL store
keeps it in its own database (``postgres_cache``), so that every AWX job and
slice finds it whatever container it runs in. Both hold the same document
(``encode`` / ``decode``).

The cache is an optimisation, never a source of truth: a cache written for
other inputs is ignored silently (the catalogue changed: the run recognises
afresh and writes a new one); an unreadable, corrupt or foreign cache is
ignored with a warning ``Problem`` naming it, and replaced at the end of the run.
"""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from sam_engine.atomic_file import atomic_open
from sam_engine.model import Problem
from sam_engine.store import is_server_location

FORMAT = "fleetsam-recognition-cache/1"
SUFFIX = ".recognition"
ROW_FIELDS = 12  # the 7 key fields of an installation record, then publisher, product, edition, version, rule


def cache_file(location: str) -> Path:
    """Where the file store at ``location`` (a path or ``tinydb://PATH``) keeps its cache."""
    path = Path(location.removeprefix("tinydb://"))
    return path.with_name(path.name + SUFFIX)


class Cached(NamedTuple):
    """What a cache holds for one digest: the readings, and the composed catalogue (plain JSON values
    that only the licensing side reads, ``licensing.catalogue_cache``; None when not kept)."""

    rows: list[tuple]
    catalogue: Any


def encode(digest: str, rows: Sequence[tuple], catalogue: Any) -> str:
    """The cache document as ASCII JSON (every other character escaped)."""
    return json.dumps({"format": FORMAT, "digest": digest, "catalogue": catalogue, "rows": list(rows)},
                      separators=(",", ":"))


def decode(text: bytes | str, digest: str) -> tuple[Cached | None, str | None]:
    """What the document ``text`` holds for ``digest``: (Cached, None); (None, None) when it was
    written for another digest; (None, what is wrong) when it is no cache."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"is not JSON ({exc})"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None, f'is not a fleetsam recognition cache (expected "format": "{FORMAT}")'
    if doc.get("digest") != digest:  # written for another catalogue, rules or version: stale, not wrong
        return None, None
    rows = doc.get("rows")
    if not isinstance(rows, list) or not _valid_rows(rows):
        return None, f"rows: expected lists of {ROW_FIELDS} texts or nulls"
    return Cached(list(map(tuple, rows)), doc.get("catalogue")), None


def warning(source: str, what: str) -> Problem:
    return Problem(source, f"recognition cache {what}: ignored, titles recognised afresh", "warning")


class RecognitionCache:
    """The cache file of one store: ``load`` the rows written for ``digest``, ``save`` new ones."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def beside(cls, location: str):
        """The cache of the store at ``location``: this file cache for a store file, the database's
        own for a PostgreSQL URL (same ``load`` and ``save``)."""
        if is_server_location(location):
            from sam_engine.store.postgres_cache import PostgresRecognitionCache  # psycopg is an optional extra

            return PostgresRecognitionCache(location)
        return cls(cache_file(location))

    def load(self, digest: str) -> tuple[Cached | None, list[Problem]]:
        """What was saved for ``digest`` (None: no usable cache), and a warning when the file is
        there but unusable."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            return None, [warning(str(self.path), f"cannot be read ({exc.strerror or exc})")]
        cached, wrong = decode(text, digest)
        return cached, [warning(str(self.path), wrong)] if wrong else []

    def save(self, digest: str, rows: Sequence[tuple], catalogue: Any = None) -> list[Problem]:
        """Replace the cache atomically; a file system that refuses is a warning (the run stands)."""
        body = encode(digest, rows, catalogue)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(self.path, encoding="ascii", durable=True) as handle:  # ensure_ascii: all escaped
                handle.write(body)
        except OSError as exc:
            return [warning(str(self.path), f"cannot be written ({exc.strerror or exc}); "
                                            f"the next run recognises afresh")]
        return []


def _valid_rows(rows: list) -> bool:
    """Every row a list of ``ROW_FIELDS`` texts or nulls. Checked as sets of exact types and lengths:
    a nightly run loads tens of thousands of rows, and a check per value in Python took most of its load."""
    return (set(map(type, rows)) <= {list} and set(map(len, rows)) <= {ROW_FIELDS}
            and set(map(type, chain.from_iterable(rows))) <= {str, type(None)})
