"""The one located-YAML reader: every mistake a Problem at file:line:col with its field and what was expected."""

from decimal import Decimal

import pytest

from sam_engine.located_yaml import ConfigError, YamlFile


def read(tmp_path, text, **kwargs):
    path = tmp_path / "f.yml"
    path.write_text(text, encoding="utf-8")
    return YamlFile(path, **kwargs)


def located(doc):
    return [f"{p.source}: {p.message}" for p in doc.problems]


def test_syntax_error_points_at_the_mark_and_names_the_kind_of_file(tmp_path):
    doc = read(tmp_path, "a: 1\nb: [2\n", kind="rule file", label="rules.yml")
    assert doc.unreadable and doc.root is None
    assert located(doc)[0].startswith("rules.yml:3:1: rule file is not valid YAML: ")


def test_unreadable_file_is_a_problem_not_an_exception(tmp_path):
    doc = YamlFile(tmp_path / "missing.yml", kind="licence file")
    assert doc.unreadable
    assert located(doc) == [f"{tmp_path / 'missing.yml'}: cannot read licence file: No such file or directory"]
    (tmp_path / "binary.yml").write_bytes(b"a: \xff\n")
    assert YamlFile(tmp_path / "binary.yml").problems[0].message.startswith("cannot read: 'utf-8' codec")


def test_unknown_and_repeated_keys_are_located_at_the_key(tmp_path):
    doc = read(tmp_path, "top:\n  known: 1\n  other: 2\n  known: 3\n")
    fields = doc.mapping(doc.mapping(doc.root, "", ("top",))["top"], "top", ("known",))
    assert list(fields) == ["known"] and fields["known"].value == "1"
    assert located(doc) == [
        f"{doc.path}:3:3: top.other: unknown field; expected one of known",
        f"{doc.path}:4:3: top.known: given twice (first at {doc.path}:2:3)",
    ]


def test_wrong_types_say_what_was_expected_and_what_was_found(tmp_path):
    doc = read(tmp_path, "n: many\nflag: maybe\nitems: {a: 1}\nname: [x]\nwhen: 2025-02-30\nre: '('\n")
    top = doc.mapping(doc.root, "")
    assert doc.integer(top["n"], "n", 7, 1) == 7
    assert doc.boolean(top["flag"], "flag", True) is True
    assert doc.sequence(top["items"], "items") == []
    assert doc.text(top["name"], "name") is None
    assert doc.date(top["when"], "when") is None
    assert doc.pattern(top["re"], "re") is None
    assert [line.split(": ", 1)[1] for line in located(doc)] == [
        'n: expected a whole number >= 1, got "many"',
        'flag: expected true or false, got "maybe"',
        "items: expected a list, got a mapping",
        "name: expected a text, got a list",
        'when: expected a date YYYY-MM-DD, got "2025-02-30"',
        're: expected a regular expression, got "(" (missing ), unterminated subpattern at position 0)',
    ]
    assert [p.source.rsplit(":", 2)[1:] for p in doc.problems] == [
        ["1", "4"], ["2", "7"], ["3", "8"], ["4", "7"], ["5", "7"], ["6", "5"]]


def test_required_field_is_reported_at_its_mapping(tmp_path):
    doc = read(tmp_path, "entries:\n  - name: x\n  - {name: y, size: ~}\n")
    first, second = doc.sequence(doc.mapping(doc.root, "")["entries"], "entries")
    assert doc.required(doc.mapping(first, "entries[0]"), "size", first, "entries[0]", "a number") is None
    assert doc.required(doc.mapping(second, "entries[1]"), "size", second, "entries[1]", "a number") is None
    assert located(doc) == [f"{doc.path}:2:5: entries[0].size: expected a number, got nothing",
                            f"{doc.path}:3:21: entries[1].size: expected a number, got nothing"]


def test_scalars_stay_as_written_and_numbers_are_exact(tmp_path):
    doc = read(tmp_path, "\ufeffversion: 1.10\nprice: 1234.50\nwhen: 2025-01-31\nnone: ~\n")
    top = doc.mapping(doc.root, "")
    assert doc.plain(doc.root) == {"version": "1.10", "price": "1234.50", "when": "2025-01-31", "none": None}
    assert doc.number(top["price"], "price", None) == Decimal("1234.50")
    assert doc.number(top["version"], "version", None, Decimal(0), above=True) == Decimal("1.10")
    assert doc.problems == []


def test_merge_keys_fill_in_and_own_keys_win(tmp_path):
    doc = read(tmp_path, "base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\n")
    fields = doc.mapping(doc.mapping(doc.root, "")["use"], "use", ("a", "b"))
    assert {k: v.value for k, v in fields.items()} == {"a": "1", "b": "3"} and doc.problems == []


def test_check_raises_every_problem_in_file_order(tmp_path):
    doc = read(tmp_path, "b: x\na: y\n")
    top = doc.mapping(doc.root, "")
    doc.integer(top["b"], "b", 0)
    doc.integer(top["a"], "a", 0)
    doc.problems.reverse()
    with pytest.raises(ConfigError) as caught:
        doc.check()
    assert [line.split(":")[1] for line in str(caught.value).splitlines()] == ["1", "2"]


@pytest.mark.parametrize("text, where, why", [
    ("entitlements:\n  - {publisher: &a [*a]}\n", "2:17", "an alias inside its own anchor"),
    ("base: &b {x: 1, <<: *b}\n", "1:7", "an alias inside its own anchor"),
    ("deep: " + "[" * 100 + "]" * 100 + "\n", "1:70", "nested deeper than 64 levels"),
])
def test_a_structure_no_loader_could_walk_is_rejected_at_reading(tmp_path, text, where, why):
    doc = read(tmp_path, text, kind="licence file")
    assert doc.unreadable
    assert located(doc) == [f"{doc.path}:{where}: licence file is not valid YAML: {why}" + (
        " (a structure that contains itself)" if "alias" in why else "")]
