"""The prefilters of recognition (``licensing.rule_index``): one alternation call in place of one
``fullmatch`` per rule, and never another result than trying every rule in order."""

import re
import textwrap
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sam_engine.licensing import rule_index
from sam_engine.licensing.catalogue import Catalogue, load_catalogue
from sam_engine.licensing.rule_index import Alternation, StepPrefilter, TitlePrefilter, joinable
from test_catalogue import EXAMPLES, SHIPPED, TODAY, _records, from_example, inst

HOSTILE = ["", " ", "\x00", "Microsoft\x00Office 2019", "\ud800", "Adobe \udfff Acrobat", "line\nbreak",
           "Microsoft Office Professional Plus 2019\r\n", "=cmd|' /C calc'!A0", "<script>alert(1)</script>",
           "(?P<name>.+)", "\\1", "x" * 100_000, "Microsoft " + "9" * 100_000, "MATLAB R2023b" + " " * 5000 + "x"]
REAL_FILES = ["windows/glpi-agent_mssql-host_hklm-uninstall.reg", "linux/trivy_ubuntu18.04_var-lib-dpkg-status",
              "linux/jc_centos7.7_rpm-qai.txt", "linux/jc_arch_pacman-Qii_zstd.txt",
              "linux/glpi-agent_snap-list.txt", "swid/strongtnc_ubuntu12.04_many-concatenated-tags.txt"]


def _unfiltered(monkeypatch) -> Catalogue:
    """The shipped entries with no prefilter: every pattern refused, so every rule is tried as before."""
    monkeypatch.setattr(rule_index, "joinable", lambda pattern, flags: None)
    return Catalogue(SHIPPED.entries, today=TODAY)


def _records_of(real_fixtures):
    found = [from_example(example) for _, _, example in EXAMPLES]
    for relpath in REAL_FILES:
        found += [inst(r["title"], r.get("version"), r.get("publisher"), r.get("source", "windows"),
                       r.get("package_id"), r.get("location")) for r in _records(real_fixtures / relpath)]
    for source, vendor in (("windows", "Microsoft Corporation"), ("dpkg", "Debian <debian@debian.org>"),
                           ("rpm", "Red Hat, Inc."), ("macos-app", "Developer ID Application: Adobe Inc."),
                           ("chocolatey", "\x00"), ("snap", None)):
        found += [inst(title, "1.0\x00", vendor, source, origin="winget source=winget id=Git.Git 1",
                       location="/Applications/\ud800.app") for title in HOSTILE]
    return found


@pytest.mark.parametrize("pattern, rewritten", [
    ("Microsoft SQL Server (?P<version>20\\d\\d)( Express)?", "Microsoft SQL Server (?:20\\d\\d)(?: Express)?"),
    ("IGV([_ ](?P<version>\\d+(\\.\\d+)*))?", "IGV(?:[_ ](?:\\d+(?:\\.\\d+)*))?"),
    ("[(]x(?:y)", "[(]x(?:y)"),
    ("[]()]+(a)", "[]()]+(?:a)"),
    ("[^](]\\((b)", "[^](]\\((?:b)"),
    ("(?i:abc)(d)", "(?i:abc)(?:d)"),
    ("x(?#a (comment)y", "x(?#a (comment)y"),
    ("(?<=a)(b)(?!c)(?>d)", "(?<=a)(?:b)(?!c)(?>d)"),
])
def test_joinable_makes_every_group_non_capturing(pattern, rewritten):
    assert joinable(pattern, re.IGNORECASE) == rewritten


@pytest.mark.parametrize("pattern, flags", [
    ("(?P<w>[a-z]+)-(?P=w)", re.IGNORECASE),  # a named backreference
    ("(a+)-\\1", re.IGNORECASE),  # a numbered one
    ("(a)?(?(1)b|c)", re.IGNORECASE),  # a conditional
    ("(?s)a.b", re.IGNORECASE),  # global inline flags cannot sit inside an alternation
    ("a (b)", re.VERBOSE),
    ("(unclosed", re.IGNORECASE),
])
def test_joinable_refuses_what_counts_groups_or_sets_flags(pattern, flags):
    assert joinable(pattern, flags) is None


def test_every_shipped_title_pattern_reads_the_same_rewritten():
    titles = [t for t in {from_example(ex).name for _, _, ex in EXAMPLES}] + HOSTILE[:12]
    patterns = {r.pattern: r for e in SHIPPED.entries for rule in e.rules for name, r in rule if name == "title"}
    joined = {p: joinable(p, r.flags) for p, r in patterns.items()}
    assert sum(text is not None for text in joined.values()) > 0.95 * len(joined)
    for pattern, text in joined.items():
        if text is None:
            continue
        again = re.compile(text, patterns[pattern].flags)
        assert again.groups == 0
        for title in titles:
            assert (again.fullmatch(title) is None) == (patterns[pattern].fullmatch(title) is None), (pattern, title)


def test_prefilters_find_what_trying_every_rule_finds(monkeypatch, real_fixtures):
    records = _records_of(real_fixtures)
    slow = _unfiltered(monkeypatch)
    expected = [slow.recognise(r) for r in records]
    assert not any(p._titles.joined for p in slow._prefilters._titles.values())
    monkeypatch.undo()
    fast = Catalogue(SHIPPED.entries, today=TODAY)
    assert [fast.recognise(r) for r in records] == expected
    # the prefilters really hold rules: those left of the rules tried on every title per publisher and source
    assert max(len(p._titles.joined) for p in fast._prefilters._titles.values()) >= 10
    assert len(fast._prefilters._steps) > 1


def test_a_dropped_title_never_matches_and_the_first_kept_does():
    keys = SHIPPED._always
    titles = [dict(SHIPPED.entries[pos].rules[n]).get("title") for pos, n in keys]
    prefilter = TitlePrefilter(keys, titles)
    joined = prefilter._titles.joined
    for title in HOSTILE + [from_example(ex).name for _, _, ex in EXAMPLES]:
        kept = prefilter.candidates(title)
        for key, regex in zip(keys, titles):
            if key not in kept:
                assert regex.fullmatch(title) is None, (key, title)
        first = next((k for k in kept if k in joined), None)
        if first is not None:
            assert titles[keys.index(first)].fullmatch(title) is not None, (first, title)


USER = """
- id: early
  match: {title: '[Ff]oo (?P<edition>Pro|Lite)', publisher: 'Foo Corp'}
  publisher: Foo
  product: Foo Early
  licence: required
- id: early-version
  match: {title: '[Ff]oo (?P<edition>Pro|Lite)', version: '1\\..*'}
  publisher: Foo
  product: Foo One
  licence: required
- id: echo
  match: {title: '(?P<word>[a-z]+)-(?P=word)'}
  publisher: Echo
  product: "Echo {word}"
  licence: free
- id: winget-then-version
  match: [{origin: 'winget .* id=Bar\\..*', version: '2\\..*'}]
  publisher: Bar
  product: Bar Two
  licence: required
- id: later
  match: [{title: '[Ff]oo (?P<edition>\\w+)'}, {origin: 'winget .* id=Bar\\..*'}]
  publisher: Foo
  product: Foo Later
  licence: free
"""


@pytest.fixture
def user_catalogue(tmp_path):
    path = tmp_path / "user.yml"
    path.write_text(textwrap.dedent(USER))
    catalogue, problems = load_catalogue([path], include_shipped=False, today=TODAY)
    assert problems == []
    return catalogue


@pytest.mark.parametrize("title, vendor, version, origin, product, edition", [
    ("Foo Pro", "Foo Corp", "3", None, "Foo Early", "Pro"),
    ("Foo Pro", "Other", "3", None, "Foo Later", "Pro"),  # early's title passes the prefilter, its publisher fails
    ("foo Lite", "Other", "1.5", None, "Foo One", "Lite"),  # a step: early-version's title and version match
    ("Foo Lite", "Other", "2.5", None, "Foo Later", "Lite"),  # its title matches, its version does not
    ("Foo Enterprise", "Foo Corp", "1.0", None, "Foo Later", "Enterprise"),  # named groups of the later rule
    ("abc-abc", None, "1", None, "Echo abc", None),  # a backreference: outside the alternation, still tried
    ("abc-abd", None, "1", None, "abc-abd", None),
    ("Bar", None, "2.1", "winget source=winget id=Bar.App 2.1", "Bar Two", None),
    ("Bar", None, "3.0", "winget source=winget id=Bar.App 3.0", "Foo Later", None),  # step: origin ok, version not
    ("Bar", None, "2.1", "apt origin=Debian", "Bar", None),
    ("Foo\nPro", "Foo Corp", "1", None, "Foo Early", "Pro"),  # a line break is collapsed like any whitespace
    ("Foo Pro\x00", "Foo Corp", "1", None, "Foo Pro\x00", None),
])
def test_user_rules_in_order(user_catalogue, title, vendor, version, origin, product, edition):
    got = user_catalogue.recognise(inst(title, version, vendor, "windows", origin=origin))
    assert (got.product, got.edition) == (product, edition)


def test_user_rules_are_prefiltered(user_catalogue):
    always = user_catalogue._prefilters.of(None, user_catalogue._always)
    early, early_version, echo, later = [(0, 0), (1, 0), (2, 0), (4, 0)]
    assert always._titles.joined == (early, early_version, later)  # echo's backreference keeps it out
    assert always.candidates("Bar") == ((2, 0), (3, 0), (4, 1))  # no title matches: the title-less rules and echo
    assert always.candidates("Foo Max") == (echo, (3, 0), later, (4, 1))
    assert echo in always.candidates("Foo Pro")


def test_step_prefilter_drops_steps_whose_first_field_fails():
    origin = re.compile("winget .* id=Bar\\..*", re.IGNORECASE)
    version = re.compile("2\\..*", re.IGNORECASE)
    anything = re.compile("(?P<name>.+)", re.IGNORECASE)
    rests = [(("origin", origin), ("version", version)), (("version", version),), (("origin", origin),),
             (("location", anything),), (("version", re.compile("1\\..*", re.IGNORECASE)),)]
    prefilter = StepPrefilter(range(len(rests)), rests)
    fields = {"origin": "apt origin=Debian", "version": "2.0", "location": ""}
    assert prefilter.kept(fields) == (1, 3, 4)  # the wildcard is kept: it is tried as before
    fields = {"origin": "winget source=winget id=Bar.App 1", "version": "1.0", "location": "\x00"}
    assert prefilter.kept(fields) == (0, 2, 3, 4)
    fields = {"origin": "winget\nsource=winget id=Bar.App 1", "version": None, "location": "\ud800"}
    assert prefilter.kept(fields) == (3,)  # "." stops at a line break; a missing field matches nothing


def test_an_alternation_that_does_not_compile_drops_nothing(monkeypatch):
    def refuse(pattern, flags=0):
        raise OverflowError("regular expression code size limit exceeded")

    patterns = [re.compile(p, re.IGNORECASE) for p in ("a+", "b+")]
    monkeypatch.setattr(rule_index, "re", SimpleNamespace(compile=refuse, error=re.error, VERBOSE=re.VERBOSE))
    alternation = Alternation(["a", "b"], patterns)
    assert (alternation.joined, alternation.first("zzz")) == ((), 0)


# Titles made of the catalogue's own words (so that rules match often), hostile text and any text.
_WORDS = sorted({w for _, _, ex in EXAMPLES for w in str(ex["title"]).split()})
_word = st.one_of(st.sampled_from(_WORDS), st.sampled_from(HOSTILE[:12]), st.text(max_size=8))
_titles = st.lists(_word, min_size=1, max_size=6).flatmap(
    lambda words: st.sampled_from([" ", "", "-", "\t"]).map(lambda sep: sep.join(words)))
_examples = st.sampled_from([ex for _, _, ex in EXAMPLES])


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=st.one_of(_titles, _examples.map(lambda ex: str(ex["title"]))),
       example=_examples, version=st.one_of(st.none(), st.text(max_size=12), st.from_regex(r"\d{1,4}(\.\d{1,3}){0,3}")),
       origin=st.one_of(st.none(), st.text(max_size=20), _examples.map(lambda ex: ex.get("origin") or "")))
def test_prefiltered_recognition_equals_every_rule_tried_in_order(title, example, version, origin):
    """Any title, beside a real example's publisher, source and package id: the prefiltered catalogue
    and one that tries every rule in order read it the same."""
    record = inst(title, version, example.get("publisher"), example.get("source", "windows"), example.get("package_id"),
                  example.get("location"), origin=origin)
    with pytest.MonkeyPatch.context() as mp:  # the unfiltered one builds its (empty) prefilters only under this
        mp.setattr(rule_index, "joinable", lambda pattern, flags: None)
        expected = _UNFILTERED.recognise(record)
    assert _PREFILTERED.recognise(record) == expected


_PREFILTERED, _UNFILTERED = Catalogue(SHIPPED.entries, today=TODAY), Catalogue(SHIPPED.entries, today=TODAY)
