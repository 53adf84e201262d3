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


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (``tests/pg_server.py``); FAILS (never skips) when
    the server binaries are missing, so that CI cannot pass without testing the PostgreSQL store."""
    from pg_server import PgMissing, PgServer

    try:
        server = PgServer().start()
    except PgMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A scratch working directory, with no policy or notification file set in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("FLEETSAM_POLICY", "FLEETSAM_NOTIFY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def workdir(env, monkeypatch):
    """``env`` with an empty ``licences/`` named by FLEETSAM_LICENCES (a named directory must exist)."""
    (env / "licences").mkdir()
    monkeypatch.setenv("FLEETSAM_LICENCES", str(env / "licences"))
    return env


@pytest.fixture
def receiver():
    """A real HTTP receiver on 127.0.0.1 that keeps what the webhooks deliver (``unit/notify_servers.py``)."""
    from notify_servers import Receiver

    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(params=["tinydb", "postgresql"])
def store_location(request, tmp_path, monkeypatch):
    """A new, empty store of each backend: a TinyDB file, or a fresh PostgreSQL database with the
    schema (password from PGPASSWORD, as in production)."""
    if request.param == "tinydb":
        return str(tmp_path / "store.json")
    from pg_server import PASSWORD

    from sam_engine.store.postgres_store import apply_migrations

    server = request.getfixturevalue("pg_server")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = server.url(server.create_db())
    apply_migrations(url, init=True)
    return url
