"""``fleetsam check --format junit`` and ``reports/junit.xml`` come from one writer
(``report.formats.junit_document``): valid against ``schemas/junit.xsd``, well-formed for any name."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet_spools import BASH, TEAMVIEWER, Host, store_run
from sam_engine.cli import check
from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.main import main
from sam_engine.findings.policy import Policy
from sam_engine.report.formats import JUnitCase, JUnitSuite, junit_document, shown_text, xml_text

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).resolve().parents[2] / "sam_engine" / "data" / "schemas" / "junit.xsd"))
POLICY = "fail_on: [prohibited]\nprohibited:\n  - product: TeamViewer\n    reason: remote access\n"
# What XML 1.0 cannot carry (NUL, C0 controls, a lone surrogate, U+FFFE) beside what it must escape.
HOSTILE = "a\x00b\x01\x08\x0b\x0c\x1b[31m\ud800\udfff\ufffe<&>\"']]>--><!--\t\r\nz"
CLEANED = "a\ufffdb\ufffd\ufffd\ufffd\ufffd\ufffd[31m\ufffd\ufffd\ufffd<&>\"']]>--><!--\t\r\nz"


def run_check(tmp_path, capsys, hosts) -> tuple[int, Path]:
    store = str(tmp_path / "db.json")
    store_run(tmp_path, store, "s1", hosts)
    (tmp_path / "policy.yml").write_text(POLICY)
    (tmp_path / "licences").mkdir()  # none: a directory named must exist
    out = tmp_path / "check.xml"
    code = main(["--store", store, "check", "--policy", str(tmp_path / "policy.yml"), "--as-of", "2026-06-30",
                 "--licences", str(tmp_path / "licences"), "--format", "junit", "--output", str(out)])
    capsys.readouterr()
    return code, out


def test_check_junit_with_violations_is_valid(tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, {"web1": Host(("web",), (BASH, TEAMVIEWER))})
    assert code == ExitCode.VIOLATIONS
    SCHEMA.validate(str(out))
    root = ET.parse(out).getroot()
    prohibited = next(s for s in root if s.get("name") == "fleetsam.prohibited")
    assert (prohibited.get("failures"), prohibited.get("timestamp"), prohibited.get("hostname")) == \
        ("1", "2026-06-30T01:00:00", "fleetsam")
    props = {p.get("name"): p.get("value") for p in prohibited.find("properties")}
    assert props["enforced"] == "true" and props["scan_id"] == "s1" and props["fail_on"] == "prohibited"
    failure = prohibited.find("testcase/failure")
    assert failure.get("message").startswith("TeamViewer") and "hosts: web1" in failure.text
    # an unlicensed product is found but not enforced: a passing case, its details in the suite's output
    unlicensed = next(s for s in root if s.get("name") == "fleetsam.unlicensed")
    assert unlicensed.get("failures") == "0" and unlicensed.find("testcase/failure") is None
    assert "not enforced" in unlicensed.find("system-out").text
    assert root.get("failures") == "1" and int(root.get("tests")) == sum(int(s.get("tests")) for s in root)


def test_check_junit_on_a_clean_fleet_is_valid(tmp_path, capsys):
    code, out = run_check(tmp_path, capsys, {"web1": Host(("web",), (BASH,))})
    assert code == ExitCode.OK
    SCHEMA.validate(str(out))
    root = ET.parse(out).getroot()
    assert root.get("failures") == "0" and all(s.find("testcase") is not None for s in root)


def test_xml_text_replaces_what_xml_cannot_carry():
    assert xml_text(HOSTILE) == CLEANED
    assert xml_text("Ωmega \U0001f600 tab\there") == "Ωmega \U0001f600 tab\there"
    assert xml_text(None) == ""


def test_hostile_names_stay_well_formed_and_valid(tmp_path):
    suite = JUnitSuite(HOSTILE, (JUnitCase(HOSTILE, HOSTILE, (HOSTILE, HOSTILE, HOSTILE)), JUnitCase("c", HOSTILE)),
                       (("scan_id", HOSTILE),), HOSTILE)
    path = tmp_path / "hostile.xml"
    path.write_text(junit_document(HOSTILE, "2026-06-30T01:00:00Z", [suite]), encoding="utf-8")
    SCHEMA.validate(str(path))
    root = ET.parse(path).getroot()
    case = root.find("testsuite/testcase")
    # attributes keep their line breaks and tab (escaped as character references); text keeps them raw,
    # where a parser reads a carriage return before a newline as one newline
    assert case.get("name") == CLEANED and root.find("testsuite").get("name") == CLEANED
    assert case.find("failure").text == CLEANED.replace("\r\n", "\n")
    assert root.find("testsuite/properties/property").get("value") == CLEANED


def test_bidi_controls_are_inert_in_junit():
    """A CI page shows junit.xml to people: a right-to-left override in a name must not reverse the figures."""
    text = "h4\u202eexe.txt: 1 socket × 2 cores = 1 \u2066\u200f"
    root = ET.fromstring(junit_document(text, None, [JUnitSuite(text, (JUnitCase(text, text, (text, text, text)),),
                                                                (("p", text),), text)]).split("\n", 1)[1])
    shown = "h4\ufffdexe.txt: 1 socket × 2 cores = 1 \ufffd\ufffd"
    case = root.find("testsuite/testcase")
    assert case.get("name") == case.get("classname") == case.find("failure").text == shown
    assert root.get("name") == root.find("testsuite/system-out").text == shown
    assert xml_text(text) == text, "XML itself carries them: the data formats keep them"


def test_hostile_findings_in_check_junit(tmp_path):
    row = {"id": "f-1", "title": HOSTILE, "severity": "high", "type": "prohibited", "detail": HOSTILE,
           "hosts": [HOSTILE, "web1"], "entitlements": [], "first_seen": "s1"}
    text = check.render_junit([row], [dict(row, id="f-2", type="unlicensed")], Policy(fail_on=("prohibited",)),
                              "2026-06-30T01:00:00Z", (("policy", HOSTILE),))
    path = tmp_path / "check.xml"
    path.write_text(text, encoding="utf-8")
    SCHEMA.validate(str(path))
    root = ET.parse(path).getroot()
    prohibited = next(s for s in root if s.get("name") == "fleetsam.prohibited")
    assert prohibited.find("testcase").get("name") == f"f-1: {CLEANED}"


@pytest.mark.parametrize("finished, stamp", [("2026-06-30T03:00:00+02:00", "2026-06-30T01:00:00"),
                                             ("2026-06-30T01:00:00", "2026-06-30T01:00:00")])
def test_timestamp_is_utc_without_a_zone(finished, stamp):
    root = ET.fromstring(junit_document("x", finished, [JUnitSuite("s", ())]).split("\n", 1)[1])
    assert root.find("testsuite").get("timestamp") == stamp


@settings(max_examples=150, deadline=None, database=None)  # no .hypothesis/ folder in the checkout
@given(st.text(st.characters(exclude_categories=())), st.text(st.characters(exclude_categories=())))
def test_any_text_gives_a_valid_document(name, text):
    """Any text, surrogates and control characters included, gives a valid UTF-8 document."""
    suite = JUnitSuite("s", (JUnitCase(name, name, (name, text, text)),), (("p", text),), text)
    data = junit_document(name, None, [suite]).encode("utf-8")  # raises on a lone surrogate left in
    assert SCHEMA.is_valid(data.decode("utf-8"))
    case = ET.fromstring(data).find("testsuite/testcase")
    assert case.get("name") == case.get("classname") == shown_text(name)
    assert case.find("failure").get("message") == shown_text(text)
