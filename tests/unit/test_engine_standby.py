"""The engine's standby process (``sam_engine.standby``) and the callback's hand-over to it
(``plugin_utils/engine.py``): real ``python -m sam_engine.standby`` processes on pipes, real stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.fleetsam.sam.plugins.callback import collector
from ansible_collections.fleetsam.sam.plugins.plugin_utils import engine
from fleet_spools import ANYDESK, BASH, TEAMVIEWER, Host, write_run

from sam_engine import pipeline
from sam_engine.store import open_store

FLEET = {"web1": Host(packages=(BASH, TEAMVIEWER)), "web2": Host(packages=(BASH, ANYDESK)), "db1": None}


class Display:
    """What the callback's display is told, by method."""

    def __init__(self):
        self.said = {"display": [], "warning": [], "vv": []}

    def __getattr__(self, name):
        return self.said[name].append


def handover(spool: Path, store: Path, reports: Path) -> dict:
    return {"spool": str(spool), "store": str(store), "report_dir": str(reports), "policy": None, "notify": None,
            "secrets": {}, "installations": True}


def report_json(folder: Path) -> dict:
    doc = json.loads((folder / "report.json").read_text())
    doc.pop("generated")
    return doc


def scans(store: Path) -> list[str]:
    if not store.exists():
        return []
    with open_store(str(store), create=False, readonly=True) as st:
        return [s.scan_id for s in st.scans()]


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch):
    for name in ("FLEETSAM_NOTIFY", "FLEETSAM_POLICY", "FLEETSAM_LICENCES", "FLEETSAM_CATALOGUE_EXTRA"):
        monkeypatch.delenv(name, raising=False)


def test_the_standby_writes_what_the_engine_writes_in_this_process(tmp_path):
    here = pipeline.process_spool(write_run(tmp_path / "a", "s1", FLEET), store=str(tmp_path / "a.json"),
                                  report_dir=tmp_path / "ra")
    standby = engine.Standby.start(str(tmp_path / "b.json"))
    shown = []
    lines, data = standby.hand_over(handover(write_run(tmp_path / "b", "s1", FLEET), tmp_path / "b.json",
                                             tmp_path / "rb"), shown.append)
    assert standby.pid and lines == [line.replace("/ra/", "/rb/") for line in here.lines()]
    assert data == json.loads(json.dumps(here.as_dict()).replace("/ra/", "/rb/"))
    assert report_json(tmp_path / "ra") == report_json(tmp_path / "rb")
    assert sorted(p.name for p in (tmp_path / "rb").iterdir()) == sorted(p.name for p in (tmp_path / "ra").iterdir())
    assert (tmp_path / "ra" / "position.csv").read_bytes() == (tmp_path / "rb" / "position.csv").read_bytes()
    assert scans(tmp_path / "b.json") == ["s1"] and (tmp_path / "b.json.recognition").is_file()


STANDBYS_NOT_READY = {
    "ended at once": "import sys; sys.exit(3)",
    "warm-up failed": "import json, sys; sys.stdin.readline(); print(json.dumps({'ready': False, 'error': 'boom'}))",
    "not JSON": "import sys; sys.stdin.readline(); print('Traceback (most recent call last):', flush=True)",
}


@pytest.mark.parametrize("code", STANDBYS_NOT_READY.values(), ids=STANDBYS_NOT_READY.keys())
def test_a_standby_that_is_not_ready_leaves_the_run_to_this_process(tmp_path, code):
    store = tmp_path / "db.json"
    standby = engine.Standby.start(str(store), command=[sys.executable, "-c", code])
    display = Display()
    summary = engine.process(handover(write_run(tmp_path, "s1", FLEET), store, tmp_path / "r"), standby, display,
                             "SPOOL")
    lines, data = summary
    assert data["scan_id"] == "s1" and data["run"]["ok"] == 2 and lines[0].startswith("scan s1: hosts ok=2")
    assert scans(store) == ["s1"] and (tmp_path / "r" / "index.html").is_file()
    assert not display.said["warning"] and "the engine runs in this process" in display.said["vv"][0]


def test_a_standby_that_cannot_start_is_none():
    assert engine.Standby.start("db.json", command=["/nonexistent/python"]) is None


@pytest.mark.parametrize("reply", [{"failed": "the store is locked"}, None])
def test_an_engine_failure_in_the_standby_keeps_the_run_and_the_store(tmp_path, reply):
    """Once the standby took the run, its failure is the engine's: a warning, the spool kept, nothing
    run a second time here."""
    answer = f"print({json.dumps(json.dumps(reply))}, flush=True)" if reply else "sys.exit(5)"
    code = ("import json, sys; sys.stdin.readline(); print(json.dumps({'ready': True}), flush=True); "
            f"sys.stdin.readline(); {answer}")
    store = tmp_path / "db.json"
    standby = engine.Standby.start(str(store), command=[sys.executable, "-c", code])
    display = Display()
    assert engine.process(handover(write_run(tmp_path, "s1", FLEET), store, tmp_path / "r"), standby, display,
                          "SPOOL") is None
    expected = "the store is locked" if reply else "the engine process ended without a result (exit status 5)"
    assert display.said["warning"] == [f"fleetsam: processing the run failed: {expected}; the run is kept in SPOOL"]
    assert scans(store) == [] and not (tmp_path / "r").exists()


def test_progress_lines_reach_the_callback_display(tmp_path):
    code = ("import json, sys; sys.stdin.readline(); print(json.dumps({'ready': True}), flush=True); "
            "sys.stdin.readline(); print(json.dumps({'progress': 'ingest: 1/3 hosts (33%), 12 s'}), flush=True); "
            "print(json.dumps({'summary': {'lines': ['scan x'], 'data': {'scan_id': 'x'}}}), flush=True)")
    standby = engine.Standby.start("db.json", command=[sys.executable, "-c", code])
    display = Display()
    assert engine.process({}, standby, display, "SPOOL") == (["scan x"], {"scan_id": "x"})
    assert display.said["display"] == ["fleetsam: ingest: 1/3 hosts (33%), 12 s"]


def test_the_standby_ends_without_a_hand_over(tmp_path):
    """A check-mode run or a playbook that scanned nothing: the standby ends at the end of its input."""
    done = subprocess.run([sys.executable, "-m", "sam_engine.standby"], input=json.dumps(
        {"store": str(tmp_path / "db.json")}) + "\n", capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == {"ready": True} and not (tmp_path / "db.json").exists()


@pytest.mark.parametrize("engine_on, check_mode, started", [(True, False, True), (False, False, False),
                                                            (True, True, False)])
def test_the_callback_starts_one_standby_when_a_play_scans(tmp_path, monkeypatch, engine_on, check_mode, started):
    """It is sent the store's password of ``notify_secrets`` (to read a PostgreSQL store's cache), no other secret."""
    started_for = []
    monkeypatch.setattr(engine.Standby, "start", classmethod(lambda cls, store, secrets: started_for.append(
        (store, secrets)) or None))
    options = {"spool_dir": str(tmp_path / "spool"), "engine": engine_on, "store": "postgresql://fleetsam@db/sam",
               "notify_secrets": {"PGPASSWORD": "pw", "SMTP_PASSWORD": "mail"}}
    monkeypatch.setattr(collector.CallbackModule, "get_option", lambda self, name: options.get(name))
    cb = collector.CallbackModule()
    cb._scanning(check_mode)
    cb._scanning(check_mode)  # a second scanning play
    assert started_for == ([("postgresql://fleetsam@db/sam", {"PGPASSWORD": "pw"})] if started else [])


def test_a_check_mode_run_stops_its_standby(tmp_path, monkeypatch):
    monkeypatch.setattr(collector.CallbackModule, "get_option", lambda self, name: (
        str(tmp_path / "spool") if name == "spool_dir" else True if name == "engine"
        else str(tmp_path / "db.json") if name == "store" else None))
    cb = collector.CallbackModule()
    cb._start_run("scan.yml")
    cb._scanning(False, play_start=True)  # a play with the role: the standby starts at once
    cb._scanning(True)  # its collector task runs in check mode (check_mode on the role)
    process = cb._standby._process
    cb.v2_playbook_on_stats(None)
    assert cb._standby is None and process.poll() is not None and not (tmp_path / "db.json").exists()


def test_a_prepared_catalogue_is_used_only_when_it_fits_the_run(tmp_path, monkeypatch):
    import datetime as dt

    from sam_engine.licensing import context
    from sam_engine.standby import warm_up
    from sam_engine.store.recognition_cache import RecognitionCache

    extra = tmp_path / "extra.yml"
    extra.write_text("entries: []\n")
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(extra))
    store, day = str(tmp_path / "db.json"), dt.date.today()
    settings, memory = context.LicenceSettings.from_env(), RecognitionCache.beside(store)
    prepared = warm_up(store)
    assert prepared.fits(settings, day, memory)
    assert context.load_context(settings, day, (), memory, prepared=prepared).catalogue is prepared.catalogue
    assert not prepared.fits(settings, day + dt.timedelta(days=1), memory)  # the scan ran past midnight
    assert not prepared.fits(settings, day, RecognitionCache.beside(str(tmp_path / "other.json")))
    assert not prepared.fits(context.LicenceSettings.from_env({"FLEETSAM_CATALOGUE_EXTRA": ""}), day, memory)
    extra.write_text("entries: []  # edited during the scan\n")
    assert not prepared.fits(settings, day, memory)
    assert context.load_context(settings, day, (), memory, prepared=prepared).catalogue is not prepared.catalogue


def test_a_store_whose_cache_cannot_be_read_at_the_warm_up_gets_no_prepared_catalogue(tmp_path):
    """The run then reads the cache itself, and its warning is the run's (a database that refused at
    the warm-up may be up at the hand-over). Reading a PostgreSQL store's cache during the scan is
    tested on a real server in ``test_recognition_cache_pg.py``."""
    from sam_engine.standby import warm_up

    assert warm_up("postgresql://fleetsam@127.0.0.1:1/fleetsam") is None  # nothing listens on port 1
    (tmp_path / "db.json.recognition").write_text("{not json")
    assert warm_up(str(tmp_path / "db.json")) is None


def test_the_engine_imports_no_notification_channel_until_one_sends(tmp_path):
    code = ("import sys, sam_engine.standby; sam_engine.standby.warm_up(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m in ('smtplib', 'sam_engine.findings.channels')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "db.json")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_a_warm_up_that_raises_is_told_to_the_callback_and_nothing_is_run(tmp_path, monkeypatch):
    import io

    from sam_engine import standby

    def broken(store):
        raise OSError("catalogue folder unreadable")

    monkeypatch.setattr(standby, "warm_up", broken)
    replies = io.StringIO()
    handover = json.dumps({"spool": str(write_run(tmp_path, "s1", FLEET)), "store": str(tmp_path / "db.json")})
    requests = io.StringIO(json.dumps({"store": str(tmp_path / "db.json")}) + "\n" + handover + "\n")
    assert standby.serve(requests, standby.Replies(replies)) == 0
    assert [json.loads(line) for line in replies.getvalue().splitlines()] == [
        {"ready": False, "error": "OSError: catalogue folder unreadable"}]
    assert not (tmp_path / "db.json").exists()


def test_fleetsam_scan_warms_up_on_a_thread_and_a_failed_warm_up_gives_nothing(tmp_path, monkeypatch):
    from sam_engine import standby

    warm = standby.WarmUpThread(str(tmp_path / "db.json"))
    assert warm.result() is None  # never started: ansible-playbook did not start
    warm.start()
    warm.start()  # ansible-runner reports the status once, but a second start must not warm up twice
    prepared = warm.result()
    assert prepared is not None and prepared.memory_path == str(tmp_path / "db.json.recognition")

    def broken(store):
        raise OSError("catalogue folder unreadable")

    monkeypatch.setattr(standby, "warm_up", broken)
    warm = standby.WarmUpThread(str(tmp_path / "db.json"))
    warm.start()
    assert warm.result() is None
