"""A rejected value of the notification file is located and explained, but shown masked.

README: "a URL in any message shows only its scheme and host". A webhook URL
keeps its token in the path, a mistyped one (``https//...``) or one without a
host (``https://user:pw@/...``) anywhere, and a secret written where its
variable's name belongs is the secret itself: every error shows file:line:col,
the field and what was expected, and of the value only its scheme and host,
else ``<hidden: N characters>``. End to end, through the pipeline and a real
HTTP receiver on 127.0.0.1, nothing of the secret reaches the scan's lines,
the store or the reports.
"""

import datetime as dt
from pathlib import Path

import pytest

from fleet_spools import TEAMVIEWER, Host, write_run
from notify_servers import Receiver
from sam_engine import pipeline
from sam_engine.findings import notify
from sam_engine.findings.notify_config import load_notify_config, shown_value
from sam_engine.located_yaml import ConfigError

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("FILESECRET", "hunter2", "TOK", "ENVSECRET", "xoxb", "s3cr3t", "pw-9")


def problems(path: Path, text: str, secrets: dict | None = None) -> list[str]:
    path.write_text(text)
    with pytest.raises(ConfigError) as rejected:
        load_notify_config(path, secrets or {})
    return str(rejected.value).splitlines()


@pytest.mark.parametrize("url, shown", [
    ("https//hooks.slack.com/services/T1/B1/FILESECRET", "<hidden: 48 characters>"),
    ("https://user:hunter2@/services/TOK", "<hidden: 34 characters>"),
    ("ftp://user:hunter2@files.example.com/services/TOK", '"ftp://files.example.com/***"'),
    ("https://u:hunter2/x@hooks.example.com/TOK", "<hidden: 41 characters>"),  # not a host: cannot tell what is
    ("hooks.slack.com/services/T1/B1/FILESECRET", "<hidden: 41 characters>"),
])
def test_a_rejected_webhook_url_is_shown_masked(tmp_path, url, shown):
    path = tmp_path / "notify.yml"
    (line,) = problems(path, f'channels:\n  - type: webhook\n    url: "{url}"\n')
    assert line == (f"{path}:3:10: channels[0].url: expected an http:// or https:// URL with a host, got {shown}")
    assert not any(s in line for s in SECRETS)


@pytest.mark.parametrize("url, shown", [
    ("smtp//mail.example.com/TOK", "<hidden: 26 characters>"),
    ("smtp://mail.example.com/TOK", '"smtp://mail.example.com/***"'),
    ("smtps://fleetsam:hunter2@mail.example.com:bad", "<hidden: 45 characters>"),
    ("smtps://fleetsam:hunter2@mail.example.com/TOK", '"smtps://mail.example.com/***"'),
    ("smtp+starttls://mail.example.com?token=TOK", '"smtp+starttls://mail.example.com/***"'),
])
def test_a_rejected_smtp_url_is_shown_masked(tmp_path, url, shown):
    path = tmp_path / "notify.yml"
    (line,) = problems(path, f'channels:\n  - type: email\n    url: "{url}"\n    from: a@example.com\n'
                             f'    to: b@example.com\n')
    assert line == (f"{path}:3:10: channels[0].url: expected smtp://HOST[:PORT], smtps://HOST[:PORT] or "
                    f"smtp+starttls://HOST[:PORT], got {shown}")
    assert not any(s in line for s in SECRETS)


@pytest.mark.parametrize("field, value, shown", [
    ("url_env", "https://hooks.slack.com/services/T1/B1/ENVSECRET", '"https://hooks.slack.com/***"'),
    ("token_env", "xoxb-1234-ENVSECRET", "<hidden: 19 characters>"),
])
def test_a_secret_written_where_its_variable_belongs_is_not_echoed(tmp_path, field, value, shown):
    path = tmp_path / "notify.yml"
    url = "" if field == "url_env" else "\n    url: https://siem.example.com/hook"
    lines = problems(path, f'channels:\n  - type: webhook{url}\n    {field}: "{value}"\n')
    assert lines[-1] == (f"{path}:{4 if url else 3}:{len(field) + 7}: channels[0].{field}: expected the name of an "
                         f"environment variable (or callback secret) holding the secret, got {shown}: keep the "
                         f"secret in a variable and name the variable here")
    assert not any(s in "\n".join(lines) for s in SECRETS)


def test_a_password_written_as_password_env_and_an_unset_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    path = tmp_path / "notify.yml"
    lines = problems(path, "channels:\n"
                           "  - {type: email, url: smtp://mail.example.com, username: u, password_env: 'hunter2!',\n"
                           "     from: a@example.com, to: 'smtp://mail.example.com/TOK'}\n"
                           "  - {name: two, type: email, url: smtp://mail.example.com, username: u,\n"
                           "     password_env: SMTP_PASSWORD, from: a@example.com, to: b@example.com}\n")
    assert lines == [
        f"{path}:2:76: channels[0].password_env: expected the name of an environment variable (or callback "
        f"secret) holding the secret, got <hidden: 8 characters>: keep the secret in a variable and name the "
        f"variable here",
        f'{path}:3:31: channels[0].to: expected an e-mail address, got "smtp://mail.example.com/***"',
        f"{path}:5:20: channels[1].password_env: expected the name of a set environment variable (or callback "
        f'secret), but "SMT..." (13 characters) is not set',  # the "name" may be the secret itself
    ]


@pytest.mark.parametrize("value, shown", [
    ("https://hooks.slack.com/services/T/B/X", '"https://hooks.slack.com/***"'),
    ("http://[::1]:8080/x?sig=1", '"http://[::1]:8080/***"'),
    ("https://hooks.slack.com", '"https://hooks.slack.com"'),
    ("https://hooks.slack.com/a b", "<hidden: 27 characters>"),
    ("x", "<hidden: 1 character>"),
])
def test_shown_value(value, shown):
    assert shown_value(value) == shown


def test_the_scan_reports_the_rejected_url_masked_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "licences").mkdir()
    monkeypatch.setenv("FLEETSAM_LICENCES", str(tmp_path / "licences"))
    receiver = Receiver()
    try:
        path = tmp_path / "notify.yml"
        path.write_text(f'channels:\n  - {{name: ok, type: webhook, url: "{receiver.url("/json")}"}}\n'
                        f'  - {{name: slack, type: webhook, format: slack,\n'
                        f'     url: "https//hooks.slack.com/services/T1/B1/FILESECRET"}}\n')
        alerts = notify.AlertSettings.from_env(policy=REPO / "examples" / "policy.yml", notify=path, secrets={})
        spool = write_run(tmp_path, "s1", {"web1": Host(("web",), (TEAMVIEWER,))})
        summary = pipeline.process_spool(spool, store=str(tmp_path / "db.json"), report_dir=tmp_path / "reports",
                                         alerts=alerts, as_of=dt.date(2026, 6, 30))
        lines = summary.lines()
        assert (f"{path}:4:11: error: channels[1].url: expected an http:// or https:// URL with a host, "
                f"got <hidden: 48 characters>") in lines
        assert receiver.seen == [], "a rejected file sends nothing; its events wait"
        exposed = "\n".join(lines) + "".join(p.read_text() for p in tmp_path.rglob("*")
                                             if p.is_file() and p.suffix in (".json", ".html", ".csv", ".md"))
        assert "FILESECRET" not in exposed and "T1/B1" not in exposed
    finally:
        receiver.stop()


@pytest.mark.parametrize("text, where, got", [
    ("", "", "nothing"),
    ("channels:\n", ":1:10", "nothing"),
    ("version: 1\nchannels: []\n", ":2:11", "an empty list"),
])
def test_a_file_without_channels_is_an_error(tmp_path, text, where, got):
    path = tmp_path / "notify.yml"
    assert problems(path, text) == [f"{path}{where}: channels: expected a list of at least one channel "
                                    f"(email, webhook, terminal), got {got}"]


def test_only_version_1_is_read(tmp_path):
    path = tmp_path / "notify.yml"
    assert problems(path, "version: 2\nchannels: [{type: terminal}]\n") == [
        f'{path}:1:10: version: expected 1 (the format this fleetsam reads), got "2"']


def test_a_url_with_a_tab_or_line_break_is_refused_without_showing_it(tmp_path):
    path = tmp_path / "notify.yml"
    lines = problems(path, "channels:\n  - {type: webhook, url_env: SLACK_URL}\n",
                     {"SLACK_URL": "http://127.0.0.1:18080/slack/T0/B0/TOKEN\tXYZ\n"})
    assert lines == [f"{path}:2:30: channels[0].url_env: expected a URL without spaces, tabs, line breaks or "
                     f"control characters, got its value"]


def test_a_secret_in_an_env_field_is_never_shown_whole(tmp_path, monkeypatch):
    monkeypatch.delenv("ghp_R3alS3cretToken", raising=False)
    path = tmp_path / "notify.yml"
    (line,) = problems(path, "channels:\n  - {type: webhook, url: 'https://x.example.com/h', "
                             "token_env: ghp_R3alS3cretToken}\n")
    assert line.endswith('but "ghp..." (19 characters) is not set') and "R3al" not in line


@pytest.mark.parametrize("channel, field", [
    ("{type: webhook, url: 'https://x.example.com/h', to: [a@example.com]}", "to"),
    ("{type: webhook, url: 'https://x.example.com/h', password_env: PW}", "password_env"),
    ("{type: terminal, url: 'https://x.example.com/h'}", "url"),
    ("{type: terminal, format: slack}", "format"),
    ("{type: email, url: 'smtps://m.example.com', from: a@example.com, to: b@example.com, token_env: T}",
     "token_env"),
])
def test_a_field_that_does_not_apply_to_the_channel_type_is_an_error(tmp_path, channel, field, monkeypatch):
    monkeypatch.setenv("PW", "pw-9")
    monkeypatch.setenv("T", "pw-9")
    path = tmp_path / "notify.yml"
    lines = problems(path, f"channels:\n  - {channel}\n")
    assert any(f"channels[0].{field}: not a field of a {channel.split(',')[0][7:].rstrip('}')} channel" in ln
               for ln in lines), lines


@pytest.mark.parametrize("channel, refused", [
    ("{type: email, url: 'smtp://mail.example.com', username: u, password_env: PW, from: a@example.com, "
     "to: b@example.com}", "password_env"),
    ("{type: webhook, url: 'http://siem.example.com/h', token_env: PW}", "token_env"),
    ("{type: email, url: 'smtp://127.0.0.1:2525', username: u, password_env: PW, from: a@example.com, "
     "to: b@example.com}", None),  # this machine: nothing crosses a network
    ("{type: webhook, url: 'http://siem.example.com/h', token_env: PW, allow_plaintext_credentials: true}", None),
    ("{type: webhook, url: 'https://siem.example.com/h', token_env: PW}", None),
])
def test_credentials_in_clear_to_another_host_need_to_be_allowed(tmp_path, monkeypatch, channel, refused):
    monkeypatch.setenv("PW", "pw-9")
    path = tmp_path / "notify.yml"
    path.write_text(f"channels:\n  - {channel}\n")
    if refused is None:
        assert load_notify_config(path).channels
        return
    (line,) = problems(path, f"channels:\n  - {channel}\n")
    assert f"channels[0].{refused}: refused: the connection to " in line and "allow_plaintext_credentials" in line
