"""``fleetsam notify outbox``: the notification deliveries still in the store, and what to do with given-up ones.

A delivery stays in the outbox (``findings.outbox``) while it is pending, while a
run's claim holds it, and once it is given up (refused for good, or failed on
every run allowed): given-up ones are never sent again unless the operator
retries them here, and stay until purged here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.plain_text import one_line_fields
from sam_engine.store import open_store

COLUMNS = (("channel", "CHANNEL"), ("event", "EVENT"), ("finding", "FINDING"), ("title", "TITLE"), ("at", "AT"),
           ("attempts", "TRIES"), ("state", "STATE"), ("last_error", "LAST ERROR"))


def _state(d: dict, now: str) -> str:
    """Given up, claimed by a run whose claim still holds, or pending (a lapsed claim is taken over)."""
    if d.get("dead_at"):
        return f"given up at {d['dead_at']}"
    if d.get("claimed_by") and (d.get("claimed_until") or "") > now:
        return f"claimed by {d['claimed_by']} until {d['claimed_until']}"
    return "pending"


def _row(d: dict, now: str) -> dict:
    finding = d.get("finding") or {}
    return {"delivery_id": d["delivery_id"], "channel": d.get("channel"), "event": d.get("event"),
            "finding": finding.get("id"), "title": finding.get("title"), "at": d.get("at"),
            "attempts": d.get("attempts", 0), "state": _state(d, now), "last_error": d.get("last_error"),
            "last_attempt": d.get("last_attempt"), "to": d.get("to"), "claimed_by": d.get("claimed_by"),
            "claimed_until": d.get("claimed_until"), "dead_at": d.get("dead_at")}


def _print_table(rows: list[dict]) -> None:
    # every value made one inert line first, so that the widths are those of what is printed
    shown = [one_line_fields({key: "-" if r[key] is None else str(r[key]) for key, _ in COLUMNS}) for r in rows]
    widths = {key: max([len(head)] + [len(s[key]) for s in shown]) for key, head in COLUMNS}
    print(" ".join(f"{head:{widths[key]}}" for key, head in COLUMNS).rstrip())
    for s in shown:
        print(" ".join(f"{s[key]:{widths[key]}}" for key, _ in COLUMNS).rstrip())


def _list(args: argparse.Namespace) -> int:
    from sam_engine.findings.outbox import stamp

    with open_store(args.store, create=False, readonly=True) as st:
        docs = st.deliveries()
    now = stamp(dt.datetime.now(dt.timezone.utc))
    rows = [_row(d, now) for d in docs]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif rows:
        _print_table(rows)
    else:
        print("the outbox is empty: every notification was delivered")
    return ExitCode.OK


def _given_up(args: argparse.Namespace) -> int:
    """Purge the given-up deliveries, or make them pending again (no attempts, so 10 more runs)."""
    with open_store(args.store, create=False) as st:
        dead = [d for d in st.deliveries() if d.get("dead_at")]
        if args.purge_given_up:
            st.remove_deliveries([d["delivery_id"] for d in dead])
        else:  # None, not a missing key: the stores merge a saved document into the stored one
            st.save_deliveries([{**d, "dead_at": None, "attempts": 0} for d in dead])
    if args.purge_given_up:
        print(f"removed {len(dead)} given-up deliveries from the outbox")
    else:
        print(f"{len(dead)} given-up deliveries are pending again: the next run sends them")
    return ExitCode.OK


def cmd_notify(args: argparse.Namespace) -> int:
    return _given_up(args) if args.purge_given_up or args.retry_given_up else _list(args)


def register(sub) -> None:
    """Add ``fleetsam notify outbox`` to the main parser's subcommands."""
    p = sub.add_parser("notify", help="the notification outbox: deliveries pending or given up",
                       description="Look after the notifications the runs queue in the store.")
    notify_sub = p.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    text = ("list the deliveries in the store's outbox (channel, event, finding, when, attempts, state: pending, "
            "claimed by a run until a time, or given up, and the last error), or purge or retry the given-up ones")
    out = notify_sub.add_parser("outbox", help=text, description=text[0].upper() + text[1:] + ".")
    out.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    action = out.add_mutually_exclusive_group()
    action.add_argument("--purge-given-up", action="store_true",
                        help="remove the given-up deliveries (refused for good, or failed on every run allowed)")
    action.add_argument("--retry-given-up", action="store_true",
                        help="make the given-up deliveries pending again, attempts at 0: the next run sends them")
    p.set_defaults(func=cmd_notify)
