"""NUL-safe JSONB for the PostgreSQL store.

PostgreSQL text, and so JSONB, cannot hold U+0000, yet a package name or a
registry value may carry one and must come back exactly as collected (hostile
input is data). Strings are therefore escaped on the way in: U+10FFFF, a
noncharacter that no real title uses, is the escape, written twice for itself
and followed by ``0`` for a NUL. Documents without either character (all but
hostile ones) are dumped and loaded as plain JSON, with a substring test as the
only cost.
"""

from __future__ import annotations

import json
import re

from psycopg.abc import AdaptContext
from psycopg.types.json import set_json_dumps, set_json_loads

ESCAPE = "\U0010ffff"
# json.dumps (ASCII output) writes a NUL and the escape character as these.
_DUMPED = ("\\u0000", "\\udbff\\udfff")
_ESCAPED = re.compile(ESCAPE + "(.)", re.DOTALL)


def _escape(value):
    if isinstance(value, str):
        return value.replace(ESCAPE, ESCAPE * 2).replace("\x00", ESCAPE + "0")
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape(v) for v in value]
    return value


def _unescape(value):
    if isinstance(value, str):
        return _ESCAPED.sub(lambda m: ESCAPE if m[1] == ESCAPE else "\x00", value)
    if isinstance(value, dict):
        return {_unescape(k): _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


def dumps(obj) -> str:
    text = json.dumps(obj)
    if any(marker in text for marker in _DUMPED):
        text = json.dumps(_escape(obj))
    return text


def loads(data: str | bytes):
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
    obj = json.loads(text)
    # PostgreSQL returns the escape character raw; json.dumps' own output has it as a surrogate pair.
    return _unescape(obj) if ESCAPE in text or _DUMPED[1] in text else obj


def install(context: AdaptContext) -> None:
    """Make every JSONB value written or read through ``context`` (a connection) NUL-safe."""
    set_json_dumps(dumps, context)
    set_json_loads(loads, context)
