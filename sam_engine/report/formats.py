"""Machine formats of the report model: CSV, JUnit XML and a Markdown summary.

Each takes the report model (``report.build``) and formats it; none computes a
figure. ``render.write_reports`` writes them beside ``index.html``.
``junit_document`` is the one JUnit writer: ``fleetsam check --format junit``
uses it too.

**CSV** (``position.csv``; ``installations.csv`` is streamed by ``report.installations``), safe to open in Excel: a
spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some, a tab or carriage return) as a formula, so a package named
``=HYPERLINK(...)`` would become a link in the auditor's sheet. Every text cell
starting so is written with a leading apostrophe (``'=HYPERLINK(...)``), which
spreadsheets show as text. A cell holding a line break is quoted (every writer
keeps ``\r`` and ``\n`` in its line terminator, so the csv module quotes it) and
each of its lines gets the same guard, so neither a spreadsheet nor a tool that
reads the file line by line meets a live formula. Numbers are written as numbers
(a balance of -4 stays a number). Text a cell cannot show as written (NUL, other control
characters (DEL and the C1 controls too), lone surrogates, and the bidirectional controls that would make a name read as
another) is replaced by U+FFFD (``shown_text``). Files are UTF-8 with a byte order mark, so Excel reads
non-ASCII names correctly; the first row holds the column names.

**JUnit XML** (``junit.xml``): one test case per licensable product, for CI. A
product short of licences (``vocabulary.NON_COMPLIANT``) is a failing test
case whose ``<failure>`` carries the figures (message) and the arithmetic
(text); any other product passes. The layout follows the common JUnit
schema (the Windy Road / Jenkins ``junit-10.xsd`` facts: ``testsuites`` >
``testsuite`` with name, timestamp without zone, hostname, tests, failures,
errors, time, id and package, then ``properties``, ``testcase``s,
``system-out``, ``system-err``); ``schemas/junit.xsd`` is the schema the tests
validate it against. Text XML 1.0 cannot carry (control characters a package
name may hold) and bidirectional controls, which would reorder the text of the CI
page showing it, are replaced by U+FFFD (``shown_text``).

**Markdown** (``summary.md``), for a CI job summary or a merge-request comment:
the headline numbers, the findings (when computed), the products short of
licences, what moved since the previous scan. Every value from the inventory
is escaped (``md``), so a package named ``<img src=x onerror=...>`` or ``a | b``
stays text in GitHub or GitLab and cannot break a table; a scan id goes in a
code span it cannot leave, whatever backticks it holds (``md_code``). ``fleetsam
check --format markdown`` and ``diff --format markdown`` use the same two.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import IO, Any, Iterable, Iterator

from sam_engine.plain_text import BIDI_CONTROLS, one_line
from sam_engine.vocabulary import NON_COMPLIANT

# --- CSV ---------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
ENCODING = "utf-8-sig"

POSITION_COLUMNS = ("scan_id", "publisher", "product", "edition", "status", "metric", "installations", "hosts",
                    "consumption", "owned", "balance", "shortfall", "gap_cost", "currency", "stale_hosts",
                    "entitlements", "rule")


# what XML 1.0 cannot carry (NUL, other C0 controls, lone surrogates)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# and, in what people read, DEL and the C1 controls (XML carries them; \x9b alone opens a terminal's CSI sequence,
# \x85 is a line break to some readers) and what would reorder the text after it
_NOT_SHOWN = re.compile(f"{_NOT_XML.pattern}|[\x7f-\x9f{BIDI_CONTROLS}]")
_LINE_FORMULA = re.compile("([\r\n])(?=[=+\\-@\t\r])")  # a line break followed by a formula start


def _guarded(text: str) -> str:
    if text[:1] in _FORMULA_FIRST:
        text = "'" + text
    if "\n" in text or "\r" in text:
        text = _LINE_FORMULA.sub("\\1'", text)
    return text


def safe_cell(value: Any) -> Any:
    """A cell value a spreadsheet cannot run: text starting like a formula, at the cell start or after a
    line break, gets a leading ``'``; None is empty, a bool yes/no, a list its items joined."""
    if type(value) is str:  # the common case first: scans in C, then a set look-up
        if not value.isprintable():  # a line break or tab, a NUL, a control or bidi character, a lone surrogate
            value = shown_text(value)
        return _guarded(value) if "\n" in value or "\r" in value or value[:1] in _FORMULA_FIRST else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return _guarded(shown_text("; ".join(str(v) for v in value)))
    if isinstance(value, str):
        return _guarded(shown_text(value))
    return value


def csv_writer(handle: IO[str]):
    """The one CSV dialect of every fleetsam CSV output: comma, minimal quoting, CRLF line ends
    (with ``\r`` and ``\n`` in the terminator, a cell holding either is quoted)."""
    return csv.writer(handle, lineterminator="\r\n")


def write_rows(handle: IO[str], columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write a header and ``rows`` (dicts keyed by column) to ``handle``; return the row count."""
    columns = tuple(columns)
    writer = csv_writer(handle)
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


def write_position(handle: IO[str], model: dict[str, Any], publisher: str | None = None) -> int:
    return write_rows(handle, POSITION_COLUMNS, position_rows(model, publisher))



# --- JUnit XML ---------------------------------------------------------------------------

SUITE_NAME = "fleetsam licence position"


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can carry: NUL, other control characters and lone surrogates become U+FFFD."""
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def shown_text(value: Any) -> str:
    """``xml_text`` for text people read (CSV cells, the HTML pages, JUnit XML in a CI page): DEL, the C1 controls
    and the bidirectional controls become U+FFFD too, so a host named ``h4\\u202eexe.txt`` cannot reverse the figures written after it.
    The data formats (JSON, CycloneDX) keep them: they carry the inventory as it is, for programs."""
    return _NOT_SHOWN.sub("\ufffd", "" if value is None else str(value))


# right-to-left letters (Hebrew, Arabic and the scripts beside them); a word (word characters and marks) holding
# one is isolated, with the right-to-left words right after it (spaces between): never a Latin word or a figure,
# which an isolate reading right to left would reorder. In JSON text (the report island) a backslash escape is a
# token of its own, never part of a word, so the island's strings come out as a page's values do.
_RTL = "\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc\U00010800-\U00010fff\U0001e800-\U0001efff"
_RTL_ANY = re.compile(f"[{_RTL}]")
_WORD = "[\\w.\\-\u0300-\u036f\u0591-\u05c7\u0610-\u061a\u064b-\u065f]+"
_RUNS = {False: re.compile(f"{_WORD}(?: +{_WORD})*"),
         True: re.compile(f"\\\\(?:u[0-9a-fA-F]{{4}}|.)|{_WORD}(?: +{_WORD})*", re.DOTALL)}
_SPACES = re.compile("( +)")


def _isolated(match: re.Match) -> str:
    run = match.group()
    if run[0] == "\\" or not _RTL_ANY.search(run):
        return run
    parts, out, open_ = _SPACES.split(run), [], False  # words at even places, the spaces between at odd ones
    for n, part in enumerate(parts):
        rtl = n % 2 == 0 and _RTL_ANY.search(part) is not None
        if n % 2 == 0 and rtl != open_:
            if open_:  # close before the spaces that preceded this Latin word
                out.insert(len(out) - 1, "\u2069")
            else:
                out.append("\u2068")
            open_ = rtl
        out.append(part)
    return "".join(out) + ("\u2069" if open_ else "")


def rtl_isolated(text: str, json_text: bool = False) -> str:
    """``text`` (``shown_text`` already: no bidi control of its own) with each run of right-to-left words
    between U+2068 FIRST STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE, for a page: a host named in Hebrew
    reads right to left, and the words and figures written after it stay where they are.
    ``json_text``: ``text`` is JSON, whose backslash escapes (``\\n``, ``\\u001b``) stay whole."""
    return _RUNS[json_text].sub(_isolated, text) if _RTL_ANY.search(text) else text


@dataclass(frozen=True, slots=True)
class JUnitCase:
    """One test case; it fails when it carries a ``failure`` (type, message, text)."""

    classname: str
    name: str
    failure: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class JUnitSuite:
    """One test suite: its cases, its properties (``None`` values left out) and its ``system-out`` text."""

    name: str
    cases: tuple[JUnitCase, ...]
    properties: tuple[tuple[str, Any], ...] = ()
    out: str = ""


def _timestamp(text: str | None) -> str:
    """ISO 8601 date and time in UTC without a zone designator (as the JUnit schema wants)."""
    try:
        when = dt.datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except ValueError:
        when = dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def junit_document(name: str, finished: str | None, suites: Iterable[JUnitSuite]) -> str:
    """The one JUnit writer (``junit.xml`` and ``fleetsam check --format junit``): a document valid
    against ``schemas/junit.xsd``, its suites stamped with ``finished`` (when the scan finished)."""
    root = ET.Element("testsuites", {"name": shown_text(name)})
    tests = failures = 0
    for number, s in enumerate(suites):
        suite = ET.SubElement(root, "testsuite", {
            "name": shown_text(s.name), "package": "fleetsam", "id": str(number), "hostname": "fleetsam",
            "timestamp": _timestamp(finished), "time": "0"})
        props = ET.SubElement(suite, "properties")
        for key, value in s.properties:
            if value is not None:
                ET.SubElement(props, "property", {"name": key, "value": shown_text(value)})
        for c in s.cases:
            case = ET.SubElement(suite, "testcase", {"classname": shown_text(c.classname), "name": shown_text(c.name),
                                                     "time": "0"})
            if c.failure:
                kind, message, text = c.failure
                ET.SubElement(case, "failure", {"type": shown_text(kind), "message": shown_text(message)}).text = \
                    shown_text(text)
        ET.SubElement(suite, "system-out").text = shown_text(s.out)
        ET.SubElement(suite, "system-err")
        failed = sum(c.failure is not None for c in s.cases)
        suite.attrib.update(tests=str(len(s.cases)), failures=str(failed), errors="0")
        tests, failures = tests + len(s.cases), failures + failed
    root.attrib.update(tests=str(tests), failures=str(failures), errors="0", time="0")
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _message(r: dict[str, Any]) -> str:
    cost = f"; gap cost {r['gap_cost']} {r['currency'] or ''}".rstrip() if r["gap_cost"] else ""
    return (f"{r['status']}: consumption {r['consumption']} {r['metric'] or ''}, owned {r['owned']}, "
            f"shortfall {r['shortfall']}{cost}").replace("  ", " ")


def _case(r: dict[str, Any]) -> JUnitCase:
    failure = None
    if r["status"] in NON_COMPLIANT:
        lines = [*r["trace"]["consumption"], *r["trace"]["ownership"], *r["trace"]["cost"], *r["notes"]]
        failure = (r["status"], _message(r), "\n".join(lines))
    return JUnitCase(f"fleetsam.licence.{r['publisher'] or 'unknown'}", r["label"], failure)


def to_junit(model: dict[str, Any]) -> str:
    """The JUnit XML document of the model's licence position: one test case per licensable product."""
    pos = model["position"]
    suite = JUnitSuite(
        name=SUITE_NAME,
        cases=tuple(_case(r) for r in (pos["licensable"] if pos else [])),
        properties=(("scan_id", model["scan"]["scan_id"]), ("previous_scan_id", model["scan"]["previous_scan_id"]),
                    ("as_of", pos["as_of"] if pos else None), ("tool_version", model["tool_version"]),
                    ("schema_version", model["schema_version"])),
        out="\n".join(pos["problems"]) if pos else "")
    return junit_document(SUITE_NAME, model["scan"]["finished"], [suite])


# --- Markdown ----------------------------------------------------------------------------

ROW_LIMIT = 25  # rows per table; the rest is in the HTML report and report.json
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what is markup inside a line or a table cell


def md(value: Any) -> str:
    """Inline Markdown text that renders literally (no markup, no HTML, no table breaks); ``-`` for none."""
    if value is None or value == "":
        return "-"
    text = one_line(" ".join(str(value).split()))  # an escape sequence or bidi override shown, not obeyed
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def md_code(value: Any, table: bool = False) -> str:
    """``value`` as an inline code span it cannot leave (``-`` for none).

    The fence is one backtick longer than the longest run of backticks in the
    value, with a space inside each end when the value starts or ends with a
    backtick (the renderer strips one such space each side). Markup inside a
    code span is shown as it is, so nothing else needs escaping, except ``|``
    in a ``table`` cell: a table row is split on it before code spans are read.
    """
    text = one_line(" ".join(str("" if value is None else value).split()))
    if not text:
        return "-"
    if table:
        text = text.replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


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
    unused = " + ".join(m["display"] for m in s.get("unused_spend") or ()) or "0"
    verdict = ("**Nothing measured: no host of the fleet has an inventory**"  # no host, or none inventoried
               if s["hosts_never_inventoried"] == s["hosts"] else "**{} product(s) short of licences**".format(
                   s["products_non_compliant"]) if s["products_non_compliant"] else "**No product is short of licences**")
    policy = f" · policy {md_code(model['policy'])}" if model.get("policy") else ""
    return [
        f"# fleetsam: licence position of scan {md_code(model['scan']['scan_id'])}",
        "",
        f"{verdict} · finished {md(model['scan']['finished'])} · fleetsam {md(model['tool_version'])}{policy}",
        "",
        *(line for w in model.get("warnings") or () for line in (f"> **Warning:** {md(w)}", "")),
        "| Hosts | Scanned | Stale | Unreachable | Licensable products | Compliance | Money at risk | Unused spend |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        (f"| {s['hosts']} | {s['hosts_ok']} | {s['hosts_stale']} | {s['hosts_unreachable']} | {s['products']} "
         f"| {rate} | {md(money)} | {md(unused)} |"),
        "",
    ]


def _findings(model: dict[str, Any]) -> list[str]:
    found = model.get("findings") or []
    if not found:
        return []
    rows = [[f.get("severity"), f.get("type"), f.get("title"), f.get("state"), ", ".join(f.get("hosts") or [])]
            for f in found[:ROW_LIMIT]]
    s = model["summary"]
    counts = (f": {s['findings_violations']} violation(s), {s['findings_information']} for information"
              if "findings_violations" in s else "")
    return [f"## Findings{counts}", "", *_table(["Severity", "Type", "Finding", "State", "Hosts"], rows, len(found))]


def _short(model: dict[str, Any]) -> list[str]:
    pos = model["position"]
    if not pos:
        return ["_No licence position: the licence data could not be read._", ""]
    bad = [r for r in pos["licensable"] if r["status"] in NON_COMPLIANT]
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
             (f"Since {md_code(changes['from_scan'])}: {c['installs_added']} installation(s) added, "
              f"{c['installs_removed']} removed, {c['installs_changed']} version change(s) on "
              f"{c['hosts_changed']} host(s); {c['hosts_added']} host(s) added, {c['hosts_removed']} removed; "
              f"{c['products_moved']} product(s) moved ({c['products_worse']} worse, "
              f"{c['products_better']} better)."),
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
             ("Full report: `index.html` (position, drill-down, hosts, trend); data: `report.json`, "
              "`position.csv`, `installations.csv`, `junit.xml`."), ""]
    return "\n".join(lines)
