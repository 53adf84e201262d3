"""What recognition depends on, as one digest, and the composed catalogue as plain data.

Reading the catalogue (YAML composition, validation, compiling about 650
regular expressions, indexing the rules by first word) is a fixed cost of every
run, as large as the rest of the reconcile stage for a small fleet. When the
digest of its inputs is unchanged, the run takes the composed catalogue back
from the store's recognition cache (``store.recognition_cache``) instead: its
entries as plain JSON values, the rules' patterns compiled only when a title
needs them (``LazyPattern``; a repeat run recalls nearly every reading and
compiles almost nothing), and the first-word index as it was built.

The digest covers every input: the shipped catalogue directory, the user's
catalogue paths, the metric rules, the code that reads and matches them and
the version. Plain data that does not rebuild a catalogue (a damaged cache) is
refused as a whole (``CacheMismatch``); the caller then reads the YAML.

The shipped catalogue also ships composed (``SHIPPED``, written by ``make
catalogue``), so a run with no cache yet (a new store, a reader of a store
without one) reads neither YAML nor patterns either. It is used only when the
digest it carries is that of the shipped files and code it sits beside
(``shipped_digest``: names and contents, not paths); otherwise the YAML is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sam_engine import __version__
from sam_engine.licensing.catalogue import Catalogue, default_catalogue_dir, load_catalogue
from sam_engine.licensing.catalogue_entries import RULE_FIELDS, Entry
from sam_engine.licensing.metric_rules import RULES_DIR
from sam_engine.model import LicenceNeed, Problem
from sam_engine.package_data import DATA_ROOT, data_label

# What a recognition depends on besides the data files: the code that reads and matches them.
_CODE = ("catalogue.py", "catalogue_entries.py", "catalogue_cache.py", "rule_index.py", "versions.py",
         "../located_yaml.py")
SHIPPED = DATA_ROOT / "catalogue-composed.json"  # the shipped catalogue composed (``shipped_document``)


class CacheMismatch(ValueError):
    """Plain data that does not rebuild a catalogue."""


class LazyPattern:
    """A rule's regular expression, compiled on its first use (``re.compile``'s flags kept).
    ``fullmatch`` is then the compiled pattern's own: a title costs no extra Python call."""

    __slots__ = ("pattern", "flags", "fullmatch", "_compiled")

    def __init__(self, pattern: str, flags: int):
        self.pattern, self.flags, self._compiled = pattern, flags, None
        self.fullmatch = self._first_fullmatch

    def _regex(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
            self.fullmatch = self._compiled.fullmatch
        return self._compiled

    def _first_fullmatch(self, text: str):
        return self._regex().fullmatch(text)

    @property
    def groupindex(self):
        return self._regex().groupindex


def _code_digest(start: str) -> Any:
    digest = hashlib.sha256(start.encode())
    here = Path(__file__).parent
    for name in _CODE:
        digest.update(hashlib.sha256((here / name).read_bytes()).digest())
    return digest


def _catalogue_files(path: Path) -> list[Path]:
    return sorted([*path.glob("*.yml"), *path.glob("*.yaml")]) if path.is_dir() else [path]


def inputs_digest(catalogue_extra: tuple[Path, ...], rules_dir: Path | None) -> str | None:
    """One SHA-256 over every input of recognition; None when one cannot be read (nothing is cached)."""
    try:
        digest = _code_digest(f"{__version__}\0")
        for path in (default_catalogue_dir(), *catalogue_extra, rules_dir or RULES_DIR, RULES_DIR):
            files = _catalogue_files(path)
            digest.update(f"{path}\0{len(files)}\0".encode())
            for file in files:
                body = file.read_bytes() if file.exists() else b"\0missing"
                digest.update(f"{file}\0".encode() + hashlib.sha256(body).digest())
    except OSError:
        return None
    return digest.hexdigest()


def shipped_digest() -> str | None:
    """The SHA-256 of what composes the catalogue of ``default_catalogue_dir`` (its files' labels and
    contents, and the code reading them), the same in every install; None when one cannot be read."""
    try:
        digest = _code_digest("shipped\0")
        for file in _catalogue_files(default_catalogue_dir()):
            digest.update(f"{data_label(file)}\0".encode() + hashlib.sha256(file.read_bytes()).digest())
    except OSError:
        return None
    return digest.hexdigest()


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _entry_plain(e: Entry) -> dict:
    return {"id": e.id, "rule": e.rule, "origin": e.origin,
            "rules": [[[name, regex.pattern, regex.flags] for name, regex in rule] for rule in e.rules],
            "publisher": e.publisher, "product": e.product, "edition": e.edition, "editions": list(e.editions),
            "value_map": e.value_map, "version": e.version, "licence": e.licence.value,
            "licence_when": [[spec, _date(until), _date(since), licence.value, note]
                             for spec, until, since, licence, note in e.licence_when],
            "suite": list(e.suite), "metric_hint": e.metric_hint, "fallback": e.fallback,
            "examples": list(e.examples), "open_edition": e.open_edition, "templated": e.templated,
            "cpe": e.cpe, "lineage": [list(line) for line in e.lineage]}


def _entry(d: dict) -> Entry:
    def day(text):
        return dt.date.fromisoformat(text) if text else None

    return Entry(
        id=d["id"], rule=d["rule"], origin=d["origin"],
        rules=tuple(tuple((name, LazyPattern(pattern, flags)) for name, pattern, flags in rule) for rule in d["rules"]),
        publisher=d["publisher"], product=d["product"], edition=d["edition"], editions=tuple(d["editions"]),
        value_map=d["value_map"], version=d["version"], licence=LicenceNeed(d["licence"]),
        licence_when=tuple((spec, day(until), day(since), LicenceNeed(licence), note)
                           for spec, until, since, licence, note in d["licence_when"]),
        suite=tuple(d["suite"]), metric_hint=d["metric_hint"], fallback=d["fallback"],
        examples=tuple(d["examples"]), open_edition=d["open_edition"], templated=d["templated"],
        cpe=d["cpe"], lineage=tuple(tuple(line) for line in d["lineage"]))


def catalogue_plain(catalogue: Catalogue, problems: list[Problem]) -> dict | None:
    """The composed catalogue, its index and the problems found reading it, as JSON values; None
    when an entry holds what JSON would not give back as it is (a date in an example)."""
    plain = {"entries": [_entry_plain(e) for e in catalogue.entries],
             "index": dict(zip(("by_word", "always"), catalogue.index())),
             "problems": [[p.source, p.message, p.severity] for p in problems]}
    if any(json.loads(json.dumps(e["examples"])) != e["examples"] for e in plain["entries"]):
        return None
    return plain


def catalogue_from_plain(plain: Any, today: dt.date) -> tuple[Catalogue, list[Problem]]:
    """The catalogue ``catalogue_plain`` wrote, dated ``today``; ``CacheMismatch`` when it is not one."""
    try:
        entries = [_entry(d) for d in plain["entries"]]
        index = plain["index"]
        by_word = {word: [(pos, n) for pos, n in keys] for word, keys in index["by_word"].items()}
        always = [(pos, n) for pos, n in index["always"]]
        if any(not 0 <= n < len(entries[pos].rules) for keys in (*by_word.values(), always) for pos, n in keys):
            raise CacheMismatch("the index names a rule the entries lack")
        if any(name not in RULE_FIELDS for e in entries for rule in e.rules for name, _ in rule):
            raise CacheMismatch("a rule tests a field no record has")
        problems = [Problem(source, message, severity) for source, message, severity in plain["problems"]]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CacheMismatch(f"not a composed catalogue ({exc.__class__.__name__}: {exc})") from exc
    return Catalogue(entries, today=today, index=(by_word, always)), problems


def shipped_catalogue(today: dt.date) -> tuple[Catalogue, list[Problem]] | None:
    """The shipped catalogue as ``SHIPPED`` holds it composed, dated ``today``; None when that file is
    missing, unreadable or not composed from the catalogue files and code of this install."""
    try:
        doc, digest = json.loads(SHIPPED.read_bytes()), shipped_digest()
        if not isinstance(doc, dict) or digest is None or doc.get("digest") != digest:
            return None
        return catalogue_from_plain(doc.get("catalogue"), today)
    except (OSError, ValueError, RecursionError):  # CacheMismatch is a ValueError: the YAML is read instead
        return None


def shipped_document() -> str:
    """What ``SHIPPED`` holds: the shipped catalogue composed from its YAML, with ``shipped_digest``."""
    catalogue, problems = load_catalogue([])
    plain = catalogue_plain(catalogue, problems)
    if plain is None:
        raise ValueError("an entry of the shipped catalogue holds what JSON does not give back as it is")
    entries = ",\n".join(json.dumps(e) for e in plain.pop("entries"))  # one line per entry: readable diffs
    rest = json.dumps(plain)[1:]
    return f'{{"digest": {json.dumps(shipped_digest())},\n"catalogue": {{"entries": [\n{entries}\n],\n{rest}}}\n'


if __name__ == "__main__":  # make catalogue: write SHIPPED after a change to the catalogue or its code
    SHIPPED.write_text(shipped_document(), encoding="utf-8")
    print(f"wrote {SHIPPED}")
