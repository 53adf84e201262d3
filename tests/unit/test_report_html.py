"""The HTML report: templates compute nothing, the data island cannot break out, 10,000 hosts stay under 10 MB.

Opening time is not asserted here (no timing in tests): bench/report_open.py
measures it on the same synthetic fleet (tests/unit/synthetic_fleet.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import nodes
from report_browser import read_island
from synthetic_fleet import synthetic_model

from sam_engine.report import island as page_island
from sam_engine.report import render
from sam_engine.report.formats import rtl_isolated
from sam_engine.report.island import island_json, shorten

TEMPLATES = sorted(p.name for p in render.TEMPLATE_DIR.glob("*.j2") if p.name.startswith(("report", "audit_")))
ARITHMETIC = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Neg)
# filters that sort, select, aggregate or calculate: the model does that
COMPUTING = {"sort", "dictsort", "sum", "min", "max", "groupby", "selectattr", "rejectattr", "select", "reject", "map",
             "unique", "reverse", "batch", "slice", "round", "int", "float", "abs", "random", "first", "last"}
FORMATTING = {"length", "join", "replace"}  # counting what is shown, joining and spelling class names


def _parsed(name: str) -> nodes.Template:
    env = render.environment()
    source = Path(env.loader.get_source(env, name)[1]).read_text(encoding="utf-8")
    return env.parse(source)


def test_there_are_report_templates():
    assert {"report.html.j2", "report_position.html.j2", "report_sections.html.j2", "audit_position.html.j2"} <= set(
        TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_computes_nothing(name):
    tree = _parsed(name)
    arithmetic = [type(n).__name__ for n in tree.find_all(ARITHMETIC)]
    assert not arithmetic, f"{name}: arithmetic in a template ({arithmetic}); compute it in the report model"
    filters = {n.name for n in tree.find_all(nodes.Filter)}
    assert not filters & COMPUTING, f"{name}: computing filters {filters & COMPUTING}"
    assert filters <= FORMATTING, f"{name}: unexpected filters {filters - FORMATTING}"
    calls = [n for n in tree.find_all(nodes.Call) if not (isinstance(n.node, nodes.Getattr) and n.node.attr == "items")]
    assert not calls, f"{name}: function calls in a template"


def test_templates_autoescape_and_fail_on_unknown_fields():
    env = render.environment()
    assert env.autoescape is True
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ report.nope }}").render(report={})


@pytest.mark.parametrize("text", ["</script><script>alert(1)</script>", "<!-- x", "a & b", "\u2028", "<\u2029>"])
def test_island_json_cannot_close_its_script_element(text):
    out = str(island_json({"name": text}))
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out and "\u2029" not in out
    assert json.loads(out) == {"name": text}


def test_island_json_shows_bidi_controls_as_replacement_characters():
    """The data report.js draws from cannot reorder the page: keys and values lose their bidi controls."""
    out = str(island_json({"h4\u202eexe.txt": ["a\u2066b\u2069", "\u200f\u061c"]}))
    assert json.loads(out) == {"h4\ufffdexe.txt": ["a\ufffdb\ufffd", "\ufffd\ufffd"]}


def test_right_to_left_runs_are_isolated_alike_in_the_island_and_the_page():
    """A Hebrew host name is wrapped in U+2068 ... U+2069 so the figures after it stay in place; the island
    (one pass over its JSON text) and a value a template writes (one pass over the value) give the same text."""
    assert rtl_isolated("שרת1: 1 socket × 2 cores = 2") == "\u2068שרת1\u2069: 1 socket × 2 cores = 2"
    assert rtl_isolated("a שרת ראשי, b") == "a \u2068שרת ראשי\u2069, b"
    assert rtl_isolated("web1: 2 cores") == "web1: 2 cores"
    # only the right-to-left words: a Latin word or a figure after them inside the isolate would be reordered
    assert rtl_isolated("שרת 16 cores × 0.5 = 8") == "\u2068שרת\u2069 16 cores × 0.5 = 8"
    assert rtl_isolated("db1, db2, שרת and 7 more") == "db1, db2, \u2068שרת\u2069 and 7 more"
    assert rtl_isolated("יוסי uses Microsoft 365 Apps on 6 devices") == "\u2068יוסי\u2069 uses Microsoft 365 Apps on 6 devices"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("שרתبرنامج a1.-_:,u0\"\\<>&\u202e\u2028é\u0301\U00010900")))
def test_island_text_is_the_page_text(text):
    assert json.loads(str(island_json({"k": text}))) == {"k": render._well_formed(text)}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("שרת a1u0\"\\\n\x1b\t")))
def test_json_escapes_beside_right_to_left_text_stay_whole(text):
    """The island's own escapes (``\\n``, ``\\u001b``, ``\\"``) are never split by an isolate: it reads back as the text."""
    assert json.loads(str(island_json({"k": text})))["k"].replace("\u2068", "").replace("\u2069", "") == text


def test_long_trace_lines_are_cut_in_the_page_only():
    line = "total: " + " + ".join(["1"] * 10000) + " = 10000"
    cut = shorten(line)
    assert len(cut) < 500 and "report.json" in cut
    assert shorten("short") == "short"


# --- a 10,000-host fleet ----------------------------------------------------------------------

HOSTS = 10_000
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def model():
    return synthetic_model(HOSTS)


def test_ten_thousand_host_report_is_under_10_mb(model):
    html = render.render_html(model)
    size = len(html.encode("utf-8"))
    assert size < LIMIT, f"{size / 1e6:.1f} MB"
    assert html.count("<tr") < 200, "host detail is paginated from the data island, not dumped as rows"
    island = read_island(html)
    assert len(island["hosts"]) == HOSTS and len(island["unrecognised"]) + len(island["distribution"]) >= HOSTS
    bash = next(t for t in island["free"] if t[2] == "openssl")
    assert bash[4] == HOSTS and bash[5][0] == "host00000.example.com"
    assert len(bash[5]) == page_island.TITLE_HOSTS, "a title names a few hosts; installations.csv has them all"
    rhel = next(p for p in island["products"].values() if p["label"].startswith("Red Hat Enterprise Linux"))
    assert len(rhel["hosts"]) == 4000, "every host behind a number stays reachable in the drill-down"
    assert island["hosts"][0][0] == "host00000.example.com" and rhel["hosts"][0][0].startswith("host")
    assert not any(h[4].startswith(h[0]) for h in rhel["hosts"]), "the arithmetic does not repeat its row's host"
    assert all(len(line) < 600 for p in island["products"].values() for line in p["trace"])


def test_the_model_keeps_everything(model):
    assert model["summary"]["hosts"] == HOSTS and model["summary"]["hosts_stale"] == HOSTS // 100
    assert model["summary"]["installations"] == sum(h["package_count"] for h in model["hosts"]) > 40 * HOSTS
    changes = model["changes"]["summary"]
    assert (changes["installs_changed"], changes["installs_added"]) == (HOSTS // 10, HOSTS // 100)


def _compiled_env(cache) -> jinja2.Environment:
    env = render.environment()
    return jinja2.Environment(loader=env.loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, bytecode_cache=cache)


def test_compiled_templates_are_kept_and_a_damaged_or_unwritable_cache_costs_no_report(tmp_path):
    model = synthetic_model(hosts=3)
    expected = render.render_html(model)
    cache = render.CompiledTemplates(str(tmp_path))
    first = _compiled_env(cache).get_template("report.html.j2")
    kept = list(tmp_path.iterdir())
    assert len(kept) == 1 and kept[0].stat().st_size > 1000
    kept[0].write_bytes(b"not a compiled template")
    again = _compiled_env(cache).get_template("report.html.j2")  # compiled again, the entry replaced
    assert again.render is not None and kept[0].read_bytes() != b"not a compiled template"
    nowhere = render.CompiledTemplates(str(tmp_path / "missing" / "folder"))
    assert _compiled_env(nowhere).get_template("report.html.j2").name == first.name
    assert render.render_html(model) == expected  # the process's environment, cache or not
