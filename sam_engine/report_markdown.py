"""Markdown summary from the report model, for a CI job summary or a merge-request comment.

Short by design: the headline numbers, the findings (when computed), the
products that are short of licences, what moved since the previous scan, and
where the full report is. Every value from the inventory is escaped, so a
package named ``<img src=x onerror=...>`` or ``a | b`` stays text in GitHub or
GitLab and cannot break a table.
"""

from __future__ import annotations

import re
from typing import Any

ROW_LIMIT = 25  # rows per table; the rest is in the HTML report and report.json
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what is markup inside a line or a table cell


def md(value: Any) -> str:
    """Inline Markdown text that renders literally (no markup, no HTML, no table breaks)."""
    if value is None or value == "":
        return "-"
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def _table(head: list[str], rows: list[list[Any]], total: int) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    if total > len(rows):
        lines.append(f"\n_{total - len(rows)} more in the HTML report and `report.json`._")
    return lines + [""]


def _headline(model: dict[str, Any]) -> list[str]:
    s = model["summary"]
    rate = "-" if s["compliance_rate"] is None else f"{s['compliance_rate'] * 100:.1f}%"
    money = " + ".join(m["display"] for m in s["money_at_risk"]) or "0"
    verdict = ("**{} product(s) short of licences**".format(s["products_non_compliant"])
               if s["products_non_compliant"] else "**No product is short of licences**")
    return [
        f"# fleetsam: licence position of scan `{model['scan']['scan_id']}`",
        "",
        f"{verdict} · finished {md(model['scan']['finished'])} · fleetsam {md(model['tool_version'])}",
        "",
        "| Hosts | Scanned | Stale | Unreachable | Licensable products | Compliance | Money at risk |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['hosts']} | {s['hosts_ok']} | {s['hosts_stale']} | {s['hosts_unreachable']} | {s['products']} "
        f"| {rate} | {md(money)} |",
        "",
    ]


def _findings(model: dict[str, Any]) -> list[str]:
    found = model.get("findings") or []
    if not found:
        return []
    rows = [[f.get("severity"), f.get("type"), f.get("title"), f.get("state"), ", ".join(f.get("hosts") or [])]
            for f in found[:ROW_LIMIT]]
    return ["## Findings", "", *_table(["Severity", "Type", "Finding", "State", "Hosts"], rows, len(found))]


def _short(model: dict[str, Any]) -> list[str]:
    pos = model["position"]
    if not pos:
        return ["_No licence position: the licence data could not be read._", ""]
    bad = [r for r in pos["licensable"] if r["status"] in ("under-licensed", "unlicensed")]
    lines = []
    if pos["problems"]:
        lines += [f"> {len(pos['problems'])} licence data problem(s): the records they name are not counted.", ""]
    if not bad:
        return lines
    rows = [[r["publisher"], " ".join(x for x in (r["product"], r["edition"]) if x), r["status"], r["metric"],
             r["consumption"], r["owned"], r["shortfall"],
             f"{r['gap_cost']} {r['currency'] or ''}".strip() if r["gap_cost"] else ""]
            for r in bad[:ROW_LIMIT]]
    head = ["Publisher", "Product", "Status", "Metric", "Consumption", "Owned", "Shortfall", "Gap cost"]
    return lines + ["## Short of licences", "", *_table(head, rows, len(bad))]


def _changes(model: dict[str, Any]) -> list[str]:
    changes = model["changes"]
    if not changes:
        return ["_First scan: no previous scan to compare with._", ""]
    c = changes["summary"]
    lines = ["## Changes since the previous scan", "",
             f"Since `{changes['from_scan']}`: {c['installs_added']} installation(s) added, "
             f"{c['installs_removed']} removed, {c['installs_changed']} version change(s) on "
             f"{c['hosts_changed']} host(s); {c['hosts_added']} host(s) added, {c['hosts_removed']} removed; "
             f"{c['products_moved']} product(s) moved ({c['products_worse']} worse, {c['products_better']} better).",
             ""]
    if changes["position"]:
        rows = []
        for m in changes["position"][:ROW_LIMIT]:
            b, a = m["before"] or {}, m["after"] or {}
            rows.append([" ".join(x for x in (m["publisher"], m["product"], m["edition"]) if x), m["direction"],
                         f"{b.get('status', 'absent')} → {a.get('status', 'absent')}",
                         f"{b.get('consumption', '-')} → {a.get('consumption', '-')}",
                         f"{b.get('owned', '-')} → {a.get('owned', '-')}"])
        lines += _table(["Product", "Move", "Status", "Consumption", "Owned"], rows, len(changes["position"]))
    return lines


def to_markdown(model: dict[str, Any]) -> str:
    """The Markdown summary of the model."""
    lines = [*_headline(model), *_findings(model), *_short(model), *_changes(model),
             "Full report: `index.html` (position, drill-down, hosts, trend); data: `report.json`, "
             "`position.csv`, `installations.csv`, `junit.xml`.", ""]
    return "\n".join(lines)
