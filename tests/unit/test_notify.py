"""Notifications end to end through the pipeline, against a real SMTP server and a real HTTP receiver.

Each run is a spool processed by ``pipeline.process_spool``, as the collector
callback hands it over: only new, worse or resolved findings are sent, one
message per channel per run; a failing channel keeps its events pending and
delivers them on the next run; secrets never appear in output or the store.
"""

import datetime as dt
import json
from pathlib import Path

import pytest

from fleet_spools import ANYDESK, BASH, TEAMVIEWER, Host, write_run
from notify_servers import Mailbox, Receiver, free_port, server_tls, self_signed, smtp_server
from sam_engine.findings import notify
from sam_engine import pipeline
from sam_engine.findings.channels import DeliveryFailed, deliver
from sam_engine.findings.notify_config import load_notify_config
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]
SLACK_SECRET = "T0FLEET/B0SAM/s3cr3t-slack-token"


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = smtp_server(box)
    box.port = controller.port
    yield box
    controller.stop()


def notify_file(path: Path, smtp_port: int, receiver: Receiver, timeout: int = 3) -> Path:
    path.write_text(f"""\
timeout: {timeout}
channels:
  - name: mail
    type: email
    url: smtp://127.0.0.1:{smtp_port}
    from: fleetsam@example.com
    to: [sam@example.com, security@example.com]
  - name: hook
    type: webhook
    url: {receiver.url('/json')}
  - name: slack
    type: webhook
    format: slack
    url_env: SLACK_URL
  - name: teams
    type: webhook
    format: teams
    url: {receiver.url('/teams')}
  - type: terminal
""")
    return path


class Fleet:
    """Runs scans of a made-up fleet through the pipeline with one store and one notify.yml."""

    def __init__(self, root: Path, notify_path: Path | None, secrets: dict | None = None):
        self.root, self.n = root, 0
        self.store = str(root / "db.json")
        self.alerts = notify.AlertSettings.from_env(policy=REPO / "examples" / "policy.yml", notify=notify_path,
                                                    secrets=secrets or {})

    def scan(self, hosts: dict) -> list[str]:
        self.n += 1
        spool = write_run(self.root, f"s{self.n}", hosts)
        summary = pipeline.process_spool(spool, store=self.store, report_dir=self.root / "reports",
                                         alerts=self.alerts, as_of=dt.date(2026, 6, 30))
        return summary.lines()

    def outbox(self) -> list[dict]:
        with open_store(self.store) as st:
            return st.deliveries()


def counts(mailbox: Mailbox, receiver: Receiver) -> dict[str, int]:
    return {"mail": len(mailbox.messages), "hook": len(receiver.received("/json")),
            "slack": len(receiver.received("/slack")), "teams": len(receiver.received("/teams"))}


def events(body: dict) -> list[tuple[str, str, str]]:
    return [(e["event"], e["finding"]["type"], e["finding"]["title"].split(":")[0]) for e in body["events"]]


def test_only_new_worse_and_resolved_findings_are_sent_once_per_channel(workdir, mailbox, receiver):
    secrets = {"SLACK_URL": receiver.url("/slack/" + SLACK_SECRET)}
    fleet = Fleet(workdir, notify_file(workdir / "notify.yml", mailbox.port, receiver), secrets)
    hosts = {"web1": Host(("web",), (BASH, TEAMVIEWER)), "desk1": Host(("helpdesk",), (BASH, TEAMVIEWER))}

    lines = fleet.scan(hosts)  # 1: prohibited TeamViewer on web1, TeamViewer unlicensed
    assert counts(mailbox, receiver) == {"mail": 1, "hook": 1, "slack": 1, "teams": 1}
    assert sorted(events(receiver.received("/json")[0])) == [("new", "prohibited", "TeamViewer"),
                                                             ("new", "unlicensed", "TeamViewer")]
    assert any(ln.startswith("NEW high prohibited f-") for ln in lines), "terminal channel lines"
    assert "notifications: 2 new; sent to mail" in "\n".join(lines)

    lines = fleet.scan(hosts)  # 2: unchanged fleet: nothing
    assert counts(mailbox, receiver) == {"mail": 1, "hook": 1, "slack": 1, "teams": 1}
    assert "notifications: nothing new" in lines

    hosts["web2"] = Host(("web",), (BASH, ANYDESK))
    fleet.scan(hosts)  # 3: a new prohibited install: exactly one message per channel
    assert counts(mailbox, receiver) == {"mail": 2, "hook": 2, "slack": 2, "teams": 2}
    assert sorted(events(receiver.received("/json")[1])) == [("new", "prohibited", "AnyDesk"),
                                                             ("new", "unlicensed", "AnyDesk")]
    assert "AnyDesk" in mailbox.messages[1][2]["Subject"] or "2 new" in mailbox.messages[1][2]["Subject"]

    receiver.status["/teams"] = 500
    hosts["web2"] = Host(("web",), (BASH, ANYDESK, TEAMVIEWER))
    lines = fleet.scan(hosts)  # 4: TeamViewer on one more host: worse; Teams answers 500
    assert counts(mailbox, receiver) == {"mail": 3, "hook": 3, "slack": 3, "teams": 2}
    assert sorted(events(receiver.received("/json")[2])) == [("worse", "prohibited", "TeamViewer"),
                                                             ("worse", "unlicensed", "TeamViewer")]
    text = "\n".join(lines)
    assert "teams (teams webhook to 127.0.0.1) failed: HTTP 500" in text and "retried on the next run" in text
    pending = fleet.outbox()
    assert len(pending) == 2 and {d["channel"] for d in pending} == {"teams"}
    assert all(d["attempts"] == 1 and d["last_error"].startswith("HTTP 500") for d in pending)

    receiver.status.clear()
    fleet.scan(hosts)  # 5: unchanged, Teams is back: the pending message goes out, nothing else
    assert counts(mailbox, receiver) == {"mail": 3, "hook": 3, "slack": 3, "teams": 3}
    teams = receiver.received("/teams")[2]
    assert teams["attachments"][0]["content"]["body"][0]["text"].startswith("fleetsam: 2 worse")
    assert fleet.outbox() == []

    clean = {"web1": Host(("web",), (BASH,)), "desk1": Host(("helpdesk",), (BASH,)), "web2": Host(("web",), (BASH,))}
    fleet.scan(clean)  # 6: everything resolved: one "resolved" message per channel
    assert counts(mailbox, receiver) == {"mail": 4, "hook": 4, "slack": 4, "teams": 4}
    assert {e[0] for e in events(receiver.received("/json")[3])} == {"resolved"}
    assert len(receiver.received("/json")[3]["events"]) == 4
    assert mailbox.messages[3][2]["Subject"] == "fleetsam: 4 resolved findings"

    fleet.scan(clean)  # 7: and nothing after that
    assert counts(mailbox, receiver) == {"mail": 4, "hook": 4, "slack": 4, "teams": 4}

    slack = receiver.received("/slack")[0]
    assert slack["text"].startswith("fleetsam: 2 new") and slack["blocks"][0]["type"] == "header"
    exposed = "\n".join(lines) + Path(fleet.store).read_text() + (workdir / "reports" / "report.json").read_text()
    assert "s3cr3t" not in exposed


def test_email_has_text_and_html_bodies_for_every_recipient(workdir, mailbox, receiver):
    fleet = Fleet(workdir, notify_file(workdir / "notify.yml", mailbox.port, receiver),
                  {"SLACK_URL": receiver.url("/slack")})
    fleet.scan({"web1": Host(("web",), (TEAMVIEWER, ("<b>evil</b>", "1", "Evil & Co")))})
    (sender, recipients, msg), = mailbox.messages
    assert sender == "fleetsam@example.com" and recipients == ["sam@example.com", "security@example.com"]
    assert msg["Subject"] == "fleetsam: 2 new findings (highest: high)"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "[NEW] HIGH - TeamViewer: prohibited software on 1 host" in text and "hosts:         web1" in text
    assert "<strong>TeamViewer: prohibited software on 1 host</strong>" in html and "<table" in html


def test_failed_smtp_server_is_retried_and_never_fails_the_scan(workdir, receiver):
    port = free_port()  # nothing listens here yet
    fleet = Fleet(workdir, notify_file(workdir / "notify.yml", port, receiver, timeout=2),
                  {"SLACK_URL": receiver.url("/slack")})
    hosts = {"web1": Host(("web",), (BASH, TEAMVIEWER))}
    lines = fleet.scan(hosts)
    assert "mail (email via 127.0.0.1:%d) failed: 127.0.0.1:%d: ConnectionRefusedError" % (port, port) in "\n".join(lines)
    assert len(fleet.outbox()) == 2 and len(receiver.received("/json")) == 1
    box = Mailbox()
    controller = smtp_server(box, port=port)
    try:
        fleet.scan(hosts)
    finally:
        controller.stop()
    assert len(box.messages) == 1 and "2 new" in box.messages[0][2]["Subject"]
    assert fleet.outbox() == [] and len(receiver.received("/json")) == 1, "the webhook got nothing twice"


def test_webhook_timeout_keeps_the_notification(workdir, receiver):
    path = workdir / "notify.yml"
    path.write_text(f"channels:\n  - type: webhook\n    url: {receiver.url('/json')}\n    timeout: 1\n")
    fleet = Fleet(workdir, path)
    receiver.delay = 2.5
    lines = fleet.scan({"web1": Host(("web",), (TEAMVIEWER,))})
    assert "webhook (json webhook to 127.0.0.1) failed: timed out after 1s" in "\n".join(lines)
    assert [d["attempts"] for d in fleet.outbox()] == [1, 1]


def test_without_notification_file_findings_wait_until_one_is_configured(workdir, mailbox, receiver):
    hosts = {"web1": Host(("web",), (TEAMVIEWER,))}
    quiet = Fleet(workdir, None)
    lines = quiet.scan(hosts)
    assert "findings: 2 (2 high); 2 fail the policy" in " ".join(lines) and not any("notifications" in ln for ln in lines)
    loud = Fleet(workdir, notify_file(workdir / "notify.yml", mailbox.port, receiver),
                 {"SLACK_URL": receiver.url("/slack")})
    loud.n = quiet.n
    loud.scan(hosts)
    assert len(mailbox.messages) == 1 and "2 new" in mailbox.messages[0][2]["Subject"]


def test_broken_notification_file_is_reported_located_and_loses_nothing(workdir, mailbox, receiver):
    path = workdir / "notify.yml"
    path.write_text("channels:\n  - type: email\n    url: smtp//127.0.0.1\n    from: a@example.com\n    to: b@example.com\n")
    fleet = Fleet(workdir, path)
    lines = fleet.scan({"web1": Host(("web",), (TEAMVIEWER,))})
    assert any(ln.startswith(f"{path}:3:10: error: channels[0].url: expected smtp://") for ln in lines)
    notify_file(path, mailbox.port, receiver)
    fleet.alerts = notify.AlertSettings.from_env(policy=REPO / "examples" / "policy.yml", notify=path,
                                                 secrets={"SLACK_URL": receiver.url("/slack")})
    fleet.scan({"web1": Host(("web",), (TEAMVIEWER,))})
    assert len(mailbox.messages) == 1 and "2 new" in mailbox.messages[0][2]["Subject"]


# --- TLS and authentication, channel level ------------------------------------------------------

EVENT = {"event": "new", "at": "2026-06-30T01:00:00Z",
         "finding": {"id": "f-000000000001", "type": "prohibited", "severity": "high", "title": "X: prohibited",
                     "detail": "d", "first_seen": "t", "last_seen": "t", "hosts": ["web1"], "entitlements": [],
                     "state": "new"}}


def email_channel(tmp_path, url, cert, password):
    path = tmp_path / "n.yml"
    path.write_text(f"channels:\n  - type: email\n    url: {url}\n    username: fleetsam\n"
                    f"    password_env: SMTP_PASSWORD\n    ca_file: {cert}\n    from: f@example.com\n"
                    f"    to: [a@example.com, b@example.com]\n    timeout: 5\n")
    return load_notify_config(path, {"SMTP_PASSWORD": password}).channels[0]


def test_starttls_with_authentication(tmp_path):
    cert, key = self_signed(tmp_path)
    box = Mailbox(password="correct horse")
    controller = smtp_server(box, tls_context=server_tls(cert, key), require_starttls=True,
                             authenticator=box.authenticate, auth_require_tls=True, auth_required=True)
    try:
        url = f"smtp+starttls://127.0.0.1:{controller.port}"
        deliver(email_channel(tmp_path, url, cert, "correct horse"), [EVENT], "now")
        assert box.logins == ["fleetsam"] and len(box.messages) == 1
        with pytest.raises(DeliveryFailed) as failed:
            deliver(email_channel(tmp_path, url, cert, "wrong-battery"), [EVENT], "now")
        assert "login refused (535)" in str(failed.value) and "wrong-battery" not in str(failed.value)
    finally:
        controller.stop()


def test_smtps_implicit_tls_checks_the_certificate(tmp_path):
    cert, key = self_signed(tmp_path)
    box = Mailbox(password="pw")
    controller = smtp_server(box, ssl_context=server_tls(cert, key), authenticator=box.authenticate,
                             auth_require_tls=False)  # implicit TLS: aiosmtpd only knows STARTTLS as TLS
    try:
        url = f"smtps://127.0.0.1:{controller.port}"
        deliver(email_channel(tmp_path, url, cert, "pw"), [EVENT], "now")
        assert len(box.messages) == 1 and box.logins == ["fleetsam"]
        other_ca, _ = self_signed(_sub(tmp_path))  # a certificate the server's is not
        with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            deliver(email_channel(tmp_path, url, other_ca, "pw"), [EVENT], "now")
    finally:
        controller.stop()


def _sub(tmp_path: Path) -> Path:
    sub = tmp_path / "other-ca"
    sub.mkdir(exist_ok=True)
    return sub


def test_webhook_bearer_token_is_sent_and_masked(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", "tok-123456")
    path = tmp_path / "n.yml"
    path.write_text(f"channels:\n  - type: webhook\n    url: {receiver.url('/json')}\n    token_env: HOOK_TOKEN\n")
    channel = load_notify_config(path).channels[0]
    deliver(channel, [EVENT], "now")
    (_, headers, body), = receiver.requests
    assert headers["Authorization"] == "Bearer tok-123456" and body["events"][0]["finding"]["id"] == "f-000000000001"
    assert json.dumps(body)  # plain JSON


def test_a_term_that_ends_is_announced_expired_never_resolved(workdir, receiver):
    path = workdir / "notify.yml"
    path.write_text(f"channels:\n  - {{name: hook, type: webhook, url: '{receiver.url('/json')}'}}\n")
    alerts = notify.AlertSettings.from_env(policy=REPO / "examples" / "policy.yml", notify=path)

    def licences(renewed_end: str) -> None:
        (workdir / "licences" / "subs.yml").write_text(
            "entitlements:\n"
            "  - {publisher: TeamViewer, product: TeamViewer, metric: device, quantity: 5,\n"
            "     term_start: 2026-01-01, term_end: 2026-07-10}\n"
            "  - {publisher: MathWorks, product: MATLAB, metric: site, quantity: unlimited,\n"
            "     term_start: 2026-01-01, term_end: 2026-07-10}\n"
            "  - {publisher: MathWorks, product: Simulink, metric: site, quantity: unlimited,\n"
            f"     term_start: 2026-01-01, term_end: {renewed_end}}}\n")

    def scan(n: int, day: dt.date) -> list[tuple[str, str, str]]:
        spool = write_run(workdir, f"s{n}", {"web1": Host(("helpdesk",), (BASH, TEAMVIEWER))})
        pipeline.process_spool(spool, store=str(workdir / "db.json"), report_dir=workdir / "reports",
                               alerts=alerts, as_of=day)
        bodies = receiver.received("/json")[n - 1:]
        return sorted((e["event"], e["finding"]["severity"], e["finding"]["title"])
                      for body in bodies for e in body["events"] if e["finding"]["type"] == "expiring")

    licences("2026-07-10")
    assert [e[:2] for e in scan(1, dt.date(2026, 6, 30))] == [("new", "medium")] * 3
    assert scan(2, dt.date(2026, 7, 11)) == [
        ("expired", "high", "MathWorks MATLAB: subscription ended on 2026-07-10 (1 day ago)"),
        ("expired", "high", "MathWorks Simulink: subscription ended on 2026-07-10 (1 day ago)"),
        ("expired", "high", "TeamViewer: subscription ended on 2026-07-10 (1 day ago)")]
    licences("2027-07-10")  # Simulink renewed: that is what resolves it
    assert scan(3, dt.date(2026, 7, 12)) == [
        ("resolved", "high", "MathWorks Simulink: subscription ended on 2026-07-10 (1 day ago)")]
    assert scan(4, dt.date(2026, 8, 20)) == [], "a term ended long ago leaves the findings quietly"
