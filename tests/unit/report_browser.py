"""Headless Chromium for the report tests: Debian's /usr/bin/chromium driven by Playwright.

No browser is downloaded: Playwright's bundled driver starts the system
Chromium (``executable_path``) with a fresh profile under the test's tmp dir
and the flags below (no network services, no first-run, no GPU). ``open_report``
records every console message, page error, dialog and request, so a test can
assert that the page logged no error, fetched nothing and ran no injected code.
``read_island`` reads a page's data island as report.js does: interned cells back as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = os.environ.get("FLEETSAM_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    """Skip (fail under CI) when Chromium or Playwright is missing: tests/integration/install-deps.sh installs it."""
    problem = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"{CHROMIUM} not found: run tests/integration/install-deps.sh (Debian package chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed: pip install -e '.[test]'"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@dataclass
class PageLog:
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [f"console {kind}: {text}" for kind, text in self.console if kind in ("error", "warning")] + [
            f"page error: {e}" for e in self.errors]


@contextmanager
def browser(profile_dir: Path) -> Iterator:
    """A persistent Chromium context with a fresh ``--user-data-dir`` (``profile_dir``)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    profile_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000}, offline=True)
        try:
            yield context
        finally:
            context.close()


def open_report(context, html: Path):
    """Open ``html`` in a new page; return the page and its ``PageLog``."""
    page, log = context.new_page(), PageLog()
    page.on("console", lambda m: log.console.append((m.type, m.text)))
    page.on("pageerror", lambda exc: log.errors.append(str(exc)))
    page.on("request", lambda r: log.requests.append(r.url))

    def on_dialog(dialog):
        log.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(html.resolve().as_uri(), wait_until="load")
    page.wait_for_function("document.getElementById('hosts-count').textContent !== ''")
    return page, log


def visible_product_ids(page) -> list[str]:
    return page.eval_on_selector_all("#position-table tr.prod", "rows => rows.filter(r => !r.hidden)"
                                     ".map(r => r.dataset.id)")


def read_island(html: str) -> dict:
    """The data island of ``html`` with every interned cell (``island.INTERNED``) turned back into its text."""
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    data = json.loads(found.group(1))
    text = data["strings"]

    def unpack(kind: str, rows: list) -> None:
        for name, how in data["interned"][kind].items():
            at = data["columns"][kind].index(name)
            for row in rows:
                if how == "one":
                    row[at] = text[row[at]]
                elif how == "list":
                    row[at] = [text[k] for k in row[at]]
                else:
                    for inner in row[at]:
                        for p in how:
                            inner[p] = text[inner[p]]

    unpack("hosts", data["hosts"])
    for product in data["products"].values():
        unpack("product_hosts", product["hosts"])
    for kind in ("unrecognised", "distribution", "free"):
        unpack("titles", data[kind])
    unpack("changes", data["changes"])
    return data
