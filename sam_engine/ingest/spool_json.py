"""Spool files as JSON: their bytes read and parsed, with the errors a spool reader reports.

orjson parses a spool file about twice as fast as json when it is installed;
anything it refuses (a lone surrogate escape, odd text) is parsed again by json,
whose messages give the line and column, and whose surrogates are replaced.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

try:  # optional: a C JSON parser; the results are the same Python values as json.loads gives
    from orjson import loads as fast_loads
except ImportError:  # pragma: no cover - json is used
    fast_loads = None


class SpoolError(Exception):
    """The spool cannot be read at all (missing run.json, not JSON, no valid scan id or times, no hosts/)."""


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SpoolError(f"{path}: missing") from None
    except OSError as exc:
        raise SpoolError(f"{path}: unreadable: {exc.strerror}") from None


def parsed(data: bytes, path: Path | str) -> Any:
    """The JSON value of ``data`` (read from ``path``). Text UTF-8 cannot hold (a lone surrogate escape,
    a bad byte) becomes U+FFFD; nesting too deep for the parser is a ``SpoolError``, as is anything that
    is not JSON."""
    if fast_loads is not None:
        try:
            return fast_loads(data)
        except Exception:  # noqa: BLE001 - anything odd: json below decides, with its own messages
            pass
    text = data.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpoolError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise SpoolError(f"{path}: invalid JSON: nested too deeply") from None
    # a lone surrogate can only come from a \uD800-\uDFFF escape: one regex search, ~2% of the ingest
    # (an escaped pair is one character: the walk then changes nothing)
    if _SURROGATE_ESCAPE.search(text):
        value = _without_surrogates(value)
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD: the store
    writes UTF-8, which cannot hold one. Iterative: the depth is the parser's, not the stack's."""
    def clean(v: Any) -> Any:
        return _SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v

    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        v = parent[key]
        if isinstance(v, str):
            parent[key] = clean(v)
        elif isinstance(v, list):
            stack.extend((v, k) for k in range(len(v)))
        elif isinstance(v, dict):
            items = [(clean(k), x) for k, x in v.items()]
            v.clear()
            v.update(items)
            stack.extend((v, k) for k in v)
    return root[0]
