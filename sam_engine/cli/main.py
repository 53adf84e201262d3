"""The ``fleetsam`` command line.

Exit codes: 0 success; 1 the check found violations (``fleetsam check``);
2 bad input or configuration (the message names the file and field).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from sam_engine import __version__
from sam_engine.cli import check as cli_check
from sam_engine.cli import licence as cli_licence
from sam_engine.cli import position as cli_position
from sam_engine.cli import evidence as cli_evidence
from sam_engine.findings import notify
from sam_engine import pipeline
from sam_engine.entitlements.schema import ValidationFailed
from sam_engine.ingest.spool import SpoolError
from sam_engine.store.interface import StoreError, open_store

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2


def _store_default() -> str:
    return os.environ.get("FLEETSAM_STORE", ".fleetsam/fleetsam.json")


def cmd_ingest(args: argparse.Namespace) -> int:
    alerts = notify.AlertSettings.from_env(policy=args.policy, notify=args.notify)
    summary = pipeline.process_spool(args.spool, store=args.store, report_dir=args.report_dir, alerts=alerts,
                                     installations=not args.no_installations_csv)
    for line in summary.lines():
        print(line)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    summary = pipeline.render_stored(args.store, args.report_dir, args.scan)
    for path in summary.report_files:
        print(path)
    return EXIT_OK


def cmd_scans(args: argparse.Namespace) -> int:
    with open_store(args.store) as st:
        infos = st.scans()
    if args.format == "json":
        print(json.dumps([{f: getattr(i, f) for f in i.__slots__} for i in infos], indent=1))
        return EXIT_OK
    print(f"{'SCAN':28} {'FINISHED':21} {'OK':>5} {'UNREACH':>7} {'FAILED':>6} {'PACKAGES':>9}")
    for i in infos:
        print(f"{i.scan_id:28} {i.finished:21} {i.hosts_ok:5} {i.hosts_unreachable:7} {i.hosts_failed:6} {i.installations:9}")
    return EXIT_OK


def cmd_hosts(args: argparse.Namespace) -> int:
    with open_store(args.store) as st:
        scan = st.load_scan(args.scan)
    if scan is None:
        print(f"{args.store}: no scan stored", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = []
    for h in sorted(scan.hosts, key=lambda h: h.inventory_name):
        hw = h.host.hardware if h.host else None
        rows.append({
            "host": h.inventory_name,
            "status": h.status.value + (" (stale)" if h.stale and h.installations else ""),
            "host_id": h.host_id,
            "sockets": hw.sockets if hw else None,
            "cores": hw.cores if hw else None,
            "threads": hw.threads if hw else None,
            "platform": hw.virtualization.value if hw else None,
            "packages": len(h.installations),
        })
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    print(f"{'HOST':24} {'STATUS':20} {'SOCK':>4} {'CORES':>5} {'THR':>4} {'PLATFORM':9} {'PACKAGES':>8}")
    for r in rows:
        print(f"{r['host']:24} {r['status']:20} {r['sockets'] or '-':>4} {r['cores'] or '-':>5} "
              f"{r['threads'] or '-':>4} {r['platform'] or '-':9} {r['packages']:8}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetsam", description="Agentless software asset management.")
    parser.add_argument("--version", action="version", version=f"fleetsam {__version__}")
    parser.add_argument("--store", default=_store_default(), help="store location (default: %(default)s, env FLEETSAM_STORE)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="process a kept scan spool into the store and write the reports")
    p.add_argument("spool", help="spool directory of one run (.fleetsam/spool/SCAN_ID)")
    p.add_argument("--report-dir", default=os.environ.get("FLEETSAM_REPORT_DIR", "reports"))
    p.add_argument("--policy", help="policy file (default: env FLEETSAM_POLICY, else ./policy.yml if present)")
    p.add_argument("--notify", help="notification file (default: env FLEETSAM_NOTIFY; none: nothing is sent)")
    p.add_argument("--no-installations-csv", action="store_true",
                   help="write every report file but installations.csv (a row per installation); "
                        "'fleetsam report' writes it on demand")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("report", help="write the reports again from the store")
    p.add_argument("--scan", help="scan id (default: the latest)")
    p.add_argument("--report-dir", default=os.environ.get("FLEETSAM_REPORT_DIR", "reports"))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("scans", help="list stored scans")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_scans)

    p = sub.add_parser("hosts", help="list the hosts of a scan with their hardware and status")
    p.add_argument("--scan", help="scan id (default: the latest)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_hosts)

    cli_licence.register(sub)
    cli_position.register(sub)
    cli_check.register(sub)
    cli_evidence.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValidationFailed as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, SpoolError, LookupError) as exc:
        print(f"fleetsam: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
