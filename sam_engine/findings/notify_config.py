"""The notification configuration (``notify.yml``): channels, and their secrets kept secret.

One file (path: ``--notify``, callback option ``notify``, env
``FLEETSAM_NOTIFY``) lists the channels::

    channels:
      - name: sam-team                       # unique; default: the type
        type: email                          # email | webhook | terminal
        url: smtp+starttls://smtp.example.com:587   # smtp:// | smtps:// (SSL) | smtp+starttls://
        username: fleetsam@example.com
        password_env: SMTP_PASSWORD          # the password comes from this variable
        from: fleetsam@example.com
        to: [sam-team@example.com, security@example.com]
        ca_file: /etc/ssl/internal-ca.pem    # optional, to verify a private CA (webhooks too)
      - name: slack
        type: webhook
        format: slack                        # json (default) | slack | teams
        url_env: SLACK_WEBHOOK_URL           # or url: https://... when it holds no token
        token_env: HOOK_TOKEN                # optional: sent as "Authorization: Bearer ..."
        min_severity: medium                 # optional, per channel
        types: [prohibited, under-licensed]  # optional, per channel
      - type: terminal                       # lines in the run summary
    timeout: 20                              # seconds, every network channel

Secrets (``password_env``, ``url_env``, ``token_env``) are read from the
``secrets`` mapping the callback passes (its ``notify_secrets`` option) or
else from the environment, when the file is read: an unset variable is a
configuration error. Their values are never printed: ``Channel.mask`` hides
them in every error message, and a channel is shown by name and host only. A
value the file gets wrong is shown masked too (``shown_value``): a URL by its
scheme and host, anything else that may hold a secret by its length alone; the
name in a ``*_env`` field by its first characters (it may be the secret itself).

A field that does not apply to the channel's type is an error (it would be
silently ignored), and so is a password or token sent over an unencrypted
connection (``smtp://``, ``http://``) to a host other than this machine,
unless the channel says ``allow_plaintext_credentials: true``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from sam_engine.located_yaml import YamlFile
from sam_engine.vocabulary import FINDING_TYPES, SEVERITIES

CHANNEL_TYPES = ("email", "webhook", "terminal")
WEBHOOK_FORMATS = ("json", "slack", "teams")
SMTP_SCHEMES = {"smtp": "plain", "smtps": "ssl", "smtp+starttls": "starttls"}
SMTP_PORTS = {"plain": 25, "ssl": 465, "starttls": 587}
_COMMON = ("name", "type", "min_severity", "types", "timeout")
_NETWORK = ("ca_file", "verify", "allow_plaintext_credentials")
TYPE_FIELDS = {"email": (*_COMMON, "url", "username", "password_env", "from", "to", *_NETWORK),
               "webhook": (*_COMMON, "url", "url_env", "format", "token_env", *_NETWORK),
               "terminal": _COMMON}
CHANNEL_FIELDS = tuple(dict.fromkeys(f for fields in TYPE_FIELDS.values() for f in fields))
TOP_LEVEL = ("version", "channels", "timeout")
VERSION = 1  # the notification file's format this fleetsam reads
EVENTS = ("new", "worse", "expired", "resolved")  # what a message announces, in the order it lists them


_URL = re.compile(r"\b([a-z][a-z0-9+.-]*://)(?:[^/?#@\s]*@)?([^/?#\s'\"<>]*)([^\s'\"<>]*)", re.I)


def mask_urls(text: str) -> str:
    """Every URL in ``text`` as scheme and host only (``https://hooks.slack.com/***``): no user
    information, path or query, where webhook services keep their tokens."""
    return _URL.sub(lambda m: m.group(1) + m.group(2) + ("/***" if m.group(3) not in ("", "/") else m.group(3)),
                    text)


_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


_HOST = re.compile(r"(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]+)?", re.I)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shown_value(value: str) -> str:
    """A rejected value of the notification file as an error message may show it: a URL with a
    host as its scheme and host (``mask_urls``: ``"https://hooks.slack.com/***"``), anything else
    (no scheme, no host, a host part that is not one) as ``<hidden: 48 characters>``. A webhook URL
    keeps its token in the path, a mistyped one (``https//host/...``) or one without a host
    (``https://user:pw@/path``) anywhere: none of it may reach a log."""
    match = _URL.match(value)
    if match and match.end() == len(value) and match.group(2) and _HOST.fullmatch(match.group(2)):
        return f'"{mask_urls(value)}"'
    return f"<hidden: {len(value)} character{'s' if len(value) != 1 else ''}>"


def shown_name(name: str) -> str:
    """The name written in a ``*_env`` field as a message may show it: its first three characters
    and its length (``"SMT..." (13 characters)``). Someone may have written the secret itself there."""
    return f'"{name[:3]}..." ({len(name)} characters)'


def _loopback(host: str | None) -> bool:
    if (host or "").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Channel:
    """One configured channel, secrets resolved (never shown: see ``mask``)."""

    name: str
    type: str
    origin: str
    min_severity: str = SEVERITIES[0]  # every finding
    types: tuple[str, ...] = ()
    timeout: float = 20.0
    # email
    host: str | None = None
    port: int | None = None
    security: str = "plain"  # plain | ssl | starttls
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    ca_file: str | None = None
    verify: bool = True
    # webhook
    url: str | None = field(default=None, repr=False)
    format: str = "json"
    token: str | None = field(default=None, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def display(self) -> str:
        if self.type == "email":
            return f"{self.name} (email via {self.host}:{self.port})"
        if self.type == "webhook":
            host = urllib.parse.urlsplit(self.url or "").hostname or "?"
            return f"{self.name} ({self.format} webhook to {host})"
        return f"{self.name} (terminal)"

    def mask(self, text: str) -> str:
        """``text`` with every secret of this channel replaced by ``***`` and every URL cut to its origin
        (``mask_urls``): Slack and Teams put the token in the path, which may also appear on its own."""
        parts = urllib.parse.urlsplit(self.url or "")
        hidden = (*self.secrets, *(p for p in (parts.path, parts.query) if len(p) > 1))
        # also as a library may quote them: without the whitespace and controls urlsplit or http.client drop
        hidden += tuple(_UNSAFE_IN_URL.sub("", s) for s in hidden)
        text = mask_urls(text)
        for secret in sorted(set(hidden), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def wants(self, finding_type: str, severity: str) -> bool:
        return ((not self.types or finding_type in self.types)
                and SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity))


@dataclass(frozen=True)
class NotifyConfig:
    channels: tuple[Channel, ...] = ()
    origin: str = ""


def _secret(reader: YamlFile, node, where: str, secrets: Mapping[str, str]) -> str | None:
    name = reader.text(node, where)
    if name is None:
        return None
    value = secrets.get(name)
    if value is None:
        value = os.environ.get(name)
    if not value:
        if _ENV_NAME.fullmatch(name):
            reader.fail(node, where, f"expected the name of a set environment variable (or callback secret), "
                                     f"but {shown_name(name)} is not set")
        else:  # most likely the secret itself, written where its variable's name belongs
            reader.fail(node, where, f"expected the name of an environment variable (or callback secret) "
                                     f"holding the secret, got {shown_value(name)}: keep the secret in a "
                                     f"variable and name the variable here")
        return None
    return value


def _smtp(reader: YamlFile, node, where: str) -> tuple[str | None, int | None, str]:
    url = reader.text(node, where)
    if url is None:
        reader.fail(node, where, "expected an SMTP URL, e.g. smtp+starttls://smtp.example.com:587")
        return None, None, "plain"
    parts = urllib.parse.urlsplit(url)
    security = SMTP_SCHEMES.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if security is None or not parts.hostname or port == -1 or parts.path not in ("", "/") or parts.query:
        reader.fail(node, where, f'expected smtp://HOST[:PORT], smtps://HOST[:PORT] or smtp+starttls://HOST[:PORT], '
                                 f'got {shown_value(url)}')
        return None, None, "plain"
    if parts.username or parts.password:
        reader.fail(node, where, "expected no credentials in the URL: use username and password_env")
    return parts.hostname, port or SMTP_PORTS[security], security


def _port_given_right(parts: urllib.parse.SplitResult) -> bool:
    """No port, or one that is a number from 0 to 65535 (else rejected here rather than when sending)."""
    try:
        parts.port
    except ValueError:
        return False
    return True


def _http_url(reader: YamlFile, node, where: str, value: str | None, secret: bool) -> str | None:
    if value is None:
        return None
    shown = "its value" if secret else shown_value(value)
    if _UNSAFE_IN_URL.search(value):  # urllib would drop or quote them, and show the rest in its error
        reader.fail(node, where, f"expected a URL without spaces, tabs, line breaks or control characters, "
                                 f"got {shown}")
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme.lower() in ("http", "https") and parts.hostname and _port_given_right(parts):
        return value
    reader.fail(node, where, f"expected an http:// or https:// URL with a host, got {shown}")
    return None


def _plaintext(reader: YamlFile, keys, where: str, field_name: str, clear: bool, host: str | None) -> None:
    """A credential (``field_name``) sent unencrypted (``clear``) to another machine is refused unless
    the channel allows it: anyone on the way could read it."""
    if clear and not _loopback(host) and not reader.boolean(keys.get("allow_plaintext_credentials"),
                                                           f"{where}.allow_plaintext_credentials", False):
        reader.fail(keys.get(field_name), f"{where}.{field_name}",
                    f"refused: the connection to {host} is not encrypted, so the secret would cross the "
                    f"network in clear; use an encrypted URL (smtps://, smtp+starttls://, https://) or set "
                    f"allow_plaintext_credentials: true")


def _channel(reader: YamlFile, node, where: str, secrets: Mapping[str, str], timeout: float,
             names: set[str]) -> Channel | None:
    if not isinstance(node, yaml.MappingNode):
        reader.fail(node, where, "expected a mapping with a type (email, webhook or terminal)")
        return None
    keys = reader.mapping(node, where, CHANNEL_FIELDS)
    kind = reader.choice(keys.get("type"), f"{where}.type", CHANNEL_TYPES, None)
    if kind is None:
        if "type" not in keys:
            reader.fail(node, f"{where}.type", f"required: one of {', '.join(CHANNEL_TYPES)}")
        return None
    for key in keys:
        if key not in TYPE_FIELDS[kind]:
            reader.fail(keys.key_nodes.get(key, node), f"{where}.{key}",
                        f"not a field of a {kind} channel (expected one of {', '.join(TYPE_FIELDS[kind])})")
    name = reader.text(keys.get("name"), f"{where}.name") or kind
    if name in names:
        reader.fail(keys.get("name", node), f"{where}.name", f'"{name}" is used by another channel: '
                                                             f'give each channel its own name')
    names.add(name)
    types = reader.text_list(keys.get("types"), f"{where}.types")
    for n, name_of_type in enumerate(types):
        if name_of_type not in FINDING_TYPES:
            reader.fail(keys["types"], f"{where}.types[{n}]",
                        f'expected one of {", ".join(FINDING_TYPES)}, got "{name_of_type}"')
    common = dict(name=name, type=kind, origin=reader.at(node),
                  min_severity=reader.choice(keys.get("min_severity"), f"{where}.min_severity", SEVERITIES, SEVERITIES[0]),
                  types=types,
                  timeout=float(reader.number(keys.get("timeout"), f"{where}.timeout", timeout, minimum=1)))
    if kind == "email":
        host, port, security = _smtp(reader, keys.get("url"), f"{where}.url")
        password = _secret(reader, keys.get("password_env"), f"{where}.password_env", secrets)
        username = reader.text(keys.get("username"), f"{where}.username")
        if password and not username:
            reader.fail(keys.get("password_env"), f"{where}.username", "required with password_env")
        _plaintext(reader, keys, where, "password_env", bool(password) and security == "plain", host)
        sender = reader.text(keys.get("from"), f"{where}.from")
        recipients = reader.text_list(keys.get("to"), f"{where}.to")
        for label, addresses, at in (("from", (sender,) if sender else (), "from"), ("to", recipients, "to")):
            if not addresses:
                reader.fail(keys.get(at, node), f"{where}.{label}", "required: an e-mail address")
            for address in addresses:
                if "@" not in address or any(c.isspace() for c in address):
                    reader.fail(keys.get(at), f"{where}.{label}",
                                f'expected an e-mail address, got "{mask_urls(address)}"')
        return Channel(**common, host=host, port=port, security=security, username=username, password=password,
                       sender=sender, recipients=recipients,
                       **_tls(reader, keys, where), secrets=tuple(s for s in (password,) if s))
    if kind == "webhook":
        url = secret_url = None
        if "url_env" in keys:
            secret_url = _secret(reader, keys["url_env"], f"{where}.url_env", secrets)
            url = _http_url(reader, keys["url_env"], f"{where}.url_env", secret_url, secret=True)
        elif "url" in keys:
            url = _http_url(reader, keys["url"], f"{where}.url", reader.text(keys["url"], f"{where}.url"), False)
        else:
            reader.fail(node, f"{where}.url", "required: url or url_env")
        token = _secret(reader, keys.get("token_env"), f"{where}.token_env", secrets)
        parts = urllib.parse.urlsplit(url or "")
        _plaintext(reader, keys, where, "token_env", bool(token) and parts.scheme.lower() == "http", parts.hostname)
        return Channel(**common, url=url, token=token, **_tls(reader, keys, where),
                       format=reader.choice(keys.get("format"), f"{where}.format", WEBHOOK_FORMATS, "json"),
                       secrets=tuple(s for s in (secret_url, token) if s))
    return Channel(**common)


def _tls(reader: YamlFile, keys, where: str) -> dict:
    return {"ca_file": reader.text(keys.get("ca_file"), f"{where}.ca_file"),
            "verify": reader.boolean(keys.get("verify"), f"{where}.verify", True)}


def read_notify_config(reader: YamlFile, secrets: Mapping[str, str] | None = None) -> NotifyConfig:
    """The channels of ``reader``'s file; problems are left in ``reader.problems``."""
    if reader.unreadable:
        return NotifyConfig(origin=str(reader.path))
    top = reader.mapping(reader.root, "", TOP_LEVEL)
    if "version" in top and reader.integer(top["version"], "version", VERSION, 1) not in (VERSION, None):
        reader.fail(top["version"], "version", f"expected {VERSION} (the format this fleetsam reads), "
                                               f"got {reader.shown(top['version'])}")
    timeout = float(reader.number(top.get("timeout"), "timeout", 20, minimum=1))
    names: set[str] = set()
    given = top.get("channels")
    nodes = reader.sequence(given, "channels")
    # no channel would still count every finding as announced, and a channel added later would get none
    if not nodes and (reader.is_null(given) or isinstance(given, yaml.SequenceNode)):
        reader.fail(top.get("channels", reader.root), "channels",
                    f"expected a list of at least one channel ({', '.join(CHANNEL_TYPES)}), "
                    f"got {'an empty list' if given is not None and not reader.is_null(given) else 'nothing'}")
    channels = [_channel(reader, node, f"channels[{n}]", secrets or {}, timeout, names)
                for n, node in enumerate(nodes)]
    return NotifyConfig(tuple(c for c in channels if c is not None), str(reader.path))


def load_notify_config(path: str | Path, secrets: Mapping[str, str] | None = None) -> NotifyConfig:
    """Read ``path``; raises ``ConfigError`` (every mistake, located) when anything is wrong."""
    reader = YamlFile(path)
    config = read_notify_config(reader, secrets)
    reader.check()
    return config


def notify_path(given: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The notification file: ``given``, else ``$FLEETSAM_NOTIFY``; None means no notifications."""
    env = os.environ if env is None else env
    chosen = given or env.get("FLEETSAM_NOTIFY")
    return Path(chosen) if chosen else None
