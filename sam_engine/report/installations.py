"""``installations.csv``: every installation of every host, with the product it counts under.

The one report file with a row per installation (ten million rows for 10,000
hosts), so it is streamed from the scan and its licence position rather than
built as records: each distinct installation row (``inventory.RowTable``) is
formatted once, with the product reconcile put it under (a row belongs to the
same product on every host), and each installation then only adds its host's
columns and its install time. The report model (``report.build``) has no
per-installation record at all.

Rows come host by host in inventory-name order, each host's installations by
name (case-insensitive), source and version. Cells are Excel-safe and the file
is UTF-8 with a byte order mark, as the other CSV files (``report.formats``).

Example row::

    20260105T020000Z,20260105T020000Z,db1,machine-id:1,ok,no,rpm,oracle-database-ee-19c,19.3.0,x86_64,Oracle,
    oracle-database-ee-19c,/opt/oracle,2024-03-01 10:00,Oracle,Database,Enterprise Edition,under-licensed
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from itertools import chain, repeat
from typing import IO, Any, Iterable, Sequence

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable, compact_view
from sam_engine.model import HostScan, Scan
from sam_engine.licensing.position import LicencePosition
from sam_engine.licensing.placements import RefList
from sam_engine.report.formats import csv_writer, safe_cell
from sam_engine.report.position import placements_of

COLUMNS = ("scan_id", "inventory_scan_id", "host", "host_id", "host_status", "stale", "installed", "source", "name",
           "version", "arch", "vendor", "package_id", "location", "origin", "publisher", "product", "edition",
           "product_status")
NO_PRODUCT = ",,,"  # publisher, product, edition, product_status: empty

_buffer = io.StringIO()
_fast = csv.writer(_buffer, lineterminator="")  # no terminator to search each character for
_quoting = csv_writer(_buffer)  # the shared dialect: a cell holding a line break is quoted


def cells(values: Iterable[Any]) -> str:
    """``values`` as one CSV line (no line end) in the shared dialect, each cell made safe for a spreadsheet."""
    row = [safe_cell(v) for v in values]
    _buffer.seek(0)
    _buffer.truncate()
    _fast.writerow(row)
    line = _buffer.getvalue()
    if "\n" in line or "\r" in line:  # rare: written again so the cell with the line break is quoted
        _buffer.seek(0)
        _buffer.truncate()
        _quoting.writerow(row)
        line = _buffer.getvalue()[:-2]
    return line


def when(epoch: int) -> str:
    """An install time (epoch seconds, ``NO_TIME`` for none) as ``YYYY-MM-DD HH:MM`` in UTC."""
    if epoch == NO_TIME:
        return ""
    day, rest = divmod(epoch, 86400)
    try:
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
    except OverflowError:  # outside the calendar: the raw number, as collected
        return str(epoch)
    return f"{date} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


class _Times(dict):
    """epoch -> ``when(epoch)``, each made once; looked up at C speed through ``__getitem__``."""

    def __missing__(self, epoch: int) -> str:
        text = self[epoch] = when(epoch)
        return text


def _ranks(table: RowTable) -> list[int]:
    """Per row id, its place among the table's rows by name (case-insensitive), source and version."""
    ranks = table.cache.get("csv-rank")
    if ranks is None or len(ranks) != len(table.rows):
        rows = table.rows
        order = sorted(range(len(rows)),
                       key=lambda r: (rows[r][1].casefold(), rows[r][1], rows[r][0], rows[r][2] or ""))
        ranks = [0] * len(rows)
        for place, rid in enumerate(order):
            ranks[rid] = place
        table.cache["csv-rank"] = ranks
    return ranks


class _Products:
    """The text after the install time of each installation row: ``,source,...,origin,publisher,
    product,edition,product_status`` and the line end, from the licence position."""

    def __init__(self, position: LicencePosition | None):
        self.by_group: dict[int, str] = {}  # id(reconcile group) -> product cells
        self.by_ref: dict[tuple, str] = {}  # (host, source, package_id) -> cells, for refs given as records
        self.infos: dict[int, list] = {}  # id(row table) -> reconcile's per-row infos
        self.views: dict[int, tuple[RowTable, Sequence[int]]] = {}  # id(host scan) -> reconcile's (table, ids)
        self.tails: dict[int, list[str]] = {}  # id(row table) -> per row id: the text
        if position is None:
            return
        for p in position:
            text = cells((p.publisher, p.product, p.edition, p.status.value))
            refs = p.installations
            group = refs.group() if isinstance(refs, RefList) else None
            if group is not None:
                self.by_group[id(group)] = text
            else:
                for r in refs:
                    self.by_ref[(r.host, r.source, r.package_id)] = text
        for placements in placements_of(position):
            self.views.update((id(hs), (table, ids)) for hs, table, ids, _ in placements.host_views())
            self.infos.update({key: info for key, (_, info) in placements.infos.items()})

    def view(self, hs: HostScan, fallback: RowTable) -> tuple[RowTable, Sequence[int]]:
        """The host's installations as (row table, row ids): reconcile's view when it has one."""
        return self.views.get(id(hs)) or compact_view(hs.installations, fallback)

    def of_host(self, hs: HostScan, table: RowTable) -> list[str] | None:
        """Per row id of ``table``, the text for host ``hs``; None when it depends on the host."""
        info = self.infos.get(id(table)) if self.views.get(id(hs), (None,))[0] is table else None
        if info is None:
            return None
        tails = self.tails.get(id(table))
        if tails is None or len(tails) < len(info):
            middle, by_group = table.per_row("csv-cells", cells), self.by_group
            tails = self.tails[id(table)] = [
                f",{middle[rid]},{by_group.get(id(i[0]), NO_PRODUCT) if i else NO_PRODUCT}\r\n"
                for rid, i in enumerate(info)]
        return tails

    def for_records(self, hs: HostScan, table: RowTable, ids: Sequence[int]) -> dict[int, str]:
        """Per row id of ``ids``, the text for host ``hs``, matched by (host, source, package id)."""
        middle, name, rows = table.per_row("csv-cells", cells), hs.inventory_name, table.rows
        return {rid: f",{middle[rid]},{self.by_ref.get((name, rows[rid][0], rows[rid][5]), NO_PRODUCT)}\r\n"
                for rid in ids}


def write_installations(handle: IO[str], scan: Scan, position: LicencePosition | None) -> int:
    """Write the header and one row per installation of ``scan``; return the row count."""
    handle.write(cells(COLUMNS) + "\r\n")
    products, times, fallback = _Products(position), _Times(), RowTable()
    count = 0
    for hs in sorted(scan.hosts, key=lambda h: h.inventory_name):
        table, ids = products.view(hs, fallback)
        if not ids:
            continue
        inventory = hs.installations
        stamps = inventory.times if isinstance(inventory, Inventory) else \
            [NO_TIME if i.install_time is None else i.install_time for i in inventory]
        tails = products.of_host(hs, table) or products.for_records(hs, table, ids)
        head = cells((scan.scan_id, hs.inventory_scan_id or hs.scan_id, hs.inventory_name, hs.host_id,
                      hs.status.value, hs.stale)) + ","
        rank = _ranks(table)
        order = sorted(range(len(ids)), key=list(map(rank.__getitem__, ids)).__getitem__)
        # head + install time + tail per installation, joined at C speed
        handle.write("".join(chain.from_iterable(zip(
            repeat(head, len(ids)),
            map(times.__getitem__, map(stamps.__getitem__, order)),
            map(tails.__getitem__, map(ids.__getitem__, order))))))
        count += len(ids)
    return count
