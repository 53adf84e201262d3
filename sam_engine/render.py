"""Render: write the report model to files. Formatting only, no computation.

``write_reports(model, out_dir)`` writes, from the one model:

- ``index.html``: the self-contained HTML report (``templates/report.html.j2``;
  inline CSS and script, the data island of ``report_view``; no external
  resource, so it works offline and as an e-mail attachment);
- ``report.json``: the model verbatim (``schemas/report.schema.json``);
- ``position.csv`` and ``installations.csv`` (``report_csv``, Excel-safe);
- ``junit.xml`` (``report_junit``) and ``summary.md`` (``report_markdown``).

Autoescaping is always on, so software names and publishers carrying markup
render as text; the page's Content-Security-Policy allows only its own inline
script (by SHA-256) and no external load, so even markup that slipped through
could not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

import jinja2
from markupsafe import Markup

from . import report_csv
from .report_junit import to_junit
from .report_markdown import to_markdown
from .report_view import html_view, island_json

TEMPLATE_DIR = Path(os.environ.get("FLEETSAM_TEMPLATES", Path(__file__).resolve().parent.parent / "templates"))
REPORT_FILES = ("index.html", "report.json", "position.csv", "installations.csv", "junit.xml", "summary.md")


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@contextmanager
def atomic_open(path: Path, encoding: str = "utf-8", newline: str | None = None) -> Iterator[IO[str]]:
    """A text file written under a temporary name and renamed into place when complete.

    Readable as the umask allows (reports are shared); an exception leaves the old file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_atomic(path: Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


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


def write_reports(model: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write every report file (``REPORT_FILES``) into ``out_dir``; return their paths, HTML first."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    html, data, position, installations, junit, summary = paths
    _write_atomic(html, render_html(model))
    with atomic_open(data) as handle:
        json.dump(model, handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    with atomic_open(position, report_csv.ENCODING, newline="") as handle:
        report_csv.write_position(handle, model)
    with atomic_open(installations, report_csv.ENCODING, newline="") as handle:
        report_csv.write_installations(handle, model)
    _write_atomic(junit, to_junit(model))
    _write_atomic(summary, to_markdown(model))
    return paths
