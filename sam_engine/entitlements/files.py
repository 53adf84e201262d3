"""Licences as code: entitlements written in ``licences/`` next to the inventory.

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

A directory is read with its subdirectories (``licences/microsoft/sql.yml``):
every ``.yml`` or ``.yaml`` file, whatever the case of the suffix, but none
that is hidden or under a hidden directory (``.git``, ``.github``).

Files are read through ``located_yaml``, so every problem carries the line and
column of the key it is about (``licences/oracle.yml:14:5``), and scalars
reach the validator as the text that was written (``1234.50`` stays exact).
A value a problem quotes is masked as a key would be (``mask_key``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from sam_engine.entitlements.schema import CatalogueLike, Checked, check_batch, mask_key, validate_record
from sam_engine.located_yaml import YamlFile
from sam_engine.model import Entitlement, Problem

LICENCE_SUFFIXES = (".yml", ".yaml")


def _yaml_files(directory: Path) -> list[Path]:
    """Every licence file under ``directory``, subdirectories included, by path; hidden ones left out."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, name) for name in files
                  if not name.startswith(".") and name.lower().endswith(LICENCE_SUFFIXES)]
    return sorted(found, key=lambda p: p.relative_to(directory).parts)


def licence_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The licence files named, directories expanded to their YAML files (see the module docstring)."""
    found: list[Path] = []
    for path in map(Path, paths):
        found.extend(_yaml_files(path) if path.is_dir() else [path])
    return found


def read_licence_file(path: Path, catalogue: CatalogueLike) -> tuple[list[Checked], list[Problem]]:
    """Validate every entry of one licence file (duplicate keys are checked later, over all files)."""
    doc = YamlFile(path, kind="licence file", conceal=mask_key)
    if doc.unreadable:
        return [], doc.problems
    top = doc.mapping(doc.root, "", ("entitlements",), 'a mapping with an "entitlements:" list')
    listing = doc.sequence(doc.required(top, "entitlements", doc.root, "", "a list of entitlements"), "entitlements",
                           "a list of entitlements")
    checked: list[Checked] = []
    for item in listing:
        record_at = doc.at(item)
        if not isinstance(item, yaml.MappingNode):
            doc.expected(item, "", "an entitlement (a mapping of fields)")
            continue
        before = len(doc.problems)
        fields = doc.mapping(item, "")  # any field name: validate_record names the unknown ones
        locations = {key: doc.at(key_node) for key, key_node in fields.key_nodes.items()}
        raw = {key: doc.plain(node) for key, node in fields.items()}
        ent, found = validate_record(
            raw, doc.line(item), catalogue, locate=lambda field, locs=locations, at=record_at: locs.get(field, at)
        )
        repeated = len(doc.problems) > before
        doc.problems.extend(found)
        if ent is not None and not repeated:
            checked.append(Checked(ent, locations.get("keys", record_at)))
    return checked, doc.problems


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
