"""``fleetsam store init``, ``store upgrade`` and ``store copy``: a store's schema and its move between backends.

The store location is the global ``--store`` (env ``FLEETSAM_STORE``): a TinyDB
file path or a ``postgresql://user@host:port/db`` URL, the password taken from
``PGPASSWORD`` or ``PGPASSFILE`` and never printed. The work is done in
``store.admin``; this module only parses and prints.
"""

from __future__ import annotations

import argparse

from sam_engine.cli.exit_codes import ExitCode
from sam_engine.store import masked


def cmd_store(args: argparse.Namespace) -> int:
    from sam_engine.store.admin import copy_store, init_store, upgrade_store

    if args.store_command == "init":
        print(init_store(args.store))
    elif args.store_command == "upgrade":
        print(upgrade_store(args.store))
    else:
        checks = copy_store(args.source, args.destination)
        print(f"copied {masked(args.source)} to {masked(args.destination)}; verified:")
        for c in checks:
            print(f"  {c.table:15} {c.copy_count:8} documents  sha256 {c.copy_digest[:16]}")
    return ExitCode.OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="create, migrate or copy a store (TinyDB file or PostgreSQL database)",
                       description="Create or migrate the store named by --store / FLEETSAM_STORE, or copy a "
                                   "store to another backend. A PostgreSQL URL's password is read from "
                                   "PGPASSWORD or PGPASSFILE and is never printed.")
    store_sub = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    for name, text in (("init", "create the store (for PostgreSQL: the schema, in an existing empty database); "
                                "an existing current store is left as it is"),
                       ("upgrade", "apply the numbered schema migrations an older store lacks, in one transaction")):
        store_sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    text = ("copy every scan, inventory, entitlement and notification state from SRC into the new, empty store "
            "DST, then verify counts and digests table by table (exit 2 with what differs)")
    cp = store_sub.add_parser("copy", help=text, description=text[0].upper() + text[1:] + ".")
    cp.add_argument("source", metavar="SRC", help="the store to copy from: a TinyDB path or a postgresql:// URL")
    cp.add_argument("destination", metavar="DST", help="the empty store to copy into (a PostgreSQL database "
                                                       "needs 'fleetsam store init' first)")
    p.set_defaults(func=cmd_store)
