"""The outbox against real servers on 127.0.0.1: each event reaches each recipient once.

Refused recipients (SMTP 550 for good, 450 for now), a message a webhook
refuses for good (413) or keeps failing, and two runs ending at the same time
(AWX slices) that must not send the same pending event twice: each run claims
what it sends under the store's write lock.
"""

import datetime as dt
import threading
import time
from pathlib import Path

from fleet_spools import ANYDESK, BASH, TEAMVIEWER, Host, write_run
from notify_servers import Mailbox, smtp_server
from sam_engine import pipeline
from sam_engine.findings import notify, outbox
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]


class Picky(Mailbox):
    """A mailbox whose server refuses some recipients with the reply given (``refuse``)."""

    def __init__(self, refuse: dict[str, str]):
        super().__init__()
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"


def run(root: Path, notify_text: str, hosts: dict, name: str) -> list[str]:
    path = root / "notify.yml"
    path.write_text(notify_text)
    alerts = notify.AlertSettings.from_env(policy=REPO / "examples" / "policy.yml", notify=path)
    spool = write_run(root, name, hosts)
    return pipeline.process_spool(spool, store=str(root / "db.json"), report_dir=root / f"reports-{name}",
                                  alerts=alerts, as_of=dt.date(2026, 6, 30)).lines()


def pending(root: Path) -> list[dict]:
    with open_store(str(root / "db.json")) as st:
        return st.deliveries()


HOSTS = {"web1": Host(("web",), (BASH, TEAMVIEWER))}


def test_a_refused_recipient_costs_the_others_no_second_copy(workdir):
    box = Picky({"gone@example.com": "550 5.1.1 no such user", "later@example.com": "450 4.2.1 mailbox busy"})
    controller = smtp_server(box)
    mail = (f"channels:\n  - {{name: mail, type: email, url: 'smtp://127.0.0.1:{controller.port}', "
            f"from: f@example.com, to: [sam@example.com, gone@example.com, later@example.com]}}\n")
    try:
        lines = "\n".join(run(workdir, mail, HOSTS, "s1"))
        assert [m[1] for m in box.messages] == [["sam@example.com"]]
        assert ("refused recipients: gone@example.com (550), later@example.com (450); retried for those "
                "answered 4xx; 2 pending") in lines
        assert [d["to"] for d in pending(workdir)] == [["later@example.com"]] * 2
        box.refuse.pop("later@example.com")
        run(workdir, mail, HOSTS, "s2")  # the 450 recipient gets it now, alone; nobody else again
        run(workdir, mail, HOSTS, "s3")
    finally:
        controller.stop()
    assert [m[1] for m in box.messages] == [["sam@example.com"], ["later@example.com"]]
    assert "2 new" in box.messages[1][2]["Subject"] and box.messages[1][2]["To"] == "later@example.com"
    assert pending(workdir) == []


def test_recipients_all_refused_for_good_are_given_up(workdir):
    box = Picky({"gone@example.com": "550 5.1.1 no such user"})
    controller = smtp_server(box)
    mail = (f"channels:\n  - {{name: mail, type: email, url: 'smtp://127.0.0.1:{controller.port}', "
            f"from: f@example.com, to: [gone@example.com]}}\n")
    try:
        lines = "\n".join(run(workdir, mail, HOSTS, "s1"))
    finally:
        controller.stop()
    assert "refused recipients: gone@example.com (550)" in lines and "2 events given up" in lines
    assert all(d["dead_at"] for d in pending(workdir))


def test_a_message_refused_for_good_is_given_up_and_new_events_go_alone(workdir, receiver):
    hook = f"channels:\n  - {{name: hook, type: webhook, url: '{receiver.url('/json')}'}}\n"
    receiver.status["/json"] = 413
    lines = "\n".join(run(workdir, hook, HOSTS, "s1"))
    assert "hook (json webhook to 127.0.0.1) failed: HTTP 413" in lines and "2 events given up" in lines
    assert "pending" not in lines
    receiver.status.clear()
    run(workdir, hook, {**HOSTS, "web2": Host(("web",), (BASH, ANYDESK))}, "s2")
    (body,) = receiver.received("/json")
    assert sorted(e["finding"]["title"].split(":")[0] for e in body["events"]) == ["AnyDesk", "AnyDesk"]
    assert len(pending(workdir)) == 2 and all(d["dead_at"] for d in pending(workdir))


def test_a_channel_failing_every_run_is_given_up_after_the_last_attempt(workdir, receiver, monkeypatch):
    monkeypatch.setattr(outbox, "MAX_ATTEMPTS", 2)
    hook = f"channels:\n  - {{name: hook, type: webhook, url: '{receiver.url('/json')}'}}\n"
    receiver.status["/json"] = 500
    assert "2 pending, retried on the next run" in "\n".join(run(workdir, hook, HOSTS, "s1"))
    lines = "\n".join(run(workdir, hook, HOSTS, "s2"))
    assert "2 events given up (refused for good or after 2 attempts)" in lines
    receiver.status.clear()
    run(workdir, hook, HOSTS, "s3")
    assert receiver.received("/json") == []


def test_pending_count_is_the_failing_channels_own(workdir, receiver):
    hooks = (f"channels:\n  - {{name: a, type: webhook, url: '{receiver.url('/a')}'}}\n"
             f"  - {{name: b, type: webhook, url: '{receiver.url('/b')}', types: [prohibited]}}\n")
    receiver.status.update({"/a": 500, "/b": 500})
    lines = run(workdir, hooks, HOSTS, "s1")
    assert "notifications: a (json webhook to 127.0.0.1) failed: HTTP 500 Internal Server Error; 2 pending, " \
           "retried on the next run" in lines
    assert "notifications: b (json webhook to 127.0.0.1) failed: HTTP 500 Internal Server Error; 1 pending, " \
           "retried on the next run" in lines


def test_two_runs_at_once_send_each_event_once(workdir, receiver):
    hook = f"timeout: 10\nchannels:\n  - {{name: hook, type: webhook, url: '{receiver.url('/json')}'}}\n"
    receiver.delay = 2
    first = threading.Thread(target=run, args=(workdir, hook, HOSTS, "a"))
    first.start()
    try:
        for _ in range(200):  # run A has committed and is sending
            if receiver.seen:
                break
            time.sleep(0.05)
        lines = run(workdir, hook, HOSTS, "b")
    finally:
        first.join(30)
    assert "notifications: nothing new" in lines and not any("sent to" in ln for ln in lines)
    assert len(receiver.seen) == 1 and len(receiver.received("/json")) == 1
    assert pending(workdir) == []


def test_a_stale_claim_is_taken_over(workdir, receiver):
    hook = f"channels:\n  - {{name: hook, type: webhook, url: '{receiver.url('/json')}'}}\n"
    receiver.status["/json"] = 500
    run(workdir, hook, HOSTS, "s1")
    receiver.status.clear()

    def claim(until: dt.datetime) -> None:
        with open_store(str(workdir / "db.json")) as st:
            st.save_deliveries([{**d, "claimed_by": "another-run", "claimed_until": outbox.stamp(until)}
                                for d in st.deliveries()])

    claim(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))  # another run is sending them
    run(workdir, hook, HOSTS, "s2")
    assert len(receiver.seen) == 1 and len(pending(workdir)) == 2, "only run s1's refused POST"
    claim(dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))  # ... and died
    run(workdir, hook, HOSTS, "s3")
    assert len(receiver.received("/json")) == 1 and pending(workdir) == []
