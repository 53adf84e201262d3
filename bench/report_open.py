"""Benchmark: the HTML report of a 10,000-host fleet opens in Chromium in under 3 s, and is under 10 MB.

Builds the synthetic fleet model of ``tests/unit/synthetic_fleet.py`` (two
scans of N hosts, reconciled with the real catalogue; no scanning), renders
``index.html`` with ``sam_engine.report.render``, then opens it in headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright; a fresh profile, no
network) and times from navigation to the page being usable: the load event
has fired and the page's script has drawn the host view (its counter is
filled). The median of ``--runs`` openings is reported. Prints::

    report_open_10000_hosts ratio=X target=1 met seconds=...    (seconds / 3 s)
    report_html_size_10000_hosts ratio=X target=1 met mb=...      (bytes / 10 MB)

``python bench/report_open.py [--hosts N] [--runs R]``; QUICK=1 uses 500 hosts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests" / "unit")]

from common import emit, emit_rounds, note, quick  # noqa: E402

OPEN_LIMIT_S = 3.0
SIZE_LIMIT = 10 * 1024 * 1024
CHROMIUM = os.environ.get("FLEETSAM_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
READY = "document.getElementById('hosts-count') && document.getElementById('hosts-count').textContent !== ''"


def open_times(page_file: Path, runs: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="fleetsam-chromium-") as profile:
        browser = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=FLAGS,
                                                        headless=True, viewport={"width": 1400, "height": 1000})
        try:
            for _ in range(runs):
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, seen=errors: seen.append(str(exc)))
                t0 = time.perf_counter()
                page.goto(page_file.as_uri(), wait_until="load", timeout=60_000)
                page.wait_for_function(READY, timeout=60_000)
                times.append(time.perf_counter() - t0)
                if errors:
                    raise RuntimeError(f"script errors while opening the report: {errors}")
                page.close()
        finally:
            browser.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=500 if quick() else 10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from synthetic_fleet import synthetic_model

    from sam_engine.report import render

    t0 = time.perf_counter()
    model = synthetic_model(args.hosts)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = render.render_html(model)
    rendered = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="fleetsam-report-") as tmp:
        page_file = Path(tmp) / "index.html"
        page_file.write_text(html, encoding="utf-8")
        size = page_file.stat().st_size
        times = open_times(page_file, args.runs)
    note(f"{args.hosts} hosts: model built in {built:.1f} s, HTML rendered in {rendered:.2f} s; "
         f"openings {', '.join(f'{t:.2f}' for t in times)} s")
    seconds = statistics.median(times)
    emit_rounds(f"report_open_{args.hosts}_hosts", times, [OPEN_LIMIT_S] * len(times), 1.0, seconds=seconds)
    emit(f"report_html_size_{args.hosts}_hosts", size, SIZE_LIMIT, 1.0, mb=round(size / 1e6, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
