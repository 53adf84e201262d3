"""Field readers shared by the hypervisor and cloud readers: raw collector values checked into typed ones.

A collector's result is untrusted data (a hostile or broken host can return
anything), so every reader takes its lists, texts, counts and UUIDs through
these functions: a value of the wrong kind becomes None or a located
``Problem``, never an exception.

>>> canonical_uuid("{4C4C4544-0042-4A10-8051-B4C04F4E3132}")
'4c4c4544-0042-4a10-8051-b4c04f4e3132'
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from sam_engine.model import Problem

_HEX32 = re.compile(r"[0-9a-f]{32}")
# Firmware that has no UUID to give fills the field with one repeated digit.
_PLACEHOLDERS = frozenset(("0" * 32, "f" * 32))


def text(value: Any) -> str | None:
    """A non-empty string, stripped; None for anything else."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def count(value: Any) -> int | None:
    """A positive whole number (sockets, cores, vCPUs), from an int or its decimal text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 1 << 31 else None


def canonical_uuid(value: Any) -> str | None:
    """A UUID as lower-case 8-4-4-4-12 hex, braces and case dropped; None when it is no UUID or a placeholder."""
    raw = text(value)
    if raw is None:
        return None
    digits = raw.strip("{}").replace("-", "").lower()
    if not _HEX32.fullmatch(digits) or digits in _PLACEHOLDERS:
        return None
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def uuid_or_problem(value: Any, where: str, problems: list[Problem], required: bool) -> str | None:
    """``canonical_uuid``, with a problem at ``where`` when a value is present but unusable (or required and absent)."""
    uuid = canonical_uuid(value)
    if uuid is None and (required or value is not None):
        problems.append(Problem(where, f"expected a UUID (32 hex digits), got {str(value)[:80]!r}"
                                + (": VM left out" if required else ""), "warning"))
    return uuid


def records(raw: Mapping[str, Any], field: str, origin: str, problems: list[Problem]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, record) for each mapping in the list ``raw[field]``; a problem for a non-list or a non-mapping item."""
    items = raw.get(field)
    if items is None:
        return
    if not isinstance(items, list):
        problems.append(Problem(f"{origin}: {field}", f"expected a list, got {type(items).__name__}: ignored"))
        return
    for n, item in enumerate(items):
        where = f"{origin}: {field}[{n}]"
        if isinstance(item, Mapping):
            yield where, item
        else:
            problems.append(Problem(where, f"expected a mapping, got {type(item).__name__}: ignored", "warning"))
