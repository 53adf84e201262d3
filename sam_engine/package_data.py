"""Where the engine's data directories are: templates, catalogue, schemas.

In a checkout (and an editable install) they sit at the repository root, next
to ``sam_engine/``. A wheel installs them as data files under
``<prefix>/share/fleetsam/`` (see ``[tool.setuptools.data-files]`` in
pyproject.toml). An environment variable overrides each one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
OVERRIDES = {"templates": "FLEETSAM_TEMPLATES", "catalogue": "FLEETSAM_CATALOGUE", "schemas": "FLEETSAM_SCHEMAS"}


def data_dir(name: str) -> Path:
    """The directory ``name`` (``templates``, ``catalogue``, ``schemas``)."""
    override = os.environ.get(OVERRIDES.get(name, ""), "")
    if override:
        return Path(override)
    for base in (CHECKOUT, Path(sys.prefix) / "share" / "fleetsam"):
        if (base / name).is_dir():
            return base / name
    return CHECKOUT / name
