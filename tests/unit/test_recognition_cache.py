"""The recognition cache beside the store: a repeat run recognises nothing afresh and gets the
same position as a cold run; any change of the catalogue, the rules or the user's catalogue
gives a new reading; a corrupt or foreign cache is ignored with a warning.

The fleet is real captured package lists (Ubuntu dpkg status, CentOS ``rpm -qai``, Arch
``pacman -Qii``, Alpine's apk database) and the recorded Windows host built from real exports.
"""

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_origins import intern_origins
from fleet_spools import module_result
from sam_engine import pipeline
from sam_engine.licensing.catalogue import Catalogue, load_catalogue
from sam_engine.licensing import context
from sam_engine.licensing.catalogue_cache import LazyPattern, catalogue_from_plain, catalogue_plain
from sam_engine.licensing.context import LicenceSettings, load_context, recognition_digest
from sam_engine.model import Installation
from sam_engine.vocabulary import Status
from sam_engine.package_data import data_dir
from sam_engine.store.recognition_cache import FORMAT, RecognitionCache, cache_file

LINUX = {"ubuntu": ("trivy_ubuntu18.04_var-lib-dpkg-status", parsers.parse_dpkg_status),
         "centos": ("jc_centos7.7_rpm-qai.txt", parsers.parse_rpm_qi),
         "arch": ("jc_arch_pacman-Qii_zstd.txt", parsers.parse_pacman_qi),
         "alpine": ("syft_alpine_lib-apk-db-installed", parsers.parse_apk_installed)}
WINDOWS = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "windows_composite-host.json"
AS_OF = dt.date(2026, 11, 30)


def real_spool(root: Path, real_fixtures: Path, scan_id: str = "s1") -> Path:
    spool = root / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": "2026-11-29T01:00:00Z",
                                                 "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    results = {"win01": json.loads(WINDOWS.read_text(encoding="utf-8"))}
    for name, (fixture, parse) in LINUX.items():
        records = parse((real_fixtures / "linux" / fixture).read_text(encoding="utf-8"))
        result = module_result(name, [])
        result["origins"], result["software"] = intern_origins(records), records
        results[name] = result
    for name, result in results.items():
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(
            {"inventory_name": name, "status": "ok", "result": result, "error": None}, ensure_ascii=False))
    return spool


def position_rows(position) -> list[tuple]:
    return [(p.publisher, p.product, p.edition, p.status, p.consumption, p.ownership, p.balance, p.hosts,
             tuple(p.installations), p.notes) for p in position]


def run(tmp_path: Path, real_fixtures: Path, store: Path, settings: LicenceSettings | None = None):
    spool = real_spool(tmp_path / f"spool-{len(list(tmp_path.glob('spool-*')))}", real_fixtures)
    store.unlink(missing_ok=True)  # the same spool again: a new store, the cache beside it kept
    return pipeline.process_spool(spool, store=str(store), report_dir=tmp_path / "reports", as_of=AS_OF,
                                  settings=settings or LicenceSettings(licences_dir=Path("examples/licences")))


def test_a_repeat_run_recognises_nothing_afresh_and_gets_the_cold_runs_position(tmp_path, real_fixtures,
                                                                               monkeypatch):
    store = tmp_path / "fleet.json"
    cold = run(tmp_path, real_fixtures, store)
    cache = cache_file(str(store))
    assert cache == tmp_path / "fleet.json.recognition" and cache.stat().st_mode & 0o777 == 0o600
    doc = json.loads(cache.read_text())
    assert doc["format"] == FORMAT and len(doc["rows"]) == 12 * (cold.scan.installation_count - duplicates(cold))
    assert len(doc["strings"]) == len(set(doc["strings"]))  # each text once
    written = cache.stat().st_mtime_ns

    def no_matching(*args):
        raise AssertionError("a repeat run matched a title against the catalogue")

    monkeypatch.setattr(Catalogue, "_match_static", no_matching)
    monkeypatch.setattr(context, "load_catalogue", no_matching)  # the composed catalogue comes from the cache
    warm = run(tmp_path, real_fixtures, store)
    assert not [p for p in warm.problems if "recognition cache" in p.message]
    assert position_rows(warm.position) == position_rows(cold.position)
    assert len(position_rows(cold.position)) > 100  # the real fleet: hundreds of products, some licensable
    assert any(p.status is not Status.NO_LICENCE_NEEDED for p in cold.position.products)
    assert cache.stat().st_mtime_ns == written, "nothing learnt: the cache is not rewritten"


def duplicates(summary) -> int:
    """Installations sharing their 7 key fields with another (read once)."""
    keys = [(i.source, i.name, i.vendor, i.package_id, i.version, i.origin, i.location)
            for hs in summary.scan.hosts for i in hs.installations]
    return len(keys) - len(set(keys))


def recognitions(catalogue: Catalogue, insts: list[Installation]) -> list:
    return [catalogue.recognise(i) for i in insts]


def real_installations(tmp_path, real_fixtures) -> list[Installation]:
    store = tmp_path / "read.json"
    summary = run(tmp_path, real_fixtures, store)
    return [i for hs in summary.scan.hosts for i in hs.installations]


def test_recalled_readings_equal_fresh_ones_and_the_licence_follows_the_date(tmp_path, real_fixtures):
    insts = real_installations(tmp_path, real_fixtures)
    cold, _ = load_catalogue([], today=AS_OF)
    fresh = recognitions(cold, insts)
    for today in (AS_OF, dt.date(2019, 1, 1), dt.date(2035, 1, 1)):
        warm, _ = load_catalogue([], today=today)
        assert warm.recall(cold.readings())
        again, _ = load_catalogue([], today=today)
        assert recognitions(warm, insts) == recognitions(again, insts)
        assert warm.misses == 0 and not warm.learnt()
    assert recognitions(cold, insts) == fresh


def test_editing_a_catalogue_entry_changes_the_digest_and_the_reading(tmp_path, real_fixtures, monkeypatch):
    shipped = tmp_path / "catalogue"
    shipped.mkdir()
    for file in data_dir("catalogue").glob("*.yml"):
        (shipped / file.name).write_bytes(file.read_bytes())
    monkeypatch.setenv("FLEETSAM_CATALOGUE", str(shipped))
    settings = LicenceSettings(licences_dir=tmp_path / "none", rules_dir=data_dir("catalogue") / "metrics")
    store = tmp_path / "fleet.json"
    memory = RecognitionCache.beside(str(store))
    git = Installation("windows", "Git version 2.12.2.2", "2.12.2.2", None, "The Git Development Community", None,
                       "windows:HKLM64:Git_is1")
    first = load_context(settings, AS_OF, (), memory=memory)
    before = first.catalogue.recognise(git)
    assert before.rule is not None and first.remember() == []
    digest = recognition_digest(settings)
    text = (shipped / "free-software.yml").read_text()
    edited = text.replace("product: Git\n", "product: Git SCM\n", 1)
    assert edited != text
    (shipped / "free-software.yml").write_text(edited)
    assert recognition_digest(settings) != digest
    second = load_context(settings, AS_OF, (), memory=memory)
    assert second.catalogue.recognise(git).product == "Git SCM" and second.catalogue.misses == 1
    # the user's catalogue and the metric rules are inputs too
    extra = tmp_path / "mine.yml"
    extra.write_text("- {id: mine, match: {title: 'Mine'}, publisher: Me, product: Mine, licence: free}\n")
    assert recognition_digest(LicenceSettings(catalogue_extra=(extra,))) != recognition_digest(LicenceSettings())
    rules = tmp_path / "rules"
    rules.mkdir()
    for file in (data_dir("catalogue") / "metrics").glob("*.yml"):
        (rules / file.name).write_bytes(file.read_bytes() + b"\n# edited\n")
    assert recognition_digest(LicenceSettings(rules_dir=rules)) != recognition_digest(LicenceSettings())


BASH = ["dpkg", "bash", None, "dpkg:bash", "5.2", None, None, "GNU", "Bash", None, "5.2", None]


@pytest.mark.parametrize("body, says", [
    (b"\x00\xff not json", "is not JSON"),
    (b'{"format": "something else", "rows": []}', "is not a fleetsam recognition cache"),
    (b'[1, 2, 3]', "is not a fleetsam recognition cache"),
    ((BASH, list(range(11))), "rows: expected indexes into strings, 12 per row"),  # a row cut short
    ((BASH, list(range(11)) + [12]), "rows: expected indexes"),  # past the strings
    ((BASH, list(range(11)) + [-1]), "rows: expected indexes"),
    ((BASH, list(range(11)) + [1.0]), "rows: expected indexes"),
    ((BASH, list(range(11)) + [True]), "rows: expected indexes"),
    ((BASH, {"0": 1}), "rows: expected indexes"),
    ((BASH[:11] + [5.2], list(range(12))), "strings: expected a list of texts or nulls"),
    (({"dpkg": "bash"}, list(range(12))), "strings: expected a list"),
    ("unknown-rule", "names rules this catalogue lacks"),
])
def test_a_corrupt_or_foreign_cache_is_ignored_with_a_warning_and_replaced(tmp_path, body, says):
    settings = LicenceSettings(licences_dir=tmp_path / "none")
    memory = RecognitionCache(tmp_path / "fleet.json.recognition")
    digest = recognition_digest(settings)
    if isinstance(body, tuple):  # the strings and the rows as indexes into them
        body = json.dumps({"format": FORMAT, "digest": digest, "strings": body[0], "rows": body[1]}).encode()
    elif body == "unknown-rule":
        body = json.dumps({"format": FORMAT, "digest": digest, "strings": BASH[:11] + ["gone.yml:bash"],
                           "rows": list(range(12))}).encode()
    memory.path.write_bytes(body)
    ctx = load_context(settings, AS_OF, (), memory=memory)
    (warning,) = [p for p in ctx.problems if "recognition cache" in p.message]
    assert warning.severity == "warning" and says in warning.message and warning.source == str(memory.path)
    bash = Installation("dpkg", "bash", "5.2", "amd64", "GNU", None, "dpkg:bash")
    assert ctx.catalogue.recognise(bash) == load_catalogue([], today=AS_OF)[0].recognise(bash)
    assert ctx.remember() == []
    assert json.loads(memory.path.read_text())["digest"] == digest


def test_a_cache_an_older_fleetsam_wrote_is_replaced_silently(tmp_path):
    """Format 1 (rows of texts): recognised afresh without a warning, and rewritten in this format."""
    settings = LicenceSettings(licences_dir=tmp_path / "none")
    memory = RecognitionCache(tmp_path / "fleet.json.recognition")
    digest = recognition_digest(settings)
    memory.path.write_text(json.dumps({"format": "fleetsam-recognition-cache/1", "digest": digest, "rows": [BASH]}))
    ctx = load_context(settings, AS_OF, (), memory=memory)
    assert not [p for p in ctx.problems if "recognition cache" in p.message]
    ctx.catalogue.recognise(Installation("dpkg", "bash", "5.2", "amd64", "GNU", None, "dpkg:bash"))
    assert ctx.remember() == [] and json.loads(memory.path.read_text())["format"] == FORMAT


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(*[st.one_of(st.none(), st.text(max_size=8))] * 12), max_size=6))
def test_rows_come_back_as_saved_whatever_their_text(tmp_path, rows):
    """Any text (lone surrogates, NULs, quotes) and repeats: the strings table gives every row back."""
    memory = RecognitionCache(tmp_path / "c.recognition")
    assert memory.save("d", rows) == []
    assert memory.load("d")[0].rows == rows


def test_a_cache_for_other_inputs_is_ignored_silently_and_an_unwritable_one_is_a_warning(tmp_path):
    memory = RecognitionCache(tmp_path / "c.recognition")
    assert memory.save("old", [("dpkg", "bash", None, "dpkg:bash", "5", None, None, "GNU", "Bash", None, "5", None)]) == []
    assert memory.load("new") == (None, [])
    assert memory.load("old")[0].rows == [("dpkg", "bash", None, "dpkg:bash", "5", None, None, "GNU", "Bash", None, "5", None)]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    blocked = RecognitionCache(tmp_path / "c.recognition" / "inside")  # its folder is a file
    (problem,) = blocked.save("d", [])
    assert problem.severity == "warning" and "cannot be written" in problem.message


def test_a_file_stores_cache_is_the_file_beside_it():
    assert cache_file("tinydb:///srv/sam/fleet.json") == Path("/srv/sam/fleet.json.recognition")
    assert RecognitionCache.beside("fleet.json").path == Path("fleet.json.recognition")


def test_the_cached_catalogue_is_the_composed_one_and_compiles_only_what_a_new_title_needs(tmp_path, real_fixtures):
    insts = real_installations(tmp_path, real_fixtures)
    shipped, problems = load_catalogue([], today=AS_OF)
    plain = catalogue_plain(shipped, problems)
    rebuilt, again = catalogue_from_plain(json.loads(json.dumps(plain)), AS_OF)
    assert again == problems and rebuilt.index() == shipped.index()
    assert catalogue_plain(rebuilt, again) == plain  # every field of every entry, patterns and flags included
    patterns = [regex for e in rebuilt.entries for rule in e.rules for _, regex in rule]
    assert all(isinstance(p, LazyPattern) and p._compiled is None for p in patterns)
    assert recognitions(rebuilt, insts[:200]) == recognitions(shipped, insts[:200])
    compiled = sum(p._compiled is not None for p in patterns)
    assert 0 < compiled < len(patterns) / 2
    assert recognitions(rebuilt, insts) == recognitions(shipped, insts)


def test_a_damaged_cached_catalogue_is_read_from_yaml_again_with_a_warning(tmp_path):
    settings = LicenceSettings(licences_dir=tmp_path / "none")
    memory = RecognitionCache(tmp_path / "fleet.json.recognition")
    first = load_context(settings, AS_OF, (), memory=memory)
    assert first.remember() == []  # a first run: the composed catalogue is saved with no reading
    doc = json.loads(memory.path.read_text())
    doc["catalogue"]["index"]["always"].append([len(doc["catalogue"]["entries"]) + 5, 0])
    memory.path.write_text(json.dumps(doc))
    ctx = load_context(settings, AS_OF, (), memory=memory)
    (warning,) = [p for p in ctx.problems if "recognition cache" in p.message]
    assert "not a composed catalogue" in warning.message and warning.severity == "warning"
    assert len(ctx.catalogue) == len(first.catalogue) and ctx.remember() == []
    assert load_context(settings, AS_OF, (), memory=memory).problems == first.problems


def test_the_readers_take_the_stores_cache_give_the_same_answers_and_never_write_it(tmp_path, real_fixtures,
                                                                                    monkeypatch, capsys):
    """fleetsam position, check and diff recognised every title afresh on each call; they now read the
    readings the last run saved (the same answer), and leave the cache as it was: readers write nothing."""
    from sam_engine.cli import main as cli

    store = tmp_path / "fleet.json"
    run(tmp_path, real_fixtures, store)
    spool = real_spool(tmp_path / "spool-second", real_fixtures, "s2")
    pipeline.process_spool(spool, store=str(store), report_dir=tmp_path / "reports", as_of=AS_OF,
                           settings=LicenceSettings(licences_dir=Path("examples/licences")))
    cache = cache_file(str(store))
    written = cache.read_bytes()

    def fleetsam(*args) -> tuple[int, str]:
        code = cli.main(["--store", str(store), *args, "--licences", "examples/licences", "--as-of", str(AS_OF)])
        out = capsys.readouterr()
        assert "recognition cache" not in out.err
        return code, out.out

    commands = (("position", "--format", "json"), ("check", "--format", "junit"), ("diff", "--format", "json"))
    cold = [fleetsam(*c) for c in commands]  # recognised afresh: no cache for them yet
    cache.unlink()
    assert [fleetsam(*c) for c in commands] == cold
    cache.write_bytes(written)

    def no_matching(*args):
        raise AssertionError("a reader matched a title against the catalogue")

    monkeypatch.setattr(Catalogue, "_match_static", no_matching)
    monkeypatch.setattr(context, "load_catalogue", no_matching)
    assert [fleetsam(*c) for c in commands] == cold
    assert cache.read_bytes() == written and not list(tmp_path.glob("fleet.json.recognition.*"))
