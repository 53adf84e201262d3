"""Licences as code: entitlements written in ``licences/*.yml`` next to the inventory.

These files are read at every run and never copied into the store: git is
their source of truth. Each file holds one list; every entry uses the field
names of ``entitlements.FIELDS``::

    entitlements:
      - publisher: Oracle
        product: Database
        edition: Enterprise
        metric: processor
        quantity: 16
        keys: [ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ]

Documents are composed, not loaded, so every problem carries the line and
column of the key it is about (``licences/oracle.yml:14:5``), and scalars
reach the validator as the text that was written (``1234.50`` stays exact).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import yaml

from sam_engine.entitlements.schema import CatalogueLike, Checked, check_batch, validate_record
from sam_engine.model import Entitlement, Problem

LICENCE_SUFFIXES = (".yml", ".yaml")
_NULLS = {"", "~", "null", "Null", "NULL"}


def where(path: str | Path, node: yaml.Node) -> str:
    """``path:line:column`` of a composed node (1-based)."""
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def plain(node: yaml.Node):
    """A composed node as plain data: scalars as written text, plain nulls as None."""
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value in _NULLS:
            return None
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [plain(item) for item in node.value]
    return {plain(k): plain(v) for k, v in node.value}


def compose_file(path: str | Path, what: str) -> tuple[yaml.Node | None, list[Problem]]:
    """Read and compose one YAML file; unreadable or malformed files are located problems."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}")]
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(at, f"{what} is not valid YAML: {reason}")]


def mapping_entries(path: str | Path, node: yaml.MappingNode) -> tuple[dict, dict[str, str], list[Problem]]:
    """A mapping's ``{key: node}`` and ``{key: location}``; repeated keys are problems."""
    values: dict = {}
    locations: dict[str, str] = {}
    problems: list[Problem] = []
    for key_node, value_node in node.value:
        key = plain(key_node)
        if not isinstance(key, str):
            problems.append(Problem(where(path, key_node), "expected a field name"))
            continue
        if key in values:
            problems.append(Problem(where(path, key_node), f"{key}: given twice (first at {locations[key]})"))
            continue
        values[key] = value_node
        locations[key] = where(path, key_node)
    return values, locations, problems


def licence_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The licence files named, directories expanded to their ``*.yml`` files (sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in LICENCE_SUFFIXES and p.is_file()))
        else:
            found.append(path)
    return found


def read_licence_file(path: Path, catalogue: CatalogueLike) -> tuple[list[Checked], list[Problem]]:
    """Validate every entry of one licence file (duplicate keys are checked later, over all files)."""
    root, problems = compose_file(path, "licence file")
    if root is None:
        return [], problems
    if not isinstance(root, yaml.MappingNode):
        return [], problems + [Problem(where(path, root), 'expected a mapping with an "entitlements:" list')]
    top, _, problems = mapping_entries(path, root)
    for key in top:
        if key != "entitlements":
            problems.append(Problem(where(path, top[key]), f'{key}: unknown top-level key; expected "entitlements"'))
    listing = top.get("entitlements")
    if listing is None:
        return [], problems + [Problem(where(path, root), 'entitlements: missing; expected a list of entitlements')]
    if not isinstance(listing, yaml.SequenceNode):
        return [], problems + [Problem(where(path, listing), "entitlements: expected a list of entitlements")]
    checked: list[Checked] = []
    for item in listing.value:
        record_at = where(path, item)
        if not isinstance(item, yaml.MappingNode):
            problems.append(Problem(record_at, "expected an entitlement (a mapping of fields)"))
            continue
        nodes, locations, entry_problems = mapping_entries(path, item)
        problems.extend(entry_problems)
        raw = {key: plain(node) for key, node in nodes.items()}
        origin = f"{path}:{item.start_mark.line + 1}"
        ent, found = validate_record(
            raw, origin, catalogue, locate=lambda field, locs=locations, at=record_at: locs.get(field, at)
        )
        problems.extend(found)
        if ent is not None and not entry_problems:
            checked.append(Checked(ent, locations.get("keys", record_at)))
    return checked, problems


def load_licence_files(
    paths: Iterable[str | Path], catalogue: CatalogueLike, existing: Sequence[Entitlement] = ()
) -> tuple[list[Entitlement], list[Problem]]:
    """Read licence files or directories of them; return the valid entitlements and every problem.

    Licence keys must be unique over all the files and must not belong to an
    entitlement in ``existing`` (the store).
    """
    checked: list[Checked] = []
    problems: list[Problem] = []
    for path in licence_paths(paths):
        found, file_problems = read_licence_file(path, catalogue)
        checked.extend(found)
        problems.extend(file_problems)
    entitlements, key_problems = check_batch(checked, existing)
    return entitlements, problems + key_problems
