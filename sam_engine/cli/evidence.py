"""``fleetsam diff`` and ``fleetsam audit-pack``: history and audit evidence on the command line.

``fleetsam diff [SCAN_A] [SCAN_B]`` compares two stored scans (default: the
previous and the latest; one id: that scan against the latest): installations
added, removed and changed per host, and how the licence position moved per
product (both positions computed with today's licence data, so only the fleet
differs). ``--format table|json|markdown``.

``fleetsam audit-pack --publisher NAME --out FILE.zip`` writes the evidence
pack of one publisher (``auditpack``); ``fleetsam audit-pack --verify FILE.zip``
checks one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.licence import add_licences_option
from sam_engine.plain_text import one_line, one_line_fields
from sam_engine.store import open_store

if TYPE_CHECKING:
    from sam_engine.licensing.context import LicenceSettings
    from sam_engine.model import Scan
    from sam_engine.store.interface import Store


def _error(command: str, message: str) -> int:
    print(f"fleetsam {command}: error: {one_line(message)}", file=sys.stderr)
    return ExitCode.BAD_INPUT


def _settings(args: argparse.Namespace) -> LicenceSettings:
    from sam_engine.licensing.context import LicenceSettings

    return LicenceSettings.from_env(licences=args.licences)


def _as_of(args: argparse.Namespace) -> dt.date:
    return dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()


def _pick(store: Store, location: str, a: str | None, b: str | None, days: int = 0) -> tuple[Scan, Scan]:
    """The fleets to compare, each as it stood right after its scan: ``a`` and ``b``; ``a`` and the
    latest; else after the last two (hosts past ``days`` without an inventory left out)."""
    from sam_engine.store.interface import load_fleet
    from sam_engine.store.interface import ScanNotFound

    if a is None:
        ids = [i.scan_id for i in store.scans()]
        if len(ids) < 2:
            raise ScanNotFound(f"{location}: {len(ids)} scan(s) stored: a diff needs two")
        a, b = ids[-2], ids[-1]
    return load_fleet(store, location, a, retire_days=days), load_fleet(store, location, b, retire_days=days)


def _figure(side: dict | None, key: str) -> str:
    return "-" if side is None else str(side[key])


def print_table(d: dict) -> None:
    s = d["summary"]
    print(f"Changes from scan {one_line(d['from_scan'])} to {one_line(d['to_scan'])}")
    print(f"  installations: {s['installs_added']} added, {s['installs_removed']} removed, "
          f"{s['installs_changed']} version changes; hosts: {s['hosts_changed']} changed, "
          f"{s['hosts_added']} added, {s['hosts_removed']} removed")
    print(f"\n{'HOST':24} {'CHANGE':8} {'STATUS':24} {'ADDED':>6} {'REMOVED':>7} {'VERSION':>7}")
    for h in d["hosts"]:
        h = {**h, "host": one_line(h["host"]), **{k: [one_line_fields(i) for i in h[k]] for k in ("added", "removed",
                                                                                              "changed")}}
        status = f"{h['status_before'] or '-'} -> {h['status_after'] or '-'}"
        print(f"{h['host'][:24]:24} {h['change']:8} {status:24} {len(h['added']):6} {len(h['removed']):7} "
              f"{len(h['changed']):7}")
        for i in h["added"]:
            print(f"    + {i['name']} {i['version'] or ''} [{i['source']}]")
        for i in h["removed"]:
            print(f"    - {i['name']} {i['version'] or ''} [{i['source']}]")
        for i in h["changed"]:
            print(f"    ~ {i['name']} {i['before'] or '?'} -> {i['after'] or '?'} [{i['source']}]")
    if not d["hosts"]:
        print("(no host changed)")
    print(f"\nPosition: {s['products_moved']} product(s) moved ({s['products_worse']} worse, "
          f"{s['products_better']} better)")
    if d["position"]:
        print(f"{'PRODUCT':40} {'MOVE':7} {'STATUS':36} {'CONSUMPTION':>12} {'OWNED':>13} {'SHORT':>9}")
    for m in d["position"]:
        name = one_line(" ".join(x for x in (m["publisher"], m["product"], m["edition"]) if x))
        b, a = m["before"], m["after"]
        status = f"{_figure(b, 'status')} -> {_figure(a, 'status')}"
        print(f"{name[:40]:40} {m['direction']:7} {status:36} "
              f"{_figure(b, 'consumption') + '->' + _figure(a, 'consumption'):>12} "
              f"{_figure(b, 'owned') + '->' + _figure(a, 'owned'):>13} "
              f"{_figure(b, 'shortfall') + '->' + _figure(a, 'shortfall'):>9}")


def print_markdown(d: dict) -> None:
    from sam_engine.report.formats import md, md_code

    s = d["summary"]
    print(f"## Changes from scan {md_code(d['from_scan'])} to {md_code(d['to_scan'])}\n")
    print(f"{s['installs_added']} installation(s) added, {s['installs_removed']} removed, "
          f"{s['installs_changed']} version change(s); {s['hosts_changed']} host(s) changed, "
          f"{s['hosts_added']} added, {s['hosts_removed']} removed.\n")
    if d["hosts"]:
        print("| Host | Change | Added | Removed | Version changes |\n|---|---|---|---|---|")
        for h in d["hosts"]:
            added = ", ".join(f"{i['name']} {i['version'] or ''}".strip() for i in h["added"])
            removed = ", ".join(f"{i['name']} {i['version'] or ''}".strip() for i in h["removed"])
            changed = ", ".join(f"{i['name']} {i['before'] or '?'} → {i['after'] or '?'}" for i in h["changed"])
            print(f"| {md(h['host'])} | {md(h['change'])} | {md(added)} | {md(removed)} | {md(changed)} |")
        print()
    print(f"### Position: {s['products_moved']} product(s) moved\n")
    if d["position"]:
        print("| Product | Move | Status | Consumption | Owned | Shortfall |\n|---|---|---|---|---|---|")
        for m in d["position"]:
            name = " ".join(x for x in (m["publisher"], m["product"], m["edition"]) if x)
            b, a = m["before"], m["after"]
            cells = [f"{_figure(b, k)} → {_figure(a, k)}" for k in ("status", "consumption", "owned", "shortfall")]
            print(f"| {md(name)} | {md(m['direction'])} | " + " | ".join(md(c) for c in cells) + " |")


def cmd_diff(args: argparse.Namespace) -> int:
    from sam_engine.findings.policy import policy_path, retire_days
    from sam_engine.licensing.context import load_context, position_of
    from sam_engine.store.recognition_cache import RecognitionCache
    from sam_engine.report import changes as scan_changes

    try:
        as_of = _as_of(args)
    except ValueError:
        return _error("diff", f"--as-of {args.as_of!r}: expected YYYY-MM-DD")
    with open_store(args.store, create=False, readonly=True) as st:  # each side: the fleet after that scan
        scan_a, scan_b = _pick(st, args.store, args.scan_a, args.scan_b, retire_days(policy_path()))
        stored = st.entitlements()
    ctx = load_context(_settings(args), as_of, stored, memory=RecognitionCache.beside(args.store))  # read only
    for problem in ctx.problems:
        print(problem, file=sys.stderr)
    if ctx.has_errors:  # both positions would lack the rejected licences
        return ExitCode.BAD_INPUT
    positions = (position_of(s.hosts, ctx, licensable_only=True) for s in (scan_a, scan_b))  # what diff compares
    d = scan_changes.diff(scan_a, scan_b, *positions)
    if args.format == "json":
        print(json.dumps(d, indent=1, ensure_ascii=False))
    elif args.format == "markdown":
        print_markdown(d)
    else:
        print_table(d)
    return ExitCode.OK


def cmd_audit_pack(args: argparse.Namespace) -> int:
    from sam_engine.auditpack import pack as auditpack
    from sam_engine.auditpack import verify as checks

    try:
        if args.verify:
            result = checks.verify(args.verify)
            where = one_line(args.verify)
            if result.ok:  # every value is the pack's: printed inert
                m = result.manifest
                print(f"{where}: OK: {len(m['files'])} files and the manifest verified "
                      f"(publisher {one_line(m['publisher'])}, scans {', '.join(map(one_line, m['scan_ids']))}, "
                      f"fleetsam {one_line(m['tool_version'])}, created {one_line(m['created'])})")
                return ExitCode.OK
            print(f"{where}: FAILED verification:")
            for problem in result.problems:
                print(f"  {one_line(problem)}")
            return ExitCode.VIOLATIONS
        if not args.publisher or not args.out:
            return _error("audit-pack", "--publisher NAME and --out FILE.zip are required (or --verify FILE.zip)")
        try:  # no --as-of: the licence terms of the day --scan finished, else of today
            as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
        except ValueError:
            return _error("audit-pack", f"--as-of {args.as_of!r}: expected YYYY-MM-DD")
        path, manifest, digest = auditpack.create(args.store, args.publisher, args.out, settings=_settings(args),
                                                  as_of=as_of, scan_id=args.scan)
    except auditpack.PackError as exc:
        return _error("audit-pack", str(exc))
    print(f"{one_line(path)}: audit pack of {one_line(manifest['publisher'])}, scan {one_line(manifest['scan_id'])}, "
          f"licence terms of {manifest['as_of']}, {len(manifest['files'])} files + manifest")
    print(f"sha256 {digest}  (record it with the audit correspondence)")
    return ExitCode.OK


def register(subparsers) -> None:
    """Add ``fleetsam diff`` and ``fleetsam audit-pack`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "diff", help="what changed between two scans (default: previous vs latest)",
        description="Compare the fleet as it stood right after two stored scans: installations added, removed "
                    "and changed per host, and how the licence position moved per product (both positions "
                    "computed with the licence data of one date, today or --as-of, so only the fleet differs). "
                    "No scan id: the previous and the latest scan; one id: that scan against the latest.")
    p.add_argument("scan_a", nargs="?", help="the older scan (default: the one before the latest)")
    p.add_argument("scan_b", nargs="?", help="the newer scan (default: the latest)")
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                   help="output format (default: table)")
    p.add_argument("--as-of", help="date the licence terms of both positions are checked on, YYYY-MM-DD "
                                   "(default: today)")
    add_licences_option(p)
    p.set_defaults(func=cmd_diff)

    p = subparsers.add_parser(
        "audit-pack", help="write or verify the audit evidence pack of one publisher",
        description="Write the audit evidence pack of one publisher (--publisher NAME --out FILE.zip): its "
                    "licence position with the installations, entitlements, catalogue entries and metric rules "
                    "behind it, and a manifest of SHA-256 digests. --out never replaces the store or a file that is "
                    "not an audit pack; SOURCE_DATE_EPOCH sets the creation time (a reproducible pack). "
                    "--verify FILE.zip checks a pack instead: exit 0 when intact, 1 when it is not a fleetsam pack "
                    "exactly as written (a file changed, added or removed), 2 when it cannot be read.")
    p.add_argument("--publisher", help="publisher whose position the pack proves (case-insensitive)")
    p.add_argument("--out", metavar="FILE.zip", help="zip file to write the pack to")
    p.add_argument("--verify", metavar="FILE.zip", help="check a pack: its format, every hash, nothing missing or "
                                                        "extra")
    p.add_argument("--scan", help="the fleet as it stood right after this scan, counted under the licence terms "
                                  "of the day it finished (UTC) unless --as-of is given (default: the fleet now)")
    p.add_argument("--as-of", help="the licence terms valid on this day and, without --scan, the fleet as it stood "
                                   "at the end of it, YYYY-MM-DD (default: the day --scan finished, else today)")
    add_licences_option(p)
    p.set_defaults(func=cmd_audit_pack)
