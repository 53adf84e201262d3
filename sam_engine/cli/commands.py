"""Every ``fleetsam`` subcommand on one parser, and how their bad-input errors are reported.

``cli.main`` imports this module only inside its fault boundary, so even an
import that fails here (a broken install) exits 2 with one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from sam_engine import __version__
from sam_engine.auditpack.pack import PackError
from sam_engine.cli import check, evidence, export, licence, position, scan, scans, stores
from sam_engine.cli.exit_codes import BadInput, ExitCode, describe
from sam_engine.cli import DEBUG_FLAGS
from sam_engine.entitlements.schema import ValidationFailed
from sam_engine.ingest.spool import SpoolError
from sam_engine.located_yaml import ConfigError
from sam_engine.store.interface import HostNotFound, ScanNotFound, StoreError

DEBUG_HELP = "on an unexpected error, also print the Python traceback"

# Errors that are the user's input, not a fault: their message says what to fix, no traceback helps.
BAD_INPUT = (StoreError, SpoolError, ScanNotFound, HostNotFound, PackError, BadInput)


def _store_default() -> str:
    return os.environ.get("FLEETSAM_STORE", ".fleetsam/fleetsam.json")


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
    parser.add_argument("--store", default=_store_default(),
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
    for p in _all_subparsers(parser):  # so that 'fleetsam check --debug' works too
        p.add_argument(*DEBUG_FLAGS, dest="debug", action="store_true", default=argparse.SUPPRESS,
                       help=DEBUG_HELP)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; bad input is printed as its message and exits 2."""
    try:
        return args.func(args)
    except (ValidationFailed, ConfigError) as exc:  # already located: file:line:col: field: ...
        print(exc, file=sys.stderr)
    except BAD_INPUT as exc:
        print(f"fleetsam: error: {exc}", file=sys.stderr)
    return ExitCode.BAD_INPUT
