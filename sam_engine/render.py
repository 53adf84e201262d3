"""Render: write the report model to files. Formatting only, no computation.

``templates/`` holds the Jinja2 templates; autoescaping is always on, so
software names and publishers carrying markup render as text.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(os.environ.get("FLEETSAM_TEMPLATES", Path(__file__).resolve().parent.parent / "templates"))


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename; readable as the umask allows (reports are shared)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_reports(model: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``index.html`` and ``report.json``; return their paths, HTML first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "index.html"
    data = out_dir / "report.json"
    _write_atomic(html, environment().get_template("report.html.j2").render(report=model))
    _write_atomic(data, json.dumps(model, indent=1, ensure_ascii=False) + "\n")
    return [html, data]
