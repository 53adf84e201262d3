"""Notification channels: e-mail over SMTP, webhooks (JSON, Slack, Teams) and the terminal.

``deliver(channel, events, now)`` sends one message holding every pending
event of one channel and returns the lines to print (the terminal channel's
message; one status line for the others). Any failure - server down, refused
login, HTTP 500, timeout - raises ``DeliveryFailed`` with a message that has
passed through ``Channel.mask``: a secret never reaches a log. The caller
(``notify``) keeps the events pending and tries again on the next run. A
webhook that answers with a redirect to another origin is not followed: no
credential or payload leaves for a host the configuration does not name
(``_SameOriginRedirects``).

An *event* is a plain dict ``{"event": "new" | "worse" | "resolved", "at":
ISO time, "finding": finding_row(...)}``. Message bodies come from the
templates ``templates/notify_email.txt.j2`` and ``notify_email.html.j2``; the
webhook formats are built here as data:

* ``json``: ``{"source": "fleetsam", "schema": 1, "summary", "events": [...]}``
* ``slack``: ``{"text", "blocks": [header, section per event]}`` (incoming webhook)
* ``teams``: a ``message`` with one Adaptive Card attachment (Teams workflows webhook)

Finding text (host and product names, a host's error message) comes from the
fleet, so whoever controls a host controls it: in Slack and Teams it is shown
as text and can make no link, mention or formatting of the message's own
(``slack_text``, ``_teams_runs``). The ``json`` format keeps it as raw data.
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Sequence

import jinja2

from sam_engine import __version__
from sam_engine.findings.notify_config import Channel
from sam_engine.vocabulary import severity_rank
from sam_engine.report.render import TEMPLATE_DIR

ICON = {"new": "NEW", "worse": "WORSE", "resolved": "RESOLVED"}


class DeliveryFailed(Exception):
    """A channel could not deliver; the message is masked and safe to print."""


def summary(events: Sequence[dict]) -> str:
    """``fleetsam: 2 new, 1 resolved (highest: high)``."""
    counts = Counter(e["event"] for e in events)
    parts = [f"{counts[k]} {k}" for k in ("new", "worse", "resolved") if counts[k]]
    open_events = [e for e in events if e["event"] != "resolved"]
    worst = max((e["finding"]["severity"] for e in open_events), key=severity_rank, default=None)
    return "fleetsam: " + ", ".join(parts) + (f" finding{'s' if len(events) != 1 else ''}") + (
        f" (highest: {worst})" if worst else "")


def event_line(event: dict) -> str:
    f = event["finding"]
    return f"{ICON[event['event']]} {f['severity']} {f['type']} {f['id']}: {f['title']}"


def _ordered(events: Sequence[dict]) -> list[dict]:
    order = {"new": 0, "worse": 1, "resolved": 2}
    return sorted(events, key=lambda e: (order[e["event"]], -severity_rank(e["finding"]["severity"]), e["at"]))


# --- bodies ---------------------------------------------------------------------------------


def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                              autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def email_message(channel: Channel, events: Sequence[dict], now: str) -> EmailMessage:
    context = {"summary": summary(events), "events": _ordered(events), "generated": now, "version": __version__}
    env = _templates()
    msg = EmailMessage()
    msg["Subject"] = context["summary"]
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="fleetsam.invalid")
    msg.set_content(env.get_template("notify_email.txt.j2").render(**context))
    msg.add_alternative(env.get_template("notify_email.html.j2").render(**context), subtype="html")
    return msg


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


def webhook_payload(fmt: str, events: Sequence[dict], now: str) -> dict:
    events = _ordered(events)
    head = summary(events)  # counts and a severity: no finding data
    if fmt == "slack":
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
        blocks += [_slack_section(e) for e in events[:45]]  # Slack allows 50 blocks
        return {"text": slack_text(head), "blocks": blocks}
    if fmt == "teams":
        body = [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "text": head, "wrap": True}]
        for e in events[:50]:
            f = e["finding"]
            facts = (("Type", f["type"]), ("Id", f["id"]), ("Hosts", ", ".join(f["hosts"]) or "-"),
                     ("Detail", f["detail"]))
            body.append(_teams_runs((f"{ICON[e['event']]} [{f['severity']}] {f['title']}", True), spacing="Medium"))
            body += [_teams_runs((f"{label}: ", True), (str(value), False)) for label, value in facts]
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": body}
        return {"type": "message", "summary": head,
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]}
    return {"source": "fleetsam", "schema": 1, "tool_version": __version__, "sent_at": now, "summary": head,
            "events": [{"event": e["event"], "at": e["at"], "finding": e["finding"]} for e in events]}


# --- senders ---------------------------------------------------------------------------------


def _tls_context(channel: Channel) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=channel.ca_file)
    if not channel.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send_email(channel: Channel, events: Sequence[dict], now: str) -> None:
    msg = email_message(channel, events, now)
    try:
        if channel.security == "ssl":
            server = smtplib.SMTP_SSL(channel.host, channel.port, timeout=channel.timeout,
                                      context=_tls_context(channel))
        else:
            server = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout)
        with server:
            if channel.security == "starttls":
                server.starttls(context=_tls_context(channel))
            if channel.username and channel.password:
                server.login(channel.username, channel.password)
            refused = server.send_message(msg, from_addr=channel.sender, to_addrs=list(channel.recipients))
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise DeliveryFailed(channel.mask(_smtp_reason(exc, channel))) from None
    if refused:
        shown = ", ".join(f"{addr} ({code})" for addr, (code, _) in refused.items())
        raise DeliveryFailed(channel.mask(f"refused recipients: {shown}"))


def _smtp_reason(exc: BaseException, channel: Channel) -> str:
    where = f"{channel.host}:{channel.port}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where}: timed out after {channel.timeout:g}s"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{where}: login refused ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where}: {exc.smtp_code} {exc.smtp_error.decode('utf-8', 'replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
    return f"{where}: {exc.__class__.__name__}: {exc}"


class RedirectRefused(Exception):
    """A webhook answered with a redirect fleetsam does not follow (see ``_SameOriginRedirects``)."""

    def __init__(self, code: int, location: str, reason: str):
        super().__init__(f"HTTP {code} redirect to {location} refused: {reason}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect of a webhook POST except 307/308 to the same origin (scheme, host, port).

    A redirect to another origin is refused rather than followed without the
    credentials: the payload names hosts and products, and whoever answers
    with a redirect must not get it (nor the ``Authorization`` header) sent on
    elsewhere. A 301, 302 or 303 would turn the POST into a GET without its
    body, losing the message while looking delivered, so it is refused too;
    a 307 or 308 to the same origin is followed with the same method, body
    and headers (the hook moved on its own server).
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        newurl = urllib.parse.urljoin(req.full_url, newurl)
        if _origin(newurl) != _origin(req.full_url):
            reason = "another origin: nothing is sent there (set the webhook URL to the final address)"
        elif code not in (307, 308):
            reason = "it would resend the POST as a GET without the message"
        else:
            return urllib.request.Request(newurl, data=req.data, headers=dict(req.headers),
                                          method=req.get_method())
        fp.close()
        raise RedirectRefused(code, newurl, reason)


def send_webhook(channel: Channel, events: Sequence[dict], now: str) -> None:
    data = json.dumps(webhook_payload(channel.format, events, now), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"fleetsam/{__version__}"}
    if channel.token:
        headers["Authorization"] = f"Bearer {channel.token}"
    request = urllib.request.Request(channel.url or "", data=data, headers=headers, method="POST")
    opener = urllib.request.build_opener(_SameOriginRedirects)
    try:
        with opener.open(request, timeout=channel.timeout) as response:
            response.read(65536)
    except RedirectRefused as exc:
        raise DeliveryFailed(channel.mask(str(exc))) from None
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(channel.mask(f"HTTP {exc.code} {exc.reason}")) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = f"timed out after {channel.timeout:g}s" if isinstance(reason, (socket.timeout, TimeoutError)) \
            else f"cannot connect: {reason}"
        raise DeliveryFailed(channel.mask(text)) from None
    except (socket.timeout, TimeoutError):
        raise DeliveryFailed(f"timed out after {channel.timeout:g}s") from None
    except OSError as exc:
        raise DeliveryFailed(channel.mask(f"{exc.__class__.__name__}: {exc}")) from None


def deliver(channel: Channel, events: Sequence[dict], now: str) -> list[str]:
    """Send ``events`` as one message; the lines to print. Raises ``DeliveryFailed``."""
    if channel.type == "terminal":
        return [summary(events)] + [event_line(e) for e in _ordered(events)]
    if channel.type == "email":
        send_email(channel, events, now)
    else:
        send_webhook(channel, events, now)
    return []
