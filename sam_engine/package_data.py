"""Where the engine's data directories are: templates, catalogue, schemas.

They ship inside the package, under ``sam_engine/data/``, and are found through
``importlib.resources``: the same place in a checkout, an editable install, a
wheel, ``pip install --user`` or a distribution's system Python, whatever
``sys.prefix`` is. An environment variable overrides each one.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

OVERRIDES = {"templates": "FLEETSAM_TEMPLATES", "catalogue": "FLEETSAM_CATALOGUE", "schemas": "FLEETSAM_SCHEMAS"}


def _data_root() -> Path:
    root = files(__package__) / "data"
    # Jinja2's loader, globbing and file:line labels need real directories:
    # a zipped install (zipimport) would give a zipfile.Path, which they cannot use.
    if not isinstance(root, Path):
        raise RuntimeError(f"sam_engine's data is not on the file system ({root}): install fleetsam unzipped")
    return root


DATA_ROOT = _data_root()


def data_dir(name: str) -> Path:
    """The directory ``name`` (``templates``, ``catalogue``, ``schemas``)."""
    override = os.environ.get(OVERRIDES.get(name, ""), "")
    return Path(override) if override else DATA_ROOT / name


def data_label(path: Path) -> str:
    """How a data file is named in rules, messages and audit packs: a shipped
    file by its place in the package data (``catalogue/oracle.yml``), so the
    name is the same in every install; any other file as given."""
    resolved = path.resolve()
    return resolved.relative_to(DATA_ROOT).as_posix() if resolved.is_relative_to(DATA_ROOT) else str(path)


def data_path(text: str) -> Path:
    """The file a :func:`data_label` names."""
    path = Path(text)
    return path if path.is_absolute() or path.exists() else DATA_ROOT / path
