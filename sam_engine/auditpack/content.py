"""What goes into an audit evidence pack for one publisher (the files, as bytes).

Built from the same report model as every report, restricted to one
publisher (case-insensitive), plus what the model does not carry:

- ``installations.csv``: per product every installation with host, version,
  install path (``location``), collector source, package id and the scan that
  saw it (a stale host's installations come from an older scan, and say so);
- ``entitlements.csv`` / ``entitlements.json``: the publisher's entitlement
  records with purchase data; licence keys are masked (``mask_key``);
- ``catalogue.json``: the catalogue version (SHA-256 over every catalogue and
  metric rule file, path by path) and the catalogue entries that recognised the
  publisher's installations or name its products;
- ``metric_rules.json``: each metric rule applied, with its ``file:line`` and
  the rule's lines verbatim;
- ``position.html`` / ``position.csv``: the publisher's position, with every
  figure's arithmetic, host by host.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from sam_engine.report import formats as report_formats
from sam_engine.licensing.catalogue import Catalogue, default_catalogue_dir
from sam_engine.licensing.context import LicenceContext
from sam_engine.licensing.metric_rules import RULES_DIR
from sam_engine.model import Entitlement, Scan
from sam_engine.package_data import data_label, data_path
from sam_engine.licensing.position import product_label
from sam_engine.report.position import entitlement_record

INSTALLATION_COLUMNS = ("publisher", "product", "edition", "status", "host", "host_id", "version",
                        "normalised_version", "location", "source", "package_id", "seen_in_scan", "stale", "licence",
                        "counted_as", "catalogue_rule")
ENTITLEMENT_COLUMNS = ("entitlement_id", "origin", "publisher", "product", "edition", "metric", "quantity",
                       "counted_in", "version_range", "term_start", "term_end", "maintenance_end", "downgrade_rights",
                       "vendor", "po_number", "invoice", "purchase_date", "unit_cost", "currency", "keys")
_LIST_ITEM = re.compile(r"^(\s*)- ")


def same(a: str | None, b: str | None) -> bool:
    return (a or "").casefold() == (b or "").casefold()


def csv_bytes(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    report_formats.write_rows(buffer, columns, rows)
    return buffer.getvalue().encode(report_formats.ENCODING)


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _locations(scan: Scan) -> dict[tuple, list[str | None]]:
    """Install paths by the host (identity and name) and package that has them, in inventory order.

    Keyed by host identity, not inventory name alone: a reinstalled machine keeps its name under a
    new host id, and each of the two hosts has its own paths. One host can hold one package at two
    paths (two Oracle homes): each installation then takes the next path of the list."""
    where: dict[tuple, list[str | None]] = {}
    for h in scan.hosts:
        for i in h.installations:
            key = (h.host_id, h.inventory_name, i.source, i.package_id, i.name, i.version)
            where.setdefault(key, []).append(i.location)
    return where


def installation_rows(products: list[dict[str, Any]], scan: Scan) -> list[dict[str, Any]]:
    """Every installation of ``products`` (report rows), with its own install path from the scan."""
    where = _locations(scan)
    rows = []
    for p in products:
        left = {}  # per product: the paths not yet given to one of its installations
        for i in p["installation_list"]:
            key = (i["host_id"], i["host"], i["source"], i["package_id"], i["name"], i["version"])
            paths = left.setdefault(key, list(where.get(key, ())))
            rows.append({
                "publisher": p["publisher"], "product": p["product"], "edition": p["edition"], "status": p["status"],
                "host": i["host"], "host_id": i["host_id"], "version": i["version"],
                "normalised_version": i["normalised_version"], "location": paths.pop(0) if paths else None,
                "source": i["source"], "package_id": i["package_id"], "seen_in_scan": i["scan_id"],
                "stale": i["stale"], "licence": i["licence"], "counted_as": i["counted_as"],
                "catalogue_rule": i["catalogue_rule"],
            })
    return rows


def entitlement_rows(publisher: str, entitlements: Sequence[Entitlement],
                     products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The publisher's entitlements (every one, counted or not) and where each counts."""
    counted: dict[str, list[str]] = {}
    for p in products:
        for e in p["entitlement_records"]:
            counted.setdefault(e["entitlement_id"], []).append(f"{p['label']}: {e['counted']}")
    ids = set(counted)
    rows = []
    for ent in entitlements:
        if same(ent.publisher, publisher) or ent.entitlement_id in ids:
            row = entitlement_record(ent)
            row.pop("counted")
            row["counted_in"] = counted.get(ent.entitlement_id, [])
            rows.append(row)
    return rows


def _yaml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
    return [path] if path.exists() else []


def catalogue_version(ctx: LicenceContext) -> dict[str, Any]:
    """SHA-256 of each catalogue and metric rule file, and one digest over all of them."""
    rules_dir = ctx.settings.rules_dir or RULES_DIR
    paths = [*_yaml_files(default_catalogue_dir()), *(f for p in ctx.settings.catalogue_extra for f in _yaml_files(p)),
             *_yaml_files(Path(rules_dir))]
    files = [{"path": data_label(p), "sha256": sha256(p.read_bytes())} for p in dict.fromkeys(paths)]
    overall = hashlib.sha256("".join(f"{f['path']}\0{f['sha256']}\n" for f in files).encode("utf-8")).hexdigest()
    return {"sha256": overall, "files": files}


def catalogue_entries(catalogue: Catalogue, publisher: str, rules_used: set[str]) -> list[dict[str, Any]]:
    """Catalogue entries that recognised the installations (``rules_used``) or name the publisher."""
    out = []
    for e in catalogue.entries:
        if e.rule in rules_used or same(e.publisher, publisher):
            out.append({"id": e.id, "rule": e.rule, "origin": e.origin, "publisher": e.publisher,
                        "product": e.product, "edition": e.edition, "licence": e.licence.value,
                        "metric_hint": e.metric_hint, "suite": list(e.suite),
                        "applied": e.rule in rules_used})
    return out


def rule_lines(origin: str) -> list[str]:
    """The YAML list item that ``origin`` (``file:line``) points into, verbatim; [] when not a file line."""
    path_text, _, line_text = origin.rpartition(":")
    if not line_text.isdigit() or not path_text:
        return []
    path = data_path(path_text)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    start = min(int(line_text), len(lines)) - 1
    while start > 0 and not _LIST_ITEM.match(lines[start]):
        start -= 1
    match = _LIST_ITEM.match(lines[start]) if lines else None
    if match is None:
        return lines[start:start + 1]
    indent, end = len(match.group(1)), start + 1
    while end < len(lines):
        text = lines[end]
        if text.strip() and not text.startswith(" " * (indent + 1)):
            break
        end += 1
    block = lines[start:end]
    while block and not block[-1].strip():
        block.pop()
    return block


def metric_rules(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each metric rule applied to the products, with the rule's lines from its file."""
    used: dict[str, list[str]] = {}
    for p in products:
        used.setdefault(p["rule"], []).append(p["label"])
    return [{"rule": rule, "products": names, "lines": rule_lines(rule)} for rule, names in sorted(used.items())]


def publisher_products(model: dict[str, Any], publisher: str) -> list[dict[str, Any]]:
    pos = model["position"] or {"licensable": []}
    return [r for r in pos["licensable"] if same(r["publisher"], publisher)]


def pack_view(model: dict[str, Any], publisher: str, products: list[dict[str, Any]],
              entitlements: list[dict[str, Any]], catalogue: dict[str, Any], rules: list[dict[str, Any]],
              created: str) -> dict:
    """What ``templates/audit_position.html.j2`` shows (generated at the pack's creation time)."""
    return {
        "publisher": publisher,
        "scan": model["scan"],
        "as_of": model["position"]["as_of"] if model["position"] else None,
        "generated": created,
        "tool_version": model["tool_version"],
        "products": [dict(p, title=product_label(p["publisher"], p["product"], p["edition"])) for p in products],
        "entitlements": entitlements,
        "catalogue": catalogue,
        "rules": rules,
        "problems": model["position"]["problems"] if model["position"] else [],
    }
