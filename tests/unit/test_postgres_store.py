"""What only the PostgreSQL store has: its schema (init, upgrade), its URL and password, the
copy between backends. The shared behaviour is in test_store_contract.py; the server is real
(tests/pg_server.py)."""

import psycopg
import pytest
import report_fleet
from pg_server import PASSWORD

from sam_engine.cli import main as cli
from sam_engine.store.admin import copy_store
from sam_engine.store.interface import StoreError, masked, open_store
from sam_engine.store.postgres_store import latest_version


@pytest.fixture
def empty_db(pg_server, monkeypatch):
    """A new database without the fleetsam schema, and PGPASSWORD set as an operator would."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return pg_server.url(pg_server.create_db())


@pytest.fixture
def fleetsam(capsys):
    def run(*args):
        code = cli.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_masked_hides_the_password_only():
    assert masked("postgresql://sam:hunter2@db.example:5432/sam") == "postgresql://sam:***@db.example:5432/sam"
    assert masked("postgres://sam@db/sam?sslmode=require&password=x") == "postgres://sam@db/sam?sslmode=require&password=***"
    assert masked("postgresql://sam@db/sam") == "postgresql://sam@db/sam"
    assert masked("store/fleetsam.json") == "store/fleetsam.json"


def test_an_uninitialised_database_says_to_run_store_init(empty_db, fleetsam):
    code, out, err = fleetsam("--store", empty_db, "scans")
    assert code == 2 and "no fleetsam schema in this database; create it with 'fleetsam store init'" in err
    assert fleetsam("--store", empty_db, "store", "upgrade")[0] == 2
    code, out, _ = fleetsam("--store", empty_db, "store", "init")
    assert code == 0 and f"created the fleetsam schema (version {latest_version()})" in out
    code, out, _ = fleetsam("--store", empty_db, "store", "init")
    assert code == 0 and "nothing changed" in out
    code, out, err = fleetsam("--store", empty_db, "scans")
    assert (code, err) == (0, "") and out.startswith("SCAN")


def test_an_older_schema_says_to_run_store_upgrade(empty_db, fleetsam):
    with psycopg.connect(empty_db) as conn:  # a database at schema 0: the version table, no migration yet
        conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
    with pytest.raises(StoreError, match="schema version 0 is older .*'fleetsam store upgrade'"):
        open_store(empty_db)
    code, _, err = fleetsam("--store", empty_db, "store", "init")
    assert code == 2 and "store upgrade" in err
    code, out, _ = fleetsam("--store", empty_db, "store", "upgrade")
    assert code == 0 and f"migrated from version 0 to {latest_version()}" in out
    with open_store(empty_db) as st:
        assert st.scans() == []
    with psycopg.connect(empty_db) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")] == \
            list(range(1, latest_version() + 1))


def test_the_password_is_never_printed(pg_server, empty_db, fleetsam, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")
    wrong = empty_db.replace("fleetsam@", "fleetsam:not-the-password@")
    code, out, err = fleetsam("--store", wrong, "store", "init")
    assert code == 2 and "not-the-password" not in out + err
    assert "fleetsam:***@127.0.0.1" in err and "password authentication failed" in err
    right = empty_db.replace("fleetsam@", f"fleetsam:{PASSWORD}@")
    code, out, err = fleetsam("--store", right, "store", "init")
    assert code == 0 and PASSWORD not in out + err and "fleetsam:***@" in out


def test_copy_tinydb_to_postgresql_and_back_keeps_every_document(tmp_path, empty_db, fleetsam):
    store, _ = report_fleet.scanned_twice(tmp_path)  # a store written by the real pipeline
    assert fleetsam("--store", empty_db, "store", "init")[0] == 0
    code, out, err = fleetsam("store", "copy", store, empty_db)
    assert code == 0, err
    assert "inventories" in out and "verified" in out
    back = str(tmp_path / "back.json")
    assert fleetsam("store", "copy", empty_db, back)[0] == 0
    with open_store(store, readonly=True) as a, open_store(empty_db, readonly=True) as b, \
            open_store(back, readonly=True) as c:
        assert a.export_documents() == c.export_documents()
        assert a.load_scan() == b.load_scan() == c.load_scan()
        assert a.scans() == b.scans() and a.entitlements() == b.entitlements()
        assert len(a.export_documents()["inventories"]) > 0
    code, _, err = fleetsam("store", "copy", store, empty_db)  # only into an empty store
    assert code == 2 and "not empty (2 scans" in err and "nothing was written" in err


def test_a_copy_that_differs_exits_2_saying_what(tmp_path, empty_db, fleetsam, monkeypatch):
    from sam_engine.store.postgres_store import PostgresStore

    store, _ = report_fleet.scanned_twice(tmp_path)
    fleetsam("--store", empty_db, "store", "init")
    real = PostgresStore.import_documents

    def lossy(self, tables):  # a faulty backend that drops one inventory's host document
        real(self, {**tables, "host_scans": tables["host_scans"][:-1]})

    monkeypatch.setattr(PostgresStore, "import_documents", lossy)
    code, _, err = fleetsam("store", "copy", store, empty_db)
    assert code == 2
    assert "the copy differs" in err and "host_scans:" in err and "inventories" not in err


def test_a_stopped_server_is_a_clear_error(fleetsam, tmp_path):
    from pg_server import _free_port

    url = f"postgresql://fleetsam:{PASSWORD}@127.0.0.1:{_free_port()}/sam"
    code, _, err = fleetsam("--store", url, "scans")
    assert code == 2 and "cannot connect to PostgreSQL" in err and PASSWORD not in err
    with pytest.raises(StoreError):
        copy_store(url, str(tmp_path / "copy.json"))
    assert not (tmp_path / "copy.json").exists()
