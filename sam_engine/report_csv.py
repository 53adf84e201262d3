"""CSV from the report model: ``position.csv`` and ``installations.csv``, safe to open in Excel.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and,
in some, a tab or carriage return) as a formula: a package named
``=HYPERLINK(...)`` would become a link in the auditor's sheet. Every text cell
starting so is written with a leading apostrophe (``'=HYPERLINK(...)``), which
spreadsheets show as text. Numbers are written as numbers (a balance of -4
stays a number). Files are UTF-8 with a byte order mark, so Excel reads
non-ASCII names correctly; the first row holds the column names.
"""

from __future__ import annotations

import csv
from typing import IO, Any, Iterable, Iterator

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ENCODING = "utf-8-sig"

POSITION_COLUMNS = ("scan_id", "publisher", "product", "edition", "status", "metric", "installations", "hosts",
                    "consumption", "owned", "balance", "shortfall", "gap_cost", "currency", "stale_hosts",
                    "entitlements", "rule")
INSTALLATION_COLUMNS = ("scan_id", "inventory_scan_id", "host", "host_id", "host_status", "stale", "source", "name",
                        "version", "arch", "vendor", "package_id", "location", "installed", "publisher", "product",
                        "edition", "product_status")


def safe_cell(value: Any) -> Any:
    """A cell value a spreadsheet cannot run: text starting like a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(handle: IO[str], columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write a header and ``rows`` (dicts keyed by column) to ``handle``; return the row count."""
    columns = tuple(columns)
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])
        n += 1
    return n


def position_rows(model: dict[str, Any], publisher: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per licensable product (``publisher``: only that publisher's, case-insensitive)."""
    pos = model["position"]
    if not pos:
        return
    for r in pos["licensable"]:
        if publisher is None or (r["publisher"] or "").casefold() == publisher.casefold():
            yield dict(r, scan_id=model["scan"]["scan_id"])


def _products(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pos = model["position"]
    if not pos:
        return {}
    out = {r["id"]: r for r in pos["licensable"]}
    out.update({r["id"]: dict(r, status="no licence needed") for r in pos["free"]})
    out.update({r["id"]: dict(r, status="unrecognised") for r in pos["unrecognised"]})
    return out


def installation_rows(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per installation of every host, with the product it counts under."""
    products, scan_id = _products(model), model["scan"]["scan_id"]
    for h in model["hosts"]:
        for p in h["packages"]:
            product = products.get(p["product"] or "", {})
            yield {
                "scan_id": scan_id,
                "inventory_scan_id": h["inventory_scan_id"],
                "host": h["inventory_name"],
                "host_id": h["host_id"],
                "host_status": h["status"],
                "stale": h["stale"],
                **{k: p[k] for k in ("source", "name", "version", "arch", "vendor", "package_id", "location",
                                     "installed")},
                "publisher": product.get("publisher"),
                "product": product.get("product"),
                "edition": product.get("edition"),
                "product_status": product.get("status"),
            }


def write_position(handle: IO[str], model: dict[str, Any], publisher: str | None = None) -> int:
    return write_rows(handle, POSITION_COLUMNS, position_rows(model, publisher))


def write_installations(handle: IO[str], model: dict[str, Any]) -> int:
    return write_rows(handle, INSTALLATION_COLUMNS, installation_rows(model))
