"""Compact inventories: one host's installations as ids into a shared table of distinct rows.

A fleet repeats itself: 10,000 hosts hold 10 million installations but only some
tens of thousands of distinct (source, name, version, arch, vendor, package_id,
location, origin) rows. ``RowTable`` interns those rows once per scan (or per stored
snapshot); an ``Inventory`` is one host's installations as two machine arrays,
row ids and install times: 12 bytes per installation instead of an object.

``Inventory`` is a read-only ``Sequence[Installation]``: iterating or indexing it
makes the ``Installation`` records on demand, and it compares equal to the tuple
of the same installations, so code written for ``HostScan.installations`` as a
tuple works unchanged. Code that works per distinct row (reconcile, the store)
reads ``table``, ``ids`` and ``times`` directly.
"""

from __future__ import annotations

import hashlib
import operator
from array import array
from collections import Counter
from itertools import compress, repeat
from typing import Iterable, Iterator, Sequence

from sam_engine.model import Installation

# Installation minus install_time; stores written before origins held the first 7 (``table_from_doc``)
ROW_FIELDS = ("source", "name", "version", "arch", "vendor", "package_id", "location", "origin")
NO_TIME = -(2 ** 63)  # install_time None in a times array


class RowTable:
    """Distinct installation rows (``ROW_FIELDS``), each interned once; ids are list positions."""

    __slots__ = ("rows", "index", "cache")

    def __init__(self, rows: Iterable[tuple] = ()):
        self.rows: list[tuple] = []
        self.index: dict[tuple, int] = {}
        self.cache: dict[str, list] = {}  # per-row values computed by users of the table (digest text, ...)
        for row in rows:
            self.intern(row)

    def __len__(self) -> int:
        return len(self.rows)

    def intern(self, row: tuple) -> int:
        rid = self.index.get(row)
        if rid is None:
            rid = self.index[row] = len(self.rows)
            self.rows.append(row)
        return rid

    def intern_installation(self, inst: Installation) -> int:
        return self.intern((inst.source, inst.name, inst.version, inst.arch, inst.vendor, inst.package_id,
                            inst.location, inst.origin))

    def installation(self, rid: int, install_time: int | None = None) -> Installation:
        source, name, version, arch, vendor, package_id, location, origin = self.rows[rid]
        return Installation(source, name, version, arch, vendor, install_time, package_id, location, origin)

    def per_row(self, name: str, compute) -> list:
        """A list indexed by row id of ``compute(row)``, kept on the table and extended as it grows."""
        values = self.cache.setdefault(name, [])
        if len(values) < len(self.rows):
            values.extend(compute(row) for row in self.rows[len(values):])
        return values


def times_array(values: Iterable[int | None]) -> array:
    return array("q", [NO_TIME if t is None else t for t in values])


class Inventory(Sequence):
    """One host's installations: ``ids`` into ``table`` and their ``times`` (``NO_TIME`` for None)."""

    __slots__ = ("table", "ids", "times", "digest", "sources")

    def __init__(self, table: RowTable, ids: array, times: array, digest: str | None = None,
                 sources: dict[str, int] | None = None):
        self.table, self.ids, self.times = table, ids, times
        self.digest = digest  # its content_digest, when already known (computed where it was parsed)
        self.sources = sources  # installations per source, when already known (``source_counts``)

    @classmethod
    def of(cls, installations: Iterable[Installation], table: RowTable) -> "Inventory | tuple[Installation, ...]":
        """The compact form of ``installations``; the plain tuple when a value does not fit (an install
        time beyond 64 bits, an unhashable field)."""
        items = tuple(installations)
        try:  # an unhashable field (a list from an odd collector) cannot be interned: TypeError
            times = times_array(i.install_time for i in items)
            ids = array("I", map(table.intern_installation, items))
        except (OverflowError, TypeError):  # rows interned before the odd one stay unused: harmless
            return items
        return cls(table, ids, times)

    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return len(self.ids) > 0

    def __iter__(self) -> Iterator[Installation]:
        rows = self.table.rows
        for rid, t in zip(self.ids, self.times):
            source, name, version, arch, vendor, package_id, location, origin = rows[rid]
            yield Installation(source, name, version, arch, vendor, None if t == NO_TIME else t, package_id, location,
                               origin)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self)[index]
        t = self.times[index]
        return self.table.installation(self.ids[index], None if t == NO_TIME else t)

    def __eq__(self, other) -> bool:
        if isinstance(other, Inventory) and other.table is self.table:
            return self.ids == other.ids and self.times == other.times
        if isinstance(other, (Inventory, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<Inventory of {len(self)} installations>"


def source_counts(table: RowTable, ids: Sequence[int]) -> dict[str, int]:
    """Installations per source of the rows ``ids``, sorted by source."""
    source = table.per_row("source", operator.itemgetter(0))
    return dict(sorted(Counter(map(source.__getitem__, ids)).items()))


def compact_view(installations: Sequence[Installation], fallback: RowTable) -> tuple[RowTable, Sequence[int]]:
    """(table, row ids) of any inventory: an ``Inventory``'s own, else ids interned into ``fallback``."""
    if isinstance(installations, Inventory):
        return installations.table, installations.ids
    return fallback, [fallback.intern_installation(i) for i in installations]


# --- the stored form: canonical order, content digest, per-snapshot string table ------------


def _row_text(row: tuple) -> str:
    if row[-1] is None:  # no origin: the text (and so the digest) rows had before origins were kept
        row = row[:-1]
    return "\x1f".join("\x00" if v is None else str(v) for v in row)


def _row_order(row: tuple) -> tuple:
    source, name, version, package_id = row[0], row[1], row[2], row[5]
    return (source, package_id, name, version or "")


def _row_hash(row: tuple) -> bytes:
    return hashlib.blake2b(_row_text(row).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def row_ranks(table: RowTable) -> list[int]:
    """Each row's place in the canonical order of all the table's rows (recomputed when it grew)."""
    cached = table.cache.get("rank")
    if cached is None or len(cached) != len(table.rows):
        keys = table.per_row("order", _row_order)
        cached = [0] * len(keys)
        rank, previous = -1, None
        for rid in sorted(range(len(keys)), key=keys.__getitem__):
            if keys[rid] != previous:  # equal keys share a rank: the sort keeps the collector's order
                rank, previous = rank + 1, keys[rid]
            cached[rid] = rank
        table.cache["rank"] = cached
    return cached


def content_digest(table: RowTable, ids: Sequence[int], times: Sequence[int]) -> str:
    """The content address of one inventory, whatever table its rows are interned in.

    SHA-256 over each row's 128-bit BLAKE2 hash and the install times, in the
    collector's order (what a host reports unchanged comes in the same order, so
    an unchanged host maps to its stored inventory; the same packages listed in
    another order are merely stored once more). No sort on the write path.
    """
    hashes = table.per_row("hash", _row_hash)
    digest = hashlib.sha256(b"".join(map(hashes.__getitem__, ids)))
    digest.update(times.tobytes() if isinstance(times, array) and times.typecode == "q"
                  else array("q", times).tobytes())
    return digest.hexdigest()


def canonical_order(table: RowTable, ids: Sequence[int]) -> list[int]:
    """Positions of an inventory in canonical order: by source, package id, name and version,
    ties in the collector's order (the order a stored inventory is read back in)."""
    ranks = row_ranks(table)
    return sorted(range(len(ids)), key=list(map(ranks.__getitem__, ids)).__getitem__)


class SnapshotTable:
    """The string and row tables of one stored snapshot, filled while its inventories are encoded.

    Stored as ``{"strings": [None, "dpkg", "bash", ...], "rows": b64(uint32 x 8 per row), "width": 8}``:
    every distinct string once, every distinct row once as 8 string ids (``ROW_FIELDS``).
    """

    def __init__(self):
        self.strings: list = [None]
        self._sid: dict = {None: 0}
        self.rows = array("I")
        self._rid: dict[tuple, int] = {}
        self._maps: dict[int, tuple[RowTable, list]] = {}  # id(table) -> (table, row id -> snapshot row id)

    def _string(self, value) -> int:
        sid = self._sid.get(value)
        if sid is None:
            sid = self._sid[value] = len(self.strings)
            self.strings.append(value)
        return sid

    def row_ids(self, table: RowTable) -> list:
        """Snapshot row ids of ``table``'s rows (a list indexed by the table's row id, ``-1`` = not yet)."""
        entry = self._maps.get(id(table))
        if entry is None:
            entry = self._maps[id(table)] = (table, [])
        mapping = entry[1]
        if len(mapping) < len(table.rows):
            mapping.extend([-1] * (len(table.rows) - len(mapping)))
        return mapping

    def add(self, table: RowTable, rid: int) -> int:
        row = table.rows[rid]
        srid = self._rid.get(row)
        if srid is None:
            srid = self._rid[row] = len(self._rid)
            sids = list(map(self._sid.get, row))  # most strings (sources, vendors, arches) are known already
            if None in sids:
                sids = list(map(self._string, row))
            self.rows.extend(sids)
        return srid

    def encode(self, table: RowTable, ids: Sequence[int], times: Sequence[int]) -> dict:
        mapping = self.row_ids(table)
        # rows this snapshot has not stored yet (-1), found at C speed and added in inventory order
        for rid in list(compress(ids, map(operator.lt, map(mapping.__getitem__, ids), repeat(0)))):
            if mapping[rid] < 0:
                mapping[rid] = self.add(table, rid)
        srids = array("I", map(mapping.__getitem__, ids))
        return {"ids": _b64(srids), "times": _b64(times if isinstance(times, array) and times.typecode == "q"
                                                  else array("q", times))}

    def doc(self) -> dict:
        return {"strings": self.strings, "rows": _b64(self.rows), "width": len(ROW_FIELDS)}


def _b64(values: array) -> str:
    import base64
    import sys

    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unb64(typecode: str, text: str) -> array:
    import base64
    import sys

    values = array(typecode)
    values.frombytes(base64.b64decode(text))
    if sys.byteorder != "little":
        values.byteswap()
    return values


def table_from_doc(doc: dict) -> RowTable:
    """The ``RowTable`` of a stored snapshot (its rows in snapshot row id order); a snapshot stored
    before origins were kept has 7 string ids per row and no ``width``: its rows get no origin."""
    strings = doc["strings"]
    flat = _unb64("I", doc["rows"])
    width = doc.get("width", 7)
    # column by column at C speed (a nightly run reads every stored table); rows were stored distinct,
    # and a table that is not (or is cut short) is interned row by row, as it always was
    columns = [map(strings.__getitem__, flat[i::width]) for i in range(width)]
    rows = list(zip(*columns, *[repeat(None)] * (len(ROW_FIELDS) - width)))
    table = RowTable()
    table.rows, table.index = rows, dict(zip(rows, range(len(rows))))
    if len(table.index) != len(rows) or len(flat) % width:
        pad = (None,) * (len(ROW_FIELDS) - width)
        table = RowTable(tuple(strings[i] for i in flat[k:k + width]) + pad for k in range(0, len(flat), width))
    return table


def inventory_from_doc(doc: dict, table: RowTable, as_collected: bool = False) -> Inventory:
    """A stored inventory, in canonical order (``canonical_order``), or ``as_collected``: in the
    collector's order, as a run reading the same list again would have it."""
    ids, times = _unb64("I", doc["ids"]), _unb64("q", doc["times"])
    if as_collected:
        return Inventory(table, ids, times, doc.get("digest"), doc.get("sources"))
    order = canonical_order(table, ids)
    return Inventory(table, array("I", map(ids.__getitem__, order)), array("q", map(times.__getitem__, order)),
                     doc.get("digest"), doc.get("sources"))
