"""``fleetsam check``: enforce the compliance policy on the latest scan (CI jobs, playbooks/enforce.yml).

Computes the findings of the latest stored scan under the policy
(``--policy``, env ``FLEETSAM_POLICY``, else ``policy.yml`` when present) and
prints them as text, JUnit XML or Markdown. The findings of the types listed
in the policy's ``fail_on`` are *violations*.

Exit codes:
  0  no violations (other findings may be listed)
  1  violations
  2  bad input or configuration: a policy or notification file mistake
     (``file:line:col: field: expected ...``), a licence data error, no scan
     stored, a bad ``--as-of`` date
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from sam_engine.located_yaml import ConfigError
from sam_engine.cli.position import _latest_scan
from sam_engine.findings.detect import compute_findings
from sam_engine.licensing.context import LicenceSettings, load_context, position_of
from sam_engine.findings.notify import track
from sam_engine.findings.notify_config import load_notify_config
from sam_engine.findings.policy import Policy, load_policy, policy_path
from sam_engine.store.interface import open_store
from sam_engine.vocabulary import FINDING_TYPES

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2


def _stored_states(location: str) -> dict[str, dict]:
    with open_store(location) as store:
        return {d["id"]: d for d in store.finding_states()}


def _headline(violations: list[dict], others: list[dict]) -> str:
    if violations:
        return (f"{len(violations)} violation{'s' if len(violations) != 1 else ''}, "
                f"{len(others)} other finding{'s' if len(others) != 1 else ''}")
    return f"no violations ({len(others)} other finding{'s' if len(others) != 1 else ''})"


def render_text(violations: list[dict], others: list[dict], context: str) -> str:
    lines = []
    for verdict, rows in (("FAIL", violations), ("WARN", others)):
        for r in rows:
            lines.append(f"{verdict}  {r['severity']:8} {r['type']:15} {r['id']}  {r['title']}")
            lines.append(f"      {r['detail']}")
    lines.append(f"fleetsam check: {_headline(violations, others)} ({context})")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(violations: list[dict], others: list[dict], context: str) -> str:
    out = [f"## fleetsam check: {_headline(violations, others)}", "", f"_{_cell(context)}_", ""]
    if violations or others:
        out += ["| | Severity | Type | Finding | Hosts | Id |", "|---|---|---|---|---|---|"]
        for verdict, rows in ((":x:", violations), (":warning:", others)):
            for r in rows:
                hosts = ", ".join(r["hosts"][:10]) + (f" (+{len(r['hosts']) - 10})" if len(r["hosts"]) > 10 else "")
                out.append(f"| {verdict} | {r['severity']} | {r['type']} | **{_cell(r['title'])}**<br>"
                           f"{_cell(r['detail'])} | {_cell(hosts) or '-'} | `{r['id']}` |")
    else:
        out.append("Nothing to report.")
    return "\n".join(out) + "\n"


def render_junit(violations: list[dict], others: list[dict], context: str, policy: Policy) -> str:
    """One test suite per finding type; a violation is a failed test case, other findings pass."""
    root = ET.Element("testsuites", name="fleetsam check", tests="0", failures=str(len(violations)))
    total = 0
    for kind in FINDING_TYPES:
        failing = [r for r in violations if r["type"] == kind]
        passing = [r for r in others if r["type"] == kind]
        suite = ET.SubElement(root, "testsuite", name=f"fleetsam.{kind}", failures=str(len(failing)),
                              errors="0", skipped="0", tests=str(max(1, len(failing) + len(passing))))
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="enforced",
                      value=str(policy.fails(kind)).lower())
        for r in failing + passing:
            case = ET.SubElement(suite, "testcase", classname=f"fleetsam.{kind}", name=f"{r['id']}: {r['title']}")
            text = f"{r['detail']}\nhosts: {', '.join(r['hosts']) or '-'}\nentitlements: " \
                   f"{', '.join(r['entitlements']) or '-'}\nfirst seen: {r['first_seen']}"
            if r in failing:
                failure = ET.SubElement(case, "failure", message=r["title"], type=r["severity"])
                failure.text = text
            else:
                ET.SubElement(case, "system-out").text = f"[{r['severity']}, not enforced] {text}"
        if not failing and not passing:
            ET.SubElement(suite, "testcase", classname=f"fleetsam.{kind}", name=f"no {kind} findings")
        total += int(suite.get("tests"))
    root.set("tests", str(total))
    ET.indent(root)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!-- {context} -->\n' + ET.tostring(root, "unicode") + "\n"


def _fail(message: str) -> int:
    print(f"fleetsam check: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_check(args: argparse.Namespace) -> int:
    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    except ValueError:
        return _fail(f"--as-of {args.as_of!r}: expected YYYY-MM-DD")
    chosen = policy_path(args.policy)
    try:
        policy = load_policy(chosen)
        if args.notify:  # validated only when asked: a CI check job need not hold the channel secrets
            load_notify_config(args.notify)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    scan, stored = _latest_scan(args.store)
    if scan is None:
        return _fail(f"{args.store}: no scan stored: scan first (playbooks/scan.yml)")
    ctx = load_context(replace(LicenceSettings.from_env(), licences_dir=Path(args.licences)), as_of, stored)
    for problem in ctx.problems:
        print(problem, file=sys.stderr)
    if ctx.has_errors:
        return EXIT_BAD_INPUT
    found = compute_findings(scan, position_of(scan.hosts, ctx), ctx.entitlements, policy, as_of)
    rows = track(found, _stored_states(args.store), "", False, scan.scan_id, replay=True).rows
    rows = [r for r in rows if r["state"] != "resolved"]
    violations = [r for r in rows if policy.fails(r["type"])]
    others = [r for r in rows if not policy.fails(r["type"])]
    context = (f"policy {chosen or 'built-in defaults'}; scan {scan.scan_id} finished {scan.finished}; "
               f"as of {as_of.isoformat()}; fails on {', '.join(policy.fail_on) or 'nothing'}")
    if args.format == "junit":
        text = render_junit(violations, others, context, policy)
    elif args.format == "markdown":
        text = render_markdown(violations, others, context)
    else:
        text = render_text(violations, others, context)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"fleetsam check: {_headline(violations, others)}; {args.format} written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_VIOLATIONS if violations else EXIT_OK


def register(subparsers) -> None:
    """Add ``fleetsam check`` to the main parser's subcommands."""
    p = subparsers.add_parser("check", help="check the latest scan against the policy (exit 1 on violations)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", help="policy file (default: env FLEETSAM_POLICY, else ./policy.yml if present)")
    p.add_argument("--format", choices=("text", "junit", "markdown"), default="text")
    p.add_argument("--output", help="write the report to this file instead of standard output")
    p.add_argument("--as-of", help="date the findings are computed for, YYYY-MM-DD (default: today)")
    p.add_argument("--licences", default=os.environ.get("FLEETSAM_LICENCES", "licences"),
                   help="licence files directory (default: %(default)s, env FLEETSAM_LICENCES)")
    p.add_argument("--notify", help="also validate this notification file (its secret variables must be set)")
    p.set_defaults(func=cmd_check)
