"""Shared pytest setup: import path for the collection and the real captured fixtures."""

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS_DIR = str(REPO_ROOT / "collections")
if COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, COLLECTIONS_DIR)


@pytest.fixture(scope="session")
def real_fixtures():
    """Path of the real captured fixtures (``$FLEETSAM_SHARED`` or ``<repo>/../shared``).

    A missing directory is a failure, not a skip: these tests must run.
    """
    shared = Path(os.environ.get("FLEETSAM_SHARED") or REPO_ROOT.parent / "shared")
    path = shared / "fixtures" / "real"
    if not path.is_dir():
        raise FileNotFoundError("real fixtures not found at %s (set FLEETSAM_SHARED)" % path)
    return path
