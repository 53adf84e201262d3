"""The catalogue's file format: what an entry says, and reading one catalogue file into ``Entry`` records.

A catalogue file is YAML: a list of entries, one file per publisher family
under the shipped ``sam_engine/data/catalogue/`` (or ``$FLEETSAM_CATALOGUE``)::

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
of ``swid`` records), ``version`` (raw) and ``origin`` (where the package came
from, one line as ``platforms.records.origin_line`` writes it, "" if unknown: rules on it
recognise a distribution's packages by provenance) and ``location`` (install path,
"" if none: a macOS app under ``/System`` is Apple's). Named groups feed the results.

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
``edition_lineage`` lists edition lines, each oldest first (``[[Professional Plus,
LTSC Professional Plus]]``): every name must be one of ``editions``; each later
edition succeeds the earlier ones (``licensing.editions``).
``cpe`` names the product in NVD's dictionary, ``cpe:2.3:a:VENDOR:PRODUCT`` (the
SBOM export adds the recognised version).
``fallback: true`` entries (broad rules) are tried after all others.

A file is read through ``located_yaml``: a bad entry is a ``Problem`` at the
``file:line:col`` of the value at fault, named ``<id>.<field>``, and the entry
is skipped, never half-used.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from sam_engine.located_yaml import YamlFile
from sam_engine.model import LicenceNeed, Problem
from sam_engine.licensing.versions import parse_range, version_in_range
from sam_engine.vocabulary import METRICS

ENTRY_KEYS = ("id", "match", "publisher", "product", "edition", "editions", "map", "version",
              "licence", "licence_when", "suite", "metric_hint", "fallback", "examples", "note", "cpe",
              "edition_lineage")
CPE_PRODUCT = re.compile(r"cpe:2\.3:[aoh]:[a-z0-9_.\-]+:[a-z0-9_.\-]+")  # NVD's vendor and product names
RULE_FIELDS = ("title", "publisher", "source", "package_id", "swid_tag_id", "version", "origin", "location")
WHEN_KEYS = ("version", "until", "since", "licence", "note")
EXAMPLE_KEYS = ("title", "publisher", "source", "version", "package_id", "origin", "location", "expect")
LICENCES = ("required", "free")

Condition = tuple  # (version range or None, until date or None, since date or None, LicenceNeed, note or None)


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
    cpe: str | None = None  # cpe:2.3:PART:VENDOR:PRODUCT, without version
    lineage: tuple[tuple[str, ...], ...] = ()  # edition lines, each oldest first

    def licence_for(self, version: str | None, today: date) -> LicenceNeed:
        return self.licence_band(version, today)[0]

    def licence_band(self, version: str | None, today: date) -> tuple[LicenceNeed, str | None]:
        """The licence of ``version`` on ``today`` and, for an entry with ``licence_when``, what decided
        it: "licence_when version >=21,<=21.0.12 of catalogue/oracle.yml:oracle-java-se: free (NFTC)", or
        that no band covers the version (the entry's own licence)."""
        for spec, until, since, licence, note in self.licence_when:
            if (spec is None or version_in_range(version, spec)) and not (
                    (until and today > until) or (since and today < since)):
                band = " ".join(f"{k} {v}" for k, v in (("version", spec), ("until", until), ("since", since)) if v)
                return licence, f"licence_when {band} of {self.rule}: {licence.value}" + (f" ({note})" if note else "")
        if not self.licence_when:
            return self.licence, None
        return self.licence, f"no licence_when band of {self.rule} covers it: {self.licence.value}"


def template_fields(template: str) -> list[str]:
    """The ``{group}`` names a result template uses."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _rules(doc: YamlFile, node: yaml.Node | None, name: str) -> tuple[list, set[str]]:
    """The compiled match rules (title first in each) and every named group they capture."""
    rules, groups = [], set()
    listed = [node] if isinstance(node, yaml.MappingNode) else doc.sequence(
        node, f"{name}.match", "a rule or a list of rules")
    if not listed and not doc.is_null(node):
        doc.fail(node, f"{name}.match", "expected at least one rule, got an empty list")
    for n, rule in enumerate(listed):
        where = f"{name}.match[{n}]"
        fields = doc.mapping(rule, where, RULE_FIELDS, "a mapping of field: regular expression")
        if not fields and (isinstance(rule, yaml.MappingNode) or doc.is_null(rule)):
            doc.fail(rule, where, f"expected at least one of {', '.join(RULE_FIELDS)}, got {doc.shown(rule)}")
        compiled = []
        for key, value in fields.items():
            pattern = doc.pattern(value, f"{where}.{key}", re.IGNORECASE)
            if pattern is not None:
                compiled.append((key, pattern))
                groups.update(pattern.groupindex)
        rules.append(tuple(sorted(compiled, key=lambda item: RULE_FIELDS.index(item[0]))))
    return rules, groups


def _condition(doc: YamlFile, node: yaml.Node, where: str) -> Condition | None:
    before = len(doc.problems)
    fields = doc.mapping(node, where, WHEN_KEYS, "a mapping with licence and version, until or since")
    licence = doc.choice(doc.required(fields, "licence", node, where, f"one of {', '.join(LICENCES)}"),
                         f"{where}.licence", LICENCES, None)
    spec = doc.text(fields.get("version"), f"{where}.version")
    try:
        parse_range(spec)
    except ValueError as exc:
        doc.fail(fields.get("version"), f"{where}.version", f"expected a version range: {exc}")
    until, since = (doc.date(fields.get(k), f"{where}.{k}") for k in ("until", "since"))
    note = doc.text(fields.get("note"), f"{where}.note")
    return None if len(doc.problems) > before else (spec, until, since, LicenceNeed(licence), note)


def _examples(doc: YamlFile, node: yaml.Node | None, name: str) -> tuple[dict, ...]:
    out = []
    for n, example in enumerate(doc.sequence(node, f"{name}.examples", "a list of {title: ..., expect: ...}")):
        where = f"{name}.examples[{n}]"
        fields = doc.mapping(example, where, EXAMPLE_KEYS, "a mapping with a title")
        doc.text(doc.required(fields, "title", example, where, "a text"), f"{where}.title")
        doc.mapping(fields.get("expect"), f"{where}.expect")
        out.append({key: doc.plain(value) for key, value in fields.items()})
    return tuple(out)


def _value_map(doc: YamlFile, node: yaml.Node | None, name: str) -> dict[str, dict[str, str]]:
    """``{group: {captured (lower-case, single spaces): replacement}}``."""
    out = {}
    for group, renames in doc.mapping(node, f"{name}.map", (), "a mapping of group -> {captured: replacement}").items():
        where = f"{name}.map.{group}"
        pairs = doc.mapping(renames, where, (), "a mapping of captured -> replacement")
        out[group] = {" ".join(k.split()).lower(): doc.text(v, f"{where}.{k}") for k, v in pairs.items()}
    return out


def _lineage(doc: YamlFile, node: yaml.Node | None, name: str, editions: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The edition lines, each a list of two or more of the entry's ``editions``, oldest first."""
    lines = []
    for n, line in enumerate(doc.sequence(node, f"{name}.edition_lineage", "a list of edition lines")):
        where = f"{name}.edition_lineage[{n}]"
        names = doc.text_list(line, where)
        known = {e.casefold() for e in editions}
        if len(names) < 2:
            got = ", ".join(names) or doc.shown(line)
            doc.fail(line, where, f"expected two or more editions, oldest first, got {got}")
        elif not editions or any(e.casefold() not in known for e in names):
            doc.fail(line, where, f"expected editions listed in {name}.editions, got {', '.join(names)}")
        else:
            lines.append(tuple(next(e for e in editions if e.casefold() == x.casefold()) for x in names))
    return tuple(lines)


def _entry_name(node: yaml.Node, n: int) -> str:
    """How an entry's problems name it: its id when it has a usable one, else its place in the file."""
    ident = next((v.value.strip() for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "id"
                  and isinstance(v, yaml.ScalarNode) and v.value.strip()), None)
    return ident or f"[{n}]"


def _entry(doc: YamlFile, node: yaml.Node, n: int, label: str) -> Entry | None:
    before = len(doc.problems)
    if not isinstance(node, yaml.MappingNode):
        doc.expected(node, f"[{n}]", "a catalogue entry (a mapping)")
        return None
    name = _entry_name(node, n)
    fields = doc.mapping(node, name, ENTRY_KEYS)
    ident = doc.text(doc.required(fields, "id", node, name, "a text"), f"{name}.id")
    licence = doc.choice(doc.required(fields, "licence", node, name, f"one of {', '.join(LICENCES)}"),
                         f"{name}.licence", LICENCES, None)
    rules, groups = _rules(doc, doc.required(fields, "match", node, name, "a rule or a list of rules"), name)
    results = {}
    for key in ("publisher", "product", "edition", "version"):
        value_node = (doc.required(fields, key, node, name, "a text") if key in ("publisher", "product")
                      else fields.get(key))
        value = results[key] = doc.text(value_node, f"{name}.{key}")
        try:
            missing = [f for f in template_fields(value or "") if f not in groups]
        except ValueError as exc:  # an unbalanced brace
            doc.fail(value_node, f"{name}.{key}", f'expected a text or a {{group}} template, got "{value}" ({exc})')
            continue
        if missing:
            doc.fail(value_node, f"{name}.{key}", f"uses {', '.join(missing)}: no such named group in match")
    conditions = [_condition(doc, cond, f"{name}.licence_when[{k}]") for k, cond in
                  enumerate(doc.sequence(fields.get("licence_when"), f"{name}.licence_when"))]
    editions = doc.text_list(fields.get("editions"), f"{name}.editions")
    suite = doc.text_list(fields.get("suite"), f"{name}.suite")
    examples = _examples(doc, fields.get("examples"), name)
    value_map = _value_map(doc, fields.get("map"), name)
    hint = doc.choice(fields.get("metric_hint"), f"{name}.metric_hint", METRICS, None)
    fallback = doc.boolean(fields.get("fallback"), f"{name}.fallback", False)
    doc.text(fields.get("note"), f"{name}.note")
    cpe = doc.text(fields.get("cpe"), f"{name}.cpe")
    if cpe is not None and not CPE_PRODUCT.fullmatch(cpe):
        doc.fail(fields["cpe"], f"{name}.cpe", f'expected cpe:2.3:a|o|h:VENDOR:PRODUCT, got "{cpe}"')
    lineage = _lineage(doc, fields.get("edition_lineage"), name, editions)
    if len(doc.problems) > before:
        return None
    edition, publisher, product = results["edition"], results["publisher"], results["product"]
    return Entry(
        id=ident, rule=f"{label}:{ident}", origin=doc.line(node), rules=tuple(rules),
        publisher=publisher, product=product, edition=edition, editions=editions, value_map=value_map,
        version=results["version"], licence=LicenceNeed(licence), licence_when=tuple(conditions),
        suite=suite, metric_hint=hint, fallback=fallback, examples=examples,
        open_edition=bool(edition and template_fields(edition)) or (edition is None and "edition" in groups),
        templated=bool(template_fields(publisher) or template_fields(product)), cpe=cpe, lineage=lineage,
    )


def read_entries(path: Path, label: str) -> tuple[list[Entry], list[Problem]]:
    """The valid entries of one catalogue file, named ``label`` in rules and problems, and every problem."""
    doc = YamlFile(path, label=label, kind="catalogue file")
    if doc.unreadable:
        return [], doc.problems
    listed = doc.sequence(doc.root, "", "a list of catalogue entries")
    entries = [_entry(doc, node, n, label) for n, node in enumerate(listed)]
    return [e for e in entries if e is not None], doc.located()
