"""Procurement import: CSV exports mapped onto entitlements, all or nothing.

A mapping file (``mappings/*.yml``) says which CSV column holds which
entitlement field, how the export writes dates and amounts, and how its own
words translate (``Per Core`` -> ``core``)::

    format:
      delimiter: ";"          # or "auto": the one of , ; TAB | that splits the header line most
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

Every bad row is reported as ``po.csv:LINE:HEADER (col N): field: ...``, and a quote
left open (which would make the rest of the file one cell) where it opened;
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

from sam_engine.entitlements.fields import FieldError, ParseOptions, parse_bool, shown
from sam_engine.entitlements.schema import (
    FIELDS,
    REQUIRED,
    CatalogueLike,
    Checked,
    ValidationFailed,
    check_batch,
    has_errors,
    mask_key,
    same_as_files,
    validate_record,
)
from sam_engine.entitlements.restated import replacing, restated
from sam_engine.located_yaml import YamlFile, undecodable_at
from sam_engine.model import Entitlement, Problem
from sam_engine.store.interface import Store
from sam_engine.vocabulary import OnRestated

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
    replaced: int = 0  # stored entitlements the rows replaced (``OnRestated.REPLACE``)

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
            if not _one_mark(value) or len(value) != 1 or value == '"':
                expected = 'expected "auto", "tab" or one character that is no letter, digit, quote or control'
                problems.append(Problem(at, f"format.delimiter: {expected}, got {shown(value)}"))
            settings["delimiter"] = value
        elif key == "encoding" and value:
            try:
                name = codecs.lookup(value).name
            except (LookupError, TypeError):
                problems.append(Problem(at, f"format.encoding: unknown encoding {shown(value)}"))
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
                problems.append(Problem(at, f"format.date_format: {expected}, got {shown(value)}"))
            options["date_format"] = value
        elif key == "decimal_comma" and value is not None:
            try:
                options["decimal_comma"] = parse_bool(value, ParseOptions())
            except FieldError as exc:
                problems.append(Problem(at, f"format.decimal_comma: {exc}"))
        elif key == "list_separator" and value:
            if not _one_mark(value):
                expected = "expected characters that are no letter, digit or control character (like ; or |)"
                problems.append(Problem(at, f"format.list_separator: {expected}, got {shown(value)}"))
            options["list_separator"] = value
    return settings, ParseOptions(**options)


def _one_mark(value) -> bool:
    """Text of separator characters: no letter or digit (they occur in the values), no control
    character but TAB (a line break ends a row, an escape is no separator anyone means)."""
    return isinstance(value, str) and not any(c.isalnum() for c in value) and (
        value == "\t" or value.isprintable())


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
    doc = YamlFile(path, kind="mapping file", conceal=mask_key)  # a CSV given as the mapping holds keys
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
        at, line, column = undecodable_at(data, exc, encoding)
        message = (f"not {encoding} text (byte 0x{data[at]:02x}, byte {column} of the line, offset {at} in the "
                   "file); set format.encoding in the mapping")
        return None, [Problem(f"{path}:{line}", message)]


def _delimiter(text: str, mapping: ColumnMapping) -> tuple[str, str]:
    """The delimiter, and how it was chosen (for a message). Only the header line is looked at:
    the rows' cells are anyone's text, and the header names the columns the mapping needs."""
    if mapping.delimiter:
        return mapping.delimiter, f"format.delimiter of {mapping.path}"
    header = io.StringIO(text, newline="").readline()
    columns = {d: len(next(csv.reader([header], delimiter=d), [])) for d in SNIFF_DELIMITERS}
    return max(SNIFF_DELIMITERS, key=columns.__getitem__), "detected in the header line"  # a tie: the comma


def _open_quote(text: str, first: int, delimiter: str) -> tuple[int, int]:
    """Line and column (0-based) of the quoted field left open at the end of ``text``, reading the
    record that starts on line ``first`` as the csv module does (``""`` is a quote inside one)."""
    opened, column, field_start, quoted = (first, 0), 0, True, False
    lines = io.StringIO(text, newline="").readlines()[first - 1:]
    for number, line in enumerate(lines, first):
        escaped = False  # the second quote of a ""
        for char, after in zip(line, line[1:] + "\n"):
            if escaped:
                escaped = False
            elif quoted:
                escaped = char == '"' and after == '"'
                quoted = not (char == '"' and not escaped)  # strict csv has checked what follows a closing quote
            elif char == '"' and field_start:
                quoted, field_start, opened = True, False, (number, column)
            elif char in (delimiter, "\r", "\n"):
                column, field_start = (column + 1 if char == delimiter else 0), True
            else:
                field_start = False
    return opened


def _unreadable(exc: csv.Error, path: str, text: str, reader, first: int, header: list[str]) -> Problem:
    """The problem of a CSV error in the record starting on line ``first``: a quote left open is
    located where it opened (it ran to the end of the file), any other error where it was found."""
    if str(exc) != "unexpected end of data":
        return Problem(f"{path}:{reader.line_num}", f"not readable as CSV: {exc}")
    line, col = _open_quote(text, first, reader.dialect.delimiter)
    where = f"{path}:{line}" + (f":{header[col]} (col {col + 1})" if col < len(header) else "")
    return Problem(where, 'quoted field never closed: this quote makes the rest of the file one cell; close it, '
                          'or write a quote inside a cell as ""')


def read_csv(
    path: str | Path, mapping: ColumnMapping, catalogue: CatalogueLike, existing: Sequence[Entitlement] = ()
) -> tuple[list[Entitlement], list[Problem]]:
    """Validate every row of a procurement CSV and its keys against ``existing``; return the entitlements
    and every problem."""
    checked, problems = checked_rows(path, mapping, catalogue)
    entitlements, key_problems = check_batch(checked, existing)
    return entitlements, problems + key_problems


def checked_rows(path: str | Path, mapping: ColumnMapping, catalogue: CatalogueLike) -> tuple[list[Checked],
                                                                                             list[Problem]]:
    """Every row of a procurement CSV validated on its own (``check_batch`` then checks the keys)."""
    path = str(path)
    text, problems = _read_text(path, mapping.encoding)
    if text is None:
        return [], problems
    delimiter, chosen = _delimiter(text, mapping)
    # strict: a quote left open is an error at the end of the file, not the rest of the file as one cell
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [_unreadable(exc, path, text, reader, 1, [])]
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
    if any(title not in header for title in mapping.columns.values()):
        columns = f"{len(header)} column{'s' * (len(header) != 1)}"
        problems.append(Problem(f"{path}:{reader.line_num}", f"the header has {columns} split on {shown(delimiter)} "
                                f"({chosen}); is that the file's delimiter?"))
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
        problems.append(_unreadable(exc, path, text, reader, last_line + 1, header))
    return checked, problems


def import_csv(
    csv_path: str | Path,
    mapping_path: str | Path,
    store: Store,
    catalogue: CatalogueLike,
    licences: Sequence[Entitlement] = (),
    on_restated: OnRestated = OnRestated.REFUSE,
) -> ImportResult:
    """Import a procurement CSV into ``store``; raise ``ValidationFailed`` and add nothing if any row is bad.

    Call it inside the store session (``with open_store(...) as store``) so the
    exception discards the session. ``licences`` (from the licence files) take
    part in the duplicate-key check, and a row identical to one of them is an error.
    A row restating a stored purchase line (``restated``) is an error, unless
    ``on_restated`` is ``REPLACE`` (the file's rows become the line's entitlements)
    or ``KEEP_BOTH`` (stored beside it, with a warning).
    """
    mapping, problems = load_mapping(mapping_path)
    if mapping is None:
        raise ValidationFailed(problems)
    stored = store.entitlements()
    checked, rows = checked_rows(csv_path, mapping, catalogue)
    items, keys = check_batch(checked, [*stored, *licences])
    superseded = set(replacing(restated(items, stored), items)[0])
    if superseded and on_restated != OnRestated.KEEP_BOTH:  # their keys go with the rows replacing them
        kept = [e for e in stored if e.entitlement_id not in superseded]
        items, keys = check_batch(checked, [*kept, *licences])
    restating = restated(items, stored)
    problems += rows + keys + same_as_files(items, licences)
    problems += [r.problem("warning" if on_restated == OnRestated.KEEP_BOTH else "error") for r in restating
                 if on_restated != OnRestated.REPLACE]
    if has_errors(problems):
        raise ValidationFailed(problems)
    removed, rows = replacing(restating, items) if on_restated == OnRestated.REPLACE else ([], {})
    for entitlement_id in removed:
        store.remove_entitlement(entitlement_id)
    items = [rows.get(e.entitlement_id, e) for e in items]
    added = store.add_entitlements(items)
    return ImportResult(str(csv_path), len(items), added, tuple(problems), len(removed))
