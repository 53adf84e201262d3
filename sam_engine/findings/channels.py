"""Notification channels: e-mail over SMTP, webhooks (JSON, Slack, Teams) and the terminal.

``deliver(channel, events, now, to)`` sends one message holding the given
events of one channel (``to``: the e-mail recipients still owed it, default
all) and returns the lines to print (the terminal channel's message). The
channel's ``timeout`` bounds the whole exchange (``deadline.Deadline``), not
each read. Any failure - server down, refused login, HTTP 500, timeout -
raises ``DeliveryFailed`` with a message that has passed through
``Channel.mask``: a secret never reaches a log; ``permanent`` says the server
refused this message for good (an HTTP 4xx other than 408 and 429, an SMTP
5xx to the message), which no retry will change. Recipients an SMTP server
refuses while it takes the message for the others raise ``RecipientsRefused``:
the message *was* delivered to the rest. A webhook that answers with a
redirect to another origin is not followed: no credential or payload leaves
for a host the configuration does not name (``_SameOriginRedirects``).

Message bodies come from the templates ``templates/notify_email.txt.j2`` and
``notify_email.html.j2`` (fleet text through the ``one_line`` filter in the
text one) and from ``messages`` (webhook payloads, terminal lines).
"""

from __future__ import annotations

import http.client
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Sequence

import jinja2

from sam_engine import __version__
from sam_engine.findings.deadline import Deadline, DeadlineHTTP, DeadlineHTTPS, smtp_client
from sam_engine.findings.messages import event_line, ordered, summary, webhook_payload
from sam_engine.findings.notify_config import Channel
from sam_engine.plain_text import one_line
from sam_engine.report.render import TEMPLATE_DIR

RETRIED_HTTP = (408, 429)  # client errors that say "try later", not "never"


class DeliveryFailed(Exception):
    """A channel could not deliver; the message is masked and safe to print. ``permanent``: the
    server refused this message for good."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class RecipientsRefused(DeliveryFailed):
    """An SMTP server refused some recipients (``refused``: address -> reply code); the others, if
    any (``accepted``), got the message. A 4xx refusal is temporary, a 5xx one permanent."""

    def __init__(self, channel: Channel, refused: dict[str, int], accepted: bool):
        self.refused, self.accepted = refused, accepted
        shown = ", ".join(f"{addr} ({code})" for addr, code in refused.items())
        later = [a for a, code in refused.items() if 400 <= code < 500]
        tail = "; retried for those answered 4xx" if later else ""
        super().__init__(channel.mask(f"refused recipients: {shown}" + tail), permanent=not later)

    @property
    def retry(self) -> tuple[str, ...]:
        return tuple(a for a, code in self.refused.items() if 400 <= code < 500)


# --- e-mail ---------------------------------------------------------------------------------


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
                             autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["one_line"] = one_line
    return env


def email_message(channel: Channel, events: Sequence[dict], now: str,
                  to: Sequence[str] | None = None) -> EmailMessage:
    context = {"summary": summary(events), "events": ordered(events), "generated": now, "version": __version__}
    env = _templates()
    msg = EmailMessage()
    msg["Subject"] = context["summary"]
    msg["From"] = channel.sender
    msg["To"] = ", ".join(to or channel.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="fleetsam.invalid")
    msg.set_content(env.get_template("notify_email.txt.j2").render(**context))
    msg.add_alternative(env.get_template("notify_email.html.j2").render(**context), subtype="html")
    return msg


def _tls_context(channel: Channel) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=channel.ca_file)
    if not channel.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _code(reply: object) -> int:
    return reply[0] if isinstance(reply, tuple) else int(reply)


def send_email(channel: Channel, events: Sequence[dict], now: str, to: Sequence[str] | None = None) -> None:
    recipients = list(to or channel.recipients)
    msg = email_message(channel, events, now, recipients)
    with Deadline(channel.timeout) as deadline:
        try:
            server = smtp_client(_tls_context(channel) if channel.security == "ssl" else None, channel.host or "",
                                 deadline, channel.timeout)
            with server:
                server.connect(channel.host or "", channel.port or 0)
                if channel.security == "starttls":
                    server.starttls(context=_tls_context(channel))
                if channel.username and channel.password:
                    server.login(channel.username, channel.password)
                refused = server.send_message(msg, from_addr=channel.sender, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused: nobody got it
            raise RecipientsRefused(channel, {a: _code(r) for a, r in exc.recipients.items()}, False) from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            permanent = (isinstance(exc, (smtplib.SMTPDataError, smtplib.SMTPSenderRefused))
                         and 500 <= exc.smtp_code < 600)  # the message itself refused; a refused login is not
            raise DeliveryFailed(channel.mask(_smtp_reason(exc, channel, deadline)), permanent) from None
    if refused:
        raise RecipientsRefused(channel, {a: _code(r) for a, r in refused.items()}, True)


def _smtp_reason(exc: BaseException, channel: Channel, deadline: Deadline) -> str:
    where = f"{channel.host}:{channel.port}"
    if deadline.expired or isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where}: timed out after {channel.timeout:g}s"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{where}: login refused ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where}: {exc.smtp_code} {exc.smtp_error.decode('utf-8', 'replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
    return f"{where}: {exc.__class__.__name__}: {exc}"


# --- webhooks -------------------------------------------------------------------------------


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
    with Deadline(channel.timeout) as deadline:
        opener = urllib.request.build_opener(_SameOriginRedirects, DeadlineHTTP(deadline),
                                             DeadlineHTTPS(deadline, _tls_context(channel)))
        try:
            with opener.open(request, timeout=channel.timeout) as response:
                response.read(65536)
                whole = answered_whole(response)
        except RedirectRefused as exc:
            raise DeliveryFailed(channel.mask(str(exc))) from None
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in RETRIED_HTTP
            raise DeliveryFailed(channel.mask(f"HTTP {exc.code} {exc.reason}"), permanent) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            reason = getattr(exc, "reason", exc)
            if deadline.expired or isinstance(reason, (socket.timeout, TimeoutError)):
                raise DeliveryFailed(f"timed out after {channel.timeout:g}s") from None
            text = f"cannot connect: {reason}" if isinstance(exc, urllib.error.URLError) \
                else f"{exc.__class__.__name__}: {exc}"
            raise DeliveryFailed(channel.mask(text)) from None
        # a cut connection can read as a complete answer (no Content-Length, EOF); a framed answer read
        # to its end is the server's whole answer, even when the deadline fell just after it (no resend)
        if deadline.expired and not whole:
            raise DeliveryFailed(f"timed out after {channel.timeout:g}s")


def answered_whole(response: http.client.HTTPResponse) -> bool:
    """Whether the body read so far is all the server said it would send: its Content-Length
    reached, or its last chunk read."""
    return response.length == 0 or (response.chunked and response.isclosed())


def deliver(channel: Channel, events: Sequence[dict], now: str, to: Sequence[str] | None = None) -> list[str]:
    """Send ``events`` as one message (e-mail: to ``to``, default every recipient); the lines to
    print. Raises ``DeliveryFailed``."""
    if channel.type == "terminal":
        return [summary(events)] + [event_line(e) for e in ordered(events)]
    if channel.type == "email":
        send_email(channel, events, now, to)
    else:
        send_webhook(channel, events, now)
    return []
