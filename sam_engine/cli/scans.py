"""``fleetsam ingest``, ``report``, ``scans`` and ``hosts``: the stored scans on the command line.

``ingest`` is the one command here that writes a new scan (and so may create
the store), ``hosts retire`` records a retirement; the others only read it,
without the writers' lock, and fail with exit 2 when it is not there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from sam_engine.cli.check import add_policy_option
from sam_engine.cli.exit_codes import BadInput, ExitCode
from sam_engine.plain_text import one_line, one_line_fields
from sam_engine.progress import StageProgress
from sam_engine.store import open_store

_TRUE = ("1", "true", "yes", "on", "y", "t")
PROGRESS_AFTER = 2.0  # seconds a stage runs before ingest shows its progress: short runs stay quiet


def report_dir_default() -> str:
    return os.environ.get("FLEETSAM_REPORT_DIR", "reports")


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None or value == "" else value.strip().lower() in _TRUE


def installations_csv(args: argparse.Namespace) -> bool:
    """Whether to write installations.csv: unless ``--no-installations-csv`` or FLEETSAM_INSTALLATIONS_CSV=false."""
    return env_flag("FLEETSAM_INSTALLATIONS_CSV", True) and not args.no_installations_csv


def _progress_line(line: str) -> None:
    print(f"fleetsam: {line}", file=sys.stderr, flush=True)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Store, reconcile and report a spool; long stages print progress on stderr (stdout keeps the summary)."""
    from sam_engine import pipeline
    from sam_engine.findings import notify

    alerts = notify.AlertSettings.from_env(policy=args.policy, notify=args.notify)
    summary = pipeline.process_spool(args.spool, store=args.store, report_dir=args.report_dir, alerts=alerts,
                                     installations=installations_csv(args),
                                     progress=StageProgress(_progress_line, quiet_for=PROGRESS_AFTER))
    for line in summary.lines():
        print(line)
    return ExitCode.BAD_INPUT if summary.licence_errors else ExitCode.OK


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise BadInput(f"--as-of {text!r}: expected YYYY-MM-DD") from None


def cmd_report(args: argparse.Namespace) -> int:
    from sam_engine import pipeline
    from sam_engine.findings.policy import load_policy, policy_path
    from sam_engine.located_yaml import ConfigError

    try:  # a policy named but unreadable is a fault, as for check: not a report under the defaults
        load_policy(policy_path(args.policy))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    summary = pipeline.render_stored(args.store, args.report_dir, args.scan, as_of=_date(args.as_of),
                                     installations=installations_csv(args), policy=args.policy)
    for problem in summary.problems:
        print(problem, file=sys.stderr)
    for path in summary.report_files:
        print(path)
    return ExitCode.BAD_INPUT if summary.licence_errors else ExitCode.OK


def cmd_scans(args: argparse.Namespace) -> int:
    with open_store(args.store, create=False, readonly=True) as st:
        infos = st.scans()
    if args.format == "json":
        print(json.dumps([{f: getattr(i, f) for f in i.__slots__} for i in infos], indent=1))
        return ExitCode.OK
    print(f"{'SCAN':28} {'FINISHED':21} {'OK':>5} {'UNREACH':>7} {'FAILED':>6} {'PACKAGES':>9}")
    for i in infos:
        print(f"{one_line(i.scan_id):28} {one_line(i.finished):21} {i.hosts_ok:5} {i.hosts_unreachable:7} "
              f"{i.hosts_failed:6} {i.installations:9}")
    return ExitCode.OK


def cmd_hosts(args: argparse.Namespace) -> int:
    if args.hosts_command == "retire":
        return cmd_hosts_retire(args)
    from sam_engine.findings.policy import load_policy, policy_path
    from sam_engine.ingest.host_scans import FAILED_SOURCE
    from sam_engine.located_yaml import ConfigError
    from sam_engine.staleness import Staleness
    from sam_engine.store import interface

    try:  # the policy check and report use: its stale_days and retire_days decide which hosts are stale
        policy = load_policy(policy_path(args.policy))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.BAD_INPUT
    as_of = _date(args.as_of)
    with open_store(args.store, create=False, readonly=True) as st:
        scan = interface.load_fleet(st, args.store, args.scan, as_of, policy.retire_days)
    # aged on the day load_fleet ages the fleet on, as the report and fleetsam check do
    rule = Staleness.on(as_of or (dt.date.fromisoformat(scan.finished[:10]) if args.scan else dt.date.today()),
                        policy.stale_days)
    rows = []
    for h in sorted(scan.hosts, key=lambda h: h.inventory_name):
        hw = h.host.hardware if h.host else None
        failed = [m[1] for w in h.warnings if (m := FAILED_SOURCE.match(w))]  # packages kept from the last inventory
        notes = [f"{', '.join(failed)} failed"] if failed else []
        reasons = rule.reasons(h)  # still counted until retire_days
        notes += [f"stale: {', '.join(reasons)}" if reasons else "stale"] if rule.stale(h) else []
        rows.append({
            "host": h.inventory_name,
            "status": h.status.value + (f" ({'; '.join(notes)})" if notes else ""),
            "stale": rule.stale(h),
            "host_id": h.host_id,
            "last_seen": h.collected_at,
            "age_days": rule.age(h),
            "last_scan": h.scan_id,
            "sockets": hw.sockets if hw else None,
            "cores": hw.cores if hw else None,
            "threads": hw.threads if hw else None,
            "platform": hw.virtualization.value if hw else None,
            "packages": len(h.installations),
            "warnings": list(h.warnings),
        })
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return ExitCode.OK
    print(f"{'HOST':24} {'STATUS':38} {'SOCK':>4} {'CORES':>5} {'THR':>4} {'PLATFORM':9} {'PACKAGES':>8} LAST SEEN")
    for r in map(one_line_fields, rows):
        print(f"{r['host']:24} {r['status']:38} {r['sockets'] or '-':>4} {r['cores'] or '-':>5} "
              f"{r['threads'] or '-':>4} {r['platform'] or '-':9} {r['packages']:8} {r['last_seen'] or 'never'}")
    return ExitCode.OK


def cmd_hosts_retire(args: argparse.Namespace) -> int:
    """Take hosts out of the fleet (decommissioned): by inventory name or host id; history stays.
    A host retired already is named with the date of its retirement, which stays as it was."""
    with open_store(args.store, create=False) as st:
        retired = st.retire(args.names, args.reason or "")
    for done in retired:
        r = done.retirement
        if done.new:
            print(f"retired {done.name} ({r.key}): it leaves the position; its history stays")
        else:
            print(f"{done.name}: already retired on {r.at[:10]} ({r.key}); nothing recorded")
    return ExitCode.OK


def register(subparsers) -> None:
    """Add ``ingest``, ``report``, ``scans`` and ``hosts`` to the main parser's subcommands."""
    report_dir_help = "directory the report files are written to (default: %(default)s, env FLEETSAM_REPORT_DIR)"
    p = subparsers.add_parser(
        "ingest", help="process a kept scan spool into the store and write the reports",
        description="Store the scan of one kept spool directory (a run whose processing failed, or one kept "
                    "on purpose), reconcile it, send the notifications it calls for and write the reports. "
                    "Creates the store if there is none yet.")
    p.add_argument("spool", help="spool directory of one run (.fleetsam/spool/SCAN_ID)")
    p.add_argument("--report-dir", default=report_dir_default(), help=report_dir_help)
    add_policy_option(p)
    p.add_argument("--notify", help="notification file (default: env FLEETSAM_NOTIFY; none: nothing is sent)")
    p.add_argument("--no-installations-csv", action="store_true",
                   help="write every report file but installations.csv (a row per installation; env "
                        "FLEETSAM_INSTALLATIONS_CSV=false does the same); 'fleetsam report' writes it on demand")
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser(
        "report", help="write the reports again from the store",
        description="Reconcile the fleet (every known host with its newest inventory) with today's licence data, "
                    "or as it stood on --as-of, find what the policy calls for, and write every report file again "
                    "(index.html, report.json, position.csv, installations.csv, junit.xml, summary.md). "
                    "Sends nothing.")
    p.add_argument("--scan", help="the fleet as it stood right after this scan, as 'fleetsam scans' lists them, "
                                  "with the entitlements valid on the day it finished (UTC) unless --as-of is "
                                  "given (default: the latest)")
    p.add_argument("--as-of", help="the fleet as it stood at the end of this day, YYYY-MM-DD, with the entitlements "
                                   "valid then")
    p.add_argument("--report-dir", default=report_dir_default(), help=report_dir_help)
    add_policy_option(p)
    p.add_argument("--no-installations-csv", action="store_true",
                   help="write every report file but installations.csv, a row per installation (about 3 GB for "
                        "10,000 hosts); env FLEETSAM_INSTALLATIONS_CSV=false does the same")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser(
        "scans", help="list stored scans",
        description="List the stored scans (runs), oldest first: id, when each finished, hosts scanned, "
                    "unreachable and failed, installations; --format json adds each run's scope and group.")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    p.set_defaults(func=cmd_scans)

    p = subparsers.add_parser(
        "hosts", help="list the fleet's hosts with their hardware and status; retire hosts",
        description="List the fleet's hosts (each with its newest record over all runs): status (marked stale "
                    "when the last run that targeted the host got no inventory and its older one is kept, or it "
                    "never had one, and when its inventory is stale_days old or more, with the age on the day "
                    "the fleet is aged on: 'ok (stale: 12 d old)'; 'ok (rpm failed)' when a package source "
                    "could not be read and "
                    "its packages were kept from that older one), host id, sockets, cores, threads, platform, "
                    "package count and when last inventoried. 'fleetsam hosts retire NAME' takes decommissioned "
                    "hosts out.")
    p.add_argument("--scan", help="the fleet as it stood right after this scan (default: the latest)")
    p.add_argument("--as-of", help="the fleet as it stood at the end of this day, YYYY-MM-DD")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    add_policy_option(p)
    p.set_defaults(func=cmd_hosts, hosts_command=None)
    retire = p.add_subparsers(dest="hosts_command", metavar="retire").add_parser(
        "retire", help="take decommissioned hosts out of the position (history stays)",
        description="Retire hosts: they leave the position now and stay in history; a later successful "
                    "inventory brings a host back. A host retired already keeps its retirement and is "
                    "named with its date; nothing new is recorded for it.")
    retire.add_argument("names", nargs="+", metavar="NAME", help="inventory name or host id")
    retire.add_argument("--reason", help="why (kept with the retirement)")
