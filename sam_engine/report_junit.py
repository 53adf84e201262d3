"""JUnit XML from the report model: one test case per licensable product, for CI.

A product that is under-licensed or unlicensed is a failing test case whose
``<failure>`` carries the figures (message) and the arithmetic (text); a
compliant or over-licensed product passes. CI servers (Jenkins, GitLab,
GitHub actions that read JUnit) then show the licence position as a test
report. The layout follows the common JUnit schema (the Windy Road / Jenkins
``junit-10.xsd`` facts: ``testsuites`` > ``testsuite`` with name, timestamp
without zone, hostname, tests, failures, errors, time, id and package, then
``properties``, ``testcase``s, ``system-out``, ``system-err``);
``schemas/junit.xsd`` is the schema it is validated against in the tests.

Text that XML 1.0 cannot carry (control characters a package name may hold)
is replaced by U+FFFD.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from typing import Any

FAILING = ("under-licensed", "unlicensed")
SUITE_NAME = "fleetsam licence position"
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _timestamp(text: str | None) -> str:
    """ISO 8601 date and time in UTC without a zone designator (as the JUnit schema wants)."""
    try:
        when = dt.datetime.fromisoformat((text or "").replace("Z", "+00:00"))
    except ValueError:
        when = dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _message(r: dict[str, Any]) -> str:
    cost = f"; gap cost {r['gap_cost']} {r['currency'] or ''}".rstrip() if r["gap_cost"] else ""
    return (f"{r['status']}: consumption {r['consumption']} {r['metric'] or ''}, owned {r['owned']}, "
            f"shortfall {r['shortfall']}{cost}").replace("  ", " ")


def _case(parent: ET.Element, r: dict[str, Any]) -> bool:
    case = ET.SubElement(parent, "testcase", {
        "classname": xml_text(f"fleetsam.licence.{r['publisher'] or 'unknown'}"),
        "name": xml_text(r["label"]),
        "time": "0",
    })
    if r["status"] not in FAILING:
        return False
    failure = ET.SubElement(case, "failure", {"type": xml_text(r["status"]), "message": xml_text(_message(r))})
    lines = [*r["trace"]["consumption"], *r["trace"]["ownership"], *r["trace"]["cost"], *r["notes"]]
    failure.text = xml_text("\n".join(lines))
    return True


def to_junit(model: dict[str, Any]) -> str:
    """The JUnit XML document of the model's licence position."""
    rows = model["position"]["licensable"] if model["position"] else []
    root = ET.Element("testsuites", {"name": SUITE_NAME})
    suite = ET.SubElement(root, "testsuite", {
        "name": SUITE_NAME,
        "package": "fleetsam",
        "id": "0",
        "hostname": "fleetsam",
        "timestamp": _timestamp(model["scan"]["finished"]),
        "time": "0",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("scan_id", model["scan"]["scan_id"]),
                        ("previous_scan_id", model["scan"]["previous_scan_id"]),
                        ("as_of", model["position"]["as_of"] if model["position"] else None),
                        ("tool_version", model["tool_version"]),
                        ("schema_version", model["schema_version"])):
        if value is not None:
            ET.SubElement(props, "property", {"name": name, "value": xml_text(value)})
    failures = sum(_case(suite, r) for r in rows)
    out = ET.SubElement(suite, "system-out")
    out.text = xml_text("\n".join(model["position"]["problems"])) if model["position"] else ""
    ET.SubElement(suite, "system-err")
    counts = {"tests": str(len(rows)), "failures": str(failures), "errors": "0"}
    suite.attrib.update(counts)
    root.attrib.update(counts, time="0")
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
