"""A hypervisor collector's raw result read into a ``model.Topology``: which parser, and what both share.

``fleetsam.sam.hypervisor_facts`` returns its raw command outputs under the
result key ``hypervisor`` beside the software collector's result of the same
inventory host (the callback joins them), so one ``HostScan`` carries the
host's software and, for a hypervisor, its servers and VMs. ``platform`` in
that mapping says which parser reads it. Every part that cannot be read is a
``Problem`` pointing into the spool file, never an exception; a result too
broken to name a server gives no topology at all.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from sam_engine.model import Problem, Topology

Reader = Callable[[Mapping[str, Any], str, str], "tuple[Topology | None, list[Problem]]"]
_RANGE = re.compile(r"(\^)?(\d+)(?:-(\d+))?")
MAX_CPU = 65535  # beyond any host libvirt or Proxmox manages: a bigger number is a corrupt cpuset


def read_topology(raw: Any, origin: str, inventory_name: str) -> tuple[Topology | None, list[Problem]]:
    """The topology of the ``hypervisor`` part of a result (None when there is none or it is unreadable)."""
    if raw is None:
        return None, []
    where = f"{origin}: hypervisor"
    if not isinstance(raw, Mapping):
        return None, [Problem(where, f"expected a mapping of command outputs, got {type(raw).__name__}; "
                                     "no topology recorded")]
    from sam_engine.topology import libvirt, proxmox  # the parsers import this module's helpers

    readers: dict[str, Reader] = {"libvirt": libvirt.read, "proxmox": proxmox.read}
    reader = readers.get(raw.get("platform"))  # type: ignore[arg-type]
    if reader is None:
        return None, [Problem(f"{where}.platform", f"expected one of {', '.join(sorted(readers))}, "
                                                   f"got {str(raw.get('platform'))[:40]!r}; no topology recorded")]
    topology, problems = reader(raw, where, inventory_name)
    return topology, command_problems(raw, where) + problems


def command_problems(raw: Mapping[str, Any], where: str) -> list[Problem]:
    """A warning per command the collector reports as failed (``errors``: command, rc, stderr)."""
    errors = raw.get("errors")
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        if isinstance(error, Mapping):
            stderr = " ".join(str(error.get("stderr") or "").split())[:300]
            found.append(Problem(f"{where}: {str(error.get('command'))[:200]}",
                                 f"failed (rc {error.get('rc')}): {stderr or 'no message'}", "warning"))
    return found


def text(raw: Mapping[str, Any], key: str) -> str:
    """``raw[key]`` when it is text, else the empty string (a missing or mistyped output reads as empty)."""
    value = raw.get(key)
    return value if isinstance(value, str) else ""


def key_values(output: str, separator: str = ":") -> dict[str, str]:
    """``Key: value`` lines (virsh nodeinfo and dominfo, qm config) as a mapping; the first of a repeated key wins."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition(separator)
        if sep and key.strip():
            found.setdefault(key.strip(), value.strip())
    return found


def count(value: Any) -> int | None:
    """A positive whole number from text or an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def cpuset(value: str) -> tuple[int, ...] | None:
    """CPU numbers of a libvirt/Proxmox cpuset (``0-3,8,^2``), sorted; None when it is not one."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in value.replace(" ", "").split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            return None
        first = int(match.group(2))
        last = int(match.group(3)) if match.group(3) else first
        if last < first or last > MAX_CPU:
            return None
        (excluded if match.group(1) else chosen).update(range(first, last + 1))
    return tuple(sorted(chosen - excluded))
