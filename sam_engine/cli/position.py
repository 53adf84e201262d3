"""``fleetsam position``: the Effective Licence Position of the fleet.

Reads the fleet (every known host with its newest inventory; with ``--as-of``
the fleet as it stood at the end of that day) and the stored entitlements from the store, the licence
files (``--licences``, env ``FLEETSAM_LICENCES``), the product catalogue and the
metric rule data (``catalogue/metrics/``), and prints one line per product, or with
``--product`` / ``--detail`` the installations and the arithmetic behind every
figure. The table, JSON and CSV all come from ``position.position_to_rows``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from sam_engine.vocabulary import LICENSABLE, URGENCY, Status
from sam_engine.cli.exit_codes import ExitCode
from sam_engine.cli.licence import add_licences_option
from sam_engine.plain_text import one_line, one_line_fields
from sam_engine.store import open_store

if TYPE_CHECKING:
    from sam_engine.licensing.position import LicencePosition, ProductPosition


def _matches(p: ProductPosition, wanted: str) -> bool:
    label = " ".join(x for x in (p.publisher, p.product, p.edition) if x).casefold()
    return wanted.casefold() == p.product.casefold() or wanted.casefold() in label


def _cell(value) -> str:
    if value is None or value == []:
        return "-"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def print_table(pos: LicencePosition, products: list[ProductPosition], detail: bool, totals: bool = True) -> None:
    from sam_engine.licensing.position import position_to_rows

    rows = [one_line_fields(r) for r in position_to_rows(products, detail=detail)]
    print(f"Effective Licence Position as of {pos.as_of.isoformat()}")
    print(f"{'PUBLISHER':12} {'PRODUCT':24} {'EDITION':18} {'METRIC':10} {'INST':>5} {'USED':>6} {'OWNED':>9} "
          f"{'BALANCE':>8} {'SHORT':>6} {'STATUS':17} {'GAP COST':>14}")
    for r in rows:
        cost = f"{r['gap_cost']} {r['currency'] or ''}".strip() if r["gap_cost"] else "-"
        stale = " *" if r["stale_hosts"] else ""
        print(f"{_cell(r['publisher'])[:12]:12} {r['product'][:24]:24} {_cell(r['edition'])[:18]:18} "
              f"{_cell(r['metric']):10} {r['installations']:5} {r['consumption']:6} {_cell(r['owned']):>9} "
              f"{_cell(r['balance']):>8} {r['shortfall']:6} {r['status']:17} {cost:>14}{stale}")
        if detail:
            _print_detail(r)
    if any(r["stale_hosts"] for r in rows):
        print("* counted from the last inventory of a stale (unreachable or failed) host")
    if totals:  # only for the whole position, not one product
        for currency, amount in pos.cost_totals:
            print(f"gap cost total: {amount} {currency}")
        for note in pos.notes:
            print(f"note: {one_line(note)}")


def _print_detail(row: dict) -> None:
    for section in ("consumption", "ownership", "cost"):
        for line in row["trace"][section]:
            print(f"    {section:11} {one_line(line)}")
    for note in row["notes"]:
        print(f"    {'note':11} {note}")
    for i in map(one_line_fields, row["installation_list"]):
        stale = " (stale)" if i["stale"] else ""
        print(f"    {'installed':11} {i['host']}{stale}: {i['name']} {i['version'] or ''} [{i['source']}, "
              f"scan {i['scan_id']}, {i['licence']}]")


def print_csv(products: list[ProductPosition]) -> None:
    from sam_engine.licensing.position import position_to_rows
    from sam_engine.report.formats import csv_writer, safe_cell

    rows = position_to_rows(products)
    writer = csv_writer(sys.stdout)
    if rows:
        writer.writerow(rows[0].keys())
    for r in rows:
        writer.writerow(safe_cell(";".join(map(str, v)) if isinstance(v, list) else v) for v in r.values())


def print_json(pos: LicencePosition, products: list[ProductPosition]) -> None:
    from sam_engine.licensing.position import position_to_rows

    rows = position_to_rows(products, detail=True)
    print(json.dumps({
        "as_of": pos.as_of.isoformat(),
        "products": [r for r in rows if r["status"] != Status.UNRECOGNISED.value],
        "unrecognised": [r for r in rows if r["status"] == Status.UNRECOGNISED.value],
        "cost_totals": {currency: str(amount) for currency, amount in pos.cost_totals},
        "total_cost": None if pos.total_cost is None else str(pos.total_cost),
        "notes": list(pos.notes),
    }, indent=1, ensure_ascii=False))


def cmd_position(args: argparse.Namespace) -> int:
    from sam_engine.findings.policy import policy_path, retire_days
    from sam_engine.licensing.context import LicenceSettings, load_context, position_of
    from sam_engine.store.recognition_cache import RecognitionCache
    from sam_engine.store.interface import load_fleet

    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    except ValueError:
        print(f"fleetsam position: error: --as-of {args.as_of!r}: expected YYYY-MM-DD", file=sys.stderr)
        return ExitCode.BAD_INPUT
    with open_store(args.store, create=False, readonly=True) as store:  # a reader: no writer's lock
        scan = load_fleet(store, args.store, as_of=as_of if args.as_of else None,
                          retire_days=retire_days(policy_path()))
        stored = store.entitlements()
    settings = replace(LicenceSettings.from_env(licences=args.licences),
                       rules_dir=Path(args.rules) if args.rules else None,
                       headcount=args.headcount, over_ratio=args.over_ratio,
                       users_file=Path(args.users) if args.users else None)
    ctx = load_context(settings, as_of, stored, memory=RecognitionCache.beside(args.store))  # read only
    for problem in ctx.problems:
        print(problem, file=sys.stderr)
    if ctx.has_errors:
        return ExitCode.BAD_INPUT
    pos = position_of(scan.hosts, ctx)
    products = sorted((p for p in pos if not args.product or _matches(p, args.product)),
                      key=lambda p: (URGENCY.index(p.status.value), (p.publisher or "").casefold(), p.product.casefold()))
    if args.product and not products:
        print(f"fleetsam position: error: no product matches {args.product!r}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if args.format == "json":
        print_json(pos, products)
    elif args.format == "csv":
        print_csv(products)
    else:
        shown = products if args.all or args.product else [p for p in products if p.status.value in LICENSABLE]
        print_table(pos, shown, detail=args.detail or bool(args.product), totals=not args.product)
        hidden = Counter(p.status.value for p in products if p not in shown)
        if hidden:
            print("not listed (--all lists them): " + ", ".join(f"{n} {s}" for s, n in sorted(hidden.items())))
    return ExitCode.OK


def _ratio(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def register(subparsers) -> None:
    """Add ``fleetsam position`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "position", help="Effective Licence Position of the fleet (now, or --as-of a date)",
        description="The Effective Licence Position of the fleet (every known host with its newest inventory): "
                    "per product, the installations, "
                    "the licences consumed under its metric, those owned (stored entitlements and licence "
                    "files), the balance, the status and the cost of any gap. --product or --detail show the "
                    "installations and the arithmetic behind every figure. Exit 0 whatever the position shows "
                    "(fleetsam check judges it); 2 on bad input.")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="table (default; the products that need a licence), json or csv (every product)")
    p.add_argument("--as-of", help="the position as it stood at the end of this day, YYYY-MM-DD: each host's latest "
                                   "inventory by then, the subscription terms valid then (default: today)")
    p.add_argument("--product", help="only products whose name contains NAME (table: with the detail)")
    p.add_argument("--detail", action="store_true", help="table: show installations and the arithmetic")
    p.add_argument("--all", action="store_true",
                   help="table: also list products that need no licence and unrecognised titles")
    add_licences_option(p)
    p.add_argument("--rules", default=os.environ.get("FLEETSAM_RULES"),
                   help="directory with core_factors.yml and metric_rules.yml "
                        "(default: env FLEETSAM_RULES, else the shipped catalogue/metrics/)")
    headcount = os.environ.get("FLEETSAM_HEADCOUNT", "")
    p.add_argument("--headcount", type=int, default=int(headcount) if headcount.isdigit() else None,
                   help="employees, for products licensed per employee (default: env FLEETSAM_HEADCOUNT)")
    p.add_argument("--users", default=os.environ.get("FLEETSAM_USERS") or ("users.yml" if Path("users.yml").is_file()
                                                                          else None),
                   help="named users: the aliases file (default: env FLEETSAM_USERS, else users.yml when present)")
    p.add_argument("--over-ratio", type=_ratio, default=Decimal("0.2"),
                   help="over-licensed when the surplus exceeds this share of consumption (default: %(default)s)")
    p.set_defaults(func=cmd_position)
