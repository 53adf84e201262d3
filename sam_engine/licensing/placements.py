"""Where a position's installations are, without a record per installation.

An installation behind a position is two numbers: the index of its host scan and
its position in that host's inventory, packed into one 64-bit integer
(``host << 32 | position``). ``Placements`` holds, for one ``reconcile.group_installations``
call, the host scans and each one's compact view (row table, row ids, and what
reconcile derived once per distinct row: group, recognition, label, licence
need); ``RefList`` is one product's installations as an array of packed integers,
a read-only sequence of ``InstallationRef`` records made on demand.

Example: web1 (host 0) has bash at position 12: packed ``0 << 32 | 12 = 12``;
``placements.ref(12)`` is ``InstallationRef(host="web1", name="bash", ...)``.
"""

from __future__ import annotations

import heapq
import sys
from array import array
from collections.abc import Sequence as _Sequence
from dataclasses import dataclass
from typing import Generic, Iterator, Sequence, TypeVar

from sam_engine.ingest.inventory import RowTable, compact_view
from sam_engine.model import HostScan, Installation, LicenceNeed, Recognition

G = TypeVar("G")  # what reconcile groups a row under (``reconcile.ProductGroup``); this module only keeps it


@dataclass(frozen=True, slots=True)
class InstallationRef:
    """One installation behind a position: where, what exactly, and which scan saw it."""

    host: str
    host_id: str | None
    name: str  # raw title
    version: str | None  # raw version
    normalised_version: str | None
    source: str
    package_id: str
    scan_id: str  # the scan whose inventory it is (older than the latest scan when stale)
    stale: bool
    licence: LicenceNeed
    counted_as: str  # the product it is counted under (the suite, for a suite's components)
    catalogue_rule: str | None = None  # the catalogue entry that recognised it


SHIFT = 32  # an installation is packed as host index << 32 | position in that host's inventory
_LOW = (1 << SHIFT) - 1
_HIGH = 1 if sys.byteorder == "little" else 0  # which 32-bit half of a packed 64-bit value is the host index
assert array("I").itemsize * 2 == array("Q").itemsize == 8


class Placements(Generic[G]):
    """Where the installations of a position are: the host scans and each one's compact view.

    Shared by every group of one ``group_installations`` call. An installation is
    (host index, position in that host's inventory), packed in one integer; per
    distinct row of each row table, ``info`` holds what reconcile derived from it
    once: (group, recognition, label, needs a licence).
    """

    def __init__(self, host_scans: Sequence[HostScan]):
        self.host_scans = host_scans
        self.fallback = RowTable()  # rows of plain-tuple inventories
        self.views: list[tuple[RowTable, Sequence[int], list]] = []  # per host: (table, row ids, row infos)
        self.infos: dict[int, tuple[RowTable, list]] = {}  # id(table) -> (table, row infos)
        self._rank: list[int] | None = None
        self._stale: set[int] | None = None
        self.any_stale = any(hs.stale for hs in host_scans)  # most runs: none, and no group asks which

    def view(self, hs: HostScan) -> tuple[RowTable, Sequence[int], list]:
        table, ids = compact_view(hs.installations, self.fallback)
        entry = self.infos.get(id(table))
        if entry is None:
            entry = self.infos[id(table)] = (table, [])
        info = entry[1]
        if len(info) < len(table.rows):
            info.extend([None] * (len(table.rows) - len(info)))
        view = (table, ids, info)
        self.views.append(view)
        return view

    def ref(self, packed: int) -> InstallationRef:
        h, pos = packed >> SHIFT, packed & _LOW
        hs = self.host_scans[h]
        table, ids, info = self.views[h]
        rid = ids[pos]
        row, (_, rec, label, _) = table.rows[rid], info[rid]
        return InstallationRef(hs.inventory_name, hs.host_id, row[1], row[2], rec.version, row[0], row[5],
                               hs.inventory_scan_id or hs.scan_id, hs.stale, rec.licence, label, rec.rule)

    def group_at(self, packed: int) -> G:
        """The group the installation ``packed`` joined (a row's group is the same on every host)."""
        h, pos = packed >> SHIFT, packed & _LOW
        _, ids, info = self.views[h]
        return info[ids[pos]][0]

    def distinct_rows(self) -> Iterator[tuple[tuple, G]]:
        """Every distinct installation row seen (``inventory.ROW_FIELDS``) with the group it joined."""
        for table, info in self.infos.values():
            for row, row_info in zip(table.rows, info):
                if row_info is not None:
                    yield row, row_info[0]

    def host_views(self) -> Iterator[tuple[HostScan, RowTable, Sequence[int], list]]:
        """Per host scan (in the order given): its row table, row ids and the per-row infos."""
        for hs, (table, ids, info) in zip(self.host_scans, self.views):
            yield hs, table, ids, info

    def versions_per_host(self, packed: array) -> dict[int, list[str | None]]:
        """Host index -> the raw version of each of its ``packed`` installations, without making refs."""
        out: dict[int, list[str | None]] = {}
        views = self.views
        for value in packed:
            h = value >> SHIFT
            table, ids, _ = views[h]
            out.setdefault(h, []).append(table.rows[ids[value & _LOW]][2])
        return out

    def item(self, packed: int) -> tuple[HostScan, Installation, Recognition]:
        h, pos = packed >> SHIFT, packed & _LOW
        hs = self.host_scans[h]
        table, ids, info = self.views[h]
        return hs, hs.installations[pos], info[ids[pos]][1]

    def _names(self) -> None:
        scans = self.host_scans
        by_name = sorted(range(len(scans)), key=lambda h: scans[h].inventory_name)
        self._rank = [0] * len(scans)
        for rank, h in enumerate(by_name):
            self._rank[h] = rank
        self._names_by_rank = [scans[h].inventory_name for h in by_name]
        self._dupes = len(set(self._names_by_rank)) != len(scans)
        self._in_name_order = by_name == list(range(len(scans)))  # usual: spool files sort by name
        self._stale = {h for h, hs in enumerate(scans) if hs.stale}

    def host_names(self, packed: array, stale_only: bool = False) -> tuple[str, ...]:
        """Sorted inventory names of the hosts of ``packed`` installations (only stale ones with ``stale_only``)."""
        if self._rank is None:
            self._names()
        if stale_only:
            hosts = self._stale.intersection(host_indexes(packed))  # a few stale hosts at most: usually none
            if not hosts:
                return ()
        elif self._in_name_order:  # packed is in host order: no sort needed
            names = tuple(map(self._names_by_rank.__getitem__, dict.fromkeys(host_indexes(packed))))
            return tuple(dict.fromkeys(names)) if self._dupes else names
        else:
            hosts = set(host_indexes(packed))
        names = tuple(map(self._names_by_rank.__getitem__, sorted(map(self._rank.__getitem__, hosts))))
        return tuple(dict.fromkeys(names)) if self._dupes else names

    def host_summary(self, packed: array, limit: int) -> tuple[int, tuple[str, ...]]:
        """(number of hosts, the first ``limit`` host names in name order) of ``packed`` installations,
        without naming every host (the free and unrecognised titles of a large fleet)."""
        if self._rank is None:
            self._names()
        if self._dupes:
            names = self.host_names(packed)
            return len(names), names[:limit]
        indexes = host_indexes(packed)
        count = len(set(indexes))
        if self._in_name_order:  # packed is in host order, hosts are in name order: the first distinct ones
            first: list[int] = []
            for h in indexes:
                if not first or h != first[-1]:
                    first.append(h)
                    if len(first) == limit:
                        break
        else:
            first = heapq.nsmallest(limit, map(self._rank.__getitem__, set(indexes)))
        return count, tuple(map(self._names_by_rank.__getitem__, first))


def host_indexes(packed: array) -> array:
    """The host index (the high 32 bits) of every packed installation, sliced out at C speed."""
    return array("I", packed.tobytes())[_HIGH::2]


class RefList(_Sequence, Generic[G]):
    """The ``InstallationRef``s of one product, made on demand from packed (host, position) pairs.

    A read-only sequence that compares equal to the tuple of the same refs; at
    fleet scale it holds 8 bytes per installation instead of a record each.
    """

    __slots__ = ("placements", "packed")

    def __init__(self, placements: Placements[G], packed: array):
        self.placements, self.packed = placements, packed

    def __len__(self) -> int:
        return len(self.packed)

    def __iter__(self):
        return map(self.placements.ref, self.packed)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self)[index]
        return self.placements.ref(self.packed[index])

    def __eq__(self, other) -> bool:
        if isinstance(other, (RefList, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<RefList of {len(self)} installations>"

    def host_names(self, stale_only: bool = False) -> tuple[str, ...]:
        """The sorted inventory names of the hosts (only stale ones with ``stale_only``), without refs."""
        return self.placements.host_names(self.packed, stale_only)

    def host_summary(self, limit: int) -> tuple[int, tuple[str, ...]]:
        """(number of hosts, the first ``limit`` names), without naming every host."""
        return self.placements.host_summary(self.packed, limit)

    def versions_per_host(self) -> list[tuple[HostScan, list[str | None]]]:
        """Per host scan (in host order), the raw versions of its installations here, without making refs."""
        scans = self.placements.host_scans
        return [(scans[h], versions) for h, versions in self.placements.versions_per_host(self.packed).items()]

    def group(self) -> G | None:
        """The reconcile group these installations belong to (None when empty)."""
        return self.placements.group_at(self.packed[0]) if len(self.packed) else None
