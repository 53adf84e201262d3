"""The report's virtualisation views: each hypervisor server with its guests (scanned or not) in the host
view, and per product the servers its VMs pull in, in report.json (valid against the schema), the HTML
page and, in headless Chromium, the product drill-down."""

import json
from pathlib import Path

import jsonschema
import pytest
from report_browser import browser, open_report, read_island, require_chromium
from test_host_metrics import ESX, HV, topology
from test_position import AS_OF, ent, recognise
from test_topology_position import ORACLE_EE, WINDOWS, guest

from sam_engine.findings.detect import finding_row, topology_findings
from sam_engine.licensing.position import build_position
from sam_engine.model import GuestVM, Scan
from sam_engine.report import model as report
from sam_engine.report import render
from sam_engine.store.interface import scan_info
from sam_engine.topology import FleetTopology

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "sam_engine" / "data" / "schemas" /
                     "report.schema.json").read_text(encoding="utf-8"))
ENTS = [ent("E1", "Oracle", "Oracle Database", "processor", 40, "Enterprise Edition"),
        ent("E2", "Microsoft", "Windows Server", "core", 32, "Standard")]


def fleet_topology():
    topo = topology(("db1", ESX[0], ESX, ()), *((n, HV, (), ()) for n in ("w1", "w2", "w3")))
    ghost = GuestVM("uuid-ghost", "vm-ghost", ESX[1].key, "test", 4, (), "shut off")
    guests = {**topo.guests, ESX[1].key: (ghost,)}
    return FleetTopology(topo.servers, guests, topo.placements)


def build(topo):
    hosts = (guest("db1", ORACLE_EE), guest("db9", ORACLE_EE, vcpus=4),
             *(guest(n, WINDOWS, vcpus=4) for n in ("w1", "w2", "w3")))
    scan = Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:05:00Z", "0.1.0", None, hosts)
    pos = build_position(scan.hosts, recognise, ENTS, AS_OF, topology=topo)
    found = [finding_row(f) for f in topology_findings(pos)]
    return report.build(scan, [scan_info(scan)], pos, entitlements=ENTS, findings=found, topology=topo), scan, pos


@pytest.fixture(scope="module")
def model():
    return build(fleet_topology())[0]


def product(model, label):
    return next(r for r in model["position"]["licensable"] if r["label"] == label)


def test_the_model_lists_each_server_with_its_guests_scanned_or_not_and_is_valid(model):
    jsonschema.validate(model, SCHEMA)
    servers = {s["name"]: s for s in model["topology"]}
    assert list(servers) == ["hv01", "esx01", "esx02", "esx03"]  # standalone first, then by cluster
    esx02 = servers["esx02"]
    assert esx02["guests"] == [{"vm": "vm-ghost", "bios_uuid": "uuid-ghost", "state": "shut off", "vcpus": 4,
                                "pinned_cpus": [], "host": None, "products": []}]
    assert esx02["scanned_guests"] == 0
    oracle = product(model, "Oracle Database Enterprise Edition")
    assert esx02["products"] == [{"id": oracle["id"], "label": oracle["label"], "rule": "soft partitioning",
                                  "quantity": 16}]
    hv = servers["hv01"]
    assert [g["host"] for g in hv["guests"]] == ["w1", "w2", "w3"]
    assert hv["guests"][0]["products"][0]["label"] == "Microsoft Windows Server Standard"
    assert hv["products"][0]["quantity"] == 32


def test_a_product_row_names_the_servers_its_vms_pull_in_and_its_vms_of_unknown_host(model):
    oracle = product(model, "Oracle Database Enterprise Edition")
    assert oracle["consumption"] == 48 + 2
    assert [(s["server"], s["running"], s["quantity"]) for s in oracle["servers"]] == [
        ("esx01", ["db1"], 16), ("esx02", [], 16), ("esx03", [], 16)]
    assert oracle["topology_unknown"] == ["db9"]
    rows = {h["host"]: h for h in oracle["host_rows"]}
    assert rows["db1"]["quantity"] is None
    assert rows["db1"]["trace"] == ["a VM: counted through the physical servers it runs on or can move to: "
                                    "esx01, esx02, esx03"]
    assert rows["db9"]["quantity"] == 2
    assert [f["type"] for f in model["findings"]] == ["topology-unknown"]


def test_without_topology_the_model_has_no_servers_and_the_page_no_server_table():
    model, scan, pos = build(None)
    jsonschema.validate(model, SCHEMA)
    assert model["topology"] == []
    assert all(r["servers"] == [] for r in model["position"]["licensable"])
    assert 'id="servers-table"' not in render.render_html(model)


def test_the_page_shows_the_servers_and_the_island_carries_the_drill_down(model):
    html = render.render_html(model)
    assert html.count('id="servers-table"') == 1
    assert "vm-ghost" in html and "not scanned" in html
    island = read_island(html)
    oracle = island["products"][product(model, "Oracle Database Enterprise Edition")["id"]]
    assert [s[0] for s in oracle["servers"]] == ["esx01", "esx02", "esx03"]
    assert oracle["topology_unknown"] == "db9"
    assert not any(line.startswith("esx0") for line in oracle["trace"])  # in the servers table, not twice


def test_the_drill_down_in_chromium_lists_the_servers(model, tmp_path):
    require_chromium()
    (tmp_path / "index.html").write_text(render.render_html(model), encoding="utf-8")
    pid = product(model, "Oracle Database Enterprise Edition")["id"]
    with browser(tmp_path / "profile") as context:
        page, log = open_report(context, tmp_path / "index.html")
        page.click(f'#position-table button.drill[data-id="{pid}"]')
        detail = page.locator("#position-table tr.detail")
        assert "Physical servers its VMs pull in: 3" in detail.inner_text()
        cells = page.locator("#position-table tr.detail h4.part-servers + div.paged tbody tr").all_inner_texts()
        assert len(cells) == 3 and "esx02" in cells[1] and "16" in cells[1]
        assert "Host unknown, counted per VM" in detail.inner_text()
        assert page.locator("#servers-table tbody tr").count() == 4
        page.screenshot(path=str(tmp_path / "topology.png"), full_page=True)
        assert log.problems() == []
