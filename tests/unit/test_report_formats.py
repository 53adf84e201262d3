"""Every report file from one model: HTML, report.json (JSON Schema), CSV (Excel-safe), JUnit (XSD), Markdown."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import report_fleet
import xmlschema

from sam_engine.package_data import data_dir
from sam_engine.report import render
from sam_engine.report.formats import FORMULA_STARTS, md, safe_cell
from sam_engine.report.render import write_json

SCHEMAS = data_dir("schemas")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    _, out = report_fleet.scanned_twice(tmp_path_factory.mktemp("fleet"))
    return out


@pytest.fixture(scope="module")
def model(reports):
    return json.loads((reports / "report.json").read_text(encoding="utf-8"))


def test_every_format_is_written_beside_the_html(reports):
    assert sorted(p.name for p in reports.iterdir()) == sorted(render.REPORT_FILES)


def test_report_json_follows_its_versioned_schema(model):
    schema = json.loads((SCHEMAS / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema_version"]["const"] == model["schema_version"]
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(model), key=lambda e: list(e.absolute_path))
    assert not errors, [(list(e.absolute_path), e.message[:200]) for e in errors[:5]]
    broken = json.loads(json.dumps(model))
    broken["summary"]["hosts"] = "seven"
    assert not validator.is_valid(broken)


def test_model_drill_down_data(model):
    (oracle,) = [p for p in model["position"]["licensable"] if p["publisher"] == "Oracle"]
    assert (oracle["status"], oracle["consumption"], oracle["owned"], oracle["gap_cost"]) == (
        "under-licensed", 20, 16, "190000.00")
    rows = {r["host"]: r for r in oracle["host_rows"]}
    assert rows["db1"]["quantity"] == 16 and "2 sockets × 16 cores" in rows["db1"]["trace"][0]
    assert rows["db2"]["stale"] and rows["db2"]["scan_id"] == "s1" and rows["db2"]["versions"] == ["19.3-1"]
    (ent,) = oracle["entitlement_records"]
    assert ent["keys"] == ["XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"] and ent["po_number"] == "PO-2021-1190"
    assert ent["counted"] == 16
    assert "ABCDE" not in json.dumps(model), "licence keys are never written unmasked"
    s = model["summary"]
    assert s["money_at_risk"][0]["amount"] == "190000.00" and s["hosts_stale"] == 1 and s["hosts_unreachable"] == 1
    assert {t["id"]: (t["section"], t["status"]) for t in model["tiles"]}["stale"] == ("hosts", "stale")
    db1 = next(h for h in model["hosts"] if h["inventory_name"] == "db1")
    assert [p["id"] for p in db1["licensable"]] == [oracle["id"]]
    assert "packages" not in db1, "no record per installation in the model: installations.csv streams them"
    assert db1["users"] == [{"account": "ops-db1", "kind": "human", "source": "wtmp", "last_login": "2026-06-28T09:00:00Z"}]
    assert next(h for h in model["hosts"] if h["inventory_name"] == "win1")["users"] is None  # recorded without users


def test_model_changes_history_and_charts(model):
    c = model["changes"]
    assert (c["from_scan"], c["to_scan"]) == ("s1", "s2") and model["scan"]["previous_scan_id"] == "s1"
    kinds = {h["host"]: h["change"] for h in c["hosts"]}
    assert kinds == {"app1": "added", "db2": "status", "web1": "changed", "web2": "changed"}
    moves = {m["product"]: m for m in c["position"]}
    assert set(moves) == {"TeamViewer", "MATLAB"} and {m["direction"] for m in moves.values()} == {"worse"}
    assert moves["MATLAB"]["before"] is None and moves["TeamViewer"]["after"]["consumption"] == 3
    first, second = [h["non_compliant"] for h in model["history"]]
    assert second == first + 1 == model["summary"]["products_non_compliant"], "recorded per scan (MATLAB is new)"
    panels = {p["key"]: p for p in model["charts"]["trend"]["panels"]}
    assert [d["value"] for d in panels["non_compliant"]["dots"]] == [first, second]
    assert panels["non_compliant"]["dots"][1]["y"] < panels["non_compliant"]["dots"][0]["y"], "more is higher"
    bars = {r["publisher"]: r for r in model["charts"]["publishers"]["rows"]}
    ms, oracle = bars["Microsoft"]["segments"], bars["Oracle"]["segments"]
    assert sum(s["count"] for s in ms) > 1 and oracle[0]["status"] == "under-licensed"
    assert ms[0]["width"] / sum(s["count"] for s in ms) == pytest.approx(oracle[0]["width"] / oracle[0]["count"], 0.01)


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def test_csv_files_are_excel_safe(reports, model):
    position = read_csv(reports / "position.csv")
    assert len(position) == len(model["position"]["licensable"])
    oracle = next(r for r in position if r["publisher"] == "Oracle")
    assert (oracle["consumption"], oracle["owned"], oracle["balance"], oracle["gap_cost"]) == ("20", "16", "-4",
                                                                                               "190000.00")
    installs = read_csv(reports / "installations.csv")
    assert len(installs) == model["summary"]["installations"]
    for row in [*position, *installs]:
        for value in row.values():
            if value.startswith(FORMULA_STARTS):
                assert re.fullmatch(r"-\d+(\.\d+)?", value), f"formula-like cell {value!r} not neutralised"
    evil = next(r for r in installs if "HYPERLINK" in r["name"] and r["host"] == "web1")
    assert evil["name"] == "'=HYPERLINK(\"http://x\")" and evil["vendor"] == "'@evil" and evil["location"] == "'-cmd"
    ora = next(r for r in installs if r["name"] == "oracle-database-ee-19c" and r["host"] == "db2")
    assert (ora["product"], ora["stale"], ora["inventory_scan_id"]) == ("Oracle Database", "yes", "s1")
    db1 = [r for r in installs if r["host"] == "db1"]
    assert len(db1) == next(h for h in model["hosts"] if h["inventory_name"] == "db1")["package_count"]
    ora1 = next(r for r in db1 if r["name"] == "oracle-database-ee-19c")
    assert (ora1["publisher"], ora1["edition"], ora1["product_status"]) == ("Oracle", "Enterprise Edition",
                                                                            "under-licensed")
    assert ora1["location"] == "/opt/oracle/product/19c/dbhome_1"
    names = [r["name"].casefold() for r in db1]
    assert names == sorted(names), "per host, by name"


@pytest.mark.parametrize("value, cell", [("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
                                         ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (-4, -4), (None, ""),
                                         (True, "yes"), (["a", "=b"], "a; =b"), (["=a"], "'=a"),
                                         # bidi controls, inert as control characters are: U+FFFD
                                         ("h4\u202eexe.txt", "h4\ufffdexe.txt"), ("=\u2066x\u2069", "'=\ufffdx\ufffd"),
                                         (["a\u200f", "\u061cb\u202a"], "a\ufffd; \ufffdb\ufffd"),
                                         ("\u200e\u202b\u202c\u202d\u2067\u2068", "\ufffd" * 6)])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_junit_is_valid_and_fails_under_licensed_products(reports, model):
    schema = xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd"))
    schema.validate(str(reports / "junit.xml"))
    root = ET.parse(reports / "junit.xml").getroot()
    cases = root.findall("testsuite/testcase")
    licensable = model["position"]["licensable"]
    assert len(cases) == len(licensable) == int(root.get("tests"))
    failing = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert len(failing) == model["summary"]["products_non_compliant"] == int(root.get("failures"))
    oracle = failing["Oracle Database Enterprise Edition"]
    assert oracle.get("type") == "under-licensed" and "shortfall 4" in oracle.get("message")
    assert "2 sockets × 16 cores" in oracle.text
    assert report_fleet.EVIL_PRODUCT in " ".join(failing), "payload names stay text in XML"
    passing = [c.get("name") for c in cases if c.find("failure") is None]
    assert passing == ["Sublime HQ Sublime Text"], "over-licensed passes"


def test_junit_schema_rejects_a_broken_report(reports):
    schema = xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd"))
    text = (reports / "junit.xml").read_text(encoding="utf-8")
    assert not schema.is_valid(text.replace(' hostname="fleetsam"', ""))
    assert not schema.is_valid(re.sub(r'timestamp="[^"]+"', 'timestamp="yesterday"', text))


def test_markdown_summary_escapes_inventory_text(reports, model):
    text = (reports / "summary.md").read_text(encoding="utf-8")
    assert text.startswith("# fleetsam: licence position of scan `s2`")
    assert f"{model['summary']['products_non_compliant']} product(s) short of licences" in text
    assert "190,000 USD" in text
    assert "<img" not in text and "<svg" not in text and "</script>" not in text
    assert md("a | b <i>") == "a \\| b &lt;i&gt;"
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append(len(re.findall(r"(?<!\\)\|", line)))
        elif current:
            tables.append(current)
            current = []
    assert len(tables) >= 3
    for widths in tables:
        assert len(set(widths)) == 1, f"a cell broke a table: {widths}"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags, self.scripts, self.csp = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v) for k, v in attrs if k in ("src", "href", "action", "srcset", "data")]
        if tag == "script":
            self.scripts.append(dict(attrs))
        if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy":
            self.csp = dict(attrs)["content"]


def test_html_is_self_contained_and_allows_only_its_own_script(reports):
    html = (reports / "index.html").read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(html)
    assert "link" not in parser.tags and "img" not in parser.tags and "iframe" not in parser.tags
    for tag, attr, value in parser.refs:
        assert tag == "a" and attr == "href" and (value.startswith("#") or "/" not in value), (tag, attr, value)
    assert [s.get("type") for s in parser.scripts] == ["application/json", None]
    assert all("src" not in s for s in parser.scripts)
    script = html.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in parser.csp, "the CSP allows exactly the page's own script"
    assert parser.csp.startswith("default-src 'none';")


def test_report_size_is_small(reports):
    assert (reports / "index.html").stat().st_size < 400_000


def test_first_scan_without_a_position_still_writes_every_valid_file(tmp_path):
    from sam_engine.report import model as report
    from sam_engine.model import HostScan, HostStatus, Scan

    scan = Scan("s1", "2026-06-30T01:00:00Z", "2026-06-30T01:01:00Z", "0.1.0", None,
                (HostScan("s1", "ghost", HostStatus.UNREACHABLE, None, ()),))
    model = report.build(scan, [], None)
    assert model["position"] is None and model["changes"] is None and model["charts"]["publishers"] is None
    schema = json.loads((SCHEMAS / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(model, schema)
    paths = render.write_reports(model, tmp_path, scan, None)
    assert [p.name for p in paths] == list(render.REPORT_FILES)
    xmlschema.XMLSchema(str(SCHEMAS / "junit.xsd")).validate(str(tmp_path / "junit.xml"))
    assert "No licence position" in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "First scan" in (tmp_path / "summary.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", [
    {}, [], {"a": []}, {"hosts": [{"n": i, "s": "é\u2028<"} for i in range(1234)], "x": {"y": list(range(7))}},
    {"k": {"deep": [[1, 2]] * 600}}, [{"a": 1}] * 1001, "text", None, {"\ud800": "lone surrogate kept as JSON does"},
])
def test_report_json_is_written_in_pieces_as_one_dumps_would(value):
    out = io.StringIO()
    write_json(out, value, chunk=500)
    assert out.getvalue() == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
