"""Procurement import: CSV exports mapped onto entitlements, all or nothing.

A mapping file (``mappings/*.yml``) says which CSV column holds which
entitlement field, how the export writes dates and amounts, and how its own
words translate (``Per Core`` -> ``core``)::

    format:
      delimiter: ";"          # or "auto": csv.Sniffer picks one of , ; TAB |
      encoding: utf-8         # a UTF-8 byte order mark is always skipped
      date_format: "%d.%m.%Y" # besides ISO YYYY-MM-DD
      decimal_comma: true     # 1.234,50
      list_separator: "|"     # several keys in one cell
    columns:                  # entitlement field: CSV header
      publisher: Manufacturer
      quantity: Qty
    defaults:                 # for empty cells and unmapped fields
      currency: EUR
    values:                   # per field: export word -> fleetsam word
      metric: {Per Core: core}

Every bad row is reported as ``po.csv:LINE:HEADER (col N): field: ...``;
``import_csv`` stores nothing unless every row is good, and importing the
same file again adds nothing (see ``entitlements`` for the ids).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from sam_engine.entitlements.fields import FieldError, ParseOptions, parse_bool
from sam_engine.entitlements.schema import (
    FIELDS,
    REQUIRED,
    CatalogueLike,
    Checked,
    ValidationFailed,
    check_batch,
    has_errors,
    same_as_files,
    validate_record,
)
from sam_engine.located_yaml import YamlFile
from sam_engine.model import Entitlement, Problem
from sam_engine.store.interface import Store

SNIFF_DELIMITERS = ",;\t|"
MAPPING_KEYS = ("name", "format", "columns", "defaults", "values")
FORMAT_KEYS = ("delimiter", "encoding", "date_format", "decimal_comma", "list_separator")


@dataclass(frozen=True)
class ColumnMapping:
    """A parsed mapping file: CSV header per field, defaults, value translations, format."""

    path: str
    columns: dict[str, str]
    defaults: dict[str, object] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {casefolded word: value}
    delimiter: str | None = None  # None: sniff
    encoding: str = "utf-8-sig"
    options: ParseOptions = ParseOptions()


@dataclass(frozen=True)
class ImportResult:
    path: str
    rows: int
    added: int
    warnings: tuple[Problem, ...] = ()

    @property
    def already_stored(self) -> int:
        return self.rows - self.added


def _format_options(doc: YamlFile, node: yaml.Node | None) -> tuple[dict, ParseOptions]:
    """The ``format:`` section: delimiter and encoding, and the value ``ParseOptions``."""
    settings = {"delimiter": None, "encoding": "utf-8-sig"}
    problems = doc.problems
    nodes = doc.mapping(node, "format")
    options: dict = {}
    for key, value_node in nodes.items():
        value, at = doc.plain(value_node), doc.at(nodes.key_nodes[key])
        if key not in FORMAT_KEYS:
            problems.append(Problem(at, f"format.{key}: unknown setting; expected one of {', '.join(FORMAT_KEYS)}"))
        elif key == "delimiter" and value not in (None, "auto"):
            value = "\t" if value in ("tab", "\\t") else value
            if not isinstance(value, str) or len(value) != 1:
                problems.append(Problem(at, f'format.delimiter: expected "auto" or one character, got {value!r}'))
            settings["delimiter"] = value
        elif key == "encoding" and value:
            try:
                name = codecs.lookup(value).name
            except (LookupError, TypeError):
                problems.append(Problem(at, f"format.encoding: unknown encoding {value!r}"))
            else:
                settings["encoding"] = "utf-8-sig" if name == "utf-8" else name
        elif key == "date_format" and value:
            try:
                sample = datetime.date(2024, 1, 31)
                ok = datetime.datetime.strptime(sample.strftime(value), value).date() == sample
            except (ValueError, TypeError):
                ok = False
            if not ok or "%" not in str(value):
                expected = 'expected a strptime format like "%d/%m/%Y"'
                problems.append(Problem(at, f"format.date_format: {expected}, got {value!r}"))
            options["date_format"] = value
        elif key == "decimal_comma" and value is not None:
            try:
                options["decimal_comma"] = parse_bool(value, ParseOptions())
            except FieldError as exc:
                problems.append(Problem(at, f"format.decimal_comma: {exc}"))
        elif key == "list_separator" and value:
            options["list_separator"] = value
    return settings, ParseOptions(**options)


def _field_table(doc: YamlFile, node: yaml.Node | None, section: str) -> tuple[dict, dict[str, str]]:
    """A ``field: value`` section, with the location of each entry; unknown fields are problems."""
    nodes = doc.mapping(node, section, (), "a mapping of entitlement fields")
    locations = {key: doc.at(key_node) for key, key_node in nodes.key_nodes.items()}
    for key in list(nodes):
        if key not in FIELDS:
            expected = f"expected one of {', '.join(FIELDS)}"
            doc.problems.append(Problem(locations[key], f"{section}.{key}: unknown entitlement field; {expected}"))
            del nodes[key]
    return {key: doc.plain(value) for key, value in nodes.items()}, locations


def load_mapping(path: str | Path) -> tuple[ColumnMapping | None, list[Problem]]:
    """Read and check a mapping file; None (with located problems) when it cannot be used."""
    path = str(path)
    doc = YamlFile(path, kind="mapping file")
    if doc.unreadable:
        return None, doc.problems
    problems = doc.problems
    if not isinstance(doc.root, yaml.MappingNode):
        doc.expected(doc.root, "", 'a mapping with "columns:"')
        return None, problems
    top = doc.mapping(doc.root, "", MAPPING_KEYS)
    settings, options = _format_options(doc, top.get("format"))
    columns, _ = _field_table(doc, top.get("columns"), "columns")
    defaults, default_at = _field_table(doc, top.get("defaults"), "defaults")
    for name, header in columns.items():
        if not isinstance(header, str) or not header.strip():
            problems.append(Problem(doc.at(top["columns"]), f"columns.{name}: expected a CSV header name"))
    for name, value in defaults.items():
        try:
            FIELDS[name](value, options)
        except FieldError as exc:
            problems.append(Problem(default_at[name], f"defaults.{name}: {exc}"))
    for name in REQUIRED:
        if name not in columns and name not in defaults:
            problems.append(Problem(doc.at(doc.root), f"columns: no column or default for the required field {name}"))
    values: dict[str, dict[str, str]] = {}
    raw_values, value_at = _field_table(doc, top.get("values"), "values")
    for name, table in raw_values.items():
        if not isinstance(table, dict):
            problems.append(Problem(value_at[name], f"values.{name}: expected a mapping of export word: value"))
            continue
        for word, meant in table.items():
            try:
                FIELDS[name](meant, options)
            except FieldError as exc:
                problems.append(Problem(value_at[name], f"values.{name}.{word}: {exc}"))
        values[name] = {str(word).strip().casefold(): meant for word, meant in table.items()}
    if has_errors(problems):
        return None, problems
    mapping = ColumnMapping(path, {k: v.strip() for k, v in columns.items()}, defaults, values,
                            settings["delimiter"], settings["encoding"], options)
    return mapping, problems


def _read_text(path: str, encoding: str) -> tuple[str | None, list[Problem]]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, [Problem(path, f"cannot read: {exc.strerror or exc}")]
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError as exc:
        # utf-8-sig counts error positions after the byte order mark it skipped
        at = exc.start + (len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0)
        before = data[:at].decode(encoding, "replace")
        line = before.count("\n") + 1
        column = at - (data.rfind(b"\n", 0, at) + 1) + 1
        message = (f"not {encoding} text (byte 0x{data[at]:02x}, byte {column} of the line, offset {at} in the "
                   "file); set format.encoding in the mapping")
        return None, [Problem(f"{path}:{line}", message)]


def _delimiter(text: str, mapping: ColumnMapping) -> str:
    if mapping.delimiter:
        return mapping.delimiter
    sample = text[:65536].rsplit("\n", 1)[0] if len(text) > 65536 else text
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_csv(
    path: str | Path, mapping: ColumnMapping, catalogue: CatalogueLike, existing: Sequence[Entitlement] = ()
) -> tuple[list[Entitlement], list[Problem]]:
    """Validate every row of a procurement CSV; return the entitlements and every problem."""
    path = str(path)
    text, problems = _read_text(path, mapping.encoding)
    if text is None:
        return [], problems
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, mapping))
    header = next(reader, None)
    if header is None:
        return [], [Problem(path, "empty file; expected a header row")]
    header = [h.strip().lstrip("\ufeff") for h in header]
    index: dict[str, int] = {}
    for name, title in mapping.columns.items():
        at = f"{path}:{reader.line_num}"
        if header.count(title) > 1:
            problems.append(Problem(at, f'{name}: column "{title}" appears twice in the header'))
        elif title not in header:
            problems.append(Problem(at, f'{name}: column "{title}" (from {mapping.path}) is not in the header'))
        else:
            index[name] = header.index(title)
    if problems:
        return [], problems
    checked: list[Checked] = []
    last_line = reader.line_num
    try:
        for row in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            origin = f"{path}:{line}"
            if len(row) != len(header):
                problems.append(Problem(origin, f"expected {len(header)} columns as in the header, got {len(row)}"))
                continue
            raw = {}
            for name, col in index.items():
                cell = row[col]
                raw[name] = mapping.values.get(name, {}).get(cell.strip().casefold(), cell)

            def locate(name: str, line=line) -> str:
                col = index.get(name)
                return f"{path}:{line}" if col is None else f"{path}:{line}:{header[col]} (col {col + 1})"

            ent, found = validate_record(raw, origin, catalogue, locate=locate, options=mapping.options,
                                         defaults=mapping.defaults)
            problems.extend(found)
            if ent is not None:
                checked.append(Checked(ent, locate("keys")))
    except csv.Error as exc:
        problems.append(Problem(f"{path}:{reader.line_num}", f"not readable as CSV: {exc}"))
    entitlements, key_problems = check_batch(checked, existing)
    return entitlements, problems + key_problems


def import_csv(
    csv_path: str | Path,
    mapping_path: str | Path,
    store: Store,
    catalogue: CatalogueLike,
    licences: Sequence[Entitlement] = (),
) -> ImportResult:
    """Import a procurement CSV into ``store``; raise ``ValidationFailed`` and add nothing if any row is bad.

    Call it inside the store session (``with open_store(...) as store``) so the
    exception discards the session. ``licences`` (from the licence files) take
    part in the duplicate-key check, and a row identical to one of them is an error.
    """
    mapping, problems = load_mapping(mapping_path)
    if mapping is None:
        raise ValidationFailed(problems)
    items, found = read_csv(csv_path, mapping, catalogue, [*store.entitlements(), *licences])
    problems += found + same_as_files(items, licences)
    if has_errors(problems):
        raise ValidationFailed(problems)
    added = store.add_entitlements(items)
    return ImportResult(str(csv_path), len(items), added, tuple(problems))
