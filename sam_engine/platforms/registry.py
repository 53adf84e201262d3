"""The platform registry: which collector produced a module result, and how the engine reads it.

One small class per collector, each saying whether a result is its own
(``matches``), what it holds (``installations``, or ``inventory`` in compact
form) and which host it describes (``host``), under the collector's name
(``collector``, recorded on every ``HostScan``). Ingest asks ``platform_of``
and never looks at a result's keys itself. A new collector is one more class
here and in ``PLATFORMS``; its reading rules live in its own module.

Worked example: ``platform_of({"windows": {"uninstall": [...]}})`` is the
``Windows`` platform, whose ``collector`` is ``fleetsam.sam.win_software_facts``;
a result none claims is read as the Linux module's (``software`` records and
raw ``host`` facts), as every result was before there were other collectors.

A hypervisor's topology is not a platform: ``hypervisor_facts`` output rides
in the same result under ``hypervisor`` (the callback joins it) and is read
beside the platform by ``topology.collected``, so one host is both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

from sam_engine.ingest.inventory import Inventory, RowTable
from sam_engine.model import Host, Installation, Problem
from sam_engine.platforms import hardware, macos, records, windows

Result = Mapping[str, Any]


class Platform(ABC):
    """The reading of one collector's result. Subclasses set ``collector`` and implement the abstract methods."""

    collector: str  # the module's fully qualified name, recorded on every HostScan it produces

    @abstractmethod
    def matches(self, result: Result) -> bool:
        """Whether ``result`` is this collector's."""

    @abstractmethod
    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        """Every installation of the result, with a problem (pointing into ``origin``) per unreadable part."""

    def inventory(self, result: Result, origin: str, table: RowTable) -> tuple[Sequence[Installation], list[Problem]]:
        """``installations`` in compact form, its rows interned in ``table`` (see ``ingest.inventory``)."""
        items, problems = self.installations(result, origin)
        return Inventory.of(items, table), problems

    @abstractmethod
    def host(self, result: Result, inventory_name: str) -> Host:
        """The host the result describes, its identity derived by ``hardware.identity``."""


class Linux(Platform):
    """``fleetsam.sam.software_facts``: package records (``software``) and raw ``host`` facts."""

    collector = "fleetsam.sam.software_facts"

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("software"), list) or isinstance(result.get("host"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        return records.installations(result.get("software") or (), origin)

    def inventory(self, result: Result, origin: str, table: RowTable) -> tuple[Sequence[Installation], list[Problem]]:
        return records.inventory(result.get("software") or (), origin, table)  # a fleet's bulk: the fast path

    def host(self, result: Result, inventory_name: str) -> Host:
        return hardware.derive_host(result.get("host") or {}, inventory_name)


class Windows(Platform):
    """``fleetsam.sam.win_software_facts`` (and ``.reg`` imports): raw registry and WMI data under ``windows``."""

    collector = "fleetsam.sam.win_software_facts"

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("windows"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        return windows.installations_from_windows(result["windows"], origin)

    def host(self, result: Result, inventory_name: str) -> Host:
        return windows.derive_host_windows(result["windows"], inventory_name)


class MacOS(Platform):
    """``fleetsam.sam.macos_software_facts``: raw command outputs under ``macos``, read into package records."""

    collector = "fleetsam.sam.macos_software_facts"

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("macos"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        found, problems = macos.software_records(result["macos"], origin)
        items, bad = records.installations(found, origin)
        return items, problems + bad

    def host(self, result: Result, inventory_name: str) -> Host:
        return macos.derive_host_macos(result["macos"], inventory_name)


LINUX = Linux()
PLATFORMS: tuple[Platform, ...] = (Windows(), MacOS(), LINUX)  # the first that matches reads a result


def platform_of(result: Result) -> Platform:
    """The platform whose collector produced ``result``; Linux for a result no platform claims."""
    for platform in PLATFORMS:
        if platform.matches(result):
            return platform
    return LINUX
