"""policy.yml and notify.yml: located errors for bad input; `fleetsam check` and its exit codes."""

import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest

from fleet_spools import BASH, TEAMVIEWER, Host, store_run
from sam_engine.cli import main as cli
from sam_engine.located_yaml import ConfigError
from sam_engine.findings.notify_config import load_notify_config
from sam_engine.findings.policy import Policy, load_policy

REPO = Path(__file__).resolve().parents[2]


def errors_of(loader, path, *args):
    with pytest.raises(ConfigError) as caught:
        loader(path, *args)
    return str(caught.value).splitlines()


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- policy.yml ---------------------------------------------------------------------------------


def test_example_policy_loads():
    policy = load_policy(REPO / "examples" / "policy.yml")
    assert policy.fail_on == ("under-licensed", "unlicensed", "prohibited")
    assert (policy.expiring_days, policy.stale_days, policy.shelfware_ratio) == (30, 7, Decimal(2))
    teamviewer = policy.prohibited[0]
    assert teamviewer.product == "TeamViewer" and teamviewer.allow_groups == ("helpdesk",)
    assert teamviewer.origin.endswith("policy.yml:32:5") or ":" in teamviewer.origin
    assert load_policy(None) == Policy()


@pytest.mark.parametrize("text, expected", [
    ("fail_on: [prohibited, licence-expired]\n",
     'p.yml:1:23: fail_on[1]: expected one of under-licensed, unlicensed, prohibited, expiring, shelfware, '
     'stale-host, topology-unknown, got "licence-expired"'),
    ("thresholds:\n  stale_days: a week\n", 'p.yml:2:15: thresholds.stale_days: expected a whole number >= 0, '
                                             'got "a week"'),
    ("thresholds:\n  shelfware_ratio: lots\n", 'p.yml:2:20: thresholds.shelfware_ratio: expected a number >= 1, '
                                               'got "lots"'),
    ("thresholds:\n  expiring_days: -3\n", 'p.yml:2:18: thresholds.expiring_days: expected a whole number >= 0'),
    ("thresholds:\n  stale_dayz: 3\n", "p.yml:2:3: thresholds.stale_dayz: unknown field; expected one of"),
    ("prohibited:\n  - reason: why\n", "p.yml:2:5: prohibited[0]: expected a product or a publisher to deny"),
    ("prohibited:\n  - product: X\n    severity: urgent\n",
     'p.yml:3:15: prohibited[0].severity: expected one of info, low, medium, high, critical, got "urgent"'),
    ("severity:\n  shelf: low\n", "p.yml:2:3: severity.shelf: unknown field"),
    ("fail_on: [prohibited\n", "p.yml:2:1: not valid YAML"),
    ("- just a list\n", "p.yml:1:1: (top level): expected a mapping, got a list"),
    ("thresholds:\n  stale_days: 3\n  stale_days: 4\n", "p.yml:3:3: thresholds.stale_days: given twice (first at "),
    ("fail_on: under-licensed\n", 'p.yml:1:10: fail_on: expected a list, got "under-licensed"'),
])
def test_policy_mistakes_are_located(tmp_path, text, expected):
    path = write(tmp_path, "p.yml", text)
    (line,) = errors_of(load_policy, path)
    assert line.startswith(str(tmp_path / expected.split(":")[0]))
    assert line.endswith(expected.split("p.yml", 1)[1]) or expected.split("p.yml", 1)[1] in line


def test_every_policy_mistake_is_reported_in_file_order(tmp_path):
    path = write(tmp_path, "p.yml", "thresholds:\n  stale_days: x\n  expiring_days: y\nfail_on: [nope]\n")
    lines = errors_of(load_policy, path)
    assert [ln.split(":")[1] for ln in lines] == ["2", "3", "4"]


# --- notify.yml ---------------------------------------------------------------------------------

EMAIL = "  - type: email\n    url: {url}\n    from: fleetsam@example.com\n    to: [a@example.com, b@example.com]\n"


@pytest.mark.parametrize("text, expected", [
    ("channels:\n" + EMAIL.format(url="smtp//mail.example.com"),
     'n.yml:3:10: channels[0].url: expected smtp://HOST[:PORT], smtps://HOST[:PORT] or smtp+starttls://HOST[:PORT], '
     'got <hidden: 22 characters>'),
    ("channels:\n" + EMAIL.format(url="smtp://mail.example.com:25x"), "n.yml:3:10: channels[0].url: expected smtp://"),
    ("channels:\n" + EMAIL.format(url="http://mail.example.com"), "n.yml:3:10: channels[0].url: expected smtp://"),
    ("channels:\n" + EMAIL.format(url="smtps://bob:hunter2@mail.example.com"),
     "n.yml:3:10: channels[0].url: expected no credentials in the URL"),
    ("channels:\n  - type: webhook\n    url: hooks.example.com/x\n",
     'n.yml:3:10: channels[0].url: expected an http:// or https:// URL with a host, got <hidden: 19 characters>'),
    ("channels:\n  - type: webhook\n    url: https://x.example/h\n    format: discord\n",
     'n.yml:4:13: channels[0].format: expected one of json, slack, teams, got "discord"'),
    ("channels:\n  - type: webhook\n    url_env: FLEETSAM_TEST_UNSET_VARIABLE\n",
     "n.yml:3:14: channels[0].url_env: expected the name of a set environment variable"),
    ("channels:\n  - type: pager\n", 'n.yml:2:11: channels[0].type: expected one of email, webhook, terminal'),
    ("timeout: soon\nchannels: []\n", 'n.yml:1:10: timeout: expected a number >= 1, got "soon"'),
    ("channels:\n  - type: terminal\n  - type: terminal\n", 'n.yml:3:5: channels[1].name: "terminal" is used'),
    ("channels:\n  - name: ops\n", "n.yml:2:5: channels[0].type: required: one of email, webhook, terminal"),
    ("channels:\n  - type: terminal\n    type: webhook\n", "n.yml:3:5: channels[0].type: given twice (first at "),
    ("channels: [\n", "n.yml:2:1: not valid YAML: "),
])
def test_notify_mistakes_are_located(tmp_path, text, expected):
    path = write(tmp_path, "n.yml", text)
    lines = errors_of(load_notify_config, path)
    assert any(ln.startswith(str(tmp_path / "n.yml") + expected.split("n.yml", 1)[1][:6]) and
               expected.split("n.yml", 1)[1] in ln for ln in lines), lines


def test_webhook_url_from_environment_is_checked_but_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "hooks.example.com/T000/B000/sekrit-token")
    path = write(tmp_path, "n.yml", "channels:\n  - type: webhook\n    url_env: HOOK_URL\n")
    (line,) = errors_of(load_notify_config, path)
    assert "url_env: expected an http:// or https:// URL" in line and "sekrit" not in line


def test_secrets_come_from_the_caller_before_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", "from-env")
    path = write(tmp_path, "n.yml", "channels:\n" + EMAIL.format(url="smtp+starttls://mail.example.com")
                 + "    username: fleetsam\n    password_env: SMTP_PASSWORD\n")
    (channel,) = load_notify_config(path, {"SMTP_PASSWORD": "from-callback"}).channels
    assert (channel.host, channel.port, channel.security) == ("mail.example.com", 587, "starttls")
    assert channel.password == "from-callback" and channel.recipients == ("a@example.com", "b@example.com")
    assert "from-callback" not in repr(channel) and "from-callback" not in channel.display
    assert channel.mask("535 auth failed for from-callback") == "535 auth failed for ***"


def test_example_notify_file_loads_with_its_secrets_set(monkeypatch):
    for name in ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL", "SIEM_TOKEN"):
        monkeypatch.setenv(name, f"https://example.com/{name.lower()}")
    config = load_notify_config(REPO / "examples" / "notify.example.yml")
    assert [(c.name, c.type, c.format) for c in config.channels] == [
        ("sam-team", "email", "json"), ("slack", "webhook", "slack"), ("teams", "webhook", "teams"),
        ("siem", "webhook", "json"), ("terminal", "terminal", "json")]


# --- fleetsam check -----------------------------------------------------------------------------


@pytest.fixture
def fleet_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "licences").mkdir()
    monkeypatch.setenv("FLEETSAM_LICENCES", str(tmp_path / "licences"))
    monkeypatch.delenv("FLEETSAM_POLICY", raising=False)

    def make(*hosts_per_run):
        store = str(tmp_path / "db.json")
        for n, hosts in enumerate(hosts_per_run):
            store_run(tmp_path, store, f"s{n + 1}", hosts)
        return store
    return make


def check(store, *args):
    return cli.main(["--store", store, "check", "--policy", str(REPO / "examples" / "policy.yml"), "--as-of", "2026-06-30",
                     *args])


def test_check_clean_fleet_exits_0(fleet_store, capsys):
    store = fleet_store({"web1": Host(("web",), (BASH,)), "desk1": Host(("helpdesk",), (BASH,))})
    assert check(store) == 0
    assert "fleetsam check: no violations (0 other findings)" in capsys.readouterr().out


def test_check_violations_exit_1_in_every_format(fleet_store, capsys, tmp_path):
    store = fleet_store({"web1": Host(("web",), (BASH, TEAMVIEWER))})
    assert check(store) == 1
    out = capsys.readouterr().out
    assert "FAIL  high     prohibited" in out and "TeamViewer: prohibited software on 1 host" in out
    assert "fleetsam check: 2 violations" in out
    assert check(store, "--format", "junit", "--output", str(tmp_path / "junit.xml")) == 1
    assert "junit written to" in capsys.readouterr().out
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert suites.get("failures") == "2"
    failing = {s.get("name") for s in suites if s.get("failures") != "0"}
    assert failing == {"fleetsam.prohibited", "fleetsam.unlicensed"}
    assert check(store, "--format", "markdown") == 1
    markdown = capsys.readouterr().out
    assert markdown.startswith("## fleetsam check: 2 violations") and "| :x: | high | prohibited |" in markdown


def test_check_allowed_group_is_clean_for_prohibited_but_not_for_licences(fleet_store, capsys):
    store = fleet_store({"desk1": Host(("helpdesk",), (TEAMVIEWER,))})
    assert check(store) == 1
    out = capsys.readouterr().out
    assert "prohibited" not in out.split("fleetsam check")[0] and "unlicensed" in out


@pytest.mark.parametrize("case", ["bad-policy", "bad-notify", "no-scan", "bad-date"])
def test_check_bad_input_exits_2_with_a_located_message(fleet_store, capsys, tmp_path, case, monkeypatch):
    store = fleet_store({"web1": Host(("web",), (BASH,))}) if case != "no-scan" else str(tmp_path / "none.json")
    if case == "bad-policy":
        write(tmp_path, "bad.yml", "thresholds:\n  stale_days: a week\n")
        code = cli.main(["--store", store, "check", "--policy", str(tmp_path / "bad.yml")])
        expected = f"{tmp_path / 'bad.yml'}:2:15: thresholds.stale_days: expected a whole number"
    elif case == "bad-notify":
        write(tmp_path, "n.yml", "channels:\n" + EMAIL.format(url="smtp//x"))
        code = check(store, "--notify", str(tmp_path / "n.yml"))
        expected = f"{tmp_path / 'n.yml'}:3:10: channels[0].url: expected smtp://"
    elif case == "no-scan":
        code, expected = check(store), "none.json: no store here"
    else:
        code = cli.main(["--store", store, "check", "--as-of", "30/06/2026"])
        expected = "--as-of '30/06/2026': expected YYYY-MM-DD"
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err


def test_check_reads_policy_from_environment(fleet_store, capsys, tmp_path, monkeypatch):
    store = fleet_store({"web1": Host(("web",), (BASH, TEAMVIEWER))})
    write(tmp_path, "lenient.yml", json.dumps({"fail_on": []}))
    monkeypatch.setenv("FLEETSAM_POLICY", str(tmp_path / "lenient.yml"))
    # the day after the scan: by today the host may be past retire_days and out of the position
    assert cli.main(["--store", store, "check", "--as-of", "2026-07-01"]) == 0
    assert "no violations (1 other finding)" in capsys.readouterr().out


# --- what check reconciles: the licence data as every reconciling command reads it; the fleet it judges -----

TV_FILE = "entitlements:\n  - publisher: TeamViewer\n    product: TeamViewer\n    metric: device\n    quantity: 1\n"


def test_an_entitlement_stored_and_in_a_licence_file_counts_once_and_is_a_licence_data_error(fleet_store, capsys,
                                                                                               tmp_path):
    import datetime as dt

    from sam_engine.licensing.context import LicenceSettings, load_context, position_of
    from sam_engine.store import open_store

    store = fleet_store({"desk1": Host(("helpdesk",), (TEAMVIEWER,)), "desk2": Host(("helpdesk",), (TEAMVIEWER,))})
    assert cli.main(["--store", store, "licence", "add", "--publisher", "TeamViewer", "--product", "TeamViewer",
                     "--metric", "device", "--quantity", "1"]) == 0
    ent_id = capsys.readouterr().out.split()[-1]
    (tmp_path / "licences" / "tv.yml").write_text(TV_FILE)
    twice = (f"cli: error: the same entitlement is already in {tmp_path / 'licences' / 'tv.yml'}:2 ({ent_id}); "
             "keep only one of them")
    for argv in (["check"], ["position"]):  # a licence data error: exit 2, as for a rejected licence file
        assert cli.main(["--store", store, *argv, "--as-of", "2026-06-30"]) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and twice in err, argv
    with open_store(store, create=False) as st:
        stored, fleet = st.entitlements(), st.load_scan()
    ctx = load_context(LicenceSettings.from_env(), dt.date(2026, 6, 30), stored)
    assert [e.origin for e in ctx.entitlements] == ["cli"] and ctx.has_errors
    (teamviewer,) = [p for p in position_of(fleet.hosts, ctx) if p.product == "TeamViewer"]
    assert (teamviewer.consumption.quantity, teamviewer.owned) == (2, 1)  # owned once, not twice


@pytest.mark.parametrize("named_by", ["--licences", "FLEETSAM_LICENCES"])
def test_a_licences_directory_named_but_missing_stops_every_reconciling_command(fleet_store, capsys, tmp_path,
                                                                                 monkeypatch, named_by):
    from fleet_spools import write_run

    store = fleet_store({"web1": Host(("web",), (BASH, TEAMVIEWER))})
    missing = tmp_path / "no" / "licences"
    monkeypatch.setenv("FLEETSAM_LICENCES", str(missing if named_by == "FLEETSAM_LICENCES" else tmp_path))
    option = ["--licences", str(missing)] if named_by == "--licences" else []
    says = (f"{missing}: error: the licence files directory (named by {named_by}) does not exist: expected a "
            "directory of licence files\n")
    for argv in (["check", "--as-of", "2026-06-30"], ["position", "--as-of", "2026-06-30"]):
        assert cli.main(["--store", store, *argv, *option]) == 2, argv  # not 1: nothing was judged
        assert capsys.readouterr() == ("", says), argv
    if named_by == "FLEETSAM_LICENCES":  # what the callback and fleetsam ingest read
        spool = write_run(tmp_path, "s2", {"web1": Host(("web",), (BASH,))})
        assert cli.main(["--store", store, "ingest", str(spool), "--report-dir", str(tmp_path / "r")]) == 2
        assert says in capsys.readouterr().out  # the run's closing lines


def test_the_default_licences_directory_absent_is_no_licence_file(fleet_store, capsys, tmp_path, monkeypatch):
    store = fleet_store({"web1": Host(("web",), (BASH,))})
    monkeypatch.delenv("FLEETSAM_LICENCES")
    (tmp_path / "licences").rmdir()  # ./licences, the default when nothing names one
    assert check(store) == 0
    out, err = capsys.readouterr()
    assert err == "" and "no violations" in out


def test_check_of_a_fleet_every_host_aged_out_of_exits_2_as_a_store_without_scan(fleet_store, capsys, tmp_path):
    from sam_engine.store import open_store

    store = fleet_store({"web1": Host(("web",), (BASH,)), "web2": Host(("web",), (BASH,))})  # finished 2026-06-30
    assert check(store, "--as-of", "2026-10-01") == 2
    assert capsys.readouterr() == ("", "fleetsam check: error: no host to check on 2026-10-01: each of the fleet's "
                                       "2 hosts was last inventoried 90 days or more before (the policy's "
                                       "retire_days), the newest on 2026-06-30; run a scan, or check an earlier day "
                                       "with --as-of\n")
    assert cli.main(["--store", store, "check"]) == 2  # today: long after 2026-06-30 too
    assert "no host to check on" in capsys.readouterr().err
    with open_store(str(tmp_path / "empty.json")):
        pass
    assert cli.main(["--store", str(tmp_path / "empty.json"), "check"]) == 2
    assert "no scan stored" in capsys.readouterr().err


def test_check_says_when_every_host_of_the_fleet_is_stale(fleet_store, capsys, tmp_path):
    store = fleet_store({"web1": Host(("web",), (BASH,)), "web2": Host(("web",), (BASH,))})
    note = ("every host of the fleet (2) is stale (2 last inventoried 7 days or more before 2026-07-10), the newest "
            "inventory on 2026-06-30; the findings judged their last inventories: run a scan")
    assert check(store, "--as-of", "2026-07-10") == 0  # stale-host findings are not in fail_on
    assert f"fleetsam check: warning: {note}\nfleetsam check: no violations (2 other findings)" in capsys.readouterr().out
    assert check(store, "--as-of", "2026-07-10", "--format", "markdown") == 0
    assert f"**Warning:** {note.replace('_', chr(92) + '_')}" in capsys.readouterr().out
    assert check(store, "--as-of", "2026-07-10", "--format", "junit", "--output", str(tmp_path / "j.xml")) == 0
    assert f"fleetsam check: warning: {note}\n" in capsys.readouterr().out
    properties = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "j.xml").getroot().iter("property")}
    assert properties["warning"] == note
    store_run(tmp_path, store, "s2", {"web1": Host(("web",), (BASH,))}, when="2026-07-09T01:00:00Z")
    assert check(store, "--as-of", "2026-07-10") == 0
    assert "every host" not in capsys.readouterr().out  # web1 is fresh
