"""The normalisation catalogue: raw titles in, publisher/product/edition/version out.

A catalogue is YAML: a list of entries, one file per publisher family under the
repo's ``catalogue/`` (``default_catalogue_dir()``, or ``$FLEETSAM_CATALOGUE``)::

    - id: sql-server-express    # unique and stable; the rule is <file>:<id>
      match: [{title: 'Microsoft SQL Server (?P<version>20\\d\\d) Express.*', publisher: 'Microsoft.*'}]
      publisher: Microsoft        # the entry matches if one rule does, with all its fields
      product: SQL Server
      edition: Express            # fixed, a "{group}" template, or left out
      licence: free               # required | free
      examples: [{title: ..., expect: {product: ..., licence: ...}}]

Rule fields are regexes matched case-insensitively against the WHOLE field (no
``^``/``$`` needed): ``title`` (raw name, NFC, whitespace collapsed), ``publisher``
(raw vendor, "" if none), ``source``, ``package_id``, ``swid_tag_id`` (package_id
of ``swid`` records) and ``version`` (raw). Named groups feed the results.

Results: ``publisher``/``product`` are fixed, or ``{group}`` templates for broad
rules that keep each package's own name (not listed by ``products``).
``edition`` left out takes the group ``edition``. ``version`` is a template
(``"8u{update}"``), else the group ``version``, else the raw version; always
normalised. ``editions`` lists canonical editions (captures are re-spelled to
them; ``knows`` uses them); ``map`` renames captures (``{edition: {proplus:
Professional Plus}}``). ``licence_when``: ``[{version: <range>, until|since:
<date>, licence: ...}]``, the first that holds decides, else ``licence`` (ranges
as in ``versions``; dates against the catalogue's ``today``). ``suite`` lists
component products, ``metric_hint`` the usual metric, ``note`` is free text.
``fallback: true`` entries (broad rules) are tried after all others.

Precedence: files load in name order; each path given later overrides those
before it (user files come after the shipped directory): its entries are tried
first and an entry whose ``id`` is already loaded replaces the earlier one. A bad
entry is a ``Problem`` at ``file:line`` and is skipped, never half-used.
"""

from __future__ import annotations

import heapq
import itertools
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import yaml

from sam_engine.model import Installation, LicenceNeed, Problem, Recognition
from sam_engine.package_data import data_dir
from sam_engine.licensing.versions import normalise_version, parse_range, version_in_range, version_key  # noqa: F401 (re-export)

try:  # the regex parser, only to find a pattern's leading literal word
    import re._parser as _sre_parse  # type: ignore[import-not-found]  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_KEYS = frozenset({"id", "match", "publisher", "product", "edition", "editions", "map", "version",
                        "licence", "licence_when", "suite", "metric_hint", "fallback", "examples", "note"})
RULE_FIELDS = ("title", "publisher", "source", "package_id", "swid_tag_id", "version")
WHEN_KEYS = frozenset({"version", "until", "since", "licence", "note"})
EXAMPLE_KEYS = frozenset({"title", "publisher", "source", "version", "package_id", "expect"})
LICENCES = ("required", "free")
_WORD = re.compile(r"[^\W_]*")  # a run of letters and digits


def default_catalogue_dir() -> Path:
    """The shipped catalogue directory; ``$FLEETSAM_CATALOGUE`` is read at call time."""
    return data_dir("catalogue")


Condition = tuple  # (version range or None, until date or None, since date or None, LicenceNeed)


@dataclass(frozen=True, eq=False)
class Entry:
    """One validated entry; ``rule`` is ``<file>:<id>``, ``origin`` is ``<file>:<line>``."""

    id: str
    rule: str
    origin: str
    rules: tuple[tuple[tuple[str, re.Pattern], ...], ...]
    publisher: str
    product: str
    edition: str | None
    editions: tuple[str, ...]
    value_map: dict
    version: str | None
    licence: LicenceNeed
    licence_when: tuple[Condition, ...]
    suite: tuple[str, ...]
    metric_hint: str | None
    fallback: bool
    examples: tuple[dict, ...]
    open_edition: bool  # the edition comes from the title
    templated: bool  # publisher or product comes from the title

    def licence_for(self, version: str | None, today: date) -> LicenceNeed:
        for spec, until, since, licence in self.licence_when:
            if (spec is None or version_in_range(version, spec)) and not (
                    (until and today > until) or (since and today < since)):
                return licence
        return self.licence


class _Map(dict):
    line = 0  # where the mapping starts in its file, set by _Loader


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # safe; mappings remember their line

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _Map:
        self.flatten_mapping(node)
        out = _Map((self.construct_object(k, deep=True), self.construct_object(v, deep=True))
                   for k, v in node.value)
        out.line = node.start_mark.line + 1
        return out


_Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node))


def _label(path: Path) -> str:
    resolved = path.resolve()
    return resolved.relative_to(REPO_ROOT).as_posix() if resolved.is_relative_to(REPO_ROOT) else str(path)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


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


def _first_word(text: str) -> str:
    return _WORD.match(text).group()  # type: ignore[union-attr]


def _literal_word(pattern: str) -> str | None:
    """The whole first word every title matching ``pattern`` starts with, when the pattern fixes it."""
    items = list(_sre_parse.parse(pattern))
    literal = list(itertools.takewhile(lambda item: item[0] is _sre_parse.LITERAL, items))
    prefix = "".join(chr(arg) for _, arg in literal).lower()
    word = _first_word(prefix)
    return None if not word or (len(word) == len(prefix) and len(literal) < len(items)) else word


def _word_closed(prefix: str) -> bool:
    """Whether ``prefix`` already holds a whole first word (a non-word character follows it)."""
    return len(_first_word(prefix)) < len(prefix)


def _expand_prefixes(prefixes: list[str], items: list) -> list[str] | None:
    """The lower-cased literal prefixes ``items`` (parsed regex) can start a title with, grown from
    ``prefixes`` until each one's first word is closed; None when that is not knowable."""
    for op, av in items:
        growing = [p for p in prefixes if not _word_closed(p)]
        if not growing:
            return prefixes
        closed = [p for p in prefixes if _word_closed(p)]
        if op is _sre_parse.LITERAL:
            growing = [p + chr(av).lower() for p in growing]
        elif op is _sre_parse.AT:  # an anchor: no character
            continue
        elif op is _sre_parse.SUBPATTERN:
            growing = _expand_prefixes(growing, list(av[-1]))
        elif op is _sre_parse.BRANCH:
            alternatives = [_expand_prefixes(growing, list(alt)) for alt in av[1]]
            growing = None if None in alternatives else [p for alt in alternatives for p in alt]
        elif op in (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            once = _expand_prefixes(growing, list(av[2]))  # an optional part: without it, or once
            growing = None if once is None else growing + once
        else:  # a class, a repeat, any character...: the word of a growing prefix is not fixed
            return None
        if growing is None or len(closed) + len(growing) > 64:
            return None
        prefixes = closed + growing
    return prefixes


def _first_words(pattern: str) -> frozenset[str] | None:
    """Every whole first word a title matching ``pattern`` can start with, when the pattern fixes
    them through leading literals, optional parts and alternatives (``(Microsoft )?Visio``:
    ``microsoft`` or ``visio``); None otherwise. ``_literal_word`` covers the single-word case."""
    try:
        prefixes = _expand_prefixes([""], list(_sre_parse.parse(pattern)))
    except Exception:  # noqa: BLE001 - an unusual pattern is simply not indexed
        return None
    if not prefixes:
        return None
    words = {_first_word(p) for p in prefixes}  # a prefix the pattern ends on is the whole title
    return None if "" in words else frozenset(words)


def _condition(cond: Any) -> Condition:
    if not isinstance(cond, dict) or set(cond) - WHEN_KEYS or cond.get("licence") not in LICENCES:
        raise ValueError(f"expected keys {sorted(WHEN_KEYS)} with licence required|free")
    spec = None if cond.get("version") is None else str(cond["version"])
    parse_range(spec)
    until, since = (None if cond.get(k) is None else cond[k] if isinstance(cond[k], date)
                    else date.fromisoformat(str(cond[k])) for k in ("until", "since"))
    return (spec, until, since, LicenceNeed(cond["licence"]))


def _parse_entry(raw: Any, label: str) -> tuple[Entry | None, list[Problem]]:
    where = f"{label}:{getattr(raw, 'line', 0)}"
    if not isinstance(raw, dict):
        return None, [Problem(where, "catalogue entry must be a mapping")]
    bad: list[tuple[str, str]] = []  # (where, message)
    if set(raw) - ENTRY_KEYS:
        bad.append((where, f"unknown key(s) {', '.join(sorted(map(str, set(raw) - ENTRY_KEYS)))}"))
    if not isinstance(raw.get("id"), str) or not raw["id"].strip():
        bad.append((where, "missing or empty 'id'"))
    if raw.get("licence") not in LICENCES:
        bad.append((where, f"licence must be 'required' or 'free', not {raw.get('licence')!r}"))
    rules, groups, match = [], set(), raw.get("match")
    for n, rule in enumerate(match if isinstance(match, list) else [match] if isinstance(match, dict) else []):
        at = f"{label}:{getattr(rule, 'line', 0) or where.rsplit(':', 1)[1]}"
        if not isinstance(rule, dict) or not rule:
            bad.append((at, f"match[{n}] must be a non-empty mapping"))
            continue
        compiled = []
        for key, pattern in rule.items():
            try:
                if key not in RULE_FIELDS:
                    raise ValueError(f"unknown field (fields: {', '.join(RULE_FIELDS)})")
                compiled.append((key, re.compile(str(pattern), re.IGNORECASE)))
                groups.update(compiled[-1][1].groupindex)
            except (ValueError, re.error) as exc:
                bad.append((at, f"match[{n}].{key}: {'bad regex: ' * isinstance(exc, re.error)}{exc}"))
        rules.append(tuple(sorted(compiled, key=lambda item: RULE_FIELDS.index(item[0]))))  # title first
    if not rules:
        bad.append((where, "'match' must be a rule or a list of rules"))
    for key in ("publisher", "product", *(k for k in ("edition", "version") if raw.get(k) is not None)):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            bad.append((where, f"missing or empty {key!r}"))
        elif (missing := [f for f in _fields(value) if f not in groups]):
            bad.append((where, f"{key!r} uses {', '.join(missing)}: no such named group"))
    conditions = []
    for n, cond in enumerate(raw.get("licence_when") or ()):
        try:
            conditions.append(_condition(cond))
        except (ValueError, TypeError) as exc:
            bad.append((f"{label}:{getattr(cond, 'line', 0)}", f"licence_when[{n}]: {exc}"))
    lists = {k: raw.get(k) or [] for k in ("editions", "suite", "examples")}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(e, str) if key != "examples" else isinstance(
                e, dict) and "title" in e and not set(e) - EXAMPLE_KEYS for e in value):
            bad.append((where, f"{key!r} must be a list of " + ("strings" if key != "examples" else
                                                                 f"{{title: ...}} with keys {sorted(EXAMPLE_KEYS)}")))
    value_map = raw.get("map") or {}
    if not isinstance(value_map, dict) or not all(isinstance(m, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in m.items()) for m in value_map.values()):
        bad.append((where, "'map' must map group names to {captured: replacement}"))
    hint = raw.get("metric_hint")
    if hint is not None and not (isinstance(hint, str) and re.fullmatch(r"[a-z][a-z0-9_]*", hint)):
        bad.append((where, "'metric_hint' must be a lower-case identifier"))
    if bad:
        return None, [Problem(w, f"entry {raw.get('id')!r}: {m}") for w, m in bad]
    edition = raw.get("edition")
    return Entry(
        id=raw["id"], rule=f"{label}:{raw['id']}", origin=where, rules=tuple(rules),
        publisher=raw["publisher"].strip(), product=raw["product"].strip(), edition=edition,
        editions=tuple(lists["editions"]),
        value_map={g: {" ".join(k.split()).lower(): v for k, v in m.items()} for g, m in value_map.items()},
        version=raw.get("version"), licence=LicenceNeed(raw["licence"]), licence_when=tuple(conditions),
        suite=tuple(lists["suite"]), metric_hint=hint, fallback=bool(raw.get("fallback")),
        examples=tuple(lists["examples"]),
        open_edition=bool(edition and _fields(edition)) or (edition is None and "edition" in groups),
        templated=bool(_fields(raw["publisher"]) or _fields(raw["product"])),
    ), []


def _read_file(path: Path) -> tuple[list[Entry], list[Problem]]:
    label = _label(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        return [], [Problem(label, f"cannot read catalogue: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        return [], [Problem(where, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")]
    except (TypeError, ValueError) as exc:  # e.g. a list used as a mapping key, a bad date
        return [], [Problem(label, f"invalid YAML: {exc}")]
    if not isinstance(doc, list):
        return [], [] if doc is None else [Problem(f"{label}:1", "a catalogue file is a list of entries")]
    entries, problems = [], []
    for raw in doc:
        entry, bad = _parse_entry(raw, label)
        problems += bad
        entries += [entry] if entry is not None else []
    return entries, problems


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
            entries, bad = _read_file(file)
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
    name, vendor, package_id, version) is read once per catalogue, and the rules'
    title/publisher/source patterns run once per distinct title (``_match_static``):
    another version or package id of a known title only fills in the result.
    """

    def __init__(self, entries: Sequence[Entry], today: date | None = None):
        self.entries = tuple(entries)
        self.today = today or date.today()
        self._memo: dict[tuple, Recognition] = {}
        self._static: dict[tuple[str, str, str], Any] = {}  # (title, publisher, source) -> match
        self.hits = self.misses = 0
        self._by_word: dict[str, list[tuple[int, int]]] = {}
        self._always: list[tuple[int, int]] = []
        self._by_product: dict[tuple[str, str], list[Entry]] = {}
        for pos, entry in enumerate(self.entries):
            if not entry.templated:
                self._by_product.setdefault((entry.publisher.lower(), entry.product.lower()), []).append(entry)
            for n, rule in enumerate(entry.rules):
                title = dict(rule).get("title")
                word = _literal_word(title.pattern) if title is not None else None
                words = {word} if word else _first_words(title.pattern) if title is not None else None
                if not words:
                    self._always.append((pos, n))
                for word in sorted(words or ()):
                    self._by_word.setdefault(word, []).append((pos, n))

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def recognise(self, inst: Installation) -> Recognition:
        """What ``inst`` is; unknown software comes back with ``LicenceNeed.UNKNOWN``, never dropped."""
        key = (inst.source, inst.name, inst.vendor, inst.package_id, inst.version)
        if key in self._memo:
            self.hits += 1
        else:
            self.misses += 1
            self._memo[key] = self._recognise(inst)
        return self._memo[key]

    def _recognise(self, inst: Installation) -> Recognition:
        title = _clean_title(inst.name)
        publisher, source = (inst.vendor or "").strip(), inst.source or ""
        plan = self._static.get((title, publisher, source))
        if plan is None:
            plan = self._static[(title, publisher, source)] = self._match_static(title, publisher, source)
        steps, final = plan
        if steps:
            fields = {"package_id": inst.package_id or "", "version": (inst.version or "").strip(),
                      "swid_tag_id": inst.package_id if inst.source == "swid" else None}
            for pos, rest, static_groups in steps:
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
        fields = {"title": title, "publisher": publisher, "source": source}
        steps = []
        for pos, n in heapq.merge(self._by_word.get(_first_word(title.lower()), ()), self._always):
            groups: dict[str, str] = {}
            rule = self.entries[pos].rules[n]
            for k, (name, regex) in enumerate(rule):
                if name not in fields:
                    steps.append((pos, rule[k:], groups))
                    break
                found = regex.fullmatch(fields[name])
                if found is None:
                    break
                groups.update({g: " ".join(c.split()) for g, c in found.groupdict().items()
                               if c is not None and g not in groups})
            else:
                return tuple(steps), (self.entries[pos], groups)
        return tuple(steps), None

    def _result(self, entry: Entry, groups: dict[str, str], inst: Installation) -> Recognition:
        canon = {g: entry.value_map.get(g, {}).get(v.lower(), v) for g, v in groups.items()}
        edition = _fill(entry.edition, canon) if entry.edition is not None else canon.get("edition")
        if edition:
            edition = next((e for e in entry.editions if e.lower() == edition.lower()), edition)
        version = _fill(entry.version, canon) if entry.version is not None else canon.get("version")
        version = _normalise_version(version) if version else _normalise_version(inst.version, inst.source)
        publisher = _fill(entry.publisher, canon) or clean_vendor(inst.vendor)
        product = _fill(entry.product, canon) or _clean_title(inst.name) or inst.name
        return Recognition(publisher, product, edition or None, version,
                           entry.licence_for(version, self.today), entry.rule)

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

    def metric_hint(self, publisher: str, product: str) -> str | None:
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        return next((e.metric_hint for e in entries if e.metric_hint), None)

    def cache_info(self) -> tuple[int, int, int]:
        """(hits, misses, distinct keys memoised)."""
        return self.hits, self.misses, len(self._memo)
