"""Reports of a real scanned fleet: every format beside index.html, validated; the page in Chromium; diff; audit pack.

The fleet is scanned twice with ``playbooks/scan.yml`` (the second time with
the ``rpm`` host stopped, so it is stale and the changes show it). A user
catalogue entry makes the rpm host's ``fleetsam-testpkg-gamma`` a commercial
product, "Gamma Suite" by "Gamma Software", with one licence in a licence file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from test_scan_fleet import BIN, Scanner

from sam_engine.package_data import data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from report_browser import browser, open_report, visible_product_ids  # noqa: E402

CATALOGUE = """\
- id: gamma-suite
  publisher: Gamma Software
  product: Gamma Suite
  licence: required
  match:
    - {source: rpm, title: 'fleetsam-testpkg-gamma'}
"""
LICENCES = """\
entitlements:
  - publisher: Gamma Software
    product: Gamma Suite
    metric: device
    quantity: 1
    po_number: PO-GAMMA-1
    unit_cost: 120.00
    currency: EUR
    keys: [GAMMA-12345-67890-ABCDE]
"""
FILES = ("index.html", "report.json", "position.csv", "installations.csv", "junit.xml", "summary.md")


class ReportScanner(Scanner):
    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(FLEETSAM_CATALOGUE_EXTRA=str(self.workdir / "gamma.yml"),
                   FLEETSAM_LICENCES=str(self.workdir / "licences"))
        return env


@pytest.fixture(scope="module")
def scanned_twice(fleet, tmp_path_factory):
    scanner = ReportScanner(fleet, tmp_path_factory.mktemp("reports"))
    (scanner.workdir / "gamma.yml").write_text(CATALOGUE)
    (scanner.workdir / "licences").mkdir()
    (scanner.workdir / "licences" / "gamma.yml").write_text(LICENCES)
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    first = scanner.scan()
    assert first.returncode == 0, first.stdout + first.stderr
    fleet["rpm"].stop()
    try:
        second = scanner.scan()
    finally:
        fleet["rpm"].start()
    assert "unreachable=1" in second.stdout, second.stdout + second.stderr
    return scanner


def test_every_format_beside_the_html_and_valid(scanned_twice):
    reports = scanned_twice.reports
    assert all((reports / name).stat().st_size > 0 for name in FILES)
    model = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    schema = json.loads((data_dir("schemas") / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(model, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    xmlschema.XMLSchema(str(data_dir("schemas") / "junit.xsd")).validate(str(reports / "junit.xml"))
    gamma = next(p for p in model["position"]["licensable"] if p["product"] == "Gamma Suite")
    assert gamma["status"] == "compliant" and gamma["stale_hosts"] == ["rpm"]
    assert [h["host"] for h in gamma["host_rows"]] == ["rpm"]
    assert gamma["entitlement_records"][0]["keys"] == ["XXXXX-XXXXX-XXXXX-ABCDE"]
    changes = {h["host"]: h for h in model["changes"]["hosts"]}
    assert changes["rpm"]["change"] == "status" and changes["rpm"]["status_after"] == "unreachable"
    assert len(model["history"]) == 2 and model["charts"]["trend"]["scans"] == 2
    lines = (reports / "installations.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 + model["summary"]["installations"]
    summary = (reports / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith(f"# fleetsam: licence position of scan `{model['scan']['scan_id']}`")


def test_the_report_works_in_chromium(scanned_twice, tmp_path):
    with browser(tmp_path / "profile") as context:
        page, log = open_report(context, scanned_twice.reports / "index.html")
        assert log.problems() == [] and all(u.startswith(("file:", "data:")) for u in log.requests)
        page.fill("#hosts-filter", "rpm")
        rows = page.locator("#hosts-table tbody tr")
        assert rows.count() == 1 and "stale" in rows.inner_text()
        page.fill("#pos-filter", "gamma")
        (pid,) = visible_product_ids(page)
        page.click(f'#position-table button.drill[data-id="{pid}"]')
        detail = page.locator("#position-table tr.detail").inner_text()
        assert "rpm" in detail and "10.4-1.fleet9" in detail and "XXXXX-XXXXX-XXXXX-ABCDE" in detail
        page.screenshot(path=str(tmp_path / "fleet-report.png"), full_page=True)
        assert page.evaluate("typeof window.__pwned") == "undefined" and log.dialogs == []
        assert log.problems() == []


def test_diff_and_audit_pack_from_the_command_line(scanned_twice, tmp_path):
    scanner = scanned_twice
    d = json.loads(scanner.fleetsam("diff", "--format", "json"))
    assert d["to_scan"] == scanner.report()["scan"]["scan_id"]
    assert next(h for h in d["hosts"] if h["host"] == "rpm")["change"] == "status"
    pack = tmp_path / "gamma.zip"
    out = scanner.fleetsam("audit-pack", "--publisher", "gamma software", "--out", str(pack))
    assert "audit pack of Gamma Software" in out
    assert "OK" in scanner.fleetsam("audit-pack", "--verify", str(pack))
    data = bytearray(pack.read_bytes())
    data[len(data) // 3] ^= 0x01
    pack.write_bytes(bytes(data))
    check = subprocess.run([str(BIN / "fleetsam"), "audit-pack", "--verify", str(pack)], capture_output=True,
                           text=True, env=scanner.env(), check=False)
    assert check.returncode == 1 and "FAILED" in check.stdout
