"""What only the PostgreSQL store has: its schema (init, upgrade), its URL and password, the
copy between backends. The shared behaviour is in test_store_contract.py; the server is real
(tests/pg_server.py)."""

import datetime as dt
import os
from pathlib import Path

import psycopg
import pytest
import report_fleet
from pg_server import PASSWORD

from sam_engine.cli import main as cli
from sam_engine.store.admin import copy_store
from sam_engine.store import masked, open_store
from sam_engine.store.interface import StoreError
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
    # the password as the query's first parameter, with or without a database path
    assert masked("postgresql://u@127.0.0.1:1/db?password=S3cret") == "postgresql://u@127.0.0.1:1/db?password=***"
    assert masked("postgresql://u@db?password=S3cret&sslmode=off") == "postgresql://u@db?password=***&sslmode=off"


@pytest.mark.parametrize("password", ["pa/ssW0rdZ", "p@ss/w0rd", "pa:ss@w0/rd", "pa?ss=w0rd", "pa#ssw0rd",
                                      "a/b?c#d@e:f", "@/?#:"])
def test_masked_hides_a_password_holding_what_ends_a_url_part(password):
    """Unencoded in the user part, a password may hold any of "/?#@:": all of it is masked, nothing else."""
    for url, shown in ((f"postgresql://fleetsam:{password}@127.0.0.1:55439/t1", "postgresql://fleetsam:***@127.0.0.1:55439/t1"),
                       (f"postgres://u:{password}@db?sslmode=off", "postgres://u:***@db?sslmode=off"),
                       (f"postgresql://u:{password}@db", "postgresql://u:***@db")):
        assert masked(url) == shown


@pytest.mark.parametrize("location, shown", [
    ("POSTGRESQL://u:pw@h/db", "POSTGRESQL://u:***@h/db"),
    ("postgresql+psycopg://u:pa/ss@h/db", "postgresql+psycopg://u:***@h/db"),
    ("tinydb://store/a:b@c.json", "tinydb://store/a:b@c.json"),  # a file path: nothing to mask
])
def test_masked_reads_any_url_scheme(location, shown):
    assert masked(location) == shown


@pytest.mark.parametrize("url, secrets", [
    ("postgresql://u@127.0.0.1:1/db?password=SuperSecret1", ["SuperSecret1"]),
    ("postgresql://u:pa/ssW0rdZ@127.0.0.1:1/db", ["pa/ssW0rdZ", "ssW0rdZ"]),  # libpq reads "pa" as a port
    ("POSTGRESQL://u:Se#cr?et@127.0.0.1:1/db", ["Se#cr?et", "Se", "cr", "et@"]),  # the scheme in any case
    ("postgresql://u:Pass@word2@127.0.0.1:1/db", ["Pass", "word2"]),  # libpq reads "word2@127.0.0.1" as the host
    ("postgresql://u:p%40ss%3Aw0rd@127.0.0.1:1/db", ["p%40ss", "p@ss", "ss:w0rd", "w0rd"]),
])
def test_a_refused_connection_never_prints_the_password(fleetsam, url, secrets, monkeypatch):
    """Port 1 of the loopback refuses at once: the driver's message names the URL it was given."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    code, out, err = fleetsam("--store", url, "scans")
    assert code == 2 and "cannot connect to PostgreSQL" in err and "Traceback" not in err
    assert not [s for s in secrets if s in out + err], err


@pytest.mark.parametrize("location", ["postgresql+psycopg://fleetsam:pa/ssW0rdZ@127.0.0.1:1/t1",
                                      "FTP://fleetsam:ssW0rdZ@127.0.0.1/t1", "fleetsam:ssW0rdZ@h://t1"])
def test_an_unsupported_url_is_refused_and_creates_nothing(capsys, location, tmp_path, monkeypatch):
    """Taken as a file path, such a URL became a TinyDB store named by it, its password in the path."""
    def fleetsam(*args):  # argparse refuses the option: SystemExit(2), as the fleetsam command exits
        with pytest.raises(SystemExit) as exit_:
            cli.main(list(args))
        out = capsys.readouterr()
        return exit_.value.code, out.out, out.err

    spool = report_fleet.write_spool(tmp_path / "in", "s1", "2026-06-29T01:00:00Z", {"db1": report_fleet.linux("db1", [])})
    monkeypatch.chdir(tmp_path)
    for args in (("--store", location, "ingest", str(spool)), ("--store", location, "scans")):
        code, out, err = fleetsam(*args)
        assert code == 2 and "expected a path, tinydb://PATH or postgresql://" in err and "ssW0rdZ" not in out + err
    monkeypatch.setenv("FLEETSAM_STORE", location)
    code, out, err = fleetsam("scans")
    assert code == 2 and "ssW0rdZ" not in out + err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    with pytest.raises(StoreError, match="unsupported store scheme|no URL scheme"):
        open_store(location)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


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


# --- the collector callback into a PostgreSQL store ----------------------------------------------

MODULE_RESULT = {"changed": False, "sources": {},
                 "software": [{"source": "dpkg", "name": "bash", "version": "5.2.15-2+b7", "arch": "amd64",
                               "vendor": "Debian", "install_time": 1700000000, "package_id": "dpkg:bash:amd64",
                               "location": None, "extra": {}}],
                 "host": {"machine_id": "abc", "hostname": "web1", "lscpu": "0,0,0\n", "system": "Linux"}}


def _callback_run(tmp_path, monkeypatch, store, secrets):
    """One scanned host through the real callback's end of play; (spool folder, warnings, lines)."""
    from ansible_collections.fleetsam.sam.plugins.callback import collector

    options = {"spool_dir": str(tmp_path / "spool"), "store": store, "report_dir": str(tmp_path / "reports"),
               "notify_secrets": secrets, "installations_csv": False, "engine": True}
    monkeypatch.setattr(collector.CallbackModule, "get_option", lambda self, name: options.get(name))
    tmp_path.mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)
    cb = collector.CallbackModule()
    warnings, lines = [], []
    monkeypatch.setattr(cb._display, "warning", warnings.append)
    monkeypatch.setattr(cb._display, "display", lines.append)
    cb._start_run("scan.yml")
    cb._is_scan = True
    cb._record("web1", "ok", result=MODULE_RESULT)
    cb.v2_playbook_on_stats(None)
    return cb._run_dir, warnings, lines


def test_the_callback_takes_the_store_password_from_its_secrets(tmp_path, empty_db, monkeypatch):
    from sam_engine.store.postgres_store import apply_migrations

    apply_migrations(empty_db, init=True)  # the schema first, with the operator's PGPASSWORD
    monkeypatch.delenv("PGPASSWORD")
    spool, warnings, lines = _callback_run(tmp_path, monkeypatch, empty_db, {"PGPASSWORD": PASSWORD})
    assert warnings == [] and any("hosts ok=1" in line for line in lines)
    assert "PGPASSWORD" not in os.environ, "the secret is handed to libpq for the run only"
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_store(empty_db, readonly=True) as st:
        assert [h.inventory_name for h in st.load_scan().hosts] == ["web1"]


def test_a_server_stopped_mid_run_keeps_the_spool_and_loses_nothing_committed(tmp_path, monkeypatch):
    from pg_server import PgServer

    from sam_engine.store.postgres_store import PostgresStore, apply_migrations

    server = PgServer().start()  # a server of its own: this test stops it
    try:
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
        url = server.url(server.create_db())
        apply_migrations(url, init=True)
        assert _callback_run(tmp_path / "first", monkeypatch, url, {})[1] == []
        real = PostgresStore.save_scan

        def then_the_server_stops(self, scan):
            real(self, scan)
            server.stop(remove=False)  # in the middle of the engine's session, before its commit

        monkeypatch.setattr(PostgresStore, "save_scan", then_the_server_stops)
        spool, warnings, _ = _callback_run(tmp_path / "second", monkeypatch, url, {})
        (warning,) = warnings
        assert "the PostgreSQL session failed, nothing of it was written" in warning or "commit failed" in warning
        assert f"the run is kept in {spool}" in warning and PASSWORD not in warning
        assert (Path(spool) / "run.json").exists() and list(Path(spool, "hosts").iterdir())
        server.start()
        with open_store(url, readonly=True) as st:
            assert len(st.scans()) == 1  # the run committed before is all there, the broken one is not
    finally:
        server.stop()


def test_four_ingest_processes_at_once_all_commit_and_readers_answer(tmp_path, empty_db, monkeypatch):
    """Four real ``fleetsam ingest`` processes into one PostgreSQL store at once, ``fleetsam scans``
    in a loop meanwhile: every run commits, every read answers."""
    import datetime as dt
    import json
    import subprocess
    import sys

    from fleet_spools import Host, write_run

    from sam_engine.store.postgres_store import apply_migrations

    apply_migrations(empty_db, init=True)
    monkeypatch.chdir(tmp_path)
    today = dt.date.today().isoformat()
    spools = [write_run(tmp_path / f"r{k}", f"w{k}", {f"w{k}-{n}": Host() for n in range(30)},
                        when=f"{today}T00:00:0{k}Z") for k in range(4)]
    cli = [sys.executable, "-m", "sam_engine.cli.main", "--store", empty_db]
    run_env = {**os.environ, "FLEETSAM_LOCK_TIMEOUT": "120"}
    for name in ("FLEETSAM_POLICY", "FLEETSAM_NOTIFY"):
        run_env.pop(name, None)
    writers = [subprocess.Popen([*cli, "ingest", str(s), "--report-dir", str(tmp_path / f"rep{k}"),
                                 "--no-installations-csv"], env=run_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for k, s in enumerate(spools)]
    reads = 0
    while any(w.poll() is None for w in writers) or reads < 2:
        got = subprocess.run([*cli, "scans", "--format", "json"], env=run_env, capture_output=True, text=True)
        assert got.returncode == 0, f"a reader failed during the writes: {got.stderr}"
        json.loads(got.stdout)
        reads += 1
    for w in writers:
        _, err = w.communicate()
        assert w.returncode == 0, f"a writer failed: {err}"
    with open_store(empty_db, readonly=True) as st:
        assert sorted(i.scan_id for i in st.scans()) == ["w0", "w1", "w2", "w3"]
        hosts = st.load_scan().hosts
    assert len(hosts) == 120 and {h.scan_id for h in hosts} == {"w0", "w1", "w2", "w3"}


def test_host_facts_are_stored_once_and_older_inline_rows_still_read(tmp_path, empty_db):
    """Schema 2: an unchanged host's re-scan adds a row naming its facts by digest, no new facts;
    a row written by schema 1 (facts, scan id and name inline) reads the same as before."""
    import json as json_

    from fleet_spools import Host, store_run

    from sam_engine.store.documents import HOST_DIGEST_AT
    from sam_engine.store.postgres_store import apply_migrations

    apply_migrations(empty_db, init=True)
    hosts = {"web1": Host(), "web2": Host(groups=("db",))}
    store_run(tmp_path / "a", empty_db, "s1", hosts, when="2026-06-30T01:00:00Z")  # the same facts and logins twice
    with psycopg.connect(empty_db) as conn:
        facts = conn.execute("SELECT count(*) FROM host_facts").fetchone()[0]
    store_run(tmp_path / "b", empty_db, "s2", hosts, when="2026-06-30T01:00:00Z")
    with open_store(empty_db, readonly=True) as st:
        before = st.export_documents()["host_scans"]
        fleet = st.load_scan()
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM host_facts").fetchone()[0] == facts == 4  # 2 hosts' facts, users
        rows = conn.execute("SELECT doc FROM host_scans ORDER BY seq").fetchall()
        assert all(isinstance(doc, list) and len(doc[HOST_DIGEST_AT]) == 64 and doc[2] == 0 for (doc,) in rows), \
            "values only, the facts by digest, inventoried by the row's own run"
        for doc in before:  # as schema 1 wrote them: the whole document inline
            conn.execute("UPDATE host_scans SET doc = %s::jsonb WHERE scan_id = %s AND inventory_name = %s",
                         (json_.dumps(doc), doc["scan_id"], doc["inventory_name"]))
        conn.execute("DELETE FROM host_facts")
    with open_store(empty_db, readonly=True) as st:
        assert st.export_documents()["host_scans"] == before
        assert st.load_scan() == fleet and {h.host.hostname for h in fleet.hosts} == {"web1", "web2"}


def test_a_host_row_reads_back_as_the_document_written():
    from sam_engine.store.documents import read_row, stored_row

    doc = {"scan_id": "s2", "inventory_name": "web1", "status": "unreachable", "collector": "fleetsam.sam.software_facts",
           "inventory_scan_id": "s1", "inventory_digest": "ab" * 32, "error": "ssh: refused", "warnings": [],
           "collected_at": "2026-06-29T01:00:00Z", "groups": ["db"], "host": {"hostname": "web1", "cores": 4}, "topology": None,
           "source_digest": "cd" * 8}
    stored, [(digest, facts)] = stored_row(doc)
    assert isinstance(stored, list) and "s1" in stored and 0 in stored and facts == doc["host"]
    assert read_row("s2", "web1", stored, facts) == doc
    users = [["alice", "human", 1796119200, "wtmp"]]
    with_users = {**doc, "host": {**doc["host"], "users": users}}
    stored_u, [(same, facts_u), (_, users_doc)] = stored_row(with_users)
    assert (same, facts_u, users_doc) == (digest, doc["host"], {"users": users}), "users kept apart from the facts"
    assert read_row("s2", "web1", stored_u, facts_u, users_doc) == with_users
    # a row written before users were kept apart: no users digest, the users inside the facts (and
    # before package lists were keyed: no source digest)
    older = {k: v for k, v in with_users.items() if k != "source_digest"}
    assert read_row("s2", "web1", stored_u[:-2], with_users["host"]) == older
    odd = {**doc, "note": "a field of a newer version"}  # kept as an object, read back whole
    stored, _ = stored_row(odd)
    assert isinstance(stored, dict) and read_row("s2", "web1", stored, facts) == odd
    assert read_row("s1", "web1", stored_row({**doc, "scan_id": "s1"})[0], facts)["inventory_scan_id"] == "s1"


def test_a_new_login_adds_the_users_list_not_the_hosts_facts_again(tmp_path, empty_db):
    """The users (accounts and last logins) are a host_facts document of their own: an unchanged host
    with a new login adds that list and its row; its facts (hardware, identity) are not written again."""
    from fleet_spools import Host, store_run

    from sam_engine.store.postgres_store import apply_migrations

    apply_migrations(empty_db, init=True)
    hosts = {"web1": Host(), "web2": Host()}

    def facts():
        with psycopg.connect(empty_db) as conn:
            rows = conn.execute("SELECT digest, doc ? 'users' FROM host_facts").fetchall()
        return {d for d, users in rows if not users}, {d for d, users in rows if users}

    store_run(tmp_path / "a", empty_db, "s1", hosts, when="2026-06-30T01:00:00Z")
    host_facts, users = facts()
    assert (len(host_facts), len(users)) == (2, 2)
    store_run(tmp_path / "b", empty_db, "s2", hosts, when="2026-07-01T09:30:00Z")  # each user logged in again
    again, users_after = facts()
    assert again == host_facts, "the facts of unchanged hosts are not written again"
    assert len(users_after) == 4 and users <= users_after
    with open_store(empty_db, readonly=True) as st:
        fleet = {h.inventory_name: h for h in st.load_scan().hosts}
    login = int(dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.timezone.utc).timestamp())
    assert [(u.account, u.last_login) for u in fleet["web1"].host.users if u.kind == "human"] == [("user-web1", login)]


def test_a_run_taking_stored_inventories_reads_them_in_one_query(tmp_path, empty_db):
    """A nightly run asks each host's key (``last_source``) before it takes any inventory: the first
    inventory taken brings every keyed one with it, not one query per host."""
    from fleet_spools import Host, store_run

    from sam_engine.store.postgres_store import apply_migrations

    apply_migrations(empty_db, init=True)
    hosts = {f"web{k}": Host(packages=(("bash", f"5.{k}", "Debian"),)) for k in range(3)}
    store_run(tmp_path, empty_db, "s1", hosts)
    with open_store(empty_db, readonly=True) as st:
        assert all(st.last_source(name) for name in hosts)
        queries = []
        real = st._sql
        st._sql = lambda *a, **kw: queries.append(a[0]) or real(*a, **kw)
        taken = [st.last_inventory(name, as_collected=True) for name in hosts]
    assert [len(h.installations) for h in taken] == [1, 1, 1]
    assert sum("FROM inventories" in q for q in queries) == 1
