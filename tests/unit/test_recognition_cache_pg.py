"""The recognition cache of a PostgreSQL store lives in its database (schema 3): a repeat run in a
fresh container recalls instead of recognising; a corrupt row or a database that refuses is a
warning naming the store (password masked) and the run stands; other digests are ignored and old
ones removed; concurrent writers neither fail nor wait on each other; a schema-2 database is
migrated by ``fleetsam store upgrade``. The server is real (tests/pg_server.py), the fleet real
captured package lists (``test_recognition_cache.real_spool``)."""

import subprocess
import sys
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from pg_server import PASSWORD
from test_recognition_cache import AS_OF, position_rows, real_spool

from sam_engine import pipeline
from sam_engine.cli import main as cli
from sam_engine.licensing import context
from sam_engine.licensing.catalogue import Catalogue
from sam_engine.licensing.context import LicenceSettings, recognition_digest
from sam_engine.store import open_store, postgres_store
from sam_engine.store.interface import StoreError
from sam_engine.store.postgres_cache import KEEP, PostgresRecognitionCache
from sam_engine.store.postgres_store import apply_migrations
from sam_engine.store.recognition_cache import FORMAT, RecognitionCache

SETTINGS = LicenceSettings(licences_dir=Path("examples/licences"))
ROW = ("dpkg", "bash", None, "dpkg:bash", "5.2", None, None, "GNU", "Bash", None, "5.2", None)


@pytest.fixture
def db(pg_server, monkeypatch, tmp_path):
    """A new database with the current schema; HOME and XDG_CACHE_HOME empty folders of the test (a
    fresh AWX container: nothing may be cached there)."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    for name in ("HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
        (tmp_path / name.lower()).mkdir()
    url = pg_server.url(pg_server.create_db())
    apply_migrations(url, init=True)
    return url


def ingest(tmp_path: Path, real_fixtures: Path, url: str, scan_id: str):
    spool = real_spool(tmp_path / f"spool-{scan_id}", real_fixtures, scan_id)
    return pipeline.process_spool(spool, store=url, report_dir=tmp_path / f"reports-{scan_id}", as_of=AS_OF,
                                  settings=SETTINGS)


def cache_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT digest, saved_at FROM recognition_cache ORDER BY saved_at").fetchall()


def positions(summary) -> list[tuple]:
    """``position_rows`` without the scan each installation came from (a repeat run stores a new one)."""
    return [(*row[:-2], tuple(replace(i, scan_id="") for i in row[-2]), row[-1])
            for row in position_rows(summary.position)]


def cache_warnings(summary) -> list:
    return [p for p in summary.problems if "recognition cache" in p.message]


def test_a_repeat_run_in_a_fresh_container_recalls_from_the_database(tmp_path, real_fixtures, db, monkeypatch):
    cold = ingest(tmp_path, real_fixtures, db, "s1")
    assert cache_warnings(cold) == []
    (digest, saved), = cache_rows(db)
    assert digest == recognition_digest(SETTINGS)
    assert not any((tmp_path / "home").iterdir()) and not any((tmp_path / "xdg_cache_home").iterdir())

    def no_matching(*args):
        raise AssertionError("a repeat run matched a title against the catalogue")

    monkeypatch.setattr(Catalogue, "_match_static", no_matching)
    monkeypatch.setattr(context, "load_catalogue", no_matching)  # the composed catalogue comes from the row
    warm = ingest(tmp_path, real_fixtures, db, "s2")
    assert cache_warnings(warm) == []
    assert positions(warm) == positions(cold) and len(positions(cold)) > 100
    assert cache_rows(db) == [(digest, saved)], "nothing learnt: the row is not rewritten"
    cached, problems = RecognitionCache.beside(db).load(digest)
    assert problems == [] and len(cached.rows) > 500 and cached.catalogue is not None


def test_the_standby_reads_the_cache_during_the_scan_with_the_password_the_callback_sent(tmp_path, real_fixtures,
                                                                                        db, monkeypatch):
    """The engine standby (``sam_engine.standby``) reads the database's cache before the hand-over, with
    the password of the callback's start message (none in its environment); the run reads it no more."""
    import io
    import json

    from sam_engine import standby

    ingest(tmp_path, real_fixtures, db, "s1")  # writes the cache row
    monkeypatch.delenv("PGPASSWORD")
    events, load = [], PostgresRecognitionCache.load

    def logged_load(self, digest):
        events.append("cache read")
        return load(self, digest)

    class Requests(io.StringIO):
        def readline(self, *args):
            events.append("request read")
            return super().readline(*args)

    monkeypatch.setattr(PostgresRecognitionCache, "load", logged_load)
    secrets = {"PGPASSWORD": PASSWORD}
    handover = {"spool": str(real_spool(tmp_path / "spool-s2", real_fixtures, "s2")), "store": db,
                "report_dir": str(tmp_path / "reports-s2"), "secrets": secrets}
    replies = io.StringIO()
    requests = Requests(json.dumps({"store": db, "secrets": secrets}) + "\n" + json.dumps(handover) + "\n")
    assert standby.serve(requests, standby.Replies(replies)) == 0
    sent = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert sent[0] == {"ready": True} and "summary" in sent[-1], sent
    assert events == ["request read", "cache read", "request read"]
    assert not any("recognition cache" in line for line in sent[-1]["summary"]["lines"])
    with open_store(db, create=False, readonly=True) as st:
        assert [s.scan_id for s in st.scans()] == ["s1", "s2"]


def test_the_row_round_trips_hostile_text_and_other_digests_are_ignored_silently(db):
    memory = RecognitionCache.beside(db)
    assert isinstance(memory, PostgresRecognitionCache) and memory.load("d1") == (None, [])
    hostile = ("dpkg", "a\x00b\n=cmd|' /C calc'!A0", None, "\ud800lone", "<script>", None, None,
               "\U0010ffff", "Bash", None, "5", None)
    assert memory.save("d1", [ROW, hostile], {"any": ["plain", "json"]}) == []
    cached, problems = memory.load("d1")
    assert problems == [] and cached.rows == [ROW, hostile] and cached.catalogue == {"any": ["plain", "json"]}
    assert memory.load("d2") == (None, [])  # written for other inputs: stale, not wrong


def test_only_the_newest_digests_are_kept(db):
    memory = RecognitionCache.beside(db)
    for k in range(KEEP + 3):
        assert memory.save(f"d{k}", [ROW]) == []
    assert sorted(d for d, _ in cache_rows(db)) == [f"d{k}" for k in range(3, KEEP + 3)]
    assert memory.save("d1", [ROW]) == []  # an old digest saved again is the newest
    assert sorted(d for d, _ in cache_rows(db)) == ["d1", *(f"d{k}" for k in range(4, KEEP + 3))]


@pytest.mark.parametrize("body, says", [
    (b"\x00\xff not zlib", "is not zlib-compressed"),
    (zlib.compress(b"\x00\xff not json"), "is not JSON"),
    (zlib.compress(b'{"format": "something else", "rows": []}'), "is not a fleetsam recognition cache"),
    (None, "rows: expected indexes into strings, 12 per row"),
])
def test_a_corrupt_row_is_a_warning_and_the_run_stands(tmp_path, real_fixtures, db, body, says):
    digest = recognition_digest(SETTINGS)
    if body is None:
        body = zlib.compress(f'{{"format": "{FORMAT}", "digest": "{digest}", "strings": ["dpkg"], "rows": [0]}}'.encode())
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO recognition_cache (digest, body) VALUES (%s, %s)", (digest, body))
    summary = ingest(tmp_path, real_fixtures, db, "s1")
    (warning,) = cache_warnings(summary)
    assert warning.severity == "warning" and says in warning.message
    assert warning.source == f"{db} (table recognition_cache)"
    with open_store(db, readonly=True) as st:
        assert [i.scan_id for i in st.scans()] == ["s1"]
    cached, problems = RecognitionCache.beside(db).load(digest)
    assert problems == [] and cached.rows, "the run replaced the corrupt row"


def test_a_database_that_refuses_is_a_warning_with_the_password_masked(pg_server, db):
    url = db.replace("fleetsam@", f"fleetsam:{PASSWORD}@")
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE recognition_cache")
    memory = RecognitionCache.beside(url)
    cached, (read,) = memory.load("d")
    (write,) = memory.save("d", [ROW])
    assert cached is None and "cannot be read" in read.message and "cannot be written" in write.message
    for problem in (read, write):
        assert problem.severity == "warning" and PASSWORD not in str(problem)
        assert problem.source.startswith("postgresql://fleetsam:***@127.0.0.1")
    gone = RecognitionCache.beside(f"postgresql://fleetsam:{PASSWORD}@127.0.0.1:1/nowhere")
    cached, (down,) = gone.load("d")
    assert cached is None and "cannot connect" in down.message and PASSWORD not in str(down)


def test_a_cache_write_never_waits_for_a_runs_session_nor_for_other_digests(db):
    """A run's session holds the writers' lock until its commit: the cache is read and written
    beside it. A save holding one digest's row does not stop a save of another; a save of the same
    digest waits for it, then writes."""
    memory = RecognitionCache.beside(db)
    with open_store(db) as writer:  # the writers' advisory lock, held
        t0 = time.monotonic()
        assert memory.save("d1", [ROW]) == [] and memory.load("d1")[0].rows == [ROW]
        assert time.monotonic() - t0 < 5
        writer.commit()
    holder = psycopg.connect(db)
    holder.execute("UPDATE recognition_cache SET saved_at = now() WHERE digest = 'd1'")  # its row lock, held
    try:
        assert memory.save("d2", [ROW]) == []
        same: list = []
        thread = threading.Thread(target=lambda: same.append(memory.save("d1", [ROW, ROW])))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the save of the same digest waits for the holder"
        holder.commit()
        thread.join(10)
        assert same == [[]] and memory.load("d1")[0].rows == [ROW, ROW]
    finally:
        holder.close()


def test_two_concurrent_runs_both_commit_without_a_cache_warning(tmp_path, real_fixtures, db):
    """Two real ``fleetsam ingest`` processes at once (AWX slices): both commit their scan, neither
    warns about the cache; one row holds it. Then again, each with a cache to recall from."""
    cmd = [sys.executable, "-m", "sam_engine.cli.main", "--store", db, "ingest"]
    for rnd in range(2):
        spools = [real_spool(tmp_path / f"r{rnd}{k}", real_fixtures, f"s{rnd}{k}") for k in range(2)]
        procs = [subprocess.Popen([*cmd, str(s), "--report-dir", str(tmp_path / f"rep{rnd}{k}"),
                                   "--no-installations-csv"], cwd=Path(__file__).resolve().parents[2],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for k, s in enumerate(spools)]
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            assert "recognition cache" not in out + err
    with open_store(db, readonly=True) as st:
        assert sorted(i.scan_id for i in st.scans()) == ["s00", "s01", "s10", "s11"]
    assert len(cache_rows(db)) == 1


def test_a_schema_2_database_is_migrated_by_store_upgrade_and_keeps_working(tmp_path, real_fixtures, db,
                                                                          pg_server, monkeypatch, capsys):
    old = pg_server.url(pg_server.create_db())
    shipped = postgres_store.migrations()
    with monkeypatch.context() as m:  # the fleetsam before this one: migrations 1 and 2
        m.setattr(postgres_store, "migrations", lambda: [x for x in shipped if x[0] <= 2])
        apply_migrations(old, init=True)
        before = ingest(tmp_path, real_fixtures, old, "s1")
    assert before.scan.scan_id == "s1"
    with pytest.raises(StoreError, match="schema version 2 is older .*'fleetsam store upgrade'"):
        open_store(old)
    assert cli.main(["--store", old, "store", "upgrade"]) == 0
    assert "schema migrated from version 2 to 3" in capsys.readouterr().out
    summary = ingest(tmp_path, real_fixtures, old, "s2")
    assert cache_warnings(summary) == [] and [d for d, _ in cache_rows(old)] == [recognition_digest(SETTINGS)]
    with open_store(old, readonly=True) as st:
        assert [i.scan_id for i in st.scans()] == ["s1", "s2"]
    assert positions(summary) == positions(before)
