"""installations.csv, streamed per distinct row: the same rows whatever form the position's refs take."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from fleet_spools import BASH, TEAMVIEWER, Host, store_run
from synthetic_fleet import AS_OF, ENTITLEMENTS, synthetic_scans

from sam_engine.cli.main import main
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable
from sam_engine.model import HostScan, HostStatus, Installation, Scan
from sam_engine.licensing.position import LicencePosition, build_position
from sam_engine.licensing.placements import RefList
from sam_engine.report.installations import COLUMNS, when, write_installations


@pytest.fixture(scope="module")
def fleet():
    _, scan = synthetic_scans(60)
    catalogue, _ = load_catalogue(today=AS_OF)
    position = build_position(scan.hosts, catalogue.recognise, ENTITLEMENTS, AS_OF, suites=catalogue.suite_components,
                              metric_hint=catalogue.metric_hint)
    return scan, position


def rows_of(scan: Scan, position: LicencePosition | None) -> tuple[int, list[dict]]:
    out = io.StringIO(newline="")
    n = write_installations(out, scan, position)
    return n, list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


def as_records(position: LicencePosition) -> LicencePosition:
    """The same position with every product's refs made into plain records (no reconcile rows behind them)."""
    def plain(p):
        return dataclasses.replace(p, installations=tuple(p.installations))
    return dataclasses.replace(position, products=tuple(map(plain, position.products)),
                               unrecognised=tuple(map(plain, position.unrecognised)))


def test_every_installation_once_with_its_product(fleet):
    scan, position = fleet
    assert isinstance(position.products[0].installations, RefList), "the fast path is the one measured"
    n, rows = rows_of(scan, position)
    assert n == len(rows) == sum(len(h.installations) for h in scan.hosts)
    assert list(rows[0]) == list(COLUMNS)
    for p in position:  # each product's installations carry its columns, host by host
        got = sorted((r["host"], r["source"], r["package_id"], r["version"]) for r in rows
                     if (r["publisher"], r["product"], r["edition"], r["product_status"])
                     == (p.publisher or "", p.product, p.edition or "", p.status.value))
        want = sorted((i.host, i.source, i.package_id, i.version or "") for i in p.installations)
        assert got == want, p.product
    hosts = [r["host"] for r in rows]
    assert hosts == sorted(hosts), "host by host, in inventory-name order"
    stale = {r["host"] for r in rows if r["stale"] == "yes"}
    assert stale == {h.inventory_name for h in scan.hosts if h.stale} and stale


def test_refs_as_records_give_the_same_file(fleet):
    scan, position = fleet
    assert rows_of(scan, as_records(position)) == rows_of(scan, position)


def test_without_a_position_the_product_columns_are_empty(fleet):
    scan, _ = fleet
    n, rows = rows_of(scan, None)
    assert n == sum(len(h.installations) for h in scan.hosts)
    assert {(r["publisher"], r["product"], r["edition"], r["product_status"]) for r in rows} == {("", "", "", "")}


def test_plain_tuple_inventory_install_times_and_spreadsheet_safety():
    items = (Installation("rpm", "zlib", "1.2", "x86_64", "=cmd|' /C calc'!A0", 1_700_000_000, "rpm:zlib", None),
             Installation("rpm", "Bash", None, None, None, None, "rpm:bash", "/usr/bin, /bin"))
    compact = Inventory.of(items, RowTable())
    scan = Scan("s9", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "0.1.0", None, (
        HostScan("s9", "b-host", HostStatus.OK, None, items),
        HostScan("s9", "a-host", HostStatus.OK, None, compact),
        HostScan("s9", "c-host", HostStatus.FAILED, None, ())))
    n, rows = rows_of(scan, None)
    assert n == 4 and [(r["host"], r["name"]) for r in rows] == [("a-host", "Bash"), ("a-host", "zlib"),
                                                                  ("b-host", "Bash"), ("b-host", "zlib")]
    zlib = rows[1]
    assert (zlib["installed"], zlib["vendor"]) == ("2023-11-14 22:13", "'=cmd|' /C calc'!A0")
    assert rows[0]["installed"] == "" and rows[0]["location"] == "/usr/bin, /bin" and rows[0]["version"] == ""


@pytest.mark.parametrize("epoch, text", [(NO_TIME, ""), (0, "1970-01-01 00:00"), (-60, "1969-12-31 23:59"),
                                         (1_700_000_000, "2023-11-14 22:13"), (10**15, "1000000000000000")])
def test_when(epoch, text):
    assert when(epoch) == text


@pytest.mark.parametrize("opt_out", [["--no-installations-csv"], "env"])
def test_fleetsam_report_leaves_installations_csv_out_on_request(tmp_path, monkeypatch, capsys, opt_out):
    location = str(tmp_path / "db.json")
    store_run(tmp_path, location, "s1", {"web1": Host(("web",), (BASH, TEAMVIEWER))})
    out = tmp_path / "reports"
    assert main(["--store", location, "report", "--scan", "s1", "--report-dir", str(out)]) == 0
    assert "teamviewer" in (out / "installations.csv").read_text(encoding="utf-8-sig"), "written by default"
    capsys.readouterr()
    if opt_out == "env":
        monkeypatch.setenv("FLEETSAM_INSTALLATIONS_CSV", "false")
    flag = [] if opt_out == "env" else opt_out
    assert main(["--store", location, "report", "--scan", "s1", "--report-dir", str(out), *flag]) == 0
    printed = capsys.readouterr().out
    assert not (out / "installations.csv").exists(), "an older one is removed: it would not match"
    assert "installations.csv" not in printed and (out / "index.html").exists() and (out / "report.json").exists()
