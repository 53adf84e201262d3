"""Shared pytest setup: import path for the collection and the real captured fixtures."""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS_DIR = str(REPO_ROOT / "collections")
REAL_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "real"
if COLLECTIONS_DIR not in sys.path:
    sys.path.insert(0, COLLECTIONS_DIR)


@pytest.fixture(scope="session")
def real_fixtures():
    """Path of the real captured fixtures, ``tests/fixtures/real`` (provenance in its SOURCES.md)."""
    return REAL_FIXTURES
