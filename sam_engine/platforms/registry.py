"""The platform registry: which collector produced a module result, and how the engine reads it.

One small class per collector, each saying whether a result is its own
(``matches``), what it holds (``installations``, or ``inventory`` in compact
form), which host it describes (``host``) and, for a vCenter, a Hyper-V host
or a cloud guest on a dedicated host, its topology (``topology``), under the
collector's name (``collector``, recorded on every ``HostScan``). Ingest asks ``platform_of``
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

import re
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, Mapping, Sequence

from sam_engine.ingest.inventory import Inventory, RowTable
from sam_engine.model import Host, Installation, Problem, Topology
from sam_engine.platforms import hardware, macos, records, users, windows
from sam_engine.platforms.records import origin_lines, tap_origins
from sam_engine.topology import cloud, hyperv, vmware
from sam_engine.vocabulary import Collector

Result = Mapping[str, Any]
SOURCE_FAILED = "failed"  # a package source's status in a Linux result's ``sources`` when it could not be read
SOURCE_NAME = re.compile(r"[a-z0-9_-]{1,32}")  # what a source is named (``dpkg``, ``rpm``, ``swid``...)


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

    def inventory_text(self, result: Result, text: bytes, origin: str,
                       table: RowTable) -> tuple[Sequence[Installation], list[Problem]] | None:
        """``inventory`` of a result whose bulk is still its spooled JSON ``text``; None: decode it first."""
        return None

    @abstractmethod
    def host(self, result: Result, inventory_name: str) -> Host:
        """The host the result describes, its identity derived by ``hardware.identity``, with its
        users (``platforms.users``; None when the result holds no user records)."""

    def topology(self, result: Result, inventory_name: str, origin: str) -> tuple[Topology | None, list[Problem]]:
        """The hypervisor view the result carries (servers and their VMs); None for a collector that has none."""
        return None, []

    def failed_sources(self, result: Result) -> dict[str, str]:
        """The package sources the collector reported it could not read, each with its message (the
        engine keeps their packages, ``ingest.host_scans.kept_sources``); none for a collector that does not say."""
        return {}


class Linux(Platform):
    """``fleetsam.sam.software_facts``: package records (``software``) and raw ``host`` facts."""

    collector = Collector.LINUX.value

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("software"), list) or isinstance(result.get("host"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        lines, problems = origin_lines(result.get("origins"), origin)
        items, bad = records.installations(result.get("software") or (), origin, lines)
        return items, problems + bad

    def inventory(self, result: Result, origin: str, table: RowTable) -> tuple[Sequence[Installation], list[Problem]]:
        lines, problems = origin_lines(result.get("origins"), origin)
        found, bad = records.inventory(result.get("software") or (), origin, table, lines)  # the fast path
        return found, problems + bad

    def inventory_text(self, result: Result, text: bytes, origin: str,
                       table: RowTable) -> tuple[Sequence[Installation], list[Problem]] | None:
        """The package list read from its JSON text line by line (``records.inventory_from_lines``)."""
        lines, problems = origin_lines(result.get("origins"), origin)
        found = records.inventory_from_lines(text, table, lines)
        return None if found is None else (found, problems)

    def host(self, result: Result, inventory_name: str) -> Host:
        raw = result.get("users")
        found = users.linux_users(raw) if isinstance(raw, Mapping) else None
        return replace(hardware.derive_host(result.get("host") or {}, inventory_name), users=found)

    def failed_sources(self, result: Result) -> dict[str, str]:
        """``sources``: source name -> ``{status, count, message}``, ``status`` ``failed`` for a source that
        could not be read (a result without it, from an older collector, names none)."""
        raw = result.get("sources")
        if not isinstance(raw, Mapping):
            return {}
        return {name: str(entry.get("message") or "no message")[:300] for name, entry in raw.items()
                if isinstance(entry, Mapping) and entry.get("status") == SOURCE_FAILED
                and isinstance(name, str) and SOURCE_NAME.fullmatch(name)}

    def topology(self, result: Result, inventory_name: str, origin: str) -> tuple[Topology | None, list[Problem]]:
        raw = result.get("host")
        if not isinstance(raw, Mapping) or "cloud_metadata" not in raw:
            return None, []  # not a cloud guest: the common case costs nothing
        return cloud.topology(raw, hardware.derive_hardware(raw).threads, inventory_name, origin)


class Windows(Platform):
    """``fleetsam.sam.win_software_facts`` (and ``.reg`` imports): raw registry and WMI data under ``windows``."""

    collector = Collector.WINDOWS.value

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("windows"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        return windows.installations_from_windows(result["windows"], origin)

    def inventory(self, result: Result, origin: str, table: RowTable) -> tuple[Sequence[Installation], list[Problem]]:
        return windows.inventory_from_windows(result["windows"], origin, table)  # one-key programs made once

    def host(self, result: Result, inventory_name: str) -> Host:
        found = users.windows_users(result["windows"].get("profiles"))
        return replace(windows.derive_host_windows(result["windows"], inventory_name), users=found)

    def topology(self, result: Result, inventory_name: str, origin: str) -> tuple[Topology | None, list[Problem]]:
        return hyperv.topology(result["windows"], inventory_name, origin)  # a Hyper-V host's VMs, else None


class MacOS(Platform):
    """``fleetsam.sam.macos_software_facts``: raw command outputs under ``macos``, read into package records."""

    collector = Collector.MACOS.value

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("macos"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        found, problems = macos.software_records(result["macos"], origin)
        items, bad = records.installations(found, origin, tap_origins(found))
        return items, problems + bad

    def host(self, result: Result, inventory_name: str) -> Host:
        found = users.macos_users(result["macos"].get("users"))
        return replace(macos.derive_host_macos(result["macos"], inventory_name), users=found)


class VCenter(Platform):
    """``fleetsam.sam.vcenter_facts``: a vCenter's or ESXi host's raw inventory under ``vcenter``; no software
    of its own, its topology read by ``topology.vmware``. The host is the vCenter itself."""

    collector = Collector.VCENTER.value

    def matches(self, result: Result) -> bool:
        return isinstance(result.get("vcenter"), dict)

    def installations(self, result: Result, origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
        return (), []

    def host(self, result: Result, inventory_name: str) -> Host:
        raw = result["vcenter"]
        about = raw.get("about") if isinstance(raw.get("about"), dict) else {}
        host_id, source = hardware.identity((("vcenter-uuid", about.get("instance_uuid")),), inventory_name)
        hostname = raw.get("hostname") if isinstance(raw.get("hostname"), str) else None
        return Host(host_id=host_id, inventory_name=inventory_name, identity_source=source, hostname=hostname,
                    os_family="VMware", os_name=about.get("full_name") if isinstance(about.get("full_name"), str)
                    else None, os_version=about.get("version") if isinstance(about.get("version"), str) else None)

    def topology(self, result: Result, inventory_name: str, origin: str) -> tuple[Topology | None, list[Problem]]:
        return vmware.topology(result["vcenter"], inventory_name, origin)


LINUX = Linux()
PLATFORMS: tuple[Platform, ...] = (Windows(), MacOS(), VCenter(), LINUX)  # the first that matches reads a result


def platform_of(result: Result) -> Platform:
    """The platform whose collector produced ``result``; Linux for a result no platform claims."""
    for platform in PLATFORMS:
        if platform.matches(result):
            return platform
    return LINUX
