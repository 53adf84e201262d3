"""``fleetsam export --format cyclonedx``: the stored inventory as an SBOM for other tools.

Reads the fleet the way ``fleetsam report`` and ``hosts`` do (``store.interface.load_fleet``:
now, right after a run, or as it stood on a day; hosts aged out by the policy's
``retire_days`` left out) and the entitlements (stored ones and the licence files), and writes the fleet's or
one host's packages as CycloneDX 1.6 JSON (``export.cyclonedx``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from sam_engine.cli.exit_codes import BadInput, ExitCode
from sam_engine.cli.licence import add_licences_option
from sam_engine.store import open_store

FORMATS = ("cyclonedx",)


def _write(path: str, document: str) -> None:
    """Write ``document`` to ``path`` (``-``: standard output) whole or not at all."""
    if path == "-":
        sys.stdout.write(document)
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(document, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BadInput(f"--output {path}: cannot write: {exc.strerror or exc}") from None


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise BadInput(f"--as-of {text!r}: expected YYYY-MM-DD") from None


def cmd_export(args: argparse.Namespace) -> int:
    from sam_engine.findings.policy import policy_path, retire_days
    from sam_engine.licensing.context import LicenceSettings, load_context
    from sam_engine.store.recognition_cache import RecognitionCache
    from sam_engine.store.interface import load_fleet

    as_of = _day(args.as_of)
    with open_store(args.store, create=False, readonly=True) as store:  # a reader, as fleetsam report and hosts
        fleet = load_fleet(store, args.store, args.scan, as_of, retire_days(policy_path()))
        stored = store.entitlements()
    if args.host is not None and all(hs.inventory_name != args.host for hs in fleet.hosts):
        raise BadInput(f"--host {args.host}: no host of that name in the fleet; fleetsam hosts lists them")
    settings = LicenceSettings.from_env(licences=args.licences)
    ctx = load_context(settings, as_of or dt.date.today(), stored, memory=RecognitionCache.beside(args.store))
    for problem in ctx.problems:
        print(problem, file=sys.stderr)
    if ctx.has_errors:
        return ExitCode.BAD_INPUT
    from sam_engine.export import cyclonedx  # its library takes longer to import than the rest of the CLI

    document = cyclonedx.export(fleet, ctx.catalogue, ctx.entitlements, args.host, args.licensee or None)
    _write(args.output, document)
    return ExitCode.OK


def register(subparsers) -> None:
    """Add ``fleetsam export`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "export", help="the inventory as a CycloneDX SBOM (for Dependency-Track, vulnerability scanners)",
        description="Write the packages of the fleet (now, right after --scan or as of --as-of), on every host "
                    "or on --host only, as a CycloneDX 1.6 JSON SBOM: one component per distinct package with its package "
                    "URL, the hosts it is on as fleetsam:host properties, and the entitlements covering it in "
                    "each licence's licensing block (keys masked). Exit 0 when written; 2 on bad input (no "
                    "store, unknown scan or host, a licence file error, an output that cannot be written).")
    p.add_argument("--format", choices=FORMATS, default="cyclonedx",
                   help="export format: cyclonedx (CycloneDX 1.6 JSON; the default and only one)")
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="file to write (replaced whole only once complete); - for standard output")
    p.add_argument("--host", metavar="NAME", help="only this host (its inventory name), as the SBOM's device")
    p.add_argument("--scan", metavar="ID",
                   help="the fleet right after this run (default: the fleet now; fleetsam scans lists them)")
    p.add_argument("--as-of", metavar="DATE", help="the fleet as it stood at the end of this day, YYYY-MM-DD")
    add_licences_option(p)
    p.add_argument("--licensee", default=os.environ.get("FLEETSAM_LICENSEE"), metavar="ORGANISATION",
                   help="the organisation the licences were granted to, written as licensee and purchaser "
                        "(default: env FLEETSAM_LICENSEE; none when unset)")
    p.set_defaults(func=cmd_export)
