"""The report's headline and labels: violations apart from information, unused spend, entitlement labels,
the first-scan trend, unrecognised titles split by provenance (real captured package lists), the compliance
rate of products needing data and of a fleet nothing was measured on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import report_fleet
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers
from fleet_spools import store_run

from sam_engine.licensing.position import build_position
from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, Installation, LicenceNeed, Recognition,
                              Scan, Virtualization)
from sam_engine.report import model as report
from sam_engine.report import render
from sam_engine.cli import main as cli
from sam_engine.report.formats import md, to_markdown
from sam_engine.report.island import html_view
from sam_engine.report.position import entitlement_label, provenance, unused_spend
from sam_engine.store.interface import ScanInfo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    _, out = report_fleet.scanned_twice(tmp_path_factory.mktemp("fleet"))
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_the_headline_separates_violations_from_information(model):
    s, findings = model["summary"], model["findings"]
    shelfware = [f for f in findings if f["type"] == "shelfware"]
    assert len(shelfware) == 1 and not shelfware[0]["violation"]
    assert s["findings_violations"] == sum(f["violation"] for f in findings) == len(findings) - 1 == 16
    assert s["findings_information"] == 1
    assert [f["violation"] for f in findings] == sorted((f["violation"] for f in findings), reverse=True)
    tiles = {t["id"]: t for t in model["tiles"]}
    assert tiles["violations"]["value"] == "16" and "1 more for information" in tiles["violations"]["detail"]
    # 18: the editionless "SQL Server" row beside SQL Server Standard takes that edition's status (#15)
    assert tiles["compliance"]["detail"].startswith("of 18 licensable products are fully licensed")


def test_unused_spend_prices_the_licences_beyond_use(model):
    (sublime,) = [p for p in model["position"]["licensable"] if p["product"] == "Sublime Text"]
    assert (sublime["status"], sublime["owned"], sublime["consumption"]) == ("over-licensed", 10, 1)
    assert (sublime["unused"], sublime["unused_cost"], sublime["unused_currency"]) == (9, "891.00", "USD")
    assert model["summary"]["unused_spend"] == [{"currency": "USD", "amount": "891.00", "display": "891 USD",
                                                 "number": "891"}]
    tile = next(t for t in model["tiles"] if t["id"] == "unused")
    assert (tile["value"], tile["unit"]) == ("891", "USD") and "1 over-licensed product" in tile["detail"]
    short = [p for p in model["position"]["licensable"] if p["status"] != "over-licensed"]
    assert short and all(p["unused"] == 0 and p["unused_cost"] is None for p in short)


def test_summary_md_carries_the_headline(model):
    """summary.md (a CI job summary) shows what the page's tiles show: violations apart, unused spend."""
    text = to_markdown(model)
    assert "| Money at risk | Unused spend |" in text and "| 891 USD |" in text
    assert "## Findings: 16 violation(s), 1 for information" in text


def _row(status, balance, *records):
    return {"status": status, "balance": balance, "entitlement_records": [
        {"counted": counted, "unit_cost": cost, "currency": currency} for counted, cost, currency in records]}


def test_unused_spend_takes_the_lowest_unit_cost_and_never_prices_without_one():
    assert unused_spend(_row("over-licensed", 4, (10, "120.00", "EUR"), (6, "100", "EUR"), (0, "1", "EUR"))) == {
        "unused": 4, "unused_cost": "400", "unused_currency": "EUR"}
    assert unused_spend(_row("over-licensed", 4, (10, None, None), (2, "n/a", "EUR"))) == {
        "unused": 4, "unused_cost": None, "unused_currency": None}
    assert unused_spend(_row("compliant", 1, (10, "5", "EUR")))["unused"] == 0
    assert unused_spend(_row("over-licensed", None, ("unlimited", "5", "EUR")))["unused_cost"] is None


def _scan() -> Scan:
    return Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:01:00Z", "0.1.0", None,
                (HostScan("s1", "ghost", HostStatus.UNREACHABLE, None, ()),))


def _finding(ftype, severity, hosts=(), entitlements=()):
    return {"id": f"f-{ftype}", "type": ftype, "severity": severity, "title": ftype, "detail": "d",
            "first_seen": "2026-06-30T01:00:00Z", "last_seen": "2026-06-30T01:00:00Z", "hosts": list(hosts),
            "entitlements": list(entitlements), "state": "open"}


def test_violations_follow_the_policy_and_high_severities():
    rows = [_finding("shelfware", "info"), _finding("expiring", "high"), _finding("expiring", "medium")]
    built = report.build(_scan(), [], None, findings=rows)
    assert [(f["type"], f["severity"], f["violation"]) for f in built["findings"]] == [
        ("expiring", "high", True), ("shelfware", "info", False), ("expiring", "medium", False)]
    strict = report.build(_scan(), [], None, findings=rows, fail_on=("shelfware",))
    assert strict["summary"]["findings_violations"] == 2 and strict["findings"][0]["type"] == "shelfware"


def test_findings_show_entitlement_labels_and_drop_an_empty_hosts_column():
    ent = Entitlement("ent-996cd671aa", "Oracle", "Oracle Database", "processor", 16, "licences/acme.yml:3",
                      edition="Enterprise Edition", po_number="PO-2021-1190")
    assert entitlement_label(ent) == "Oracle Database Enterprise Edition · PO PO-2021-1190 · 16 processor"
    built = report.build(_scan(), [], None, entitlements=[ent],
                         findings=[_finding("shelfware", "low", entitlements=[ent.entitlement_id])])
    assert built["findings"][0]["entitlement_labels"] == [{"id": "ent-996cd671aa", "label": entitlement_label(ent)}]
    html = render.render_html(built)
    findings = html[html.index('<section id="findings"'):html.index('<section id="charts"')]
    assert "<th>Hosts</th>" not in findings and 'title="ent-996cd671aa"' in findings
    assert '<time datetime="2026-06-30T01:00:00Z">' in findings
    with_host = report.build(_scan(), [], None, findings=[_finding("shelfware", "low"), _finding(
        "stale-host", "medium", hosts=["db2"])])
    html = render.render_html(with_host)
    assert "<th>Hosts</th>" in html and "not host-specific" in html


def test_a_single_scan_says_first_scan_instead_of_a_chart():
    info = ScanInfo("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:01:00Z", "0.1.0", None, 0, 1, 0, 0)
    built = report.build(_scan(), [info], None)
    assert built["charts"]["trend"]["first_scan"] is True
    html = render.render_html(built)
    assert "First scan: the trend starts with the next one." in html and "<polyline" not in html
    assert report.build(_scan(), [info, info], None)["charts"]["trend"]["first_scan"] is False


@pytest.mark.parametrize(("name", "parse", "source"), [
    ("trivy_ubuntu18.04_var-lib-dpkg-status", parsers.parse_dpkg_status, "dpkg"),
    ("jc_centos7.7_rpm-qai.txt", parsers.parse_rpm_qi, "rpm"),
    ("syft_alpine_lib-apk-db-installed", parsers.parse_apk_installed, "apk"),
    ("glpi-agent_mageia_rpm-qa_queryformat.tsv", parsers.parse_rpm_tsv, "rpm"),
])
def test_real_distribution_packages_are_told_apart(real_fixtures, name, parse, source):
    records = parse((real_fixtures / "linux" / name).read_text(encoding="utf-8"))
    assert records and {provenance([(source, r["vendor"])]) for r in records} == {"distribution"}


def test_third_party_titles_and_local_builds(real_fixtures):
    arch = parsers.parse_pacman_qi((real_fixtures / "linux" / "jc_arch_pacman-Qii_zstd.txt").read_text(encoding="utf-8"))
    found = {r["name"]: provenance([("pacman", r["vendor"])]) for r in arch}
    assert found == {"zstd": "distribution", "apparmor": "distribution", "apulse": "third-party"}  # makepkg build
    assert provenance([("dpkg", "Google LLC <linux-packages-keymaster@google.com>")]) == "third-party"
    assert provenance([("rpm", "Zoom Video Communications, Inc.")]) == "third-party"
    assert provenance([("rpm", "Red Hat, Inc.")]) == "distribution"
    assert provenance([("windows", "Mozilla")]) == "third-party"
    assert provenance([("dpkg", "Ubuntu Developers <u@lists.ubuntu.com>"), ("homebrew", None)]) == "third-party"
    assert provenance([]) == "third-party"


def test_unrecognised_titles_list_third_party_first(model):
    titles = model["position"]["unrecognised"]
    kinds = [t["provenance"] for t in titles]
    assert "distribution" in kinds and kinds == sorted(kinds, key=lambda k: k != "third-party")
    assert model["summary"]["unrecognised_third_party"] == kinds.count("third-party")
    assert model["summary"]["unrecognised_distribution"] == kinds.count("distribution")
    island = html_view(model)
    assert len(island["unrecognised"]) == kinds.count("third-party")
    assert len(island["distribution"]) == kinds.count("distribution")


def _recognise(inst):
    if inst.name == "Oracle Java SE":
        return Recognition("Oracle", "Java SE", None, "17", LicenceNeed.REQUIRED, "test:java")
    return Recognition("Acme", inst.name, None, "1", LicenceNeed.REQUIRED, f"test:{inst.name}")


def _desktop(name, *titles, status=HostStatus.OK):
    hw = Hardware(1, 4, 8, "GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz", Virtualization.PHYSICAL)
    installs = tuple(Installation("msi", t, None, "x86_64", None, None, f"{name}:{t}") for t in titles)
    return HostScan("s1", name, status, Host(f"machine-id:{name}", name, "machine-id", hardware=hw), installs,
                    collected_at="2026-06-30T01:00:00Z")


def test_products_needing_data_are_not_counted_fully_licensed():
    """Java SE per employee without the headcount needs data: owned, but not known to cover the use."""
    hosts = (_desktop("pc1", "Oracle Java SE", "Acme Paint"),)
    ents = [Entitlement("J1", "Oracle", "Java SE", "employee", 450, "licences/t.yml:1"),
            Entitlement("V1", "Acme", "Visio", "device", 5, "licences/t.yml:9")]
    position = build_position(hosts, _recognise, ents, dt.date(2026, 6, 30))
    scan = Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:01:00Z", "0.1.0", None, hosts)
    built = report.build(scan, [], position, entitlements=ents)
    s = built["summary"]
    assert sorted(r["status"] for r in built["position"]["licensable"]) == ["needs data", "over-licensed",
                                                                            "unlicensed"]
    assert s["compliance_rate"] == 0.3333  # Visio alone: fully licensed
    assert (s["products"], s["products_non_compliant"], s["products_needs_data"]) == (3, 1, 1)
    tile = next(t for t in built["tiles"] if t["id"] == "compliance")
    assert (tile["value"], tile["tone"]) == ("33.3", "bad")
    assert tile["detail"] == ("of 3 licensable products are fully licensed; 1 short of licences, "
                              "1 needing data (not counted as fully licensed)")
    without = report.build(scan, [], build_position(hosts, _recognise, ents[1:], dt.date(2026, 6, 30)),
                           entitlements=ents[1:])
    assert next(t for t in without["tiles"] if t["id"] == "compliance")["detail"] == (
        "of 3 licensable products are fully licensed; 2 short of licences")


@pytest.mark.parametrize("hosts", [{}, {"web1": None, "web2": None}], ids=["no-host", "never-inventoried"])
def test_a_fleet_nothing_was_measured_on_is_not_reported_compliant(tmp_path, monkeypatch, capsys, hosts):
    """The report warns as fleetsam check does; the compliance tile is '-' and warns, whatever is owned."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEETSAM_LICENCES", str(REPO / "examples" / "licences"))
    monkeypatch.setenv("FLEETSAM_POLICY", str(REPO / "examples" / "policy.yml"))
    store = str(tmp_path / "db.json")
    store_run(tmp_path, store, "s1", hosts)
    day = ("--as-of", "2026-06-30")
    assert cli.main(["--store", store, "report", *day, "--report-dir", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    checked = cli.main(["--store", store, "check", *day])
    out, err = capsys.readouterr()
    (said,) = [line.split(": ", 2)[2] for line in (out + err).splitlines() if line.startswith(
        ("fleetsam check: warning: ", "fleetsam check: error: "))]
    built = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert (checked, built["warnings"]) == (2, [said])  # nothing measured: a fault, never a pass
    s, tiles = built["summary"], {t["id"]: t for t in built["tiles"]}
    assert s["products"] > 0 and s["products_non_compliant"] == 0 and s["compliance_rate"] is None
    compliance = tiles["compliance"]
    assert (compliance["value"], compliance["unit"], compliance["tone"]) == ("-", "", "warn")
    assert compliance["detail"] == "no host inventoried: nothing was measured"
    summary_md = (tmp_path / "r" / "summary.md").read_text(encoding="utf-8")
    assert "**Nothing measured: no host of the fleet has an inventory**" in summary_md
    assert "No product is short of licences" not in summary_md
    assert tiles["hosts"]["tone"] == "warn"
    assert (s["hosts_stale"], s["hosts_never_inventoried"]) == (len(hosts), len(hosts))
    assert tiles["stale"]["detail"] == ("2 never inventoried" if hosts else "none not reached when last targeted or "
                                        "last inventoried 7 days or more before 2026-06-30")
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert f'<p class="problems" role="alert"><strong>Warning:</strong> {said}</p>' in html
    assert '<a class="tile warn" id="tile-compliance"' in html and '<span class="num">-</span>' in html
    assert "last inventory kept" not in html[html.index('id="tile-stale"'):] or not hosts
    assert f"> **Warning:** {md(said)}" in (tmp_path / "r" / "summary.md").read_text(encoding="utf-8")


def test_stale_hosts_with_and_without_an_inventory_are_told_apart():
    kept = HostScan("s2", "db1", HostStatus.UNREACHABLE, None, (), collected_at="2026-06-29T01:00:00Z")
    scan = Scan("s2", "2026-06-30T01:00:00Z", "2026-06-30T01:01:00Z", "0.1.0", None, (*_scan().hosts, kept))
    tiles = {t["id"]: t for t in report.build(scan, [], None)["tiles"]}
    assert tiles["stale"]["detail"] == "1 not reached when last targeted (last inventory kept), 1 never inventoried"
    assert tiles["compliance"]["tone"] == "neutral"  # one host has an inventory: no product, no rate
