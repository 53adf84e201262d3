"""Webhook redirects and masking (#18 item 12), against two real HTTP receivers on 127.0.0.1 and 127.0.0.2.

A redirect to another origin is refused: neither the bearer token nor the
payload reaches the second host. A 307/308 on the same origin is followed
with the POST intact; a 302 (which would become a body-less GET) is refused.
Every error message shows URLs as scheme and host only.
"""

import pytest

from notify_servers import Receiver
from sam_engine.findings.channels import DeliveryFailed, deliver
from sam_engine.findings.notify_config import load_notify_config, mask_urls

TOKEN = "tok-9f8e7d6c5b4a"
SLACK_PATH = "/services/T0FLEET/B0SAM/s3cr3t-path-token"
EVENT = {"event": "new", "at": "2026-06-30T01:00:00Z",
         "finding": {"id": "f-000000000001", "type": "prohibited", "severity": "high", "title": "X: prohibited",
                     "detail": "d", "first_seen": "t", "last_seen": "t", "hosts": ["web1"], "entitlements": [],
                     "state": "new"}}


@pytest.fixture
def first():
    r = Receiver("127.0.0.1")
    yield r
    r.stop()


@pytest.fixture
def second():
    r = Receiver("127.0.0.2")
    yield r
    r.stop()


def channel(tmp_path, monkeypatch, url: str, secret_url: bool = False):
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_URL", url)
    where = "url_env: HOOK_URL" if secret_url else f"url: {url}"
    path = tmp_path / "notify.yml"
    path.write_text(f"channels:\n  - type: webhook\n    {where}\n    token_env: HOOK_TOKEN\n")
    return load_notify_config(path).channels[0]


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_sends_it_nothing(tmp_path, monkeypatch, first, second, code):
    first.redirect["/hook"] = (code, second.url(SLACK_PATH))
    with pytest.raises(DeliveryFailed) as failed:
        deliver(channel(tmp_path, monkeypatch, first.url("/hook")), [EVENT], "now")
    assert second.seen == [], "nothing at all reaches the other origin"
    assert [(m, p) for m, p, _ in first.seen] == [("POST", "/hook")]
    assert first.seen[0][2]["Authorization"] == f"Bearer {TOKEN}", "the configured origin does get the token"
    message = str(failed.value)
    assert message == (f"HTTP {code} redirect to http://127.0.0.2:{second.port}/*** refused: another origin: "
                       "nothing is sent there (set the webhook URL to the final address)")
    assert TOKEN not in message and "s3cr3t" not in message


def test_another_port_on_the_same_host_is_another_origin(tmp_path, monkeypatch, first):
    other = Receiver("127.0.0.1")
    try:
        first.redirect["/hook"] = (307, other.url("/hook"))
        with pytest.raises(DeliveryFailed, match="another origin"):
            deliver(channel(tmp_path, monkeypatch, first.url("/hook")), [EVENT], "now")
        assert other.seen == []
    finally:
        other.stop()


@pytest.mark.parametrize("code", [307, 308])
def test_a_307_or_308_on_the_same_origin_is_followed_with_the_post_intact(tmp_path, monkeypatch, first, code):
    first.redirect["/old"] = (code, "/new")  # a relative Location, as servers often send
    deliver(channel(tmp_path, monkeypatch, first.url("/old")), [EVENT], "now")
    (path, headers, body), = first.requests
    assert path == "/new" and headers["Authorization"] == f"Bearer {TOKEN}"
    assert body["events"][0]["finding"]["id"] == "f-000000000001"


def test_a_302_on_the_same_origin_is_refused_rather_than_losing_the_message(tmp_path, monkeypatch, first):
    first.redirect["/old"] = (302, first.url("/new"))
    with pytest.raises(DeliveryFailed) as failed:
        deliver(channel(tmp_path, monkeypatch, first.url("/old")), [EVENT], "now")
    assert [m for m, _, _ in first.seen] == ["POST"], "no GET follows"
    assert str(failed.value) == (f"HTTP 302 redirect to http://127.0.0.1:{first.port}/*** refused: it would "
                                 "resend the POST as a GET without the message")


def test_url_paths_are_masked_in_every_message(tmp_path, monkeypatch, first):
    # a url (not url_env) is no secret of its own, yet its path holds the token: failures show the host only
    first.status[SLACK_PATH] = 404
    hook = channel(tmp_path, monkeypatch, first.url(SLACK_PATH))
    with pytest.raises(DeliveryFailed) as failed:
        deliver(hook, [EVENT], "now")
    assert str(failed.value) == "HTTP 404 Not Found"
    assert hook.mask(f"POST {SLACK_PATH} failed") == "POST *** failed"
    assert hook.mask(f"error at {first.url(SLACK_PATH)}?x=1") == f"error at http://127.0.0.1:{first.port}/***"
    secret = channel(tmp_path, monkeypatch, first.url(SLACK_PATH), secret_url=True)
    assert "s3cr3t" not in secret.mask(f"{first.url(SLACK_PATH)} {SLACK_PATH} {TOKEN}")
    assert secret.display == "webhook (json webhook to 127.0.0.1)"


@pytest.mark.parametrize("text, masked", [
    ("see https://hooks.slack.com/services/T0/B0/XYZ.", "see https://hooks.slack.com/***"),
    ("https://user:pw@example.com:8443/p?q=1#f and http://b/", "https://example.com:8443/*** and http://b/"),
    ("<https://prod.westeurope.logic.azure.com/workflows/abc?sig=s3cr3t>", "<https://prod.westeurope.logic.azure.com/***>"),
    ("no url here: a/b/c", "no url here: a/b/c"),
])
def test_mask_urls(text, masked):
    assert mask_urls(text) == masked
