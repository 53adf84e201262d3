"""The normalisation catalogue: raw titles in, publisher/product/edition/version out.

What an entry says and how a catalogue file is read: ``catalogue_entries``.
This module layers the files and recognises installations with their entries.

Precedence: files load in name order; each path given later overrides those
before it (user files come after the shipped directory): its entries are tried
first and an entry whose ``id`` is already loaded replaces the earlier one. A bad
entry is a ``Problem`` at ``file:line:col`` and is skipped, never half-used.
"""

from __future__ import annotations

import heapq
import re
from operator import itemgetter
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from sam_engine.model import Installation, LicenceNeed, Problem, Recognition
from sam_engine.package_data import data_dir, data_label
from sam_engine.licensing.catalogue_entries import Entry, read_entries
from sam_engine.licensing import rule_index
from sam_engine.licensing.editions import EditionLines
from sam_engine.licensing.rule_index import Prefilters
from sam_engine.licensing.versions import normalise_version

_STATIC = ("title", "publisher", "source")  # the fields a distinct title fixes; the others are per record
# a reading row's columns (``readings``): the record's 7 key fields, then the reading
_KEY, _READING, _PRODUCT, _RULE = itemgetter(slice(0, 7)), itemgetter(slice(7, None)), itemgetter(8), itemgetter(11)


def default_catalogue_dir() -> Path:
    """The shipped catalogue directory; ``$FLEETSAM_CATALOGUE`` is read at call time."""
    return data_dir("catalogue")


def _fill(template: str, groups: dict) -> str | None:
    try:
        return template.format_map(groups) or None
    except (KeyError, IndexError, ValueError):
        return None


def _memo(fn):
    """Remember a pure function's results per argument tuple (a fleet repeats its titles, vendors
    and versions); unhashable arguments are computed each time."""
    cache: dict = {}

    def wrapper(*args):
        try:
            return cache[args]
        except KeyError:
            value = cache[args] = fn(*args)
            return value
        except TypeError:
            return fn(*args)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    wrapper.__doc__ = fn.__doc__
    return wrapper


_normalise_version = _memo(normalise_version)


@_memo
def _clean_title(name: str) -> str:  # NFC (macOS decomposes accents), whitespace runs collapsed
    return " ".join(unicodedata.normalize("NFC", name).split())


def load_catalogue(paths: Sequence[Path | str] = (), *, include_shipped: bool = True,
                   today: date | None = None) -> tuple["Catalogue", list[Problem]]:
    """The shipped catalogue (first, unless not ``include_shipped``; naming it again in ``paths`` is
    harmless) plus ``paths`` (files or directories, later ones winning), and the problems found."""
    problems: list[Problem] = []
    layers: list[list[Entry]] = []
    seen: set[Path] = set()
    for path in ([default_catalogue_dir()] if include_shipped else []) + [Path(p) for p in paths]:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if not path.exists():
            problems.append(Problem(str(path), "no such catalogue file or directory"))
            continue
        layer, ids = [], {}
        for file in sorted([*path.glob("*.yml"), *path.glob("*.yaml")]) if path.is_dir() else [path]:
            entries, bad = read_entries(file, data_label(file))
            problems += bad
            for entry in entries:
                if entry.id in ids:
                    problems.append(Problem(entry.origin, f"duplicate id {entry.id!r} (first at {ids[entry.id]})"))
                else:
                    ids[entry.id] = entry.origin
                    layer.append(entry)
        layers.append(layer)
    ordered, taken = [], set()
    for entry in (e for layer in reversed(layers) for e in layer):
        if entry.id not in taken:
            taken.add(entry.id)
            ordered.append(entry)
    ordered = [e for e in ordered if not e.fallback] + [e for e in ordered if e.fallback]
    return Catalogue(ordered, today=today), problems


@_memo
def clean_vendor(raw: str | None) -> str | None:
    """A raw vendor made presentable: no ``<e-mail>``, X.500 names (``CN=..., O=...``) reduced to O or CN."""
    if not raw:
        return None
    text = " ".join(str(raw).split())
    if re.match(r"(?i)CN=", text):
        parts = {k.upper(): v for k, v in (p.split("=", 1) for p in re.split(r",\s*(?=[A-Za-z]+=)", text))}
        text = parts.get("O") or parts.get("CN") or text
    return re.sub(r"\s*<[^>]*>", "", text).strip(" ,;") or None


class Catalogue:
    """Validated entries in the order they are tried, with a memo of every title already read.

    Fast path: a rule whose title pattern starts with a literal word is only tried
    on titles starting with that word; the memo means each distinct (source,
    name, vendor, package_id, version, origin, location) is read once per catalogue, and the rules'
    title/publisher/source patterns run once per distinct title (``_match_static``):
    another version or package id of a known title only fills in the result. The
    prefilters (``rule_index``) skip, in one regex call, the rules whose title or
    first per-record pattern fails.
    ``recall`` takes the readings of an earlier run of the same catalogue
    (``readings``; kept by ``store.recognition_cache``), so a repeat run matches
    only the records it has not seen.
    """

    def __init__(self, entries: Sequence[Entry], today: date | None = None, index: rule_index.Index | None = None):
        self.entries = tuple(entries)
        self.today = today or date.today()
        self._memo: dict[tuple, Recognition] = {}
        self._static: dict[tuple[str, str, str], Any] = {}  # (title, publisher, source) -> match
        self.hits = self.misses = 0
        self._saved: dict[tuple, tuple] = {}  # key -> (publisher, product, edition, version, rule), from ``recall``
        self._by_rule: dict[str, Entry] = {}
        # the first-word index as ``index()`` gave it (``catalogue_cache``), or built
        self._by_word, self._always = index if index is not None else rule_index.build_index(self.entries)
        # the rules testing a field that few values fill (publisher, source), and per pair of values
        # those it rules out, the groups the others capture from it and the prefilter of the rest of _always
        self._tests: dict[str, list[tuple[tuple[int, int], re.Pattern]]] = {"publisher": [], "source": []}
        self._vetted: dict[tuple[str, str], tuple[frozenset, dict, Any]] = {}
        self._parts: dict[tuple[int, int], tuple] = {}  # rule -> (title pattern or None, first per-record field)
        self._prefilters = Prefilters(self.entries)
        self._by_product: dict[tuple[str, str], list[Entry]] = {}
        for pos, entry in enumerate(self.entries):
            if not entry.templated:
                self._by_product.setdefault((entry.publisher.lower(), entry.product.lower()), []).append(entry)
            for n, rule in enumerate(entry.rules):
                for name, regex in rule:
                    if name in self._tests:
                        self._tests[name].append(((pos, n), regex))
                static = sum(name in _STATIC for name, _ in rule)  # fields are in RULE_FIELDS order: static first
                self._parts[(pos, n)] = (dict(rule).get("title"), static if static < len(rule) else None)

    def index(self) -> tuple[dict[str, list[tuple[int, int]]], list[tuple[int, int]]]:
        """Which rules each first word of a title selects, and the rules tried on every title."""
        return self._by_word, self._always

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def recognise(self, inst: Installation) -> Recognition:
        """What ``inst`` is; unknown software comes back with ``LicenceNeed.UNKNOWN``, never dropped."""
        key = (inst.source, inst.name, inst.vendor, inst.package_id, inst.version, inst.origin, inst.location)
        found = self._memo.get(key)
        if found is not None:
            self.hits += 1
            return found
        saved = self._saved.get(key)
        if saved is None:
            self.misses += 1
            found = self._memo[key] = self._recognise(inst)
            return found
        publisher, product, edition, version, rule = saved
        # the licence is worked out again: an entry's licence_when depends on the run's date
        licence, why = (LicenceNeed.UNKNOWN, None) if rule is None else self._by_rule[rule].licence_band(version,
                                                                                                         self.today)
        found = self._memo[key] = Recognition(publisher, product, edition, version, licence, rule, why)
        return found

    def recall(self, rows: Sequence[tuple]) -> bool:
        """Take the ``readings`` an earlier run of this same catalogue saved; False (nothing taken)
        when one names a rule this catalogue does not have or has no product: not this catalogue's."""
        by_rule = {e.rule: e for e in self.entries}
        # whole columns at a time (C loops): a nightly run recalls tens of thousands of rows
        if not set(map(_RULE, rows)) <= {*by_rule, None} or None in map(_PRODUCT, rows):
            return False
        self._saved, self._by_rule = dict(zip(map(_KEY, rows), map(_READING, rows))), by_rule
        return True

    def readings(self) -> list[tuple]:
        """Every record recognised so far as a row of texts: its 7 key fields, then the reading
        (publisher, product, edition, version, rule); ``recall`` takes them back."""
        return [(*key, r.publisher, r.product, r.edition, r.version, r.rule) for key, r in self._memo.items()]

    def learnt(self) -> bool:
        """Whether the readings differ from those recalled (new records, or recalled ones unused)."""
        return self.misses > 0 or len(self._memo) != len(self._saved)

    def _recognise(self, inst: Installation) -> Recognition:
        title = _clean_title(inst.name)
        publisher, source = (inst.vendor or "").strip(), inst.source or ""
        plan = self._static.get((title, publisher, source))
        if plan is None:
            plan = self._static[(title, publisher, source)] = self._match_static(title, publisher, source)
        steps, final = plan
        if steps:
            fields = {"package_id": inst.package_id or "", "version": (inst.version or "").strip(),
                      "swid_tag_id": inst.package_id if inst.source == "swid" else None, "origin": inst.origin or "",
                      "location": inst.location or ""}
            for pos, rest, static_groups in steps.candidates(fields):
                groups = dict(static_groups)
                for name, regex in rest:
                    found = regex.fullmatch(fields[name]) if fields[name] is not None else None
                    if found is None:
                        break
                    groups.update({g: " ".join(c.split()) for g, c in found.groupdict().items()
                                   if c is not None and g not in groups})
                else:
                    return self._result(self.entries[pos], groups, inst)
        if final is not None:
            return self._result(final[0], final[1], inst)
        return Recognition(clean_vendor(inst.vendor), title or inst.name, None,
                           _normalise_version(inst.version, inst.source), LicenceNeed.UNKNOWN, None)

    def _match_static(self, title: str, publisher: str, source: str) -> tuple[tuple, tuple | None]:
        """What the rules say about one distinct (title, publisher, source), read once.

        Rules are tried in order on their title/publisher/source fields only. A rule
        that also tests a per-record field (version, package_id, swid_tag_id) and
        matches here becomes a step, tried per record on those fields alone; the first
        rule matching with no per-record field ends the plan (``final``: its entry and
        groups). ``(steps, final)``: no steps and no final is unrecognised software.
        """
        steps, step_groups = [], []  # the rules that become steps, and the groups each has so far
        vetted = self._vetted.get((publisher, source))
        if vetted is None:  # a fleet has far fewer publishers and sources than titles: test those once
            out, fixed = set(), {}
            for name, value in (("publisher", publisher), ("source", source)):
                for key, regex in self._tests[name]:
                    found = regex.fullmatch(value)
                    if found is None:
                        out.add(key)
                    elif regex.groupindex:
                        fixed.setdefault(key, []).extend((g, " ".join(c.split()))
                                                         for g, c in found.groupdict().items() if c is not None)
            ruled_out = frozenset(out)  # the prefilter of what is left of _always: one per set ruled out
            always = self._prefilters.of(ruled_out, [k for k in self._always if k not in ruled_out])
            vetted = self._vetted[(publisher, source)] = (ruled_out, fixed, always)
        ruled_out, fixed, always = vetted
        always = always.candidates(title)
        worded = [k for k in self._by_word.get(rule_index.first_word(title.lower()), ()) if k not in ruled_out]
        for pos, n in heapq.merge(worded, always) if worded else always:
            title_pattern, per_record = self._parts[(pos, n)]
            groups: dict[str, str] = {}
            if title_pattern is not None:
                found = title_pattern.fullmatch(title)
                if found is None:
                    continue
                groups = {g: " ".join(c.split()) for g, c in found.groupdict().items() if c is not None}
            for g, c in fixed.get((pos, n), ()):  # the publisher's groups, then the source's: the first wins
                groups.setdefault(g, c)
            if per_record is None:
                return self._prefilters.steps(steps, step_groups), (self.entries[pos], groups)
            steps.append((pos, n, per_record))
            step_groups.append(groups)
        return self._prefilters.steps(steps, step_groups), None

    def _result(self, entry: Entry, groups: dict[str, str], inst: Installation) -> Recognition:
        canon = {g: entry.value_map.get(g, {}).get(v.lower(), v) for g, v in groups.items()}
        edition = _fill(entry.edition, canon) if entry.edition is not None else canon.get("edition")
        if edition:
            edition = next((e for e in entry.editions if e.lower() == edition.lower()), edition)
        version = _fill(entry.version, canon) if entry.version is not None else canon.get("version")
        version = _normalise_version(version) if version else _normalise_version(inst.version, inst.source)
        publisher = _fill(entry.publisher, canon) or clean_vendor(inst.vendor)
        product = _fill(entry.product, canon) or _clean_title(inst.name) or inst.name
        licence, why = entry.licence_band(version, self.today)
        return Recognition(publisher, product, edition or None, version, licence, entry.rule, why)

    def knows(self, publisher: str, product: str, edition: str | None = None) -> bool:
        """Whether some entry yields ``publisher``/``product`` (and ``edition``), case-insensitively."""
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        wanted = (edition or "").lower()
        return bool(entries) if edition is None else any(
            wanted in (x.lower() for x in e.editions) if e.editions
            else e.open_edition or (e.edition or "").lower() == wanted for e in entries)

    def products(self) -> tuple[tuple[str, str], ...]:
        """Every distinct (publisher, product) the catalogue names, sorted (templated entries excluded)."""
        return tuple(sorted({(e.publisher, e.product) for e in self.entries if not e.templated}))

    def suite_components(self, publisher: str, product: str) -> tuple[str, ...]:
        """The component products a suite covers (empty when it is not a suite)."""
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        return tuple(dict.fromkeys(c for e in entries for c in e.suite))

    def has_editions(self, publisher: str, product: str) -> tuple[str, ...] | None:
        """The product's listed editions when it has editions (() when they come from titles), else None."""
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        if not any(e.editions or e.edition or e.open_edition for e in entries):
            return None
        return tuple(dict.fromkeys([*(x for e in entries for x in e.editions), *(e.edition for e in entries if e.edition)]))

    def edition_lines(self) -> EditionLines:
        """Every product's edition lines (``edition_lineage``), for ``licensing.editions``."""
        lines: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
        for e in self.entries:
            if e.lineage and not e.templated:
                known = lines.get((e.publisher, e.product), ())
                lines[(e.publisher, e.product)] = known + tuple(x for x in e.lineage if x not in known)
        return EditionLines(lines)

    def metric_hint(self, publisher: str, product: str) -> str | None:
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        return next((e.metric_hint for e in entries if e.metric_hint), None)

    def cache_info(self) -> tuple[int, int, int]:
        """(hits, misses, distinct keys memoised)."""
        return self.hits, self.misses, len(self._memo)
