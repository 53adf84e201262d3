"""Render: write the report model to files. Formatting only, no computation.

``write_reports(model, out_dir, scan, position)`` writes, from the one model:

- ``index.html``: the self-contained HTML report (``templates/report.html.j2``;
  inline CSS and script, the data island below; no external resource, so it
  works offline and as an e-mail attachment);
- ``report.json``: the model verbatim (``schemas/report.schema.json``);
- ``position.csv`` (Excel-safe), ``junit.xml`` and ``summary.md`` (``report.formats``);
- ``installations.csv``, streamed from the scan and position the model was
  built from (``report.installations``): the model has no per-installation record.

Autoescaping is always on, so software names and publishers carrying markup
render as text; the page's Content-Security-Policy allows only its own inline
script (by SHA-256) and no external load, so even markup that slipped through
could not run.

The HTML page draws its large, paginated parts (host view, unrecognised titles
with the distributions' own packages apart, free titles, per-host changes) and every product drill-down from one inline
JSON document, ``<script type="application/json" id="report-data">``, instead
of tens of thousands of table rows. ``html_view`` builds it: it only selects
and shortens what the model already holds (rows become arrays, read by
position by ``templates/report.js``, see ``COLUMNS``; long traces and name
lists are cut, pointing at ``report.json`` and ``installations.csv``, which
keep everything); it computes no figure. ``island_json`` serialises it so that
no string in it can close the script element or start markup (``<``, ``>``,
``&`` and the two JS line separators are written as ``\\uXXXX`` escapes).
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

import jinja2
from markupsafe import Markup

from sam_engine.report import formats as report_formats
from sam_engine.report import installations as report_installations
from sam_engine.model import Scan
from sam_engine.licensing.position import LicencePosition
from sam_engine.report.formats import to_junit, to_markdown
from sam_engine.package_data import data_dir
from sam_engine.vocabulary import LICENSABLE, NON_COMPLIANT

TEMPLATE_DIR = data_dir("templates")
REPORT_FILES = ("index.html", "report.json", "position.csv", "installations.csv", "junit.xml", "summary.md")


# --- the data island of the HTML page -------------------------------------------------------

TRACE_CHARS = 400  # a longer trace line (a 10,000-term total) is cut in the page
CHANGE_SAMPLE = 8  # installations named per host and kind in the changes table
TITLE_HOSTS = 5  # hosts named per free or unrecognised title (report.json names 20, installations.csv all)

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

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


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


def _product(row: dict[str, Any]) -> dict[str, Any]:
    per_host = {s["trace"] for s in row["servers"]}  # shown in the servers table
    for h in row["host_rows"]:
        per_host.update(h["trace"])
    summary_lines = [shorten(t) for t in row["trace"]["consumption"] if t not in per_host]
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
        "hosts": [[h["host"], ", ".join(h["versions"]), h["installations"], h["quantity"],
                   shorten("; ".join(h["trace"])), h["stale"], h["scan_id"]] for h in row["host_rows"]],
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
    shown = r["host_sample"][:TITLE_HOSTS]
    more = r["hosts"] - len(shown)
    sample = ", ".join(shown) + (f" … and {more:,} more" if more > 0 else "")
    return [r["id"], r["publisher"] or "-", " ".join(x for x in (r["product"], r["edition"]) if x),
            r["installations"], r["hosts"], sample, ", ".join(r["versions"])]


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
    return {
        "columns": {k: list(v) for k, v in COLUMNS.items()},
        "non_compliant": list(NON_COMPLIANT),
        "products": {r["id"]: _product(r) for r in pos["licensable"]},
        "hosts": [_host(h) for h in model["hosts"]],
        "unrecognised": [_title(r) for r in pos["unrecognised"] if r["provenance"] != "distribution"],
        "distribution": [_title(r) for r in pos["unrecognised"] if r["provenance"] == "distribution"],
        "free": [_title(r) for r in pos["free"]],
        "changes": [_change(c) for c in changes["hosts"]] if changes else [],
    }


def island_json(data: Any) -> Markup:
    """``data`` as JSON that is safe inside ``<script type="application/json">``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _ESCAPES.items():  # one replace per character: far faster than str.translate on MBs
        if char in text:
            text = text.replace(char, escape)
    return Markup(text)  # every < > & is escaped above

# --- files ---------------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    """The report templates' environment; the status list they test is a global, named as in ``vocabulary``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["LICENSABLE"] = LICENSABLE
    return env


def _unencodable(error: UnicodeError) -> tuple[bytes, int]:
    # bytes, not str: the UTF-8 encoder takes only ASCII text from an error handler
    return "\ufffd".encode("utf-8") * (error.end - error.start), error.end


# A text UTF-8 cannot hold (a lone surrogate from a mangled package name) is written as U+FFFD
# rather than failing the whole report, as junit.xml already does. Report files are UTF-8.
codecs.register_error("fleetsam-replace", _unencodable)


@contextmanager
def atomic_open(path: Path, encoding: str = "utf-8", newline: str | None = None) -> Iterator[IO[str]]:
    """A text file written under a temporary name and renamed into place when complete.

    Readable as the umask allows (reports are shared); an exception leaves the old file.
    Characters the encoding cannot hold are written as U+FFFD.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline, errors="fleetsam-replace") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _script_source() -> str:
    return (TEMPLATE_DIR / "report.js").read_text(encoding="utf-8")


def csp_hash(script: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def render_html(model: dict[str, Any], template: str = "report.html.j2", **extra: Any) -> str:
    """The HTML page of ``model`` (``extra`` goes to the template as it is)."""
    script = _script_source()
    return environment().get_template(template).render(
        report=model, island=island_json(html_view(model)), script=Markup(script),  # our own file, not data
        script_csp=csp_hash(script), **extra)


def write_reports(model: dict[str, Any], out_dir: Path, scan: Scan, position: LicencePosition | None,
                  timings: dict[str, float] | None = None, installations: bool = True,
                  on_file: Callable[[str], object] | None = None) -> list[Path]:
    """Write every report file (``REPORT_FILES``) into ``out_dir``; return their paths, HTML first.

    ``scan`` and ``position`` are those ``model`` was built from: ``installations.csv``
    is streamed from them (``report.installations``), the other files format ``model``.
    ``timings`` (when given) receives the seconds spent on each file, by name.
    ``installations=False`` leaves ``installations.csv`` out (a row per installation:
    gigabytes for a large fleet) and removes an older one, which would not match.
    ``on_file`` is called with each file's name before it is written (for progress).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {} if timings is None else timings

    def report_json(handle: IO[str]) -> None:  # dumps, not dump: one call into the C encoder
        handle.write(json.dumps(model, ensure_ascii=False, separators=(",", ":")))
        handle.write("\n")

    writers = {
        "index.html": lambda handle: handle.write(render_html(model)),
        "report.json": report_json,
        "position.csv": lambda handle: report_formats.write_position(handle, model),
        "installations.csv": lambda handle: report_installations.write_installations(handle, scan, position),
        "junit.xml": lambda handle: handle.write(to_junit(model)),
        "summary.md": lambda handle: handle.write(to_markdown(model)),
    }
    paths = []
    for name in REPORT_FILES:
        if name == "installations.csv" and not installations:
            (out_dir / name).unlink(missing_ok=True)
            continue
        if on_file is not None:
            on_file(name)
        t0 = time.perf_counter()
        csv_file = name.endswith(".csv")
        with atomic_open(out_dir / name, report_formats.ENCODING if csv_file else "utf-8",
                         newline="" if csv_file else None) as handle:
            writers[name](handle)
        timings[name] = time.perf_counter() - t0
        paths.append(out_dir / name)
    return paths
