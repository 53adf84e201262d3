"""What a notification says: the summary line, the terminal's event lines and the webhook payloads.

An *event* is a plain dict ``{"event": one of notify_config.EVENTS, "at": ISO time,
"finding": finding_row(...)}``. The webhook formats are built here as data:

* ``json``: ``{"source": "fleetsam", "schema": 1, "summary", "events": [...]}``, every event
* ``slack``: ``{"text", "blocks": [header, section per event]}`` (incoming webhook)
* ``teams``: a ``message`` with one Adaptive Card attachment (Teams workflows webhook)

Slack takes 50 blocks and Teams a card of about 28 KB: what does not fit is never dropped
silently, the message's last line says how many more events the report lists.

Finding text (host and product names, a host's error message) comes from the
fleet, so whoever controls a host controls it: on the terminal it is one inert
line (``plain_text.one_line``); in Slack and Teams it is shown as text and can
make no link, mention or formatting of the message's own (``slack_text``,
``_teams_runs``). The ``json`` format keeps it as raw data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Sequence

from sam_engine import __version__
from sam_engine.findings.notify_config import EVENTS
from sam_engine.plain_text import one_line
from sam_engine.vocabulary import severity_rank

ICON = {event: event.upper() for event in EVENTS}
SLACK_BLOCKS = 50  # Slack's limit: the header, the sections and, when they do not all fit, "and N more"
TEAMS_BODY_BYTES = 26_000  # Teams refuses a card above about 28 KB; the rest is the envelope


def summary(events: Sequence[dict]) -> str:
    """``fleetsam: 2 new, 1 resolved (highest: high)``."""
    counts = Counter(e["event"] for e in events)
    parts = [f"{counts[k]} {k}" for k in EVENTS if counts[k]]
    open_events = [e for e in events if e["event"] != "resolved"]
    worst = max((e["finding"]["severity"] for e in open_events), key=severity_rank, default=None)
    return "fleetsam: " + ", ".join(parts) + (f" finding{'s' if len(events) != 1 else ''}") + (
        f" (highest: {worst})" if worst else "")


def event_line(event: dict) -> str:
    """One terminal line: the finding's text from the fleet made inert (no forged line, no escape)."""
    f = event["finding"]
    return one_line(f"{ICON[event['event']]} {f['severity']} {f['type']} {f['id']}: {f['title']}")


def ordered(events: Sequence[dict]) -> list[dict]:
    return sorted(events, key=lambda e: (EVENTS.index(e["event"]), -severity_rank(e["finding"]["severity"]),
                                         e["at"]))


def _more(left: int) -> str:
    return f"and {left} more event{'s' if left != 1 else ''} (see the report)"


_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def slack_text(value: object) -> str:
    """``value`` (data: a title, a host name, a host's error) as Slack mrkdwn shows it literally.

    ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;``, as Slack requires of text
    (api.slack.com/reference/surfaces/formatting#escaping): no ``<!channel>``, ``<@U123>`` or
    ``<http://x|disguised link>`` can come out of data. Line breaks and other control characters
    become spaces, so data cannot start a line of its own (a ``>`` quote, a made-up event line).
    The sections carry ``verbatim: true`` as well, so Slack does not turn a plain ``@channel`` or a
    channel name in data into a mention or link either. mrkdwn has no escape for ``*``, ``_``,
    ``~`` and backticks: data holding them can still toggle emphasis, which changes how the data
    looks, never what it says or where anything links.
    """
    text = _BREAKS.sub(" ", str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_cut(text: str, limit: int = 3000) -> str:
    """``text`` within Slack's ``limit`` characters, never ending in half an ``&amp;``."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]{0,3}$", "", text[:limit - 1]) + "\u2026"


def _slack_section(e: dict) -> dict:
    f = e["finding"]
    # the detail names the hosts already ("...; on web1, web2 and 3 more"; a stale host is in the title)
    text = (f"*{ICON[e['event']]}* `{slack_text(f['severity'])}` *{slack_text(f['title'])}*\n"
            f"{slack_text(f['detail'])}\n_{slack_text(f['type'])} {slack_text(f['id'])}_")
    return {"type": "section", "text": {"type": "mrkdwn", "text": _slack_cut(text), "verbatim": True}}


def _teams_runs(*parts: tuple[str, bool], spacing: str = "None") -> dict:
    """A RichTextBlock of ``(text, bold)`` TextRuns (a card's line: a heading or a labelled fact).

    Teams reads Markdown in a TextBlock's text and in both sides of a FactSet's facts
    (``[label](url)`` links, ``**``, lists), and its clients do not agree on backslash escapes:
    some show the backslashes and some parse around them. A TextRun's text is never Markdown
    (Adaptive Cards 1.2+, "Markdown is not supported"), so finding data goes into TextRuns only,
    as the text it is; no HTML is rendered and a mention needs an ``msteams.entities`` entry,
    which this card never has.
    """
    return {"type": "RichTextBlock", "spacing": spacing,
            "inlines": [{"type": "TextRun", "text": text, **({"weight": "Bolder"} if bold else {})}
                        for text, bold in parts if text]}


def _teams_event(e: dict) -> list[dict]:
    f = e["finding"]
    facts = (("Type", f["type"]), ("Id", f["id"]), ("Hosts", ", ".join(f["hosts"]) or "-"), ("Detail", f["detail"]))
    return ([_teams_runs((f"{ICON[e['event']]} [{f['severity']}] {f['title'][:500]}", True), spacing="Medium")]
            + [_teams_runs((f"{label}: ", True), (str(value)[:2000], False)) for label, value in facts])


def _slack(head: str, events: list[dict]) -> dict:
    room = SLACK_BLOCKS - 1  # after the header
    shown = events if len(events) <= room else events[:room - 1]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
    blocks += [_slack_section(e) for e in shown]
    if len(shown) < len(events):
        blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": _more(len(events) - len(shown))}]})
    return {"text": slack_text(head), "blocks": blocks}


def _teams(head: str, events: list[dict]) -> dict:
    body = [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": head, "wrap": True}]
    size, shown = len(json.dumps(body)), 0
    for e in events:
        part = _teams_event(e)
        size += len(json.dumps(part, ensure_ascii=False).encode("utf-8"))
        if size > TEAMS_BODY_BYTES:
            break
        body += part
        shown += 1
    if shown < len(events):
        body.append({"type": "TextBlock", "text": _more(len(events) - shown), "wrap": True, "spacing": "Medium"})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    return {"type": "message", "summary": head,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}


def webhook_payload(fmt: str, events: Sequence[dict], now: str) -> dict:
    events = ordered(events)
    head = summary(events)  # counts and a severity: no finding data
    if fmt == "slack":
        return _slack(head, events)
    if fmt == "teams":
        return _teams(head, events)
    return {"source": "fleetsam", "schema": 1, "tool_version": __version__, "sent_at": now, "summary": head,
            "events": [{"event": e["event"], "at": e["at"], "finding": e["finding"]} for e in events]}
