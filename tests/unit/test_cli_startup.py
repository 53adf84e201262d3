"""``fleetsam`` starts light: the parser (``--help``, every subcommand's help) loads no engine
module, a subcommand imports what it runs, and ``fleetsam scan`` has loaded none of the engine
when it asks ansible-runner to start ansible-playbook (the warm-up thread imports it then).

Each check runs in a fresh interpreter and reads its ``sys.modules``: a top-level import of the
engine in a CLI module (or in a light module it imports) fails it. Nothing here is timed.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sam_engine.cli import commands
from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.main import main

REPO = Path(__file__).resolve().parents[2]
# what building the parser must not load: the engine, its libraries, Ansible
HEAVY = ("jinja2", "tinydb", "yaml", "psycopg", "ansible", "ansible_runner", "sam_engine.pipeline",
         "sam_engine.licensing", "sam_engine.report", "sam_engine.model", "sam_engine.ingest", "sam_engine.platforms",
         "sam_engine.findings", "sam_engine.entitlements", "sam_engine.auditpack", "sam_engine.export",
         "sam_engine.topology", "sam_engine.store.interface", "sam_engine.store.tinydb_store", "sam_engine.located_yaml")
# what ``fleetsam scan`` must not load before ansible-playbook starts (Ansible loads jinja2 and yaml itself)
ENGINE = tuple(name for name in HEAVY if name.startswith(("sam_engine", "tinydb", "psycopg")))

LOADED = """
import json, sys
from sam_engine.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_by(*argv: str, cwd: Path) -> list[str]:
    """The modules a fresh ``fleetsam ARGV`` has imported by its end (argparse exits on --help)."""
    done = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, cwd=cwd, check=True)
    return json.loads(done.stderr.splitlines()[-1])


def heavy(modules: list[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.mark.parametrize("argv", [["--help"], ["scan", "--help"], ["check", "--help"], ["licence", "add", "--help"],
                                  ["store", "copy", "--help"], ["--version"], ["no-such-command"]])
def test_the_parser_and_every_help_load_no_engine_module(tmp_path, argv):
    modules = loaded_by(*argv, cwd=tmp_path)
    assert "sam_engine.cli.commands" in modules  # the parser was built
    assert heavy(modules) == []


def test_building_the_parser_loads_no_engine_module(tmp_path):
    code = ("import json, sys; from sam_engine.cli import commands; commands.build_parser(); "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert heavy(json.loads(done.stdout)) == []


def test_a_subcommand_imports_what_it_runs_and_no_other_command_s_engine(tmp_path):
    """``fleetsam check`` on a store without scans: the store and the check's engine parts, never the
    audit pack, the HTML report, or the pipeline and ingest it does not run (other commands' work)."""
    store = tmp_path / "db.json"
    assert main(["--store", str(store), "store", "init"]) == ExitCode.OK
    modules = loaded_by("--store", str(store), "check", cwd=tmp_path)
    wanted = {"tinydb", "sam_engine.store.tinydb_store", "sam_engine.store.interface", "sam_engine.findings.policy"}
    assert wanted <= set(modules)
    assert heavy(modules, ("sam_engine.auditpack", "sam_engine.export", "ansible", "jinja2", "sam_engine.pipeline",
                           "sam_engine.report", "sam_engine.ingest.parallel")) == []


SCAN = """
import json, sys
import ansible_runner
from sam_engine.cli.main import main

started = ansible_runner.run_async
seen = []

def run_async(**kwargs):  # what this process holds as it has ansible-runner start ansible-playbook
    seen.append(sorted(sys.modules))
    return started(**kwargs)

ansible_runner.run_async = run_async
code = main(sys.argv[1:])
print(json.dumps({"code": code, "at_start": seen[0], "at_end": sorted(sys.modules)}), file=sys.stderr)
"""


def test_fleetsam_scan_starts_ansible_playbook_before_loading_the_engine(tmp_path):
    """A real scan (one host that refuses the connection, so the run is quick and stores it as unreachable):
    the engine is loaded only after ansible-playbook was asked for, and then it processes the run."""
    (tmp_path / "hosts.ini").write_text("gone ansible_host=127.0.0.250 ansible_port=9 ansible_connection=ssh\n")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    done = subprocess.run([sys.executable, "-c", SCAN, "--store", str(tmp_path / "db.json"), "scan", "-i", "hosts.ini",
                           "--progress", "lines", "--report-dir", str(tmp_path / "reports")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    result = json.loads(done.stderr.splitlines()[-1])
    assert result["code"] == ExitCode.OK, done.stdout + done.stderr
    assert heavy(result["at_start"], ENGINE) == []
    assert "sam_engine.pipeline" in result["at_end"] and "hosts ok=0 unreachable=1" in done.stdout
    assert (tmp_path / "reports" / "index.html").is_file()


@pytest.mark.parametrize("kinds", [commands.BAD_INPUT, commands.LOCATED])
def test_the_bad_input_errors_are_named_where_they_are_defined(kinds):
    """``commands.run`` finds them by (module, class); a renamed or moved class must fail here."""
    for module, name in kinds:
        kind = getattr(importlib.import_module(module), name)
        assert isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == module


def test_an_engine_import_that_fails_in_a_command_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sam_engine.licensing.context", None)  # a broken install: the import fails
    code = main(["--store", str(tmp_path / "db.json"), "check"])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT and len(err.splitlines()) == 1
    assert err.startswith("fleetsam: error: ModuleNotFoundError: import of sam_engine.licensing.context halted")
    assert err.endswith("; run with --debug for the traceback\n")


def test_bad_input_from_a_module_the_command_loaded_keeps_its_message(tmp_path, capsys):
    """The store's error class is loaded by the command itself, after the parser: still bad input, exit 2."""
    code = main(["--store", str(tmp_path / "none.json"), "scans"])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert err == f"fleetsam: error: {tmp_path / 'none.json'}: no store here (run a scan or fleetsam ingest first)\n"
