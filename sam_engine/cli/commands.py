"""Every ``fleetsam`` subcommand on one parser, and how their bad-input errors are reported.

``cli.main`` imports this module only inside its fault boundary, so even an
import that fails here (a broken install) exits 2 with one line.

Building the parser loads argparse and the light modules only (``fleetsam
--help`` answers at once, ``fleetsam scan`` starts ansible-playbook sooner): each
subcommand imports the engine parts it runs, within that same boundary.
"""

from __future__ import annotations

import argparse
import os
import sys

from sam_engine import __version__
from sam_engine.cli import check, evidence, export, licence, notify, position, scan, scans, stores
from sam_engine.cli.exit_codes import ExitCode, describe
from sam_engine.cli import DEBUG_FLAGS
from sam_engine.store import normalised

DEBUG_HELP = "on an unexpected error, also print the Python traceback"

# Errors that are the user's input, not a fault, as (module, class): their message says what to fix, no
# traceback helps. LOCATED ones already start with file:line:col: field.
BAD_INPUT = (("sam_engine.store.interface", "StoreError"), ("sam_engine.ingest.spool_json", "SpoolError"),
             ("sam_engine.store.interface", "ScanNotFound"), ("sam_engine.store.interface", "HostNotFound"),
             ("sam_engine.auditpack.pack", "PackError"), ("sam_engine.cli.exit_codes", "BadInput"))
LOCATED = (("sam_engine.entitlements.schema", "ValidationFailed"), ("sam_engine.located_yaml", "ConfigError"))


def raised_as(exc: BaseException, kinds: tuple[tuple[str, str], ...]) -> bool:
    """Whether ``exc`` is of one of ``kinds``. Only modules already imported are looked at: an exception
    of a class whose module was never imported cannot have been raised, and an error is no time to
    load the engine."""
    for module, name in kinds:
        kind = getattr(sys.modules.get(module), name, None)
        if kind is not None and isinstance(exc, kind):
            return True
    return False


def _store_default() -> str:
    return os.environ.get("FLEETSAM_STORE", ".fleetsam/fleetsam.json")


def _store_location(text: str) -> str:
    """``--store`` (or FLEETSAM_STORE) checked once for every command: its scheme in lower case, or exit 2."""
    try:
        return normalised(text)
    except ValueError as exc:  # argparse names the option; the message masks any password
        raise argparse.ArgumentTypeError(str(exc)) from None


def _all_subparsers(parser: argparse.ArgumentParser):
    """Every subcommand parser under ``parser``, nested ones (``licence add``) included, once each."""
    seen: set[int] = set()
    for action in parser._actions:  # argparse has no public walk over subparsers
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) not in seen:  # an alias (licence/license) maps to the same parser
                    seen.add(id(sub))
                    yield sub
                    yield from _all_subparsers(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetsam", description="Agentless software asset management: the "
                                     "stored scans, the licence position,\npolicy checks and audit evidence.",
                                     epilog=describe(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fleetsam {__version__}")
    parser.add_argument("--store", default=_store_default(), type=_store_location,
                        help="store location (default: %(default)s, env FLEETSAM_STORE)")
    parser.add_argument(*DEBUG_FLAGS, dest="debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan.register(sub)
    scans.register(sub)
    licence.register(sub)
    position.register(sub)
    check.register(sub)
    evidence.register(sub)
    stores.register(sub)
    export.register(sub)
    notify.register(sub)
    for p in _all_subparsers(parser):  # so that 'fleetsam check --debug' works too
        p.add_argument(*DEBUG_FLAGS, dest="debug", action="store_true", default=argparse.SUPPRESS,
                       help=DEBUG_HELP)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; bad input is printed as its message and exits 2, anything else is
    raised on to ``cli.main``'s fault boundary."""
    try:
        return args.func(args)
    except Exception as exc:
        if raised_as(exc, LOCATED):
            print(exc, file=sys.stderr)
        elif raised_as(exc, BAD_INPUT):
            print(f"fleetsam: error: {exc}", file=sys.stderr)
        else:
            raise
    return ExitCode.BAD_INPUT
