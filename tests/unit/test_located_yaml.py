"""The one located-YAML reader: every mistake a Problem at file:line:col with its field and what was expected."""

import time
from decimal import Decimal

import pytest

from sam_engine.located_yaml import MAX_ALIAS_VALUES, ConfigError, YamlFile
from sam_engine.model import Problem


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


def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path):
    (tmp_path / "latin1.yml").write_bytes("entitlements:\n  - vendor: Müller\n".encode("latin-1"))
    (tmp_path / "utf16.yml").write_bytes("a: 1\n".encode("utf-16"))
    (tmp_path / "bom.yml").write_bytes(b"\xef\xbb\xbfa: 1\nb: \xfc\n")
    names = ("latin1.yml", "utf16.yml", "bom.yml")
    assert [located(YamlFile(tmp_path / name, kind="licence file")) for name in names] == [
        [f"{tmp_path / 'latin1.yml'}:2:14: cannot read licence file: not UTF-8 text (byte 0xfc, offset 27 in the "
         "file); save it as UTF-8"],
        [f"{tmp_path / 'utf16.yml'}:1:1: cannot read licence file: not UTF-8 text (byte 0xff, offset 0 in the file); "
         "save it as UTF-8"],
        [f"{tmp_path / 'bom.yml'}:2:4: cannot read licence file: not UTF-8 text (byte 0xfc, offset 11 in the file); "
         "save it as UTF-8"]]


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


def laughs(levels: int) -> str:
    lines = ["n0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    return "\n".join(lines + [f"n{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels + 1)]) + "\n"


def test_aliases_expanding_past_the_limit_are_rejected_at_reading_and_at_once(tmp_path):
    # "billion laughs": 7 levels took 6.7 s and 260 MB in plain(), 8 levels raised MemoryError
    started = time.monotonic()
    doc = read(tmp_path, laughs(8), kind="mapping file")
    assert doc.unreadable and time.monotonic() - started < 2
    assert located(doc) == [f"{doc.path}:5:5: mapping file is not valid YAML: its aliases expand to more than "
                            f"{MAX_ALIAS_VALUES} values; write the data out instead"]


def test_aliases_within_the_limit_and_big_files_without_aliases_are_read(tmp_path):
    doc = read(tmp_path, laughs(3))  # 11,111 values from 40 nodes
    assert doc.problems == [] and len(doc.plain(doc.root)["n3"]) == 10
    doc = read(tmp_path, "items:\n" + "  - {a: 1, b: 2}\n" * 30_000)  # 150,000 nodes, no alias
    assert doc.problems == [] and len(doc.plain(doc.root)["items"]) == 30_000


def test_values_quoted_in_problems_are_cut_inert_and_concealed_when_asked(tmp_path):
    doc = read(tmp_path, 'a: "' + "x" * 100 + '"\nb: "SQL\\e[2J\\u202eServer"\n')
    top = doc.mapping(doc.root, "")
    doc.expected(top["a"], "a", "a list")
    doc.expected(top["b"], "b", "a list")
    assert located(doc) == [f'{doc.path}:1:4: a: expected a list, got "{"x" * 40}"... (100 characters)',
                            f'{doc.path}:2:4: b: expected a list, got "SQL\\u001b[2J\\u202eServer"']
    doc = read(tmp_path, "key: ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ\n", conceal=lambda text: "*" * len(text))
    doc.expected(doc.mapping(doc.root, "")["key"], "key", "a list")
    assert located(doc) == [f'{doc.path}:1:6: key: expected a list, got "{"*" * 29}"']


def test_a_config_error_is_printed_as_inert_lines():
    error = ConfigError([Problem("policy.yml:1:1", "x: got \"\x1b]0;owned\x07\u2028\"")])
    assert str(error) == 'policy.yml:1:1: x: got "\\x1b]0;owned\\x07\\u2028"'
