"""``fleetsam scan``: run the scan playbook through ansible-runner with live progress, then the
engine on its spool, in this process.

The playbook is the fleetsam.sam collection's ``playbooks/scan.yml``, found in
the checkout's ``collections/`` (``fleetsam`` installed from the repository) or
else on Ansible's configured collections path (a collection installed with
``ansible-galaxy``, as in an execution environment). Inline extra vars are
handed over as private files; the hosts the run targets are those its scanning
plays target, which the collector callback names in a job event.

The collector callback only spools the run (``FLEETSAM_ENGINE=false``), into
a folder of this command's own, so that concurrent scans never take each
other's spool; the spool is then moved to ``SPOOL_DIR/SCAN_ID`` and processed
here, stage by stage on the screen. The engine is imported on the warm-up thread
(``standby.WarmUpThread``), which starts when ansible-runner starts ansible-playbook:
nothing of it is loaded before. When the engine fails (the store went
away, say) the spool is kept and the message says how to process it later;
the exit code is 2, as for every fault. SIGTERM or Ctrl-C while the playbook runs stops
ansible-playbook and its workers (``playbook_stop``) before this command ends, with exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sam_engine.cli.check import add_policy_option
from sam_engine.cli.exit_codes import BadInput, ExitCode
from sam_engine.cli.playbook_stop import ScanStopped, StopSignals, stop_playbook
from sam_engine.cli.scan_progress import Display, HostTally
from sam_engine.cli.scans import env_flag, installations_csv, report_dir_default
from sam_engine.progress import StageProgress
from sam_engine.standby import WarmUpThread
from sam_engine.store import is_server_location, masked, open_store

if TYPE_CHECKING:
    from sam_engine.licensing.context import PreparedCatalogue

REDRAW_SECONDS = 0.25  # terminal bar
LINE_SECONDS = 10.0  # plain lines, at most one per interval


# -- what ansible-runner is given ----------------------------------------------------

COLLECTOR_CALLBACK = "fleetsam.sam.collector"
CHECK_MODE_LINE = "fleetsam: check mode: "  # how the callback's closing line starts after a scan in check mode
PLAYBOOK_IN_COLLECTION = Path("ansible_collections", "fleetsam", "sam", "playbooks", "scan.yml")
# awx_display copies each module result into its job event; the scan needs only the host and the
# task, so results over this many characters are left out of the events (the collector callback
# still gets them whole, in the ansible-playbook process)
EVENT_RESULT_LIMIT = "16384"


def _ansible_config():
    """Ansible's settings as ansible-playbook will read them here (ansible.cfg, ANSIBLE_* variables)."""
    from ansible import constants

    return constants


def find_playbook() -> tuple[Path, Path]:
    """``(playbook, collections folder)``: the fleetsam collection's ``scan.yml`` and the folder to
    put on the collections path so that its role resolves. Raises ``BadInput`` when not installed."""
    checkout = Path(__file__).resolve().parents[2] / "collections"
    places = [checkout, *(Path(p) for p in _ansible_config().COLLECTIONS_PATHS)]
    for place in places:
        root = place.parent if place.name == "ansible_collections" else place
        if (root / PLAYBOOK_IN_COLLECTION).is_file():
            return (root / PLAYBOOK_IN_COLLECTION).resolve(), root
    raise BadInput("the fleetsam.sam collection (its playbooks/scan.yml) is not installed: looked in "
                   + ", ".join(str(p) for p in places) + "; install it with "
                   "'ansible-galaxy collection install fleetsam-sam-*.tar.gz' or run from the checkout")


def _unique(items) -> list[str]:
    return list(dict.fromkeys(str(i) for i in items if str(i)))


def runner_env(collections: Path, spool_parent: Path) -> dict[str, str]:
    """The variables ansible-playbook runs with, beside the caller's environment (which ansible-runner
    passes on): the collection on the collections path, the collector callback enabled but only
    spooling into ``spool_parent`` (this command runs the engine), and host key checking as
    configured (ansible-runner would otherwise turn it off)."""
    config = _ansible_config()
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(_unique([collections, *config.COLLECTIONS_PATHS])),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(_unique([*config.CALLBACKS_ENABLED, COLLECTOR_CALLBACK])),
        "ANSIBLE_HOST_KEY_CHECKING": str(bool(config.HOST_KEY_CHECKING)),
        "FLEETSAM_ENGINE": "false",
        "FLEETSAM_SPOOL_DIR": str(spool_parent),
        "MAX_EVENT_RES": os.environ.get("MAX_EVENT_RES", EVENT_RESULT_LIMIT),
    }
    tools = Path(sys.executable).parent  # the ansible-playbook installed beside fleetsam comes first
    if (tools / "ansible-playbook").exists():
        env["PATH"] = os.pathsep.join([str(tools), os.environ.get("PATH", "")])
    elif not shutil.which("ansible-playbook"):
        raise BadInput("ansible-playbook is not installed (pip install ansible-core)")
    return env


def extra_vars_args(values: list[str], folder: Path) -> list[str]:
    """``-e @FILE`` arguments for the ``-e`` values, in order: inline values are written to files
    only this user can read (``folder``), so that a secret passed with ``-e`` never shows on a
    command line, in a process list or in ansible-runner's artifacts. ``@FILE`` is passed on."""
    from ansible.parsing.splitter import parse_kv

    args: list[str] = []
    for n, value in enumerate(values):
        text = value.strip()
        if text.startswith("@"):
            args += ["-e", value]
            continue
        if not text.startswith(("{", "[")):  # key=value pairs, as ansible-playbook reads them
            pairs = parse_kv(text)
            if "_raw_params" in pairs or not pairs:
                raise BadInput(f"-e {value!r}: expected key=value pairs, a YAML/JSON mapping or @FILE")
            text = json.dumps(pairs)
        path = folder / f"extra-vars-{n}.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        args += ["-e", f"@{path}"]
    return args


# -- the run ---------------------------------------------------------------------------


def _inert(text: str) -> str:
    """Ansible's message fit for a terminal: colours dropped, any other control character shown as U+FFFD."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f\x9b]", "\ufffd", text)


def _run_playbook(args, playbook: Path, env: dict[str, str], work: Path, display: Display,
                  warm: WarmUpThread, stop: StopSignals) -> tuple[int, list[str]]:
    """Run the playbook through ansible-runner, showing progress, and start ``warm`` as ansible-runner
    starts ansible-playbook; ansible-playbook's exit status and its last lines of output (for a run
    that stored nothing)."""
    import ansible_runner

    extra = extra_vars_args(args.extra_vars, work) + (["--check"] if args.check else [])
    tally = HostTally()  # the hosts to scan come from the collector callback's event (no second ansible-playbook)
    cancelled = threading.Event()
    tail: list[str] = []
    playbook_pid: list[int] = []  # from its first job event

    def on_event(event: dict) -> bool:
        if not playbook_pid and isinstance(event.get("pid"), int):
            playbook_pid.append(event["pid"])
        if text := (event.get("stdout") or "").strip():
            tail[:] = [*tail[-19:], text]
        return tally.event(event)

    def on_status(status: dict, runner_config=None) -> None:
        if status.get("status") == "running":  # said just before ansible-runner spawns ansible-playbook
            warm.start()

    if stop.signal_name:  # before ansible-playbook was started: nothing to stop
        raise ScanStopped(stop.signal_name)
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(work), project_dir=os.getcwd(), playbook=str(playbook),
        inventory=args.inventory or None, limit=args.limit, cmdline=shlex.join(extra), forks=args.forks,
        envvars=env, quiet=True, suppress_env_files=True, event_handler=on_event, status_handler=on_status,
        cancel_callback=cancelled.is_set, settings={"suppress_output_file": True})
    while thread.is_alive() and not stop.signal_name:
        display.show(tally.counts(), [_inert(m) for m in tally.messages()])
        thread.join(REDRAW_SECONDS if display.bar else 1.0)
    display.finish(tally.counts(), [_inert(m) for m in tally.messages()])
    if stop.signal_name:
        stop_playbook(lambda: playbook_pid[0] if playbook_pid else None, thread, cancelled)
        raise ScanStopped(stop.signal_name)
    return (runner.rc if runner.rc is not None else 1), [_inert(t) for t in tail]


def _the_spool(parent: Path, spool_dir: Path) -> Path | None:
    """The run's spool, moved from this command's own folder to ``spool_dir/SCAN_ID``; None when
    the callback spooled nothing (no host matched, or ansible-playbook stopped before the play)."""
    runs = [p for p in parent.iterdir() if (p / "run.json").is_file()] if parent.is_dir() else []
    if not runs:
        return None
    final = spool_dir / runs[0].name
    os.replace(runs[0], final)
    return final.resolve()


def cmd_scan(args: argparse.Namespace) -> int:
    playbook, collections = find_playbook()
    if is_server_location(args.store):  # a shared store must answer before the fleet is scanned
        with open_store(args.store, readonly=True):
            pass
    spool_dir = Path(os.environ.get("FLEETSAM_SPOOL_DIR") or ".fleetsam/spool")
    spool_dir.mkdir(parents=True, exist_ok=True)
    bar = {"bar": True, "lines": False}.get(args.progress, sys.stdout.isatty() and os.environ.get("TERM") != "dumb")
    display = Display(sys.stdout, bar, shutil.get_terminal_size().columns, LINE_SECONDS)
    # SIGTERM and Ctrl-C are noted from before the folders exist, so a stop at any moment removes them and
    # stops ansible-playbook before fleetsam ends
    with StopSignals() as stop:
        parent = Path(tempfile.mkdtemp(prefix=".scan-", dir=spool_dir))
        work = Path(tempfile.mkdtemp(prefix="fleetsam-runner-"))  # ansible-runner's private data: 0700, removed
        warm = WarmUpThread(args.store)  # this process only waits on ansible-runner meanwhile
        try:
            rc, tail = _run_playbook(args, playbook, runner_env(collections, parent), work, display, warm, stop)
            spool = _the_spool(parent, spool_dir)
        except (ScanStopped, KeyboardInterrupt) as exc:  # KeyboardInterrupt: Ctrl-C while no ansible-playbook runs
            name = exc.signal_name if isinstance(exc, ScanStopped) else "SIGINT"
            raise BadInput(f"interrupted by {name}: the scan was stopped, ansible-playbook with it; nothing stored, "
                           "its partial spool and private files removed") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(parent, ignore_errors=True)
    dry = [line for line in tail if line.startswith(CHECK_MODE_LINE)] if args.check else []
    if spool is None and dry:  # the callback's closing line: the hosts read, nothing stored
        print(dry[-1].removeprefix("fleetsam: "))
        return ExitCode.OK
    if spool is None:
        for line in tail:
            print(line, file=sys.stderr)
        raise BadInput(f"ansible-playbook exited {rc} and scanned no host (see its output above): nothing stored")
    if json.loads((spool / "run.json").read_text()).get("finished") is None:
        raise BadInput(f"the run stopped before its end (ansible-playbook exited {rc}); what it collected is kept "
                       f"in {spool}")
    return _process(args, spool, display, warm.result())


def _process(args: argparse.Namespace, spool: Path, display: Display, catalogue: PreparedCatalogue | None) -> int:
    from sam_engine.findings import notify  # the engine: loaded by the warm-up thread while the playbook ran

    alerts = notify.AlertSettings.from_env(policy=args.policy, notify=args.notify)
    installations = installations_csv(args)
    try:
        from sam_engine import pipeline

        summary = pipeline.process_spool(spool, store=args.store, report_dir=args.report_dir, alerts=alerts,
                                         installations=installations,
                                         progress=StageProgress(None, on_step=display.stage), catalogue=catalogue)
    except Exception as exc:  # noqa: BLE001 - any engine failure: the scan's data must survive it
        if display.bar:
            print(file=sys.stdout)
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"fleetsam: error: processing the run failed: {text}; the run is kept in {spool}: process it "
              f"with 'fleetsam --store {masked(args.store)} ingest {spool}'", file=sys.stderr)
        if args.debug:
            raise
        return ExitCode.BAD_INPUT
    for line in summary.lines():
        print(line)
    print(f"reports ({len(summary.report_files)} files): {Path(args.report_dir).resolve()}")
    if args.keep_spool or env_flag("FLEETSAM_KEEP_SPOOL", False):
        print(f"the run is kept in {spool}")
    else:
        shutil.rmtree(spool, ignore_errors=True)
    return ExitCode.BAD_INPUT if summary.licence_errors else ExitCode.OK


def register(subparsers) -> None:
    """Add ``scan`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "scan", help="scan the fleet (playbooks/scan.yml through ansible-runner) with live progress, then "
                     "store, reconcile and report",
        description="Run the fleetsam.sam collection's scan playbook through ansible-runner, showing hosts done "
                    "out of the hosts targeted, unreachable and failed hosts, the rate and the time left (a bar "
                    "on a terminal, a line every 10 s otherwise); then store the run, reconcile it and write the "
                    "reports, stage by stage. Extra vars are passed to ansible-playbook in private files, never on "
                    "its command line. When processing fails the run's spool is kept (exit 2).")
    p.add_argument("-i", "--inventory", action="append", default=[],
                   help="inventory file, folder or host list (repeatable; default: ansible.cfg's)")
    p.add_argument("-l", "--limit", help="further limit the hosts, as ansible-playbook --limit")
    p.add_argument("-e", "--extra-vars", action="append", default=[], metavar="VARS",
                   help="key=value pairs, YAML/JSON, or @FILE, as ansible-playbook -e (repeatable; "
                        "-e fleetsam_targets=GROUP scans one group)")
    p.add_argument("-f", "--forks", type=int, help="hosts scanned in parallel (default: ansible.cfg's forks)")
    p.add_argument("--progress", choices=("auto", "bar", "lines"), default="auto",
                   help="a bar redrawn in place, or plain lines (default: a bar on a terminal)")
    p.add_argument("--report-dir", default=report_dir_default(),
                   help="directory the report files are written to (default: %(default)s, env FLEETSAM_REPORT_DIR)")
    add_policy_option(p)
    p.add_argument("--notify", help="notification file (default: env FLEETSAM_NOTIFY; none: nothing is sent)")
    p.add_argument("--no-installations-csv", action="store_true",
                   help="write every report file but installations.csv (env FLEETSAM_INSTALLATIONS_CSV=false)")
    p.add_argument("--keep-spool", action="store_true",
                   help="keep the run's spool after processing it (env FLEETSAM_KEEP_SPOOL)")
    p.add_argument("--check", action="store_true",
                   help="scan in check mode (ansible-playbook --check): the hosts are read, nothing is stored and "
                        "no report is written")
    p.set_defaults(func=cmd_scan)
