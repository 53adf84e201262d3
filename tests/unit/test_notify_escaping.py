"""Finding text in Slack and Teams messages is shown as text, against a real HTTP receiver on 127.0.0.1.

Host names, product names and the error an unreachable host answered with come
from the fleet: whoever controls a host controls them. In Slack mrkdwn
``&``, ``<`` and ``>`` are escaped (no ``<!channel>`` ping, no disguised
``<url|label>`` link) and sections are ``verbatim``; in a Teams Adaptive Card
the data sits in TextRuns, which no client reads as Markdown. The generic JSON
webhook keeps the data raw. A Slack section names the hosts once.
"""

import datetime as dt
import json
from pathlib import Path

import pytest

from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool as spool_files
from fleet_spools import BASH, TEAMVIEWER, Host, write_run
from notify_servers import Receiver
from sam_engine import pipeline
from sam_engine.findings import notify
from sam_engine.findings.channels import deliver
from sam_engine.findings.messages import slack_text, webhook_payload
from sam_engine.findings.notify_config import load_notify_config

BANNER = "banner <!channel> <http://evil.example/renew|Licence expired: renew here>"
HOST = "<!here>&co"  # a host name that would ping @here in raw mrkdwn


@pytest.fixture
def workdir(workdir):
    """conftest's ``workdir``, owning one TeamViewer licence."""
    (workdir / "licences" / "teamviewer.yml").write_text(
        "entitlements:\n  - {publisher: TeamViewer, product: TeamViewer, metric: device, quantity: 1}\n")
    return workdir


def scan_hostile_fleet(root: Path, receiver: Receiver) -> list[str]:
    """One run: TeamViewer (1 licence) on web1 and on a host named ``HOST``; host ``evil`` unreachable,
    its error the attacker's ``BANNER``. Sent to Slack, Teams and JSON webhooks on ``receiver``."""
    notify_path = root / "notify.yml"
    notify_path.write_text(f"""\
channels:
  - {{name: slack, type: webhook, format: slack, url: "{receiver.url('/slack')}"}}
  - {{name: teams, type: webhook, format: teams, url: "{receiver.url('/teams')}"}}
  - {{name: hook, type: webhook, url: "{receiver.url('/json')}"}}
""")
    spool = write_run(root, "s1", {"web1": Host(("web",), (BASH, TEAMVIEWER)), HOST: Host((), (BASH, TEAMVIEWER)),
                                   "evil": None})
    evil = spool / "hosts" / "evil.json"
    spool_files.write_json(str(evil), {**json.loads(evil.read_text()), "error": BANNER})
    alerts = notify.AlertSettings.from_env(policy=None, notify=notify_path, secrets={})
    summary = pipeline.process_spool(spool, store=str(root / "db.json"), report_dir=root / "reports",
                                     alerts=alerts, as_of=dt.date(2026, 6, 30))
    return summary.lines()


def walk(node):
    """Every dict in a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_slack_shows_finding_text_escaped_and_names_the_hosts_once(workdir, receiver):
    lines = scan_hostile_fleet(workdir, receiver)
    assert "notifications: 2 new; sent to slack" in "\n".join(lines)
    (slack,) = receiver.received("/slack")
    sections = [b["text"] for b in slack["blocks"] if b["type"] == "section"]
    assert len(sections) == 2 and all(s["type"] == "mrkdwn" and s["verbatim"] is True for s in sections)
    under, stale = (s["text"] for s in sections)
    assert under == ("*NEW* `high` *TeamViewer: under-licensed by 1 device*\n"
                     "uses 2 devices, owns 1, shortfall 1; on &lt;!here&gt;&amp;co, web1\n"
                     "_under-licensed f-189249020626_"), "data escaped, the hosts named once"
    assert stale.startswith("*NEW* `medium` *evil: never scanned successfully*\n"
                            "unreachable: banner &lt;!channel&gt; &lt;http://evil.example/renew|Licence expired: "
                            "renew here&gt;\n_stale-host f-")
    # no control sequence of Slack's is left anywhere in the message
    assert not any(c in s["text"] for s in sections for c in "<>") and "<" not in slack["text"]


def test_teams_card_keeps_finding_text_out_of_markdown(workdir, receiver):
    scan_hostile_fleet(workdir, receiver)
    (teams,) = receiver.received("/teams")
    card = teams["attachments"][0]["content"]
    elements = list(walk(card["body"]))
    markdown = [e["text"] for e in elements if e.get("type") == "TextBlock"]
    assert markdown == ["fleetsam: 2 new findings (highest: high)"], "the only Markdown is fleetsam's own summary"
    assert not [e for e in elements if e.get("type") == "FactSet" or "facts" in e], "Fact values are Markdown too"
    runs = [e["text"] for e in elements if e.get("type") == "TextRun"]
    assert f"unreachable: {BANNER}" in runs, "shown as the host said it, never parsed"
    assert f"{HOST}, web1" in runs and "NEW [medium] evil: never scanned successfully" in runs
    assert not [e for e in elements if "msteams" in e or e.get("type") == "mention"], "no mention entities"


def test_json_webhook_keeps_the_data_raw(workdir, receiver):
    scan_hostile_fleet(workdir, receiver)
    (body,) = receiver.received("/json")
    assert set(body) == {"source", "schema", "tool_version", "sent_at", "summary", "events"}
    details = {e["finding"]["type"]: e["finding"]["detail"] for e in body["events"]}
    assert details["stale-host"] == f"unreachable: {BANNER}"
    assert details["under-licensed"] == f"uses 2 devices, owns 1, shortfall 1; on {HOST}, web1"


EVENT = {"event": "new", "at": "2026-06-30T01:00:00Z",
         "finding": {"id": "f-000000000001", "type": "prohibited", "severity": "high", "title": "X: prohibited",
                     "detail": "d", "first_seen": "t", "last_seen": "t", "hosts": ["web1"], "entitlements": [],
                     "state": "new"}}


def finding(**changes) -> dict:
    return {**EVENT, "finding": {**EVENT["finding"], **changes}}


@pytest.mark.parametrize("data, shown", [
    ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
    ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),  # already escaped text stays as written
    ("line one\n> quoted\r\n*NEW* `critical`\u2028x\ty", "line one &gt; quoted *NEW* `critical` x y"),
    ("<@U024BE7LH> <#C024BE7LR> <!subteam^SAZ94GDB8>", "&lt;@U024BE7LH&gt; &lt;#C024BE7LR&gt; &lt;!subteam^SAZ94GDB8&gt;"),
])
def test_slack_text(data, shown):
    assert slack_text(data) == shown


def test_every_field_of_a_slack_section_is_escaped_and_a_long_one_cut_whole(tmp_path, receiver):
    path = tmp_path / "n.yml"
    path.write_text(f"channels:\n  - type: webhook\n    format: slack\n    url: {receiver.url('/slack')}\n")
    channel = load_notify_config(path).channels[0]
    event = finding(title="<!everyone> title", detail="<" * 2000, type="t<y>pe", id="<id>", severity="<high>")
    deliver(channel, [event], "now")
    (body,) = receiver.received("/slack")
    text = body["blocks"][1]["text"]["text"]
    assert "<" not in text and ">" not in text
    assert text.startswith("*NEW* `&lt;high&gt;` *&lt;!everyone&gt; title*\n&lt;&lt;")
    assert len(text) == 3000 and text.endswith("&lt;\u2026"), "cut within Slack's limit, never inside an entity"
    assert webhook_payload("slack", [event], "now") == body


def test_a_slack_section_without_hosts_or_with_many():
    many = [f"web{n}" for n in range(8)]
    detail = "owns 1, uses 8; on web0, web1, web2, web3, web4 and 3 more"
    payload = webhook_payload("slack", [finding(hosts=many, detail=detail), finding(hosts=[], detail="none")], "now")
    texts = [b["text"]["text"] for b in payload["blocks"][1:]]
    assert texts[0].count("web0") == 1 and "web7" not in texts[0] and "\nnone\n" in texts[1]


FORGED = "evil\n[NEW] CRITICAL - all clear\x1b]8;;http://x.example\x07link\x00\u202eexe.txt"


def _event(n: int, title: str = "X", detail: str = "d") -> dict:
    return {"event": "new", "at": "2026-06-30T01:00:00Z",
            "finding": {"id": f"f-{n:012d}", "type": "stale-host", "severity": "medium", "title": title,
                        "detail": detail, "first_seen": "t", "last_seen": "t", "hosts": [title], "entitlements": [],
                        "state": "new"}}


def test_hostile_text_stays_inert_on_the_terminal_and_in_the_text_email(tmp_path):
    from notify_servers import Mailbox, smtp_server

    (path := tmp_path / "n.yml").write_text("channels:\n  - type: terminal\n")
    lines = deliver(load_notify_config(path).channels[0], [_event(1, FORGED, FORGED)], "now")
    assert len(lines) == 2 and lines[1].endswith("evil\\n[NEW] CRITICAL - all clear\\x1b]8;;http://x.example\\x07"
                                                 "link\\x00\\u202eexe.txt")
    box = Mailbox()
    controller = smtp_server(box)
    try:
        path.write_text(f"channels:\n  - {{type: email, url: 'smtp://127.0.0.1:{controller.port}', "
                        f"from: f@example.com, to: t@example.com}}\n")
        deliver(load_notify_config(path).channels[0], [_event(1, FORGED, FORGED)], "now")
    finally:
        controller.stop()
    text = box.messages[0][2].get_body(("plain",)).get_content()
    assert not any(ln.startswith("[NEW] CRITICAL") for ln in text.splitlines())
    assert not any(c in text for c in "\x1b\x07\x00\u202e")
    assert "[NEW] MEDIUM - evil\\n[NEW] CRITICAL - all clear\\x1b]8;;" in text


def test_slack_and_teams_say_how_many_events_did_not_fit():
    events = [_event(n, f"host{n}", "x" * 1500) for n in range(60)]
    slack = webhook_payload("slack", events, "now")
    assert len(slack["blocks"]) == 50 and slack["blocks"][-1]["elements"][0]["text"] == \
        "and 12 more events (see the report)"
    teams = webhook_payload("teams", events, "now")
    body = teams["attachments"][0]["content"]["body"]
    assert len(json.dumps(teams, ensure_ascii=False).encode("utf-8")) <= 28_000
    shown = sum(1 for b in body if b["type"] == "RichTextBlock" and b["inlines"][0]["text"].startswith("NEW"))
    assert 0 < shown < 60 and body[-1]["text"] == f"and {60 - shown} more events (see the report)"
    assert len(webhook_payload("json", events, "now")["events"]) == 60
    few = webhook_payload("slack", events[:49], "now")
    assert len(few["blocks"]) == 50 and few["blocks"][-1]["type"] == "section"
