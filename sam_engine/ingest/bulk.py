"""A host file's bulk: the package list (or raw Windows/macOS inventory) the callback spools as it came.

When a collector's bulk was handed over (``plugins/plugin_utils/spool.py``), the
collector callback writes the host file with a header first and the bulk last::

    {"bulk":{"field":"software","bytes":N,"sha256":"…"},"inventory_name":…,…,"result":{…,"software":[…]}}

It is still one JSON value (any JSON reader reads it whole). Ingest reads the
header, checks that the N bytes before the closing ``}}`` have that SHA-256, and
parses the rest alone (``split``); the bulk is parsed only when it is read.

A host's inventory is a function of its bulk (a Linux package list and its
``origins``; a Windows or macOS raw inventory) and of the code that reads it;
``source_key`` names that input. A host whose newest stored record has the same
key has the same inventory, so a nightly run over an unchanged fleet takes it
from the store instead of reading the bulk into installations again (a Windows
or macOS bulk is still parsed: it also holds the host's facts and users). A
file without a valid header (hand-made, or rewritten) is parsed whole, as before.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

_HEADER = re.compile(rb'\{"bulk":\{"field":"(software|windows|macos)","bytes":(\d{1,12}),"sha256":"([0-9a-f]{64})"\},')
MARK = "\x00fleetsam-raw\x00"  # the callback's stand-in for the bulk while it encodes the rest
_TAIL = json.dumps(MARK).encode("ascii") + b"}}"


@dataclass(frozen=True, slots=True)
class Bulk:
    """The unparsed bulk of one host file: the result field it is the value of, its bytes and their SHA-256."""

    field: str
    data: bytes
    sha256: str


def split(data: bytes, loads: Callable[[bytes], Any]) -> tuple[dict, Bulk] | None:
    """(the host document with ``MARK`` for its bulk, the bulk) of a host file's bytes laid out as the
    callback writes them; None for any other layout (the caller parses the file whole)."""
    head = _HEADER.match(data)
    if head is None or not data.endswith(b"}}"):
        return None
    field, size, sha = head[1].decode(), int(head[2]), head[3].decode()
    start = len(data) - 2 - size
    if start <= head.end():
        return None
    bulk = data[start:-2]
    if hashlib.sha256(bulk).hexdigest() != sha:
        return None
    try:
        doc = loads(data[:start] + _TAIL)
    except Exception:  # noqa: BLE001 - not the callback's layout after all: parsed whole, with its messages
        return None
    result = doc.get("result") if isinstance(doc, dict) else None
    if not isinstance(result, dict) or result.get(field) != MARK:
        return None
    return doc, Bulk(field, bulk, sha)


def source_key(result: Mapping[str, Any], bulk: Bulk | None) -> str | None:
    """The key of what a host's inventory is read from: the bulk's field and SHA-256, the host's
    ``origins`` (a Linux list's) and the reading code (``reading_version``); None without a spooled bulk."""
    version = reading_version()
    if bulk is None or version is None:
        return None
    try:
        origins = json.dumps(result.get("origins"), sort_keys=True, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):  # keys that cannot be sorted: read the list, do not guess
        return None
    # 64 bits: a key is only ever compared with the same host's previous one, and it rides in every
    # host row the store writes (PostgreSQL: a re-scan's WAL is mostly those rows)
    key = hashlib.blake2b(digest_size=8)
    for part in (version, bulk.field, bulk.sha256, origins):
        key.update(part.encode("utf-8", "surrogatepass"))
        key.update(b"\x1f")
    return key.hexdigest()


@functools.cache
def reading_version() -> str | None:
    """A digest of the modules that turn a bulk into an inventory: a change to any of them changes
    every key, so no stored inventory is taken for a bulk the new code would read otherwise.
    None when a source file cannot be read (then every bulk is read)."""
    names = ("sam_engine.platforms.records", "sam_engine.platforms.registry", "sam_engine.platforms.windows",
             "sam_engine.platforms.windows_programs", "sam_engine.platforms.windows_packages",
             "sam_engine.platforms.macos", "sam_engine.platforms.swid", "sam_engine.ingest.inventory",
             "sam_engine.model", __name__)
    digest = hashlib.sha256()
    for name in names:
        __import__(name)
        try:
            digest.update(Path(sys.modules[name].__file__ or "").read_bytes())
        except OSError:
            return None
    return digest.hexdigest()[:32]
