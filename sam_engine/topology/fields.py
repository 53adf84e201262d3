"""Field readers shared by the vCenter, Hyper-V and cloud readers: raw collector values checked into typed ones.

A collector's result is untrusted data (a hostile or broken host can return
anything), so these readers take their lists, texts and UUIDs through these
functions: a value of the wrong kind becomes None or a located ``Problem``,
never an exception. UUIDs are canonicalised by ``uuids.canonical``, counts
read by ``collected.count``.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from sam_engine.model import Problem
from sam_engine.topology.collected import count
from sam_engine.topology.uuids import canonical

__all__ = ("count", "records", "text", "uuid_or_problem")


def text(value: Any) -> str | None:
    """A non-empty string, stripped; None for anything else."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def uuid_or_problem(value: Any, where: str, problems: list[Problem], required: bool) -> str | None:
    """``uuids.canonical``, with a problem at ``where`` when a value is present but unusable (or required and absent)."""
    uuid = canonical(value)
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
