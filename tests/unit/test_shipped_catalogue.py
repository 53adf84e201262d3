"""The shipped catalogue, shipped composed: a run with no recognition cache yet (a new store, a reader
of a store without one) reads neither the catalogue YAML nor compiles its patterns, and recognises
exactly what the YAML says; anything that makes the file not this install's sends the run to the YAML."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from test_recognition_cache import real_installations, recognitions
from sam_engine.licensing import catalogue_cache, context
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.catalogue_cache import LazyPattern, shipped_catalogue, shipped_digest, shipped_document
from sam_engine.licensing.context import LicenceSettings, load_context, prepare_catalogue
from sam_engine.package_data import data_dir
from sam_engine.store.recognition_cache import RecognitionCache

AS_OF = dt.date(2026, 11, 30)


def no_yaml(*args, **kwargs):
    raise AssertionError("the catalogue YAML was read")


def test_the_committed_composed_catalogue_is_the_one_its_yaml_and_code_compose():
    """A change to a catalogue file or to the code reading it must come with ``make catalogue``."""
    assert catalogue_cache.SHIPPED.read_text(encoding="utf-8") == shipped_document(), \
        "sam_engine/data/catalogue-composed.json is stale: run make catalogue"


def test_a_first_run_takes_it_and_recognises_every_real_record_as_the_yaml_does(tmp_path, real_fixtures,
                                                                               monkeypatch):
    insts = real_installations(tmp_path, real_fixtures)
    from_yaml, problems = load_catalogue([], today=AS_OF)
    monkeypatch.setattr(context, "load_catalogue", no_yaml)
    memory = RecognitionCache(tmp_path / "new.json.recognition")  # a new store: no cache yet
    ctx = load_context(LicenceSettings(licences_dir=tmp_path / "none"), AS_OF, (), memory=memory)
    assert list(ctx.problems) == problems and len(ctx.catalogue) == len(from_yaml)
    patterns = [regex for e in ctx.catalogue.entries for rule in e.rules for _, regex in rule]
    assert all(isinstance(p, LazyPattern) for p in patterns)
    assert recognitions(ctx.catalogue, insts) == recognitions(from_yaml, insts)
    assert ctx.remember() == []  # and the store's cache gets the composed catalogue, as after a YAML read
    assert json.loads(memory.path.read_text())["catalogue"]["entries"]


def test_a_compiled_lazy_pattern_is_called_directly():
    lazy = LazyPattern(r"Git(?P<v> \d+)?", re.IGNORECASE)
    assert lazy.fullmatch("git 2").group("v") == " 2" and lazy.fullmatch("Gitk") is None
    assert lazy.fullmatch == lazy._compiled.fullmatch and lazy.groupindex == {"v": 1}


def catalogue_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "catalogue"
    copy.mkdir()
    for file in data_dir("catalogue").glob("*.yml"):
        (copy / file.name).write_bytes(file.read_bytes())
    return copy


def test_a_catalogue_other_than_the_shipped_one_is_read_from_its_yaml(tmp_path, monkeypatch):
    copy = catalogue_copy(tmp_path)
    monkeypatch.setenv("FLEETSAM_CATALOGUE", str(copy))  # other files: other labels, another digest
    assert shipped_catalogue(AS_OF) is None
    text = (copy / "free-software.yml").read_text()
    (copy / "free-software.yml").write_text(text.replace("product: Git\n", "product: Git SCM\n", 1))
    prepared = prepare_catalogue(LicenceSettings(licences_dir=tmp_path / "none"), AS_OF)
    assert "Git SCM" in {e.product for e in prepared.catalogue.entries}
    monkeypatch.delenv("FLEETSAM_CATALOGUE")
    extra = tmp_path / "mine.yml"  # a user catalogue composes with the shipped one: the YAML is read
    extra.write_text("- {id: mine, match: {title: 'Mine'}, publisher: Me, product: Mine, licence: free}\n")
    monkeypatch.setattr(context, "shipped_catalogue", no_yaml)
    prepared = prepare_catalogue(LicenceSettings(licences_dir=tmp_path / "none", catalogue_extra=(extra,)), AS_OF)
    assert "Mine" in {e.product for e in prepared.catalogue.entries}


@pytest.mark.parametrize("body", [
    b"", b"\x00\xff not json", b"[]", b'{"digest": null}', b'{"digest": "0000", "catalogue": {}}',
    "stale", "damaged",
])
def test_a_missing_stale_or_damaged_file_sends_the_run_to_the_yaml_quietly(tmp_path, monkeypatch, body):
    doc = json.loads(catalogue_cache.SHIPPED.read_text(encoding="utf-8"))
    if body == "stale":  # composed before a change to the catalogue: its digest is another's
        doc["digest"] = "0" * 64
        doc["catalogue"]["entries"][0]["product"] = "Stale"
    elif body == "damaged":  # the right digest, entries that do not rebuild a catalogue
        doc["catalogue"]["index"]["always"].append([10_000, 0])
    file = tmp_path / "catalogue-composed.json"
    file.write_bytes(json.dumps(doc).encode() if isinstance(body, str) else body)
    monkeypatch.setattr(catalogue_cache, "SHIPPED", file)
    assert shipped_catalogue(AS_OF) is None
    prepared = prepare_catalogue(LicenceSettings(licences_dir=tmp_path / "none"), AS_OF)
    assert prepared.read == () and len(prepared.catalogue) == len(load_catalogue([], today=AS_OF)[0])
    assert "Stale" not in {e.product for e in prepared.catalogue.entries}
    monkeypatch.setattr(catalogue_cache, "SHIPPED", tmp_path / "absent.json")
    assert shipped_catalogue(AS_OF) is None


def test_its_digest_names_the_files_and_their_contents_not_where_they_are(tmp_path, monkeypatch):
    assert shipped_digest() == json.loads(catalogue_cache.SHIPPED.read_text(encoding="utf-8"))["digest"]
    monkeypatch.setenv("FLEETSAM_CATALOGUE", str(catalogue_copy(tmp_path)))
    assert shipped_digest() not in (None, json.loads(catalogue_cache.SHIPPED.read_text(encoding="utf-8"))["digest"])
