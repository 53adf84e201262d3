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

The HTML page draws its large, paginated parts and every product drill-down from
one inline JSON document, the data island (``report.island``: compact, strings
written once).
"""

from __future__ import annotations

import base64
import codecs
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import IO, Any, Callable

import jinja2
from markupsafe import Markup

from sam_engine.atomic_file import atomic_open
from sam_engine.report.island import finding_hosts, html_view, island_json
from sam_engine.report import formats as report_formats
from sam_engine.report import installations as report_installations
from sam_engine.model import Scan
from sam_engine.licensing.position import LicencePosition
from sam_engine.report.formats import rtl_isolated, shown_text, to_junit, to_markdown
from sam_engine.package_data import data_dir
from sam_engine.vocabulary import LICENSABLE

TEMPLATE_DIR = data_dir("templates")
ENVIRONMENT_OPTIONS = "autoescape,strict,trim,lstrip,finalize=well-formed"  # change with ``environment``'s options
REPORT_FILES = ("index.html", "report.json", "position.csv", "installations.csv", "junit.xml", "summary.md")



class CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates in its private per-user folder (mode 0700 in the temporary
    folder, checked by Jinja; an entry is used only for the same template text, Jinja and Python):
    compiling the report's templates was a fifth of a small run's engine time. A cache that
    cannot be read or written is no cache: the template is compiled, the report written."""

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        # the environment's options are compiled into the code (``finalize`` above all) but are not in
        # Jinja's key: a template compiled under other options is another entry
        return super().get_cache_key(f"{name}|{ENVIRONMENT_OPTIONS}", filename)

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - a damaged entry: compiled again, and replaced
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled_templates() -> CompiledTemplates | None:
    try:
        return CompiledTemplates()
    except (OSError, RuntimeError):  # no temporary folder, or Jinja found its folder unsafe
        return None


def _well_formed(value: Any) -> Any:
    """Every value a template writes: text loses what HTML may not hold (NUL, other control characters,
    lone surrogates) and what would reorder the text after it (bidirectional controls): U+FFFD, as in
    junit.xml; a right-to-left run is isolated (``rtl_isolated``); markup the templates made is theirs, kept as it is."""
    if type(value) is str:
        return rtl_isolated(value if value.isprintable() else shown_text(value))
    return value


@functools.cache  # one per process: a template is compiled once, again only when edited
def environment() -> jinja2.Environment:
    """The report templates' environment; the status list they test is a global, named as in ``vocabulary``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_compiled_templates(),
        finalize=_well_formed,
    )
    env.globals["LICENSABLE"] = LICENSABLE
    return env


def compile_templates() -> None:
    """Compile the HTML report's templates ahead of a run (``sam_engine.standby``)."""
    env = environment()
    for name in env.list_templates(filter_func=lambda n: n.startswith("report") and n.endswith(".html.j2")):
        env.get_template(name)


def _unencodable(error: UnicodeError) -> tuple[bytes, int]:
    # bytes, not str: the UTF-8 encoder takes only ASCII text from an error handler
    return "\ufffd".encode("utf-8") * (error.end - error.start), error.end


# A text UTF-8 cannot hold (a lone surrogate from a mangled package name) is written as U+FFFD
# rather than failing the whole report, as junit.xml already does. Report files are UTF-8.
codecs.register_error("fleetsam-replace", _unencodable)


def _shared_mode() -> int:
    """Reports are shared: readable as the umask allows (mkstemp alone would make them 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
        script_csp=csp_hash(script), finding_hosts=finding_hosts(model), **extra)


def write_json(handle: IO[str], value: Any, depth: int = 3, chunk: int = 500) -> None:
    """``value`` as compact JSON, the same text as one ``json.dumps``, written in pieces: the objects and
    lists of its first ``depth`` levels member by member, list items ``chunk`` at a time (each piece
    through the C encoder), so a 10,000-host model is never one 40 MB string in memory."""
    if depth and isinstance(value, dict) and value:
        for n, (key, member) in enumerate(value.items()):
            handle.write(("{" if n == 0 else ",") + json.dumps(key, ensure_ascii=False) + ":")
            write_json(handle, member, depth - 1, chunk)
        handle.write("}")
    elif depth and isinstance(value, list) and len(value) > chunk:
        for start in range(0, len(value), chunk):
            handle.write(("[" if start == 0 else ",") + _dumps(value[start:start + chunk])[1:-1])
        handle.write("]")
    else:
        handle.write(_dumps(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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

    def report_json(handle: IO[str]) -> None:
        write_json(handle, model)
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
        # characters the encoding cannot hold are written as U+FFFD ("fleetsam-replace")
        with atomic_open(out_dir / name, encoding=report_formats.ENCODING if csv_file else "utf-8",
                         newline="" if csv_file else None, errors="fleetsam-replace", mode=_shared_mode()) as handle:
            writers[name](handle)
        timings[name] = time.perf_counter() - t0
        paths.append(out_dir / name)
    return paths
