"""Hostile values in every report writer (#18): markup, formulas, line breaks, NULs, lone surrogates, RTL.

Regression tests for the defects found (a line break splitting an
installations.csv row into a live formula, raw HTML in ``check --format
markdown``, a scan id leaving its code span, formula cells in ``licence list
--format csv``), then Hypothesis properties: whatever the names, versions,
hosts, scan ids and hypervisor servers, clusters and VMs, every file ``render.write_reports`` writes parses, CSV
keeps one row per record with no live formula at any line start of any cell,
and neither Markdown nor HTML carries markup from the data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from synthetic_fleet import AS_OF, ENTITLEMENTS

from sam_engine.auditpack.pack import build_files
from sam_engine.cli import licence as cli_licence
from sam_engine.cli.check import render_markdown
from sam_engine.cli.main import main
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.context import LicenceContext, LicenceSettings
from sam_engine.licensing.metric_rules import load_rules
from sam_engine.licensing.position import build_position
from sam_engine.model import (GuestVM, Hardware, Host, HostScan, HostStatus, Installation, PhysicalServer, Scan,
                              Virtualization)
from sam_engine.report import model as report
from sam_engine.report import render
from sam_engine.report.formats import FORMULA_STARTS, md_code, safe_cell
from sam_engine.report.installations import write_installations
from sam_engine.store.interface import scan_info
from sam_engine.topology import FleetTopology, Placement

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% if %}", "=cmd|' /C calc'!A0",
           "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "x\n=HYPERLINK(\"http://x\")", "a\r\nb", "\x00", "\ud83d",
           "\udfff", "\u202eevil", "\u2028", "a|b", "`x`", "``", "*b*", "_i_", "[l](javascript:x)", "&amp;", "]]>",
           "\\", '"', "'", ",", ";", "</script>", "<!--", "-->", "\x1b[31m", "\x7f", "\x85", "\x9b2J"]
C1 = st.characters(min_codepoint=0x7F, max_codepoint=0x9F)  # DEL and the C1 controls (\x9b: a one-character CSI)
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6), C1), min_size=1, max_size=4).map("".join)
NUMBER = re.compile(r"-?\d+(\.\d+)?")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # ingest stores U+FFFD in its place
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # every control (C0, DEL, C1) but tab and line breaks
TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# bounded: a few examples, no example database, no shrinking (a failure shows the example as generated)
BOUNDED = settings(max_examples=12, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def live_formulas(cells) -> list[str]:
    """Cells with a line (the first or any after a line break) a spreadsheet would run as a formula."""
    return [c for c in cells if not NUMBER.fullmatch(c)
            and any(line[:1] in FORMULA_STARTS for line in re.split(r"\r\n|\r|\n", c))]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --- regressions --------------------------------------------------------------------------------


@pytest.mark.parametrize("value, cell", [
    ("x\n=cmd", "x\n'=cmd"), ("a\r\n@b", "a\r\n'@b"), ("\r=1", "'\r'=1"), ("a\n\nb", "a\n\nb"), ("a\n-", "a\n'-"),
    (["ok", "x\n+1"], "ok; x\n'+1"), ("-4", "'-4"), (-4, -4)])
def test_safe_cell_guards_every_line_start(value, cell):
    assert safe_cell(value) == cell


def test_a_line_break_in_a_package_name_cannot_split_an_installations_row():
    evil = "x\n=cmd|' /C calc'!A0"
    items = (Installation("rpm", evil, "1\r+2", "x86_64", "a\r@b", 1_700_000_000, "rpm:" + evil, "ok\r\n-1"),
             Installation("rpm", "zlib", "1.2", None, None, None, "rpm:zlib"))
    scan = Scan("s1", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "0.1.0", None,
                (HostScan("s1", "web1", HostStatus.OK, None, items),))
    out = io.StringIO(newline="")
    assert write_installations(out, scan, None) == 2
    rows = csv_rows(out.getvalue())
    assert len(rows) == 3 and {len(r) for r in rows} == {len(rows[0])}
    row = dict(zip(rows[0], rows[1]))
    assert (row["name"], row["version"], row["vendor"], row["location"]) == (
        "x\n'=cmd|' /C calc'!A0", "1\r'+2", "a\r'@b", "ok\r\n'-1")
    assert not live_formulas(c for r in rows for c in r)
    physical = re.split(r"\r\n|\r|\n", out.getvalue())
    assert not [line for line in physical if line.startswith(("=", "+", "-", "@"))], "nor for a tool reading the file by line"


def test_licence_list_csv_has_no_live_formula(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_licence, "load_default_catalogue",
                        lambda: type("C", (), {"knows": lambda *a: True, "has_editions": lambda *a: None})())
    (tmp_path / "none").mkdir()  # no licence file: a directory named must exist
    base = ["--store", str(tmp_path / "store.json"), "licence", "--licences", str(tmp_path / "none")]
    assert main([*base, "add", "--publisher", "=HYPERLINK(\"http://x\")", "--product", "@SUM(A1)", "--metric", "core",
                 "--quantity", "4", "--vendor", "ACME\n=cmd|' /C calc'!A0", "--po=-1+2"]) == 0
    capsys.readouterr()
    assert main([*base, "list", "--format", "csv"]) == 0
    rows = csv_rows(capsys.readouterr().out)
    assert len(rows) == 2 and not live_formulas(rows[1])
    view = dict(zip(rows[0], rows[1]))
    assert (view["publisher"], view["product"], view["vendor"], view["po_number"], view["quantity"]) == (
        "'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "ACME\n'=cmd|' /C calc'!A0", "'-1+2", "4")


def finding(**changes) -> dict:
    row = {"id": "f-000000000001", "type": "prohibited", "severity": "high", "title": "TeamViewer: prohibited",
           "detail": "on 1 host", "first_seen": "t", "last_seen": "t", "hosts": ["web1"], "entitlements": [],
           "state": "new"}
    return {**row, **changes}


def test_check_markdown_escapes_host_names_and_errors_as_summary_md_does():
    evil = finding(title="<img src=x onerror=alert(1)>**", detail="a | b\n<script>x</script>",
                   hosts=["<b>web1</b>", "`web2`"], id="f-1`<i>`")
    text = render_markdown([evil], [finding()], "policy <p>; scan `s1`")
    assert "<img" not in text and "<script" not in text and "<b>" not in text and "<p>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;\\*\\*" in text and "a \\| b &lt;script&gt;" in text
    assert "`` f-1`<i>` ``" in text, "the id stays in its code span"
    row = next(line for line in text.splitlines() if "onerror" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 7, "one table row of six cells"


@pytest.mark.parametrize("scan_id, span", [("s1", "`s1`"), ("a`b", "``a`b``"), ("`x", "`` `x ``"),
                                           ("x``", "``` x`` ```"), ("<b>", "`<b>`"), ("", "-")])
def test_md_code_cannot_be_broken_out_of(scan_id, span):
    assert md_code(scan_id) == span


# --- hostile fleets, for the properties -----------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(today=AS_OF)[0]


def host_scan(scan_id: str, name: str, i: int, names: list[str], version: str) -> HostScan:
    hw = Hardware(sockets=2, cores=32, threads=64, cpu_vendor="GenuineIntel", cpu_model=name,
                  virtualization=Virtualization.VM if i else Virtualization.PHYSICAL, memory_mb=65536)
    host = Host(f"machine-id:{i:032x}", name, "machine-id", hostname=name, os_family="Linux", os_name=name,
                hardware=hw)
    items = [Installation("rpm", "oracle-database-ee-19c", version, "x86_64", "Oracle Corporation", 1_700_000_000,
                          "rpm:oracle", name),
             Installation("dpkg", "teamviewer", version, "amd64", names[0], None, "dpkg:teamviewer", None)]
    items += [Installation("dpkg", n, version, "amd64", n, None, f"dpkg:{k}:{n}", n) for k, n in enumerate(names)]
    return HostScan(scan_id, name, HostStatus.OK, host, tuple(items), collected_at="2026-06-30T01:00:00Z")


def hostile_topology(servers: list[str], names: list[str], placed: str, vm_host: str) -> FleetTopology:
    """Two servers named from ``servers`` in one cluster: ``placed`` runs on the first, a VM nobody
    scanned (named from ``names``) on the second; ``vm_host`` is a VM no hypervisor reports."""
    one, two = (PhysicalServer(f"kvm:{n}:{k}", n, "kvm", f"libvirt on {n}", 2, 32, 64, "GenuineIntel", n,
                               cluster=servers[-1]) for k, n in enumerate((servers[0], servers[-1] + "2")))
    vm = GuestVM(f"uuid-{placed}", placed, one.key, f"libvirt on {one.name}", 4, (0, 1) if len(names) > 2 else ())
    ghost = GuestVM("uuid-ghost", names[0], two.key, f"libvirt on {two.name}", 2, (), names[-1])
    placements = {placed: Placement(placed, vm, one, (one, two))} if placed != vm_host else {}
    return FleetTopology({one.key: one, two.key: two}, {one.key: (vm,), two.key: (ghost,)}, placements)


def hostile_model(catalogue, names: list[str], hosts: list[str], scan_ids: list[str], version: str,
                  servers: list[str] = ("esx1",)):
    hosts = list(dict.fromkeys(hosts))
    topology = hostile_topology(list(servers), names, hosts[0], hosts[-1])
    scans = [Scan(sid, f"2026-06-2{k}T01:00:00Z", f"2026-06-2{k}T01:40:00Z", "0.1.0", "scan.yml",
                  tuple(host_scan(sid, h, i, names[: len(names) - k] or names, version) for i, h in enumerate(hosts)))
             for k, sid in enumerate(dict.fromkeys(scan_ids))]
    positions = [build_position(s.hosts, catalogue.recognise, ENTITLEMENTS, AS_OF, suites=catalogue.suite_components,
                                metric_hint=catalogue.metric_hint, topology=topology) for s in scans]
    findings = [finding(title=n, detail=version, hosts=hosts, id=scan_ids[0]) for n in names]
    model = report.build(scans[-1], [scan_info(s) for s in scans], positions[-1], entitlements=ENTITLEMENTS,
                         previous=scans[0] if len(scans) > 1 else None,
                         previous_position=positions[0] if len(scans) > 1 else None, findings=findings,
                         topology=topology)
    return model, scans[-1], positions[-1]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def html_tags(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def outside_code_spans(line: str) -> str:
    """``line`` without its code spans (a backslash-escaped backtick, as ``md`` writes it, opens none)."""
    return re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", line)


@pytest.fixture(scope="module")
def clean_tags(catalogue, tmp_path_factory):
    model, scan, position = hostile_model(catalogue, ["bash", "zlib"], ["web1", "web2"], ["s1", "s2"], "1.0")
    assert model["topology"] and any(r["servers"] for r in model["position"]["licensable"])
    return html_tags(render.render_html(model))


@pytest.fixture(scope="module")
def licence_context(catalogue):
    return LicenceContext(AS_OF, catalogue, load_rules(None)[0], ENTITLEMENTS, LicenceSettings())


@BOUNDED
@example(names=["db\x7f\x85", "\x9b2J"], hosts=["web\x9b31m\x80"], scan_ids=["s\x85"], version="19\x9f\x7f",
         servers=["esx\x9b"])
@given(names=st.lists(hostile, min_size=1, max_size=4), hosts=st.lists(hostile, min_size=1, max_size=3),
       scan_ids=st.lists(hostile, min_size=1, max_size=2), version=hostile,
       servers=st.lists(hostile, min_size=1, max_size=2))
def test_every_report_file_parses_whatever_the_names(catalogue, clean_tags, licence_context, tmp_path_factory, names,
                                                      hosts, scan_ids, version, servers):
    model, scan, position = hostile_model(catalogue, names, hosts, scan_ids, version, servers)
    out = tmp_path_factory.mktemp("reports")
    render.write_reports(model, out, scan, position)
    stored = [[LONE_SURROGATE.sub("\ufffd", t) for t in texts] for texts in (names, hosts, scan_ids, [version], servers)]
    pack_model, pack_scan, _ = hostile_model(catalogue, *stored[:3], stored[3][0], stored[4])  # from a store: no surrogate
    pack = build_files(pack_model, pack_scan, licence_context, "Oracle", "2026-06-30T02:00:00Z")

    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["scan"]["scan_id"].replace("\ufffd", "") == scan.scan_id.encode("utf-8", "ignore").decode()

    installs = csv_rows((out / "installations.csv").read_text(encoding="utf-8-sig"))
    assert len(installs) == 1 + scan.installation_count and {len(r) for r in installs} == {len(installs[0])}
    position_rows = csv_rows((out / "position.csv").read_text(encoding="utf-8-sig"))
    assert len(position_rows) == 1 + len(model["position"]["licensable"])
    assert not live_formulas(c for r in installs + position_rows for c in r)

    ET.fromstring((out / "junit.xml").read_bytes())

    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "<" not in "".join(outside_code_spans(line) for line in summary.splitlines()), "no markup from data"
    table: list[int] = []
    for line in summary.splitlines() + [""]:
        if line.startswith("|"):
            table.append(len(re.findall(r"(?<!\\)\|", outside_code_spans(line))))
        elif table:
            assert len(set(table)) == 1, f"a table row with its own column count: {table}"
            table = []

    for name in ("index.html", "installations.csv", "position.csv", "summary.md", "junit.xml"):  # NUL, ESC, \x9b: U+FFFD
        assert not CONTROL.search((out / name).read_text(encoding="utf-8-sig")), name
    for name in ("position.html", "installations.csv", "position.csv", "entitlements.csv"):  # the audit pack's too
        assert not CONTROL.search(pack[name].decode("utf-8-sig")), f"audit pack {name}"
    assert not TERMINAL_UNSAFE.search(summary.replace("\n", "")), "summary.md: controls and overrides escaped"

    html = (out / "index.html").read_text(encoding="utf-8")
    tags = html_tags(html)
    assert set(tags.tags) <= set(clean_tags.tags) and tags.tags.count("script") == clean_tags.tags.count("script")
    assert tags.handlers == [], "no event handler attribute"
    island = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    json.loads(island.group(1))


@BOUNDED
@given(titles=st.lists(hostile, min_size=1, max_size=3), hosts=st.lists(hostile, max_size=3), ident=hostile,
       context=hostile)
def test_check_markdown_carries_no_markup_from_data(titles, hosts, ident, context):
    rows = [finding(title=t, detail=t, hosts=hosts, id=ident) for t in titles]
    text = render_markdown(rows[:1], rows[1:], context)
    lines = text.splitlines()
    assert "<" not in "".join(outside_code_spans(line) for line in lines).replace("<br>", "")
    counts = {len(re.findall(r"(?<!\\)\|", outside_code_spans(line))) for line in lines if line.startswith("|")}
    assert counts <= {7}


@BOUNDED
@given(titles=st.lists(hostile, min_size=1, max_size=3), context=hostile)
def test_check_text_is_one_line_per_field_whatever_the_data(titles, context):
    """``fleetsam check``'s text output: two lines per finding and a closing line, none of them carrying an
    escape sequence, a bidi override or a line break from the data (a forged line, a cleared screen)."""
    from sam_engine.cli.check import render_text

    rows = [finding(title=t, detail=t, id=t) for t in titles]
    lines = render_text(rows[:1], rows[1:], context).split("\n")
    assert lines[-1] == "" and len(lines) == 2 * len(rows) + 2
    assert not [line for line in lines if TERMINAL_UNSAFE.search(line)]
    "".join(lines).encode("utf-8")  # a lone surrogate would make printing it fail


def test_tables_on_the_terminal_show_escapes_not_obey_them(tmp_path, capsys):
    """diff, position and hosts print a hostile package and host name as visible escapes."""
    from sam_engine import pipeline

    evil = "x\x1b[2J\x1b]0;pwned\x07\nweb7   FAKE\u202e\x9b"
    store = str(tmp_path / "db.json")
    for scan_id, names in (("s1", ["bash"]), ("s2", ["bash", evil])):
        software = [{"source": "dpkg", "name": n, "version": "1", "arch": "amd64", "vendor": "v",
                     "package_id": f"dpkg:{n}"} for n in names]
        spool = tmp_path / scan_id
        (spool / "hosts").mkdir(parents=True)
        day = (dt.date.today() - dt.timedelta(days=3 - int(scan_id[1]))).isoformat()  # recent: not aged out
        (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": f"{day}T00:00:00Z",
                                                    "finished": f"{day}T00:01:00Z"}))
        (spool / "hosts" / "h.json").write_text(json.dumps({"inventory_name": f"web\x1b[1m{evil}", "status": "ok",
                                                            "result": {"software": software}}))
        pipeline.process_spool(spool, store=store, report_dir=tmp_path / "r")
    capsys.readouterr()
    for argv in (["diff"], ["position", "--all", "--detail"], ["hosts"], ["scans"]):
        assert main(["--store", store, *argv]) == 0, argv
        out = capsys.readouterr().out
        assert "pwned" in out or argv == ["scans"]
        assert not TERMINAL_UNSAFE.search(out.replace("\n", "")), argv
        assert not [line for line in out.splitlines() if line.startswith("web7")], "no forged line"
