"""The data island of the HTML page: what ``report.js`` draws the large parts from.

The page draws its paginated parts (host view, unrecognised titles with the
distributions' own packages apart, free titles, per-host changes) and every
product drill-down from one inline JSON document,
``<script type="application/json" id="report-data">``, instead of tens of
thousands of table rows. ``html_view`` builds it: it only selects and shortens
what the model already holds (long traces and name lists are cut, pointing at
``report.json`` and ``installations.csv``, which keep everything); it computes
no figure.

Compact, so a 10,000-host page stays under 10 MB: rows are arrays read by
position (``COLUMNS``), and the cells named in ``INTERNED`` hold an index into
one table of distinct strings, ``strings``, rather than the text: a host name,
an OS, a CPU model, a version list or a scan id is written once however many
rows repeat it, and a title's sample of hosts is a few numbers. ``report.js``
turns the indexes back into text when it reads the island (``INTERNED``
travels in it), so it never sees the encoding. In a product's host rows the
arithmetic drops the ``host: `` each line starts with (the row names the host),
which makes most lines repeat.

``island_json`` serialises the island so that no string in it can close the
script element or start markup (``<``, ``>``, ``&`` and the two JS line
separators are written as ``\\uXXXX`` escapes), and no bidirectional control
can reorder the page's text (U+FFFD, as ``render`` writes them in the markup).
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from sam_engine.report.formats import rtl_isolated, shown_text
from sam_engine.vocabulary import NON_COMPLIANT

TRACE_CHARS = 400  # a longer trace line (a 10,000-term total) is cut in the page
CHANGE_SAMPLE = 8  # installations named per host and kind in the changes table
TITLE_HOSTS = 5  # hosts named per free or unrecognised title (report.json names 20, installations.csv all)
FINDING_HOSTS = 20  # hosts named per finding in the page's findings table (report.json names them all)

COLUMNS = {
    "hosts": ("host", "status", "stale", "os", "platform", "sockets", "cores", "threads", "packages",
              "inventory_scan_id", "host_id", "cpu", "memory_mb", "licensable", "error", "users"),
    "product_hosts": ("host", "versions", "installations", "quantity", "trace", "stale", "scan_id"),
    "product_servers": ("server", "cluster", "rule", "quantity", "guests", "trace"),
    "entitlements": ("label", "entitlement_id", "origin", "metric", "quantity", "counted", "term", "purchase", "unit_cost",
                     "keys"),
    "titles": ("id", "publisher", "product", "installations", "hosts", "host_sample", "versions"),
    "changes": ("host", "change", "status_before", "status_after", "added", "removed", "changed", "added_sample",
                "removed_sample", "changed_sample"),
}
# Per table, the interned cells: "one" an index, "list" a list of indexes, a list of positions: a list
# of rows whose cells at those positions are indexes (a host's licensable products: id and versions).
INTERNED: dict[str, dict[str, Any]] = {
    "hosts": {"host": "one", "status": "one", "os": "one", "platform": "one", "inventory_scan_id": "one",
              "cpu": "one", "error": "one", "licensable": [0, 1]},
    "product_hosts": {"host": "one", "versions": "one", "trace": "one", "scan_id": "one"},
    "titles": {"publisher": "one", "product": "one", "host_sample": "list", "versions": "one"},
    "changes": {"host": "one", "change": "one", "status_before": "one", "status_after": "one"},
}

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class Strings:
    """The island's table of distinct strings; ``pack`` puts a table's interned cells into it."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def of(self, text: str) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.index)
        return found

    def pack(self, kind: str, rows: list[list[Any]]) -> list[list[Any]]:
        """``rows`` of table ``kind`` with the cells ``INTERNED`` names as indexes (in place)."""
        names = COLUMNS[kind]
        spec = [(names.index(name), how) for name, how in INTERNED[kind].items()]
        of = self.of
        for row in rows:
            for at, how in spec:
                cell = row[at]
                if how == "one":
                    row[at] = of(cell)
                elif how == "list":
                    row[at] = [of(c) for c in cell]
                else:
                    for inner in cell:
                        for p in how:
                            inner[p] = of(inner[p])
        return rows

    def table(self) -> list[str]:
        return list(self.index)  # insertion order: position = index


def shorten(text: str, limit: int = TRACE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]} … ({len(text):,} characters: the full line is in report.json)"


def _join(items: list[str], limit: int | None = None) -> str:
    shown = items if limit is None else items[:limit]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" … and {more:,} more" if more > 0 else "")


def _term(r: dict[str, Any]) -> str:
    start, end = r["term_start"] or "", r["term_end"] or "perpetual"
    text = f"{start} → {end}" if start else end
    return text + (f"; maintenance to {r['maintenance_end']}" if r["maintenance_end"] else "")


def _purchase(r: dict[str, Any]) -> str:
    parts = [r["vendor"], r["po_number"] and f"PO {r['po_number']}", r["invoice"] and f"invoice {r['invoice']}",
             r["purchase_date"] and f"bought {r['purchase_date']}"]
    return "; ".join(p for p in parts if p)


def _arithmetic(host: str, lines: list[str]) -> str:
    """A host's trace lines without the ``host: `` they start with (the row names the host)."""
    prefix = f"{host}: "
    return shorten("; ".join(t[len(prefix):] if t.startswith(prefix) else t for t in lines))


def _product(row: dict[str, Any], strings: Strings) -> dict[str, Any]:
    per_host = {s["trace"] for s in row["servers"]}  # shown in the servers table
    for h in row["host_rows"]:
        per_host.update(h["trace"])
    summary_lines = [shorten(t) for t in row["trace"]["consumption"] if t not in per_host]
    hosts = [[h["host"], ", ".join(h["versions"]), h["installations"], h["quantity"], _arithmetic(h["host"], h["trace"]),
              h["stale"], h["scan_id"]] for h in row["host_rows"]]
    return {
        "label": row["label"],
        "status": row["status"],
        "metric": row["metric"],
        "rule": row["rule"],
        "consumption": row["consumption"],
        "owned": row["owned"],
        "trace": summary_lines,
        "ownership": [shorten(t) for t in row["trace"]["ownership"]],
        "cost": row["trace"]["cost"],
        "notes": [shorten(t) for t in row["notes"]],
        "hosts": strings.pack("product_hosts", hosts),
        "servers": [[s["server"], s["cluster"] or "standalone", s["rule"], s["quantity"], ", ".join(s["guests"]),
                     shorten(s["trace"])] for s in row["servers"]],
        "topology_unknown": _join(row["topology_unknown"], TITLE_HOSTS * 4),
        "entitlements": [[e["label"], e["entitlement_id"], e["origin"], e["metric"], e["quantity"], e["counted"], _term(e),
                          _purchase(e), f"{e['unit_cost']} {e['currency'] or ''}".strip() if e["unit_cost"] else "",
                          ", ".join(e["keys"])] for e in row["entitlement_records"]],
    }


def _host(h: dict[str, Any]) -> list[Any]:
    platform = h["virtualization"] or "-"
    if h["hypervisor"]:
        platform += f" ({h['hypervisor']})"
    return [h["inventory_name"], h["status"], h["stale"], h["os"] or "-", platform, h["sockets"], h["cores"],
            h["threads"], h["package_count"], h["inventory_scan_id"] or "never scanned", h["host_id"] or "",
            h["cpu_model"] or "", h["memory_mb"],
            [[p["id"], ", ".join(p["versions"]), p["quantity"]] for p in h["licensable"]], h["error"] or "",
            None if h["users"] is None else [[u["account"], u["kind"], u["last_login"], u["source"]] for u in h["users"]]]


def _title(r: dict[str, Any]) -> list[Any]:
    """A title's row; its host sample is names (``report.js`` adds how many more hosts it is on)."""
    return [r["id"], r["publisher"] or "-", " ".join(x for x in (r["product"], r["edition"]) if x),
            r["installations"], r["hosts"], r["host_sample"][:TITLE_HOSTS], ", ".join(r["versions"])]


def _named(items: list[dict[str, Any]]) -> list[str]:
    return [f"{i['name']} {i['version'] or ''}".strip() + f" [{i['source']}]" for i in items]


def _change(c: dict[str, Any]) -> list[Any]:
    changed = [f"{i['name']} {i['before'] or '?'} → {i['after'] or '?'} [{i['source']}]" for i in c["changed"]]
    return [c["host"], c["change"], c["status_before"] or "-", c["status_after"] or "-", len(c["added"]),
            len(c["removed"]), len(c["changed"]), _join(_named(c["added"]), CHANGE_SAMPLE),
            _join(_named(c["removed"]), CHANGE_SAMPLE), _join(changed, CHANGE_SAMPLE)]


def html_view(model: dict[str, Any]) -> dict[str, Any]:
    """The data island of the HTML page (see the module docstring)."""
    pos = model["position"] or {"licensable": [], "free": [], "unrecognised": []}
    changes = model["changes"]
    strings = Strings()
    view = {
        "columns": {k: list(v) for k, v in COLUMNS.items()},
        "interned": INTERNED,
        "non_compliant": list(NON_COMPLIANT),
        "hosts": strings.pack("hosts", [_host(h) for h in model["hosts"]]),  # first: host names take the low indexes
        "products": {r["id"]: _product(r, strings) for r in pos["licensable"]},
        "unrecognised": strings.pack("titles", [_title(r) for r in pos["unrecognised"] if r["provenance"] != "distribution"]),
        "distribution": strings.pack("titles", [_title(r) for r in pos["unrecognised"] if r["provenance"] == "distribution"]),
        "free": strings.pack("titles", [_title(r) for r in pos["free"]]),
        "changes": strings.pack("changes", [_change(c) for c in changes["hosts"]] if changes else []),
    }
    view["strings"] = strings.table()
    return view


def finding_hosts(model: dict[str, Any]) -> list[str]:
    """Per finding row of the model, the hosts its table cell names: a few, then how many more."""
    return [_join(f["hosts"], FINDING_HOSTS) for f in model.get("findings", ())]


def island_json(data: Any) -> Markup:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _ESCAPES.items():  # one replace per character: far faster than str.translate on MBs
        if char in text:
            text = text.replace(char, escape)
    if not text.isprintable():  # bidi controls are in strings only: U+FFFD there, as in the rest of the page
        text = shown_text(text)
    return Markup(rtl_isolated(text, json_text=True))  # every < > & is escaped above
