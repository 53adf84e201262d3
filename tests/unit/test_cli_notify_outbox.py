"""``fleetsam notify outbox`` on a real TinyDB store: the deliveries listed with their state, the
given-up ones purged or made pending again, hostile finding text printed inert, no store exit 2."""

import json

import pytest

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.main import main
from sam_engine.store import open_store

HOSTILE = "TeamViewer\n\x1b]0;owned\x07 on web1"


def finding(fid: str, title: str) -> dict:
    return {"id": fid, "type": "prohibited", "severity": "high", "title": title, "detail": "", "first_seen": None,
            "last_seen": None, "hosts": ["web1"], "entitlements": [], "state": "new"}


def delivery(channel: str, fid: str, title: str, **state) -> dict:
    at = "2026-06-30T08:00:00Z"
    return {"delivery_id": f"{channel}:{fid}:new:{at}", "channel": channel, "event": "new", "at": at,
            "finding": finding(fid, title), "attempts": 0, "last_error": None, **state}


PENDING = delivery("hook", "f-aaaaaaaaaaaa", "AnyDesk: prohibited on web1", attempts=2, last_error="HTTP 500",
                   last_attempt="2026-06-30T08:00:05Z", claimed_by=None, claimed_until=None)
CLAIMED = delivery("mail", "f-bbbbbbbbbbbb", "Oracle Database: 4 cores over", claimed_by="scan-2026-06-30",
                   claimed_until="2999-01-01T00:00:00Z")
DEAD = delivery("hook", "f-cccccccccccc", HOSTILE, attempts=1, last_error="HTTP 413 Payload Too Large",
                last_attempt="2026-06-30T08:00:05Z", dead_at="2026-06-30T08:00:05Z", claimed_by=None,
                claimed_until=None)
DEAD_MAIL = delivery("mail", "f-dddddddddddd", "Java SE: no entitlement", attempts=10, to=["later@example.com"],
                     last_error="450 4.2.1 mailbox busy", dead_at="2026-07-09T08:00:05Z")


@pytest.fixture
def store(tmp_path):
    path = str(tmp_path / "db.json")
    with open_store(path) as st:
        st.save_deliveries([PENDING, CLAIMED, DEAD, DEAD_MAIL])
    return path


def outbox(store: str) -> dict[str, dict]:
    with open_store(store, create=False, readonly=True) as st:
        return {d["delivery_id"]: d for d in st.deliveries()}


def test_the_table_lists_each_delivery_with_its_state(store, capsys):
    assert main(["--store", store, "notify", "outbox"]) == ExitCode.OK
    out = capsys.readouterr().out
    head, *lines = out.splitlines()
    assert head.split() == ["CHANNEL", "EVENT", "FINDING", "TITLE", "AT", "TRIES", "STATE", "LAST", "ERROR"]
    assert len(lines) == 4
    pending, claimed, dead, dead_mail = lines
    assert pending.startswith("hook") and "f-aaaaaaaaaaaa" in pending and "AnyDesk: prohibited on web1" in pending
    assert " 2 " in pending and "pending" in pending and pending.endswith("HTTP 500")
    assert "claimed by scan-2026-06-30 until 2999-01-01T00:00:00Z" in claimed
    assert "given up at 2026-06-30T08:00:05Z" in dead and dead.endswith("HTTP 413 Payload Too Large")
    assert "given up at 2026-07-09T08:00:05Z" in dead_mail and "10" in dead_mail


def test_a_hostile_finding_title_prints_as_one_inert_line(store, capsys):
    main(["--store", store, "notify", "outbox"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and len(out.splitlines()) == 5
    assert "TeamViewer\\n\\x1b]0;owned\\x07 on web1" in out


def test_a_lapsed_claim_reads_as_pending(tmp_path, capsys):
    path = str(tmp_path / "db.json")
    with open_store(path) as st:
        st.save_deliveries([{**CLAIMED, "claimed_until": "2000-01-01T00:00:00Z"}])
    main(["--store", path, "notify", "outbox"])
    (line,) = capsys.readouterr().out.splitlines()[1:]
    assert "pending" in line and "claimed" not in line


def test_json_keeps_every_field(store, capsys):
    assert main(["--store", store, "notify", "outbox", "--format", "json"]) == ExitCode.OK
    rows = {r["delivery_id"]: r for r in json.loads(capsys.readouterr().out)}
    dead = rows[DEAD["delivery_id"]]
    assert dead["title"] == HOSTILE and dead["state"] == "given up at 2026-06-30T08:00:05Z"
    assert rows[DEAD_MAIL["delivery_id"]]["to"] == ["later@example.com"]
    assert rows[PENDING["delivery_id"]]["state"] == "pending" and rows[PENDING["delivery_id"]]["attempts"] == 2


def test_purge_removes_only_the_given_up(store, capsys):
    assert main(["--store", store, "notify", "outbox", "--purge-given-up"]) == ExitCode.OK
    assert capsys.readouterr().out == "removed 2 given-up deliveries from the outbox\n"
    assert outbox(store) == {PENDING["delivery_id"]: PENDING, CLAIMED["delivery_id"]: CLAIMED}


def test_retry_makes_the_given_up_pending_again(store, capsys):
    assert main(["--store", store, "notify", "outbox", "--retry-given-up"]) == ExitCode.OK
    assert capsys.readouterr().out == "2 given-up deliveries are pending again: the next run sends them\n"
    after = outbox(store)
    assert after[PENDING["delivery_id"]] == PENDING and after[CLAIMED["delivery_id"]] == CLAIMED
    mail = after[DEAD_MAIL["delivery_id"]]
    assert not mail["dead_at"] and mail["attempts"] == 0 and mail["to"] == ["later@example.com"]
    assert not after[DEAD["delivery_id"]]["dead_at"]
    main(["--store", store, "notify", "outbox"])
    assert "given up" not in capsys.readouterr().out


def test_an_empty_outbox_says_so(tmp_path, capsys):
    path = str(tmp_path / "db.json")
    assert main(["--store", path, "store", "init"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["--store", path, "notify", "outbox"]) == ExitCode.OK
    assert capsys.readouterr().out == "the outbox is empty: every notification was delivered\n"


@pytest.mark.parametrize("flags", [[], ["--purge-given-up"], ["--retry-given-up"]])
def test_no_store_exits_2_and_creates_none(tmp_path, capsys, flags):
    path = tmp_path / "none.json"
    assert main(["--store", str(path), "notify", "outbox", *flags]) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err == f"fleetsam: error: {path}: no store here (run a scan or fleetsam ingest first)\n"
    assert not path.exists()


def test_purge_and_retry_together_are_refused(store, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--store", store, "notify", "outbox", "--purge-given-up", "--retry-given-up"])
    assert exc.value.code == ExitCode.BAD_INPUT and "not allowed with" in capsys.readouterr().err
    assert len(outbox(store)) == 4
