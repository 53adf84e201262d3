"""The HTML report in a real browser: no console errors, filtering, sorting, drill-down, no injected code runs.

The report comes from the real pipeline on recorded Windows and macOS module
outputs plus generated Linux hosts (tests/unit/report_fleet.py), scanned twice;
software names and publishers carry HTML/JS payloads that would set
``window.__pwned`` if they ever ran. Screenshots are saved in the test's tmp
dir (and in ``$FLEETSAM_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import report_fleet
from report_browser import browser, open_report, require_chromium, visible_product_ids


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    require_chromium()
    _, out = report_fleet.scanned_twice(tmp_path_factory.mktemp("fleet"))
    return out


@pytest.fixture(scope="module")
def model(reports):
    return json.loads((reports / "report.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    with browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(reports, chromium):
    page, log = open_report(chromium, reports / "index.html")
    yield page, log
    page.close()


def keep_screenshot(path: Path) -> None:
    target = os.environ.get("FLEETSAM_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_opens_offline_without_errors_and_saves_a_screenshot(page, tmp_path):
    page, log = page
    assert log.problems() == []
    assert all(url.startswith(("file:", "data:")) for url in log.requests), log.requests
    assert page.locator("#summary a.tile").count() == 9
    assert page.locator("#charts svg rect.seg").count() >= 8
    assert page.locator("#charts svg polyline").count() == 3
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    keep_screenshot(shot)


def test_filter_hides_rows(page, model):
    page, log = page
    products = len(model["position"]["licensable"])
    assert len(visible_product_ids(page)) == products > 10
    page.fill("#pos-filter", "oracle")
    assert len(visible_product_ids(page)) == 1
    assert page.locator("#pos-count").inner_text() == f"1 of {products} products"
    page.fill("#pos-filter", "")
    page.select_option("#pos-status", "non-compliant")
    assert len(visible_product_ids(page)) == model["summary"]["products_non_compliant"] == products - 1
    page.select_option("#pos-status", "")
    page.select_option("#pos-publisher", "Microsoft")
    microsoft = next(p["products"] for p in model["position"]["publishers"] if p["publisher"] == "Microsoft")
    assert len(visible_product_ids(page)) == microsoft > 1
    assert log.problems() == []


def consumption(page) -> list[int]:
    return page.eval_on_selector_all("#position-table tr.prod", "rows => rows.map(r => +r.cells[6].dataset.v)")


def test_sort_by_column_changes_order(page):
    page, _ = page
    before = visible_product_ids(page)
    header = page.locator("#position-table thead th", has_text="Consumption")
    header.click()
    ascending = visible_product_ids(page)
    assert ascending != before and consumption(page) == sorted(consumption(page))
    header.click()
    assert consumption(page) == sorted(consumption(page), reverse=True)
    assert visible_product_ids(page)[0] == "p1", "Oracle consumes 20 processor licences: the most"
    assert header.get_attribute("aria-sort") == "descending"
    page.locator("#position-table thead th", has_text="Status").click()
    assert visible_product_ids(page) == before, "status order is the report's urgency order"
    packages = page.locator("#hosts-table thead th", has_text="Packages")
    packages.click()
    packages.click()
    assert page.locator("#hosts-table tbody tr").first.locator("td").first.inner_text() == "mac1"


def test_drill_down_from_product_and_numbers(page, tmp_path):
    page, log = page
    page.click('#position-table button.drill[data-id="p1"]')
    detail = page.locator("#position-table tr.detail")
    assert detail.is_visible()
    text = detail.inner_text()
    db1 = detail.locator("tbody tr", has_text="db1").first.inner_text()  # the row names the host once
    assert "2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16" in db1 and "db1:" not in db1
    assert "db2" in text and "stale: scan s1" in text and "19.3-1" in text
    assert "XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ" in text and "ABCDE" not in text
    assert "PO PO-2021-1190" in text and "shortfall 4 × 47500.00 USD" in text
    page.screenshot(path=str(tmp_path / "drill-down.png"))
    keep_screenshot(tmp_path / "drill-down.png")
    page.click('#position-table button.drill[data-id="p1"]')
    assert page.locator("#position-table tr.detail").count() == 0
    page.locator('#position-table tr.prod[data-id="p1"] button.num-drill[data-part="entitlements"]').click()
    assert page.locator("#position-table tr.detail h4.part-entitlements").is_visible()
    page.locator("#position-table tr.detail button.host-link", has_text="db2").click()
    assert page.locator("#hosts-table tbody tr").count() == 1
    assert "unreachable" in page.locator("#hosts-table tbody tr").inner_text()
    assert log.problems() == []


def test_tiles_and_host_view(page, model):
    page, _ = page
    page.click("#tile-stale")
    rows = page.locator("#hosts-table tbody tr")
    assert rows.count() == 1 and rows.first.locator("td").first.inner_text() == "db2"
    page.select_option("#hosts-status", "")
    page.fill("#hosts-filter", "web")
    assert page.locator("#hosts-table tbody tr").count() == 2
    page.locator("#hosts-table button.drill", has_text="web1").click()
    detail = page.locator("#hosts-table tr.detail")
    assert "Licensable products on this host" in detail.inner_text()
    assert "Users of this host" in detail.inner_text()
    assert "ops-web1 · human · last login 2026-06-28" in detail.inner_text()  # local time of the reader (UTC here)
    page.click("#tile-compliance")
    assert len(visible_product_ids(page)) == model["summary"]["products_non_compliant"]
    page.locator("#charts g.bar-row", has=page.locator("text=Oracle")).click()
    assert visible_product_ids(page) == ["p1"]


def test_payloads_render_as_text_and_never_run(page):
    page, log = page
    body = page.inner_text("body")
    assert report_fleet.EVIL_PRODUCT in body and report_fleet.EVIL_PUBLISHER in body
    evil = page.evaluate("""() => [...document.querySelectorAll('#position-table tr.prod')]
        .find(r => r.textContent.includes('onerror')).dataset.id""")
    page.click(f'#position-table button.drill[data-id="{evil}"]')
    page.fill("#hosts-filter", "web1")
    page.locator("#hosts-table button.drill", has_text="web1").click()
    assert f"{report_fleet.PAYLOADS[0]} · human · last login none recorded" in page.inner_text("#hosts-table tr.detail")
    page.fill("#unrecognised-filter", "pwned")
    page.locator("#software details summary", has_text="distribution packages").click()
    page.fill("#distribution-filter", "pwned")
    titles = page.locator("#unrecognised-table tbody").inner_text() + page.locator("#distribution-table tbody").inner_text()
    for payload in report_fleet.PAYLOADS:
        assert payload in titles
    page.fill("#changes-filter", "")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert log.dialogs == []
    assert page.locator("img").count() == 0 and page.locator("svg[onload], [onerror]").count() == 0
    assert page.locator("script").count() == 2
    assert log.problems() == []


def page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("width", [400, 800, 1400])
def test_the_page_never_scrolls_sideways(page, tmp_path, width):
    """At phone, narrow-window and desktop width, with and without drill-downs open; tables become cards under
    700 px, and a wide table scrolls in its own box."""
    page, log = page
    page.set_viewport_size({"width": width, "height": 900})
    scroll, inner = page_width(page)
    assert scroll <= inner == width, f"the page is {scroll} px wide in a {width} px window"
    cells = page.locator('#position-table tr.prod[data-id="p1"] td')
    names = page.locator("#position-table thead")
    if width < 700:  # each row a card: its cells stacked (one per line), the header row hidden
        boxes = [cells.nth(i).bounding_box() for i in range(3)]
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"] and not names.is_visible()
        assert cells.nth(1).evaluate("td => getComputedStyle(td, '::before').content") == '"Product"'
    else:
        boxes = [cells.nth(i).bounding_box() for i in range(3)]
        assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] and names.is_visible()
    shot = tmp_path / f"report-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    page.click('#position-table button.drill[data-id="p1"]')
    page.fill("#hosts-filter", "web1")
    page.locator("#hosts-table button.drill", has_text="web1").click()
    scroll, _ = page_width(page)
    assert scroll <= width, f"with drill-downs open the page is {scroll} px wide in a {width} px window"
    label = page.evaluate("getComputedStyle(document.querySelector('#charts svg text')).fontSize")
    box = page.locator("#charts svg").first.bounding_box()
    assert label == "12px" and box["width"] >= 600, "chart labels keep their size (the chart scrolls in its box)"
    shot = tmp_path / f"report-{width}-drill-down.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert log.problems() == []


def test_headline_and_labels_for_people(page, model):
    page, _ = page
    tiles = {t["id"]: t for t in model["tiles"]}
    assert page.locator("#tile-violations .num").inner_text() == tiles["violations"]["value"] == "16"
    assert "1 more for information" in page.locator("#tile-violations").inner_text()
    assert page.locator("#tile-unused .num").inner_text() == "891USD"
    assert "fully licensed" in page.locator("#tile-compliance").inner_text()
    assert page.locator("#findings tr.violation").count() == 16 and page.locator("#findings tr.information").count() == 1
    ent = page.locator("#findings span.ent").first
    assert ent.inner_text() == "Oracle Database Enterprise Edition · PO PO-2021-1190 · 16 processor"
    assert ent.get_attribute("title").startswith("ent-")
    when = page.locator("#findings time").first
    assert when.get_attribute("title") == when.get_attribute("datetime") == "2026-06-29T01:00:00Z"
    assert when.inner_text().endswith(" ago)") and "T" not in when.inner_text()
    page.click('#position-table tr.prod[data-id="p1"] button.num-drill[data-part="entitlements"]')
    first = page.locator("#position-table tr.detail table.ents tbody td").first
    assert first.inner_text().startswith("Oracle Database") and "ent-" in first.get_attribute("title")
    assert "ent-" not in page.locator("#position-table tr.detail table.ents tbody").inner_text()


BIDI_HOST = "h4bidi\u202eexe.txt"  # a right-to-left override: would show "h4biditxt.exe" and reverse the figures after it
# per element naming the host: whether a character is drawn left of the one before it on the same line
DRAWN_REVERSED = """() => [...document.querySelectorAll('li, td, button')]
    .filter(e => e.textContent.includes('h4bidi') && !e.querySelector('li, td, button')).map(e => {
      const at = [], walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        for (let i = 0; i < n.length; i++) {
          const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
          const box = r.getBoundingClientRect();
          if (box.width > 0) { at.push([Math.round(box.top), box.left]); }
        }
      }
      return [e.textContent, at.some((p, i) => i > 0 && p[0] === at[i - 1][0] && p[1] < at[i - 1][1])];
    })"""


def drawn_on_oracle_pages(chromium, tmp_path, host, search, script, *args):
    """A host named ``host`` running Oracle, reported and packed: what ``script`` (given ``args``) measures on the
    audit pack's position page, then in the report's drill-down to the host (found by ``search``), and the
    report page's problems."""
    from sam_engine import pipeline
    from sam_engine.auditpack import pack as auditpack

    conf = report_fleet.settings(tmp_path)
    spool = report_fleet.write_spool(tmp_path, "s1", "2026-06-29T01:00:00Z", {
        host: report_fleet.linux(host, [*report_fleet.BASE, report_fleet.ORACLE], sockets=1, cores=2)})
    store = str(tmp_path / "store.json")
    pipeline.process_spool(spool, store=store, report_dir=tmp_path / "reports", settings=conf, as_of=report_fleet.AS_OF)
    pack, _, _ = auditpack.create(store, "oracle", tmp_path / "oracle.zip", settings=conf, as_of=report_fleet.AS_OF)
    with zipfile.ZipFile(pack) as zf:
        (tmp_path / "position.html").write_bytes(zf.read("position.html"))
    page = chromium.new_page()
    page.goto((tmp_path / "position.html").as_uri(), wait_until="load")
    in_pack = dict(page.evaluate(script, *args))
    page.close()
    page, log = open_report(chromium, tmp_path / "reports" / "index.html")
    page.click("#position-table button.drill")  # Oracle's drill-down: its host rows
    page.fill("#hosts-filter", search)
    page.locator("#hosts-table button.drill").click()
    in_report = dict(page.evaluate(script, *args))
    problems = log.problems()
    page.close()
    return in_pack, in_report, problems


def test_a_bidi_override_in_a_host_name_reorders_nothing(chromium, tmp_path):
    """A host named with U+202E running Oracle: in the report and the audit pack's position page every text
    naming it is drawn in the order it is written (the override shown as U+FFFD), arithmetic included."""
    in_pack, in_report, problems = drawn_on_oracle_pages(chromium, tmp_path, BIDI_HOST, "h4bidi", DRAWN_REVERSED)
    assert "h4bidi\ufffdexe.txt: 1 socket × 2 cores = 2 cores × 0.5 (Intel x86) = 1" in in_pack
    drawn = {**in_pack, **in_report}
    assert {text for text, reversed_ in drawn.items() if reversed_} == set()
    assert "h4bidi\ufffdexe.txt" in drawn and not any("\u202e" in text for text in drawn)
    assert problems == []


RTL_HOST = "שרת1"  # a host named in Hebrew: drawn right to left itself, the figures after it left to right
# per element naming the host: its text, and whether the characters after the name are drawn after it and in order
DRAWN_AFTER = """(name) => [...document.querySelectorAll('li, td, button')]
    .filter(e => e.textContent.includes(name) && !e.querySelector('li, td, button')).map(e => {
      const boxes = [], walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        for (let i = 0; i < n.length; i++) {
          const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
          const box = r.getBoundingClientRect();
          boxes.push(box.width > 0 ? [n.data[i], Math.round(box.top), box.left, box.right] : null);
        }
      }
      const text = boxes.map((b, i) => b ? b[0] : '').join(''), at = text.indexOf(name);
      const own = boxes.filter(b => b).slice(at, at + name.length), after = boxes.filter(b => b).slice(at + name.length)
        .filter(b => b[1] === own[0][1] && b[0] !== ' ');
      const ownRight = Math.max(...own.map(b => b[3]));
      return [text, after.every((b, i) => b[2] >= ownRight - 0.5 && (i === 0 || b[2] > after[i - 1][2]))];
    })"""


def test_a_host_named_right_to_left_keeps_the_figures_after_it_in_order(chromium, tmp_path):
    """A host named in Hebrew running Oracle: its name reads right to left, and in the report and the audit
    pack's position page the arithmetic after it is drawn after it, left to right (U+2068/U+2069 isolate it)."""
    in_pack, in_report, problems = drawn_on_oracle_pages(chromium, tmp_path, RTL_HOST, RTL_HOST, DRAWN_AFTER, RTL_HOST)
    assert in_pack[f"{RTL_HOST}: 1 socket × 2 cores = 2 cores × 0.5 (Intel x86) = 1"] is True
    assert len(in_report) >= 3 and {text for text, in_order in in_report.items() if not in_order} == set()
    assert problems == []


PHONE_LICENCES = """\
entitlements:
  - {publisher: Oracle, product: Oracle Database, edition: Enterprise Edition, metric: processor, quantity: 2,
     term_start: 2021-09-30}
  - {publisher: Oracle, product: Java SE, metric: employee, quantity: 500, term_start: 2024-01-01}
  - {publisher: Sublime HQ, product: Sublime Text, metric: device, quantity: 100000, term_start: 2024-01-01,
     unit_cost: 99.00, currency: USD}
"""
LONG_VERSION = "19.3-1." + "0123456789abcdef" * 20  # one token, 327 characters


@pytest.fixture(scope="module")
def phone_fleet(tmp_path_factory):
    """Java SE per employee with no headcount (needs data), 9,899,901 USD of unused Sublime Text, and an
    Oracle Database whose version is one long token: the report and the Oracle audit pack's page."""
    from sam_engine import pipeline
    from sam_engine.auditpack import pack as auditpack
    from sam_engine.licensing.context import LicenceSettings

    require_chromium()
    root = tmp_path_factory.mktemp("phone")
    (root / "licences").mkdir()
    (root / "licences" / "fleet.yml").write_text(PHONE_LICENCES)
    conf = LicenceSettings(licences_dir=root / "licences")
    java = report_fleet.package("jdk1.8", "2000:1.8.0_211-fcs", "Oracle Corporation", "rpm")
    spool = report_fleet.write_spool(root, "s1", "2026-06-29T01:00:00Z", {
        "db1": report_fleet.linux("db1", [*report_fleet.BASE, dict(report_fleet.ORACLE, version=LONG_VERSION), java]),
        "ws1": report_fleet.linux("ws1", [*report_fleet.BASE, report_fleet.package("sublime-text", "4169", "Sublime HQ")])})
    store = str(root / "store.json")
    pipeline.process_spool(spool, store=store, report_dir=root / "reports", settings=conf, as_of=report_fleet.AS_OF)
    pack, _, _ = auditpack.create(store, "oracle", root / "oracle.zip", settings=conf, as_of=report_fleet.AS_OF)
    with zipfile.ZipFile(pack) as zf:
        (root / "position.html").write_bytes(zf.read("position.html"))
    return root


def test_needs_data_has_its_own_colour_in_the_publisher_chart(chromium, phone_fleet):
    page, log = open_report(chromium, phone_fleet / "reports" / "index.html")
    seg = page.locator("#charts rect.seg.needs-data")
    assert seg.count() == 1, "the needs-data segment carries the class its CSS rule names"
    fill = seg.evaluate("e => getComputedStyle(e).fill")
    swatch = page.locator("#charts .legend li.needs-data").evaluate(
        "e => getComputedStyle(e, '::before').backgroundColor")
    others = page.eval_on_selector_all("#charts rect.seg:not(.needs-data)", "rs => rs.map(r => getComputedStyle(r).fill)")
    assert fill == swatch != "rgb(0, 0, 0)" and fill not in others
    assert log.problems() == []
    page.close()


def test_tile_units_stay_whole_on_a_phone(chromium, phone_fleet):
    page, _ = open_report(chromium, phone_fleet / "reports" / "index.html")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("#tile-unused .num").inner_text().replace("\n", "") == "9,899,901USD"
    units = page.eval_on_selector_all("#summary a.tile .num small", "us => us.map(u => [u.textContent, "
                                      "u.getClientRects().length, getComputedStyle(u).whiteSpace])")
    assert len(units) >= 2 and all(lines == 1 and space == "nowrap" for _, lines, space in units), units
    page.close()


def test_the_audit_pack_page_never_scrolls_sideways_on_a_phone(chromium, phone_fleet):
    """390 x 844: the tables scroll in their own boxes, the long version and the catalogue digest wrap."""
    page = chromium.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto((phone_fleet / "position.html").as_uri(), wait_until="load")
    scroll, inner = page_width(page)
    assert scroll <= inner == 390, f"the audit pack page is {scroll} px wide in a 390 px window"
    version = page.locator("td", has_text=LONG_VERSION[:40]).first.bounding_box()
    assert version["width"] < 390, "the long version wraps in its cell"
    boxes = page.eval_on_selector_all("table.grid", "ts => ts.map(t => getComputedStyle(t.parentElement).overflowX)")
    assert boxes and set(boxes) == {"auto"}, "every table scrolls in a box of its own"
    page.close()
