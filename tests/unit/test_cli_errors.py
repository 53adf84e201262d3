"""The command line never lies with its exit code: faults exit 2 with one line, reading commands
create no store, an unknown scan id is named, every subcommand and option has a help text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml

from fleet_spools import BASH, TEAMVIEWER, Host, store_run
from sam_engine.cli import commands
from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.main import main
from sam_engine.licensing import metric_rules
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]
HINT = "; run with --debug for the traceback"


@pytest.fixture
def store(tmp_path):
    """A store with two scans, s1 and s2."""
    location = str(tmp_path / "db.json")
    store_run(tmp_path, location, "s1", {"web1": Host(("web",), (BASH,))}, when="2026-06-29T01:00:00Z")
    store_run(tmp_path, location, "s2", {"web1": Host(("web",), (BASH, TEAMVIEWER))})
    return location


def fleetsam(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- 1. a fault exits 2 with one line ---------------------------------------------------------

FAULTY = {
    "check": ["check", "--as-of", "2026-06-30"],
    "position": ["position", "--as-of", "2026-06-30"],
    "report": ["report"],
}


@pytest.fixture
def broken_install(monkeypatch, tmp_path):
    """Reading the shipped rule data fails in a way no input explains (an install or I/O fault)."""
    def fault(*args, **kwargs):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(metric_rules, "load_core_factors", fault)
    monkeypatch.chdir(tmp_path)  # no licences/ or policy.yml of the checkout


@pytest.mark.parametrize("command", FAULTY)
def test_a_fault_is_one_line_and_exit_2(store, broken_install, capsys, tmp_path, command):
    code, _, err = fleetsam(capsys, "--store", store, *FAULTY[command], *(
        ["--report-dir", str(tmp_path / "reports")] if command == "report" else []))
    assert code == ExitCode.BAD_INPUT
    assert err == f"fleetsam: error: RuntimeError: injected fault{HINT}\n"


def test_missing_shipped_data_is_located_and_exit_2(store, monkeypatch, capsys, tmp_path):
    """An install that did not ship the rule data: each missing file named, exit 2, never 1."""
    monkeypatch.setattr(metric_rules, "RULES_DIR", tmp_path / "nowhere" / "catalogue" / "metrics")
    monkeypatch.chdir(tmp_path)
    code, _, err = fleetsam(capsys, "--store", store, "check")
    assert code == ExitCode.BAD_INPUT
    assert "catalogue/metrics/core_factors.yml: error: cannot read" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_adds_the_traceback(store, broken_install, capsys, where):
    args = ["--debug", "check"] if where == "before" else ["check", "--debug"]
    code, _, err = fleetsam(capsys, "--store", store, *args)
    assert code == ExitCode.BAD_INPUT
    assert err.startswith("Traceback (most recent call last):") and "metric_rules.py" in err
    assert err.endswith(f"injected fault{HINT}\n")


def test_a_fault_while_loading_the_commands_is_caught_too(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sam_engine.cli.commands", None)  # the import fails
    code, _, err = fleetsam(capsys, "scans")
    assert code == ExitCode.BAD_INPUT and len(err.splitlines()) == 1
    assert err.startswith("fleetsam: error: ModuleNotFoundError: import of sam_engine.cli.commands halted")


def test_an_unexpected_bug_is_not_bad_input(store, monkeypatch, capsys):
    """A KeyError from a bug gets the --debug hint (it is not a message for the user to act on)."""
    def bug(*args, **kwargs):
        raise KeyError("hosts")
    monkeypatch.setattr("sam_engine.store.interface.load_fleet", bug)  # what fleetsam hosts reads the fleet with
    code, _, err = fleetsam(capsys, "--store", store, "hosts")
    assert (code, err) == (ExitCode.BAD_INPUT, f"fleetsam: error: KeyError: 'hosts'{HINT}\n")


# --- 2. exit codes defined once ---------------------------------------------------------------


def test_exit_codes_and_the_enforce_playbook_agree():
    assert [(c.name, c.value) for c in ExitCode] == [("OK", 0), ("VIOLATIONS", 1), ("BAD_INPUT", 2),
                                                      ("OUTPUT_CLOSED", 141)]
    (play,) = yaml.safe_load((REPO / "playbooks" / "enforce.yml").read_text())
    check = next(t for t in play["tasks"] if t.get("register") == "fleetsam_check")
    verdict = next(t for t in play["tasks"] if "ansible.builtin.assert" in t)
    assert check["failed_when"] == f"fleetsam_check.rc not in [{ExitCode.OK.value}, {ExitCode.VIOLATIONS.value}]"
    assert verdict["ansible.builtin.assert"]["that"] == f"fleetsam_check.rc == {ExitCode.OK.value}"


def test_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:\n  0  done" in out and "\n  1  check: the policy was violated" in out


# --- 3. reading commands never create a store --------------------------------------------------

READING = {
    "scans": ["scans"],
    "hosts": ["hosts"],
    "position": ["position"],
    "check": ["check"],
    "report": ["report", "--report-dir", "reports"],
    "diff": ["diff"],
    "audit-pack": ["audit-pack", "--publisher", "Oracle", "--out", "pack.zip"],
    "licence list": ["licence", "list"],
    "licence show": ["licence", "show", "ent-1"],
    "licence remove": ["licence", "remove", "ent-1"],
}


@pytest.mark.parametrize("command", READING)
def test_reading_commands_never_create_a_store(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    code, out, err = fleetsam(capsys, "--store", "typo.json", *READING[command])
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == "fleetsam: error: typo.json: no store here (run a scan or fleetsam ingest first)\n"
    assert list(tmp_path.iterdir()) == []


def test_an_ingest_of_a_spool_without_results_leaves_no_store_behind(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spool").mkdir()
    code, out, err = fleetsam(capsys, "--store", "st/fleet.json", "ingest", "spool")
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == "fleetsam: error: spool/hosts: missing: the spool holds no host results; nothing was stored\n"
    assert list(tmp_path.iterdir()) == [tmp_path / "spool"]  # neither the store's folder nor its lock file


@pytest.mark.parametrize("command", ["scans", "hosts"])
def test_a_store_location_that_is_a_directory_is_named(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "st.json").mkdir()
    code, out, err = fleetsam(capsys, "--store", "st.json", command)
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == "fleetsam: error: st.json: is a directory; a store is a file (e.g. st.json/fleetsam.json)\n"


def test_licence_validate_reads_the_files_without_a_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "licences").mkdir()
    code, out, _ = fleetsam(capsys, "--store", "typo.json", "licence", "validate")
    assert (code, out) == (ExitCode.OK, "0 entitlements in 0 licence files, no errors\n")
    assert list(tmp_path.iterdir()) == [tmp_path / "licences"]


# --- 4. an unknown scan id is named ------------------------------------------------------------

SCAN_ARGUMENTS = {
    "hosts": ["hosts", "--scan", "nope"],
    "report": ["report", "--scan", "nope", "--report-dir", "reports"],
    "audit-pack": ["audit-pack", "--scan", "nope", "--publisher", "TeamViewer", "--out", "pack.zip"],
    "diff one": ["diff", "nope"],
    "diff first": ["diff", "nope", "s2"],
    "diff second": ["diff", "s1", "nope"],
}


@pytest.mark.parametrize("command", SCAN_ARGUMENTS)
def test_an_unknown_scan_id_is_named(store, tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    code, out, err = fleetsam(capsys, "--store", store, *SCAN_ARGUMENTS[command])
    assert (code, out) == (ExitCode.BAD_INPUT, "")
    assert err == f'fleetsam: error: {store}: no scan with id "nope"; fleetsam scans lists them\n'
    assert not (tmp_path / "reports").exists() and not (tmp_path / "pack.zip").exists()


def test_a_known_scan_id_and_an_empty_store(store, tmp_path, capsys):
    code, out, _ = fleetsam(capsys, "--store", store, "hosts", "--scan", "s1", "--format", "json")
    assert code == ExitCode.OK and '"host": "web1"' in out
    empty = str(tmp_path / "empty.json")
    with open_store(empty):
        pass
    code, _, err = fleetsam(capsys, "--store", empty, "hosts", "--scan", "s1")
    assert (code, err) == (ExitCode.BAD_INPUT,
                           f"fleetsam: error: {empty}: no scan stored (run a scan or fleetsam ingest first)\n")


# --- 6. help texts ------------------------------------------------------------------------------


def every_parser():
    parser = commands.build_parser()
    return [("fleetsam", parser)] + [(p.prog, p) for p in commands._all_subparsers(parser)]


@pytest.mark.parametrize("prog, parser", every_parser(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_subcommand_and_option_says_what_it_does(prog, parser):
    assert parser.description and len(parser.description) > 20, prog
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
            continue
        assert action.help and action.help != argparse.SUPPRESS, f"{prog} {action.option_strings or action.dest}"
    text = parser.format_help()
    assert "``" not in text and ":class:" not in text, prog


def test_check_help_is_plain_text(capsys):
    with pytest.raises(SystemExit) as done:
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "`" not in out and "exit codes:\n  0  no violations" in out and "--format {text,junit,markdown}" in out


def test_a_reader_that_goes_away_ends_the_command_quietly(store):
    """``fleetsam position --format csv | head -1``: no error line, no traceback, 128 + SIGPIPE as cat
    or grep give, never 1 (violations) or 2 (a fault)."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-m", "sam_engine.cli.main", "--store", store, "position",
                             "--format", "csv", "--all", "--licences", str(REPO / "examples" / "licences")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()  # the reader is gone before the command writes a line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == ExitCode.OUTPUT_CLOSED == 141
    assert err == "", err


@pytest.mark.parametrize("table, scan_id, field, value, says", [
    ("host_scans", "s2", "status", "weird", "db.json: scan 's2', host 'web1': status: expected one of ok, "
                                            "unreachable, failed, got 'weird'"),
    ("scans", "s1", "finished", 20260629, "db.json: scan 's1': finished: expected text, got 20260629"),
])
def test_a_store_edited_by_hand_is_named_and_left_as_it_is(store, tmp_path, capsys, table, scan_id, field, value,
                                                           says):
    """A value of the wrong type in a stored record: every command names the file, the record and the field
    and exits 2; an ingest stores nothing (the file is byte for byte the same)."""
    import json

    doc = json.loads(Path(store).read_text())
    record = next(r for r in doc[table].values() if r["scan_id"] == scan_id)
    record[field] = value
    Path(store).write_text(json.dumps(doc))
    before = Path(store).read_bytes()
    for argv in (["hosts"], ["position"], ["check"], ["report", "--report-dir", str(tmp_path / "r")], ["diff"]):
        assert main(["--store", store, *argv]) == ExitCode.BAD_INPUT, argv
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (argv, err)
    from fleet_spools import write_run

    spool = write_run(tmp_path, "s3", {"web1": Host(("web",), (BASH,))})
    assert main(["--store", store, "ingest", str(spool), "--report-dir", str(tmp_path / "r")]) == ExitCode.BAD_INPUT
    assert says in capsys.readouterr().err
    assert Path(store).read_bytes() == before


# --- 7. fleetsam report takes the policy as ingest, scan and check do ----------------------------


def test_report_computes_the_findings_under_the_policy_check_uses_and_names_it(store, tmp_path, monkeypatch,
                                                                                 capsys):
    """Written again from the store, a report keeps the policy's violations: --policy, else FLEETSAM_POLICY,
    else the built-in defaults; the page and summary.md name it, a hostile file name inert."""
    import json

    monkeypatch.chdir(tmp_path)  # no ./policy.yml
    monkeypatch.delenv("FLEETSAM_POLICY", raising=False)
    policy = tmp_path / "deny <b>x\x1b[31m\u202e.yml"
    policy.write_text("version: 1\nprohibited:\n  - product: TeamViewer\n    reason: not approved\n")

    def report(*args):
        out = tmp_path / f"r{len(list(tmp_path.glob('r*')))}"
        assert main(["--store", store, "report", "--as-of", "2026-06-30", "--report-dir", str(out), *args]) == 0
        capsys.readouterr()
        html = (out / "index.html").read_text(encoding="utf-8")
        return (json.loads((out / "report.json").read_text(encoding="utf-8")),
                html[html.index("<header"):html.index("</header>")], (out / "summary.md").read_text(encoding="utf-8"))

    for named in (("--policy", str(policy)), ()):
        if not named:
            monkeypatch.setenv("FLEETSAM_POLICY", str(policy))
        built, header, summary = report(*named)
        assert "prohibited" in [f["type"] for f in built["findings"] if f["violation"]], named
        assert built["policy"] == str(policy)
        assert f'policy <code class="wrap">{tmp_path}/deny &lt;b&gt;x\ufffd[31m\ufffd.yml</code>' in header
        assert f"policy `{tmp_path}/deny <b>x" in summary
        assert not {"\x1b", "\u202e"} & set(header + summary)
    monkeypatch.delenv("FLEETSAM_POLICY")
    built, header, summary = report()
    assert built["policy"] == "built-in defaults" and "prohibited" not in [f["type"] for f in built["findings"]]
    assert 'policy <code class="wrap">built-in defaults</code>' in header and "policy `built-in defaults`" in summary

    subcommands = {p.prog.split()[-1]: p for p in commands._all_subparsers(commands.build_parser())}
    options = [next(a for a in subcommands[name]._actions if "--policy" in a.option_strings)
               for name in ("report", "check", "ingest", "scan")]
    assert len({(a.dest, a.default, a.help) for a in options}) == 1


def test_report_with_an_unreadable_policy_is_a_fault_not_a_report_under_the_defaults(tmp_path, capsys):
    """As for check: a policy named but unreadable exits 2 before any report is written."""
    bad = tmp_path / "nothere.yml"
    assert main(["--store", str(tmp_path / "db.json"), "report", "--policy", str(bad),
                 "--report-dir", str(tmp_path / "r")]) == 2
    assert "nothere.yml" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_hosts_takes_the_policy_check_and_report_take(tmp_path, capsys):
    """fleetsam hosts --policy: the policy's stale_days decide which hosts are stale; an unreadable one exits 2."""
    bad = tmp_path / "nothere.yml"
    assert main(["--store", str(tmp_path / "db.json"), "hosts", "--policy", str(bad)]) == 2
    assert "nothere.yml" in capsys.readouterr().err
