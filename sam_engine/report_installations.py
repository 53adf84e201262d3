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
is UTF-8 with a byte order mark, as the other CSV files (``report_formats``).

Example row::

    20260105T020000Z,20260105T020000Z,db1,machine-id:1,ok,no,rpm,oracle-database-ee-19c,19.3.0,x86_64,Oracle,
    oracle-database-ee-19c,/opt/oracle,2024-03-01 10:00,Oracle,Database,Enterprise Edition,under-licensed
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import IO, Any, Iterable, Sequence

from .inventory import NO_TIME, Inventory, RowTable, compact_view
from .model import HostScan, Scan
from .position import LicencePosition
from .reconcile import Members, RefList
from .report_formats import safe_cell

COLUMNS = ("scan_id", "inventory_scan_id", "host", "host_id", "host_status", "stale", "source", "name",
           "version", "arch", "vendor", "package_id", "location", "installed", "publisher", "product",
           "edition", "product_status")
NO_PRODUCT = ",,,"  # publisher, product, edition, product_status: empty

_buffer = io.StringIO()
_writer = csv.writer(_buffer, lineterminator="")


def cells(values: Iterable[Any]) -> str:
    """``values`` as one CSV line (no line end), each cell made safe for a spreadsheet."""
    _buffer.seek(0)
    _buffer.truncate()
    _writer.writerow([safe_cell(v) for v in values])
    return _buffer.getvalue()


class _Times:
    """Install times as ``YYYY-MM-DD HH:MM`` (UTC), the date text made once per day."""

    def __init__(self):
        self.days: dict[int, str] = {}

    def text(self, epoch: int) -> str:
        if epoch == NO_TIME:
            return ""
        day, rest = divmod(epoch, 86400)
        date = self.days.get(day)
        if date is None:
            try:
                date = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
            except OverflowError:  # outside the calendar: the raw number, as collected
                return str(epoch)
            self.days[day] = date
        return f"{date} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


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
    """The product columns of each installation row, from the licence position."""

    def __init__(self, position: LicencePosition | None):
        self.by_group: dict[int, str] = {}  # id(reconcile group) -> product cells
        self.by_ref: dict[tuple, str] = {}  # (host, source, package_id) -> cells, for refs given as records
        self.views: dict[int, tuple[RowTable, Sequence[int], list]] = {}  # id(host scan) -> reconcile's view
        if position is None:
            return
        members: dict[int, Members] = {}
        for p in position:
            text = cells((p.publisher, p.product, p.edition, p.status.value))
            refs = p.installations
            group = refs.group() if isinstance(refs, RefList) else None
            if group is not None:
                self.by_group[id(group)] = text
                members[id(refs.members)] = refs.members
            else:
                for r in refs:
                    self.by_ref[(r.host, r.source, r.package_id)] = text
        for m in members.values():
            for hs, table, ids, info in m.host_views():
                self.views[id(hs)] = (table, ids, info)

    def of_host(self, hs: HostScan, table: RowTable, ids: Sequence[int]) -> list[str]:
        """The product cells of each of ``ids`` (rows of ``table``) on host ``hs``."""
        view = self.views.get(id(hs))
        if view is not None and view[0] is table:
            info = view[2]
            by_group = self.by_group
            return [by_group.get(id(info[rid][0]), NO_PRODUCT) if info[rid] else NO_PRODUCT for rid in ids]
        name, rows = hs.inventory_name, table.rows
        return [self.by_ref.get((name, rows[rid][0], rows[rid][5]), NO_PRODUCT) for rid in ids]


def write_installations(handle: IO[str], scan: Scan, position: LicencePosition | None) -> int:
    """Write the header and one row per installation of ``scan``; return the row count."""
    handle.write(cells(COLUMNS) + "\r\n")
    products, times, fallback = _Products(position), _Times(), RowTable()
    count = 0
    for hs in sorted(scan.hosts, key=lambda h: h.inventory_name):
        table, ids = compact_view(hs.installations, fallback)
        if not ids:
            continue
        middle = table.per_row("csv-cells", cells)  # source ... location
        rank = _ranks(table)
        inventory = hs.installations
        stamps = inventory.times if isinstance(inventory, Inventory) else \
            [NO_TIME if i.install_time is None else i.install_time for i in inventory]
        head = cells((scan.scan_id, hs.inventory_scan_id or hs.scan_id, hs.inventory_name, hs.host_id,
                      hs.status.value, hs.stale)) + ","
        product = products.of_host(hs, table, ids)
        order = sorted(range(len(ids)), key=list(map(rank.__getitem__, ids)).__getitem__)
        text = times.text
        handle.write("".join([f"{head}{middle[ids[k]]},{text(stamps[k])},{product[k]}\r\n" for k in order]))
        count += len(ids)
    return count
