"""The normalisation catalogue: raw titles in, publisher/product/edition/version out.

A catalogue is YAML: a list of entries, one file per publisher family under the
repo's ``catalogue/`` (``DEFAULT_CATALOGUE_DIR``, or ``$FLEETSAM_CATALOGUE``).
An entry::

    - id: sql-server-express          # unique and stable; the rule is <file>:<id>
      match:                          # rules; the first that matches wins
        - title: 'Microsoft SQL Server (?P<version>20\\d\\d)( R2)? Express.*'
          publisher: 'Microsoft.*'    # every field given must match
      publisher: Microsoft            # result: fixed strings
      product: SQL Server
      edition: Express                # fixed, a "{group}" template, or left out
      licence: free                   # required | free
      examples: [{title: ..., expect: {product: ..., licence: ...}}]

Rule fields are regular expressions, matched case-insensitively against the
WHOLE field (anchored: no ``^``/``$`` needed): ``title`` (the raw name, with
whitespace runs collapsed), ``publisher`` (the raw vendor; a missing vendor is
the empty string), ``source``, ``package_id``, ``swid_tag_id`` (the package_id
of ``swid`` records only) and ``version`` (the raw version).

Results: ``publisher`` and ``product`` are fixed strings, or ``{group}`` templates
for broad rules that keep each package's own name (``product: '{name}'``; such
entries are not listed by ``products``); ``edition`` left out takes a named
group ``edition`` if a rule has one;
``version`` is a template (``"8u{update}"``), else the group ``version``, else
the installation's raw version, normalised. ``editions`` lists the canonical
editions (captured values are re-spelled to them; ``knows`` uses them); ``map``
renames captured values (``{edition: {proplus: Professional Plus}}``).
``licence_when`` is a list of ``{version: <range>, until/since: <date>,
licence: ...}``; the first that holds decides, else ``licence`` does (ranges
as in ``versions``). ``suite`` lists component products, ``metric_hint`` how the
product is usually counted, ``note`` is free text. ``fallback: true`` entries
(broad rules such as "any package from the distribution") are tried after all
others.

Precedence: files are read in name order; each path given later overrides the
ones before it (user files after the shipped directory): its entries are tried
first, and an entry with an ``id`` already loaded replaces the earlier one. A bad
entry is reported as a ``Problem`` at ``file:line`` and skipped, never guessed.
"""

from __future__ import annotations

import heapq
import os
import re
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import yaml

from .model import Installation, LicenceNeed, Problem, Recognition
from .versions import normalise_version, parse_range, version_in_range

try:  # the regex parser, only to find a pattern's leading literal word
    import re._parser as _sre_parse  # type: ignore[import-not-found]  # Python 3.11+
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATALOGUE_DIR = Path(os.environ.get("FLEETSAM_CATALOGUE") or REPO_ROOT / "catalogue")
ENTRY_KEYS = frozenset({"id", "match", "publisher", "product", "edition", "editions", "map", "version",
                        "licence", "licence_when", "suite", "metric_hint", "fallback", "examples", "note"})
RULE_FIELDS = ("title", "publisher", "source", "package_id", "swid_tag_id", "version")
WHEN_KEYS = frozenset({"version", "until", "since", "licence", "note"})
EXAMPLE_KEYS = frozenset({"title", "publisher", "source", "version", "package_id", "expect"})


def default_catalogue_dir() -> Path:
    """The shipped catalogue directory, read from ``$FLEETSAM_CATALOGUE`` at call time."""
    return Path(os.environ.get("FLEETSAM_CATALOGUE") or REPO_ROOT / "catalogue")


@dataclass(frozen=True, eq=False)
class Condition:
    spec: str | None
    until: date | None
    since: date | None
    licence: LicenceNeed


@dataclass(frozen=True, eq=False)
class Entry:
    """One validated catalogue entry; ``rule`` is ``<file>:<id>``, ``origin`` ``<file>:<line>``."""

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
    templated: bool  # publisher or product comes from the title: not listed by products()

    def licence_for(self, version: str | None, today: date) -> LicenceNeed:
        for cond in self.licence_when:
            if cond.spec is not None and not version_in_range(version, cond.spec):
                continue
            if (cond.until and today > cond.until) or (cond.since and today < cond.since):
                continue
            return cond.licence
        return self.licence


class _Map(dict):
    """A YAML mapping that remembers its line."""

    line = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        out[loader.construct_object(key_node, deep=True)] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _label(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _fill(template: str, groups: dict) -> str | None:
    try:
        return template.format_map({k: v for k, v in groups.items() if v is not None}) or None
    except (KeyError, IndexError, ValueError):
        return None


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _literal_word(pattern: str) -> str | None:
    """The first whole word every title matching ``pattern`` starts with, if the pattern says."""
    try:
        items = list(_sre_parse.parse(pattern))
    except Exception:  # pragma: no cover - already compiled once, so this is defensive
        return None
    chars = []
    for op, arg in items:
        if op is not _sre_parse.LITERAL:
            break
        chars.append(chr(arg))
    prefix = "".join(chars).lower()
    word = _first_word(prefix)
    if not word or (len(word) == len(prefix) and len(chars) < len(items)):
        return None
    return word


def _first_word(text: str) -> str:
    end = 0
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[:end]


def _parse_entry(raw: Any, label: str) -> tuple[Entry | None, list[Problem]]:
    line = getattr(raw, "line", 0)
    where = f"{label}:{line}"
    if not isinstance(raw, dict):
        return None, [Problem(where, "catalogue entry must be a mapping")]
    errors: list[str] = []
    unknown = sorted(str(k) for k in raw if k not in ENTRY_KEYS)
    if unknown:
        errors.append(f"unknown key(s) {', '.join(unknown)}")
    for key in ("id", "publisher", "product"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            errors.append(f"missing or empty {key!r}")
    licence = raw.get("licence")
    if licence not in ("required", "free"):
        errors.append(f"licence must be 'required' or 'free', not {licence!r}")
    rules, groups = [], set()
    match = raw.get("match")
    for n, rule in enumerate(match if isinstance(match, list) else [match] if isinstance(match, dict) else []):
        rule_where = f"{label}:{getattr(rule, 'line', line)}"
        if not isinstance(rule, dict) or not rule:
            errors.append(f"match[{n}] must be a non-empty mapping")
            continue
        compiled = []
        for key, pattern in rule.items():
            if key not in RULE_FIELDS:
                return None, [Problem(rule_where, f"entry {raw.get('id')!r}: match[{n}]: unknown field {key!r}")]
            try:
                regex = re.compile(str(pattern), re.IGNORECASE)
            except re.error as exc:
                return None, [Problem(rule_where, f"entry {raw.get('id')!r}: match[{n}].{key}: bad regex: {exc}")]
            groups.update(regex.groupindex)
            compiled.append((key, regex))
        compiled.sort(key=lambda item: RULE_FIELDS.index(item[0]))  # title first
        rules.append(tuple(compiled))
    if not rules:
        errors.append("'match' must be a rule or a list of rules")
    for key in ("publisher", "product", "edition", "version"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            errors.append(f"{key!r} must be a string")
        elif value is not None:
            try:
                missing = [f for f in _fields(value) if f not in groups]
            except ValueError as exc:
                missing = [str(exc)]
            if missing:
                errors.append(f"{key!r} template uses {', '.join(missing)}: no such named group")
    conditions = []
    for n, cond in enumerate(raw.get("licence_when") or ()):
        try:
            if not isinstance(cond, dict) or set(cond) - WHEN_KEYS or cond.get("licence") not in ("required", "free"):
                raise ValueError(f"keys {sorted(WHEN_KEYS)}, licence required|free")
            spec = None if cond.get("version") is None else str(cond["version"])
            parse_range(spec)
            until = _as_date(cond["until"]) if cond.get("until") is not None else None
            since = _as_date(cond["since"]) if cond.get("since") is not None else None
            conditions.append(Condition(spec, until, since, LicenceNeed(cond["licence"])))
        except (ValueError, TypeError) as exc:
            errors.append(f"licence_when[{n}]: {exc}")
    lists = {}
    for key in ("editions", "suite"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f"{key!r} must be a list of strings")
            value = []
        lists[key] = tuple(value)
    value_map = raw.get("map") or {}
    if not isinstance(value_map, dict) or not all(
        isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
        for m in value_map.values()
    ):
        errors.append("'map' must map group names to {captured: replacement}")
        value_map = {}
    hint = raw.get("metric_hint")
    if hint is not None and not (isinstance(hint, str) and re.fullmatch(r"[a-z][a-z0-9_]*", hint)):
        errors.append("'metric_hint' must be a lower-case identifier")
    examples = raw.get("examples") or []
    if not isinstance(examples, list) or not all(
        isinstance(e, dict) and "title" in e and not set(e) - EXAMPLE_KEYS for e in examples
    ):
        errors.append(f"'examples' must be a list of mappings with a title and keys {sorted(EXAMPLE_KEYS)}")
        examples = []
    if errors:
        return None, [Problem(where, f"entry {raw.get('id')!r}: {e}") for e in errors]
    edition = raw.get("edition")
    return Entry(
        id=raw["id"], rule=f"{label}:{raw['id']}", origin=where, rules=tuple(rules),
        publisher=raw["publisher"].strip(), product=raw["product"].strip(), edition=edition,
        editions=lists["editions"],
        value_map={g: {" ".join(k.split()).lower(): v for k, v in m.items()} for g, m in value_map.items()},
        version=raw.get("version"), licence=LicenceNeed(licence), licence_when=tuple(conditions),
        suite=lists["suite"], metric_hint=hint, fallback=bool(raw.get("fallback")), examples=tuple(examples),
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
    except TypeError as exc:  # e.g. a list used as a mapping key
        return [], [Problem(label, f"invalid YAML: {exc}")]
    if doc is None:
        return [], []
    if not isinstance(doc, list):
        return [], [Problem(f"{label}:1", "a catalogue file is a list of entries")]
    entries, problems = [], []
    for raw in doc:
        entry, bad = _parse_entry(raw, label)
        problems += bad
        if entry is not None:
            entries.append(entry)
    return entries, problems


def load_catalogue(paths: Sequence[Path | str] = (), *, include_shipped: bool = True,
                   today: date | None = None) -> tuple["Catalogue", list[Problem]]:
    """Load the shipped catalogue, then each of ``paths`` (files or directories), later ones winning."""
    problems: list[Problem] = []
    layers: list[list[Entry]] = []
    seen: set[Path] = set()
    for path in ([default_catalogue_dir()] if include_shipped else []) + [Path(p) for p in paths]:
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if path.is_dir():
            files = sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
        elif path.exists():
            files = [path]
        else:
            problems.append(Problem(str(path), "no such catalogue file or directory"))
            continue
        layer, ids = [], {}
        for file in files:
            entries, bad = _read_file(file)
            problems += bad
            for entry in entries:
                if entry.id in ids:
                    problems.append(Problem(entry.origin, f"duplicate id {entry.id!r} (first at {ids[entry.id]})"))
                    continue
                ids[entry.id] = entry.origin
                layer.append(entry)
        layers.append(layer)
    ordered, taken = [], set()
    for layer in reversed(layers):
        for entry in layer:
            if entry.id not in taken:
                taken.add(entry.id)
                ordered.append(entry)
    ordered = [e for e in ordered if not e.fallback] + [e for e in ordered if e.fallback]
    return Catalogue(ordered, today=today), problems


def clean_vendor(raw: str | None) -> str | None:
    """A raw vendor made presentable: no e-mail/URL in angle brackets, X.500 names reduced to O= or CN=."""
    if not raw:
        return None
    text = " ".join(str(raw).split())
    if re.match(r"(?i)CN=", text):
        parts = dict(p.split("=", 1) for p in re.split(r",\s*(?=[A-Za-z]+=)", text) if "=" in p)
        parts = {k.upper(): v for k, v in parts.items()}
        text = parts.get("O") or parts.get("CN") or text
    return re.sub(r"\s*<[^>]*>", "", text).strip(" ,;") or None


class Catalogue:
    """Validated entries in the order they are tried, with a memo of every title already read."""

    def __init__(self, entries: Sequence[Entry], today: date | None = None):
        self.entries = tuple(entries)
        self.today = today or date.today()
        self._memo: dict[tuple, Recognition] = {}
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
                (self._by_word.setdefault(word, []) if word else self._always).append((pos, n))

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def recognise(self, inst: Installation) -> Recognition:
        """What ``inst`` is; unknown software comes back with ``LicenceNeed.UNKNOWN``, never dropped."""
        key = (inst.source, inst.name, inst.vendor, inst.package_id, inst.version)
        found = self._memo.get(key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        found = self._memo[key] = self._recognise(inst)
        return found

    def _recognise(self, inst: Installation) -> Recognition:
        title = " ".join(inst.name.split())
        fields = {
            "title": title, "publisher": (inst.vendor or "").strip(), "source": inst.source or "",
            "package_id": inst.package_id or "", "version": (inst.version or "").strip(),
            "swid_tag_id": inst.package_id if inst.source == "swid" else None,
        }
        candidates = heapq.merge(self._by_word.get(_first_word(title.lower()), ()), self._always)
        for pos, n in candidates:
            groups: dict[str, str] = {}
            for name, regex in self.entries[pos].rules[n]:
                value = fields[name]
                found = regex.fullmatch(value) if value is not None else None
                if found is None:
                    break
                for group, captured in found.groupdict().items():
                    if captured is not None:
                        groups.setdefault(group, captured)
            else:
                return self._result(self.entries[pos], groups, inst)
        return Recognition(clean_vendor(inst.vendor), title or inst.name, None,
                           normalise_version(inst.version, inst.source), LicenceNeed.UNKNOWN, None)

    def _result(self, entry: Entry, groups: dict[str, str], inst: Installation) -> Recognition:
        canon = {}
        for group, value in groups.items():
            value = " ".join(value.split())
            canon[group] = entry.value_map.get(group, {}).get(value.lower(), value)
        edition = _fill(entry.edition, canon) if entry.edition is not None else canon.get("edition")
        if edition:
            edition = next((e for e in entry.editions if e.lower() == edition.lower()), edition)
        version = _fill(entry.version, canon) if entry.version is not None else canon.get("version")
        version = normalise_version(version) if version else normalise_version(inst.version, inst.source)
        publisher = _fill(entry.publisher, canon) or clean_vendor(inst.vendor)
        product = _fill(entry.product, canon) or " ".join(inst.name.split()) or inst.name
        return Recognition(publisher, product, edition or None, version,
                           entry.licence_for(version, self.today), entry.rule)

    def knows(self, publisher: str, product: str, edition: str | None = None) -> bool:
        """Whether some entry yields ``publisher``/``product`` (and ``edition``), case-insensitively."""
        entries = self._by_product.get((publisher.lower(), product.lower()), [])
        if edition is None:
            return bool(entries)
        wanted = edition.lower()
        for entry in entries:
            if entry.editions and wanted in (e.lower() for e in entry.editions):
                return True
            if not entry.editions and entry.open_edition:
                return True
            if entry.edition and not entry.open_edition and entry.edition.lower() == wanted:
                return True
        return False

    def products(self) -> tuple[tuple[str, str], ...]:
        """Every distinct (publisher, product) the catalogue can produce, sorted."""
        return tuple(sorted({(e.publisher, e.product) for e in self.entries if not e.templated}))

    def suite_components(self, publisher: str, product: str) -> tuple[str, ...]:
        """The component products a suite covers (empty when it is not a suite)."""
        out: dict[str, None] = {}
        for entry in self._by_product.get((publisher.lower(), product.lower()), []):
            out.update(dict.fromkeys(entry.suite))
        return tuple(out)

    def metric_hint(self, publisher: str, product: str) -> str | None:
        return next((e.metric_hint for e in self._by_product.get((publisher.lower(), product.lower()), [])
                     if e.metric_hint), None)

    def cache_info(self) -> tuple[int, int, int]:
        """(hits, misses, distinct titles memoised)."""
        return self.hits, self.misses, len(self._memo)
