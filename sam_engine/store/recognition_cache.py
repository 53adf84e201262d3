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

The document holds each distinct text once (``strings``) and the rows as
indexes into it, ``ROW_FIELDS`` per row (``rows``): the readings repeat the
same publishers, products and rules, and a nightly run reads the whole cache
before anything else (at 100 hosts 2.3 MB instead of 5.4 MB of rows of texts).

The cache is an optimisation, never a source of truth: a cache written for
other inputs, or by a fleetsam that wrote another format, is ignored silently
(the run recognises afresh and writes a new one); an unreadable, corrupt or
foreign cache is ignored with a warning ``Problem`` naming it, and replaced at
the end of the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from sam_engine.atomic_file import atomic_open
from sam_engine.model import Problem
from sam_engine.store import is_server_location

try:  # optional, as for the spool (``ingest.spool_json``)
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover - json is used
    fast_loads = None

FORMAT = "fleetsam-recognition-cache/2"
FORMERLY = ("fleetsam-recognition-cache/1",)  # formats older fleetsams wrote: stale, not wrong
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
    index: dict = {}
    flat = [index.setdefault(value, len(index)) for row in rows for value in row]
    return json.dumps({"format": FORMAT, "digest": digest, "catalogue": catalogue, "strings": list(index),
                       "rows": flat}, separators=(",", ":"))


def decode(text: bytes | str, digest: str) -> tuple[Cached | None, str | None]:
    """What the document ``text`` holds for ``digest``: (Cached, None); (None, None) when it was
    written for another digest; (None, what is wrong) when it is no cache."""
    try:
        doc = _parsed(text)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"is not JSON ({exc})"
    if isinstance(doc, dict) and doc.get("format") in FORMERLY:
        return None, None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None, f'is not a fleetsam recognition cache (expected "format": "{FORMAT}")'
    if doc.get("digest") != digest:  # written for another catalogue, rules or version: stale, not wrong
        return None, None
    strings, flat = doc.get("strings"), doc.get("rows")
    if not isinstance(strings, list) or not set(map(type, strings)) <= {str, type(None)}:
        return None, "strings: expected a list of texts or nulls"
    if not isinstance(flat, list) or len(flat) % ROW_FIELDS or not set(map(type, flat)) <= {int} \
            or (flat and (min(flat) < 0 or max(flat) >= len(strings))):
        return None, f"rows: expected indexes into strings, {ROW_FIELDS} per row"
    # column by column at C speed: a row is ROW_FIELDS consecutive indexes
    rows = list(zip(*(map(strings.__getitem__, flat[k::ROW_FIELDS]) for k in range(ROW_FIELDS))))
    return Cached(rows, doc.get("catalogue")), None


def _parsed(text: bytes | str) -> Any:
    """orjson's parse, a third of json's time here; json's where orjson refuses the text (a lone
    surrogate escape in a recorded title), which then says what is wrong."""
    if fast_loads is not None:
        try:
            return fast_loads(text)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            pass
    return json.loads(text)


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
