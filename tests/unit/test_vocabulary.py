"""The vocabularies are written once (sam_engine.vocabulary) and the version once (sam_engine.__version__)."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

import sam_engine
from sam_engine import vocabulary as v
from sam_engine.entitlements.fields import FieldError, ParseOptions, parse_metric
from sam_engine.licensing import metrics

REPO = Path(__file__).resolve().parents[2]
# Words whose meaning the vocabulary fixes; comparing against one spelt out elsewhere is a second definition.
WORDS = set(v.METRICS) | set(v.URGENCY) | set(v.FINDING_TYPES) | set(v.SEVERITIES)


def test_galaxy_yml_carries_the_engine_version():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))
    assert str(galaxy["version"]) == sam_engine.__version__


def test_pyproject_reads_the_version_from_the_engine():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^dynamic = \["version"\]', text, re.M)
    assert re.search(r'^version = \{ attr = "sam_engine.__version__" \}', text, re.M)
    assert not re.search(r'^version = "', text, re.M)


def test_report_schema_lists_the_statuses_in_urgency_order():
    schema = json.loads((REPO / "sam_engine" / "data" / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    assert tuple(schema["$defs"]["status"]["enum"]) == v.URGENCY


def test_every_metric_has_a_rule_and_names_are_normalised():
    assert set(metrics.RULES) == set(v.METRICS)
    assert [v.metric_name(t) for t in ("Per Device", "per-named-user", " CORE ", "install", "Installations")] == [
        "device", "named_user", "core", "installation", None]
    options = ParseOptions()
    assert parse_metric("per installation", options) == "installation" == parse_metric("install", options)
    with pytest.raises(FieldError, match='unknown metric "seat"; expected one of core, device, employee, installation, named_user, processor, pvu, site, vm'):
        parse_metric("seat", options)


def test_status_lists_are_views_of_one_enum():
    assert set(v.URGENCY) == {s.value for s in v.Status} and len(v.URGENCY) == len(v.Status)
    assert v.URGENCY[:len(v.NON_COMPLIANT)] == v.NON_COMPLIANT  # the most urgent are the ones short of licences
    assert set(v.NON_COMPLIANT) <= set(v.LICENSABLE) < set(v.URGENCY)
    assert v.Status.NO_LICENCE_NEEDED.value not in v.LICENSABLE


def test_every_finding_type_has_a_default_severity():
    assert set(v.DEFAULT_SEVERITY) == set(v.FINDING_TYPES)
    assert set(v.DEFAULT_SEVERITY.values()) | {v.URGENT_EXPIRY_SEVERITY} <= set(v.SEVERITIES)
    assert set(v.DEFAULT_FAIL_ON) <= set(v.FINDING_TYPES)
    assert [v.severity_rank(s) for s in ("info", "critical", "bogus")] == [0, 4, 0]


def _compared_words(tree: ast.AST):
    """String constants a comparison tests a value against (``x == "site"``, ``s in ("a", "b")``);
    a constant on the left (``"processor" in cpuinfo``) is a key looked up, not a value tested."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in node.comparators:
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                for item in items:
                    if isinstance(item, ast.Constant) and item.value in WORDS:
                        yield item.lineno, item.value


def test_no_module_compares_against_a_word_of_its_own():
    found = [f"{path.relative_to(REPO)}:{line}: {word!r}"
             for path in sorted((REPO / "sam_engine").rglob("*.py")) if path.name != "vocabulary.py"
             for line, word in _compared_words(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


def test_templates_and_script_spell_no_status():
    named = [s for s in v.URGENCY if s != v.Status.UNRECOGNISED.value]  # "unrecognised" also names a report section
    quoted = re.compile("|".join(rf"""["']{re.escape(s)}["']""" for s in named))
    sources = [p for p in (REPO / "sam_engine" / "data" / "templates").glob("*") if p.suffix in (".j2", ".js")]
    assert any(p.name == "report.js" for p in sources) and len(sources) > 3  # the check reads the real templates
    found = [f"{path.name}: {m.group()}" for path in sorted(sources)
             for m in quoted.finditer(path.read_text(encoding="utf-8"))]
    assert found == []


def test_every_metric_reads_in_a_sentence_for_zero_one_and_many():
    assert set(v.METRIC_UNITS) == set(v.Metric)
    assert [v.units(n, m) for n, m in ((0, "employee"), (1, "named_user"), (400, "named_user"), (1, "pvu"),
                                       (2, None))] == ["0 employees", "1 named user", "400 named users", "1 PVU",
                                                       "2 licences"]
