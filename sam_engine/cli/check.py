"""``fleetsam check``: enforce the compliance policy on the fleet (CI jobs, playbooks/enforce.yml).

The findings of the fleet (every known host with its newest inventory; with
``--as-of`` as it stood at the end of that day) under the policy, as text,
JUnit XML (``report.formats.junit_document``) or Markdown; the findings of the
types in the policy's ``fail_on`` are violations. A fleet without a host (every
host aged out after ``retire_days``) cannot be checked: exit 2, as for a store
without a scan; a fleet whose every host is stale is checked and says so.
``DESCRIPTION`` is the ``--help`` text.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.licence import add_licences_option
from sam_engine.plain_text import one_line
from sam_engine.store import open_store
from sam_engine.vocabulary import FINDING_TYPES

if TYPE_CHECKING:
    from sam_engine.findings.policy import Policy

DESCRIPTION = """\
Check the fleet (every known host with its newest inventory; with --as-of,
as it stood at the end of that day) against the compliance policy and print
the findings. The findings of the types the policy lists in fail_on are
violations; the others are listed as warnings.

The policy is --policy, else env FLEETSAM_POLICY, else ./policy.yml when
present, else the built-in defaults.

exit codes:
  0  no violations (other findings may be listed)
  1  violations
  2  bad input: a policy or notification file mistake (file:line:col: field:
     expected ...), a licence data error or a licence files directory named
     (--licences, FLEETSAM_LICENCES) that does not exist, no store or no scan
     stored, no host in the fleet (every host past retire_days), a bad --as-of
     date; or any fault

A fleet whose every host is stale (not reached on its last run, or not
inventoried within stale_days: on today when --as-of is later) is checked on
its last inventories, and the output says so."""


def _headline(violations: list[dict], others: list[dict]) -> str:
    if violations:
        return (f"{len(violations)} violation{'s' if len(violations) != 1 else ''}, "
                f"{len(others)} other finding{'s' if len(others) != 1 else ''}")
    return f"no violations ({len(others)} other finding{'s' if len(others) != 1 else ''})"


def render_text(violations: list[dict], others: list[dict], context: str, notes: tuple[str, ...] = ()) -> str:
    """The findings a line each with their detail, then ``notes`` (warnings about the fleet) and the headline."""
    lines = []
    for verdict, rows in (("FAIL", violations), ("WARN", others)):
        for r in rows:
            lines.append(f"{verdict}  {r['severity']:8} {r['type']:15} {one_line(r['id'])}  {one_line(r['title'])}")
            lines.append(f"      {one_line(r['detail'])}")
    lines += [f"fleetsam check: warning: {one_line(note)}" for note in notes]
    lines.append(f"fleetsam check: {_headline(violations, others)} ({one_line(context)})")
    return "\n".join(lines) + "\n"


def render_markdown(violations: list[dict], others: list[dict], context: str, notes: tuple[str, ...] = ()) -> str:
    """A heading, the context, ``notes`` and a table of the findings; every value escaped as in ``summary.md``."""
    from sam_engine.report.formats import md, md_code

    out = [f"## fleetsam check: {md(_headline(violations, others))}", "", f"_{md(context)}_", ""]
    out += [line for note in notes for line in (f"**Warning:** {md(note)}", "")]
    if violations or others:
        out += ["| | Severity | Type | Finding | Hosts | Id |", "|---|---|---|---|---|---|"]
        for verdict, rows in ((":x:", violations), (":warning:", others)):
            for r in rows:
                hosts = ", ".join(r["hosts"][:10]) + (f" (+{len(r['hosts']) - 10})" if len(r["hosts"]) > 10 else "")
                out.append(f"| {verdict} | {md(r['severity'])} | {md(r['type'])} | **{md(r['title'])}**<br>"
                           f"{md(r['detail'])} | {md(hosts)} | {md_code(r['id'], table=True)} |")
    else:
        out.append("Nothing to report.")
    return "\n".join(out) + "\n"


def render_junit(violations: list[dict], others: list[dict], policy: Policy, finished: str,
                 properties: tuple[tuple[str, str], ...]) -> str:
    """One test suite per finding type: a violation is a failed test case, other findings pass
    (their details in the suite's output); a type without findings has one passing case.
    ``finished``: when the scan finished; ``properties``: the check's context, on every suite."""
    from sam_engine.report.formats import JUnitCase, JUnitSuite, junit_document

    suites = []
    for kind in FINDING_TYPES:
        failing = [r for r in violations if r["type"] == kind]
        passing = [r for r in others if r["type"] == kind]
        name = f"fleetsam.{kind}"
        cases = [JUnitCase(name, f"{r['id']}: {r['title']}", (r["severity"], r["title"], _details(r)))
                 for r in failing]
        cases += [JUnitCase(name, f"{r['id']}: {r['title']}") for r in passing]
        out = "\n".join(f"{r['id']} [{r['severity']}, not enforced] {r['title']}\n{_details(r)}" for r in passing)
        suites.append(JUnitSuite(name, tuple(cases or [JUnitCase(name, f"no {kind} findings")]),
                                 (("enforced", str(policy.fails(kind)).lower()), *properties), out))
    return junit_document("fleetsam check", finished, suites)


def _details(r: dict) -> str:
    return (f"{r['detail']}\nhosts: {', '.join(r['hosts']) or '-'}\nentitlements: "
            f"{', '.join(r['entitlements']) or '-'}\nfirst seen: {r['first_seen']}")


def _fail(message: str) -> int:
    print(f"fleetsam check: error: {message}", file=sys.stderr)
    return ExitCode.BAD_INPUT


def cmd_check(args: argparse.Namespace) -> int:
    from sam_engine.findings.detect import compute_findings
    from sam_engine.findings.fleet_warnings import all_stale, no_host
    from sam_engine.staleness import never_inventoried
    from sam_engine.findings.notify import track
    from sam_engine.findings.notify_config import load_notify_config
    from sam_engine.findings.policy import load_policy, policy_path
    from sam_engine.licensing.context import LicenceSettings, load_context, position_of
    from sam_engine.store.recognition_cache import RecognitionCache
    from sam_engine.located_yaml import ConfigError
    from sam_engine.store.interface import load_fleet

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
        return ExitCode.BAD_INPUT
    with open_store(args.store, create=False, readonly=True) as store:  # a reader: no writer's lock
        scan = load_fleet(store, args.store, as_of=as_of if args.as_of else None, retire_days=policy.retire_days)
        empty = None if scan.hosts else no_host(store, args.store, scan, as_of if args.as_of else None,
                                                  policy.retire_days)
        if empty is None and all(never_inventoried(h) for h in scan.hosts):  # a check of nothing would pass
            empty = all_stale(scan, as_of, policy.stale_days)[0]  # the report's warning: "none was ever inventoried"
        stored, states = store.entitlements(), {d["id"]: d for d in store.finding_states()}
    ctx = load_context(LicenceSettings.from_env(licences=args.licences), as_of, stored,
                       memory=RecognitionCache.beside(args.store))  # read, never written: a reader
    for problem in ctx.problems:
        print(problem, file=sys.stderr)
    if empty is not None:  # after the licence data's problems: every mistake is named at once
        _fail(empty)
    if ctx.has_errors or empty is not None:
        return ExitCode.BAD_INPUT
    found = compute_findings(scan, position_of(scan.hosts, ctx), ctx.entitlements, policy, as_of)
    rows = track(found, states, "", False, scan.scan_id, replay=True).rows
    rows = [r for r in rows if r["state"] != "resolved"]
    notes = all_stale(scan, as_of, policy.stale_days)
    violations = [r for r in rows if policy.fails(r["type"])]
    others = [r for r in rows if not policy.fails(r["type"])]
    context = (f"policy {chosen or 'built-in defaults'}; scan {scan.scan_id} finished {scan.finished}; "
               f"as of {as_of.isoformat()}; fails on {', '.join(policy.fail_on) or 'nothing'}")
    if args.format == "junit":
        properties = (("policy", str(chosen or "built-in defaults")), ("scan_id", scan.scan_id),
                      ("as_of", as_of.isoformat()), ("fail_on", ", ".join(policy.fail_on)),
                      *(("warning", note) for note in notes))
        text = render_junit(violations, others, policy, scan.finished, properties)
    elif args.format == "markdown":
        text = render_markdown(violations, others, context, notes)
    else:
        text = render_text(violations, others, context, notes)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        for note in notes:
            print(f"fleetsam check: warning: {one_line(note)}")
        print(f"fleetsam check: {_headline(violations, others)}; {args.format} written to {args.output}")
    else:
        sys.stdout.write(text)
    return ExitCode.VIOLATIONS if violations else ExitCode.OK


def add_policy_option(parser: argparse.ArgumentParser) -> None:
    """``--policy FILE``, for every command that computes findings (``findings.policy.policy_path``)."""
    parser.add_argument("--policy", help="policy file (default: env FLEETSAM_POLICY, else ./policy.yml if present)")


def register(subparsers) -> None:
    """Add ``fleetsam check`` to the main parser's subcommands."""
    p = subparsers.add_parser("check", help="check the fleet against the policy (exit 1 on violations)",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_policy_option(p)
    p.add_argument("--format", choices=("text", "junit", "markdown"), default="text",
                   help="text (default), junit (JUnit XML for CI test reports) or markdown (a CI job summary)")
    p.add_argument("--output", help="write the report to this file instead of standard output")
    p.add_argument("--as-of", help="date the findings are computed for, on the fleet as it stood at the end of "
                                   "that day, YYYY-MM-DD (default: today)")
    add_licences_option(p)
    p.add_argument("--notify", help="also validate this notification file (its secret variables must be set)")
    p.set_defaults(func=cmd_check)
