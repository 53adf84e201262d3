"""``fleetsam licence``: add, list, show, remove, import and validate entitlements.

Hand-entered and imported entitlements live in the store; ``licences/*.yml``
(``--licences``, env ``FLEETSAM_LICENCES``) are read from disk every time and
shown beside them. Licence keys are printed masked, always. Bad input raises
``ValidationFailed``: ``cli.main`` prints every problem as
``file:line:col: field: message`` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import sys
from pathlib import Path

from sam_engine.vocabulary import METRICS
from sam_engine.entitlements.schema import (
    FIELDS,
    CatalogueLike,
    Checked,
    ValidationFailed,
    check_batch,
    format_problem,
    has_errors,
    mask_key,
    same_as_files,
    validate_record,
)
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.entitlements.files import licence_paths, load_licence_files
from sam_engine.licensing.context import LicenceSettings
from sam_engine.model import Entitlement, Problem
from sam_engine.entitlements.procurement import import_csv
from sam_engine.store.interface import open_store

# entitlement field -> ``licence add`` flag
ADD_FLAGS = {
    "publisher": "--publisher", "product": "--product", "edition": "--edition", "version_range": "--version-range",
    "metric": "--metric", "quantity": "--quantity", "term_start": "--start", "term_end": "--end",
    "maintenance_end": "--maintenance-end", "downgrade_rights": "--downgrade",
    "suite_components": "--suite-component", "vendor": "--vendor", "po_number": "--po", "invoice": "--invoice",
    "purchase_date": "--purchase-date", "unit_cost": "--unit-cost", "currency": "--currency", "keys": "--key",
}
LIST_FIELDS = ("entitlement_id", *FIELDS, "origin", "status")


def load_default_catalogue() -> CatalogueLike:
    """The shipped catalogue plus the user catalogues of ``FLEETSAM_CATALOGUE_EXTRA`` (os.pathsep-separated)."""
    catalogue, problems = load_catalogue(list(LicenceSettings.from_env().catalogue_extra))
    if has_errors(problems):
        raise ValidationFailed(problems)
    return catalogue


def term_status(ent: Entitlement, today: datetime.date | None = None) -> str:
    """``perpetual``, ``active``, ``expired`` or ``not started`` (for display only)."""
    today_text = (today or datetime.date.today()).isoformat()
    if ent.term_start and ent.term_start > today_text:
        return "not started"
    if ent.term_end is None:
        return "perpetual"
    return "expired" if ent.term_end < today_text else "active"


def entitlement_view(ent: Entitlement) -> dict:
    """An entitlement for output: every field, keys masked."""
    view = {name: getattr(ent, name) for name in LIST_FIELDS if name != "status"}
    view["suite_components"] = list(ent.suite_components)
    view["keys"] = [mask_key(k) for k in ent.keys]
    view["status"] = term_status(ent)
    return view


def _stored(location: str) -> list[Entitlement]:
    """Stored entitlements, without creating a store that does not exist yet."""
    path = location.removeprefix("tinydb://")
    if "://" not in path and not os.path.exists(path):
        return []
    with open_store(location) as store:
        return store.entitlements()


def _licence_files(args: argparse.Namespace, stored: list[Entitlement]) -> tuple[list[Entitlement], list[Problem]]:
    """The entitlements in the licence files (the catalogue is loaded only if there are any)."""
    path = Path(args.licences)
    if not path.exists() or (path.is_dir() and not licence_paths([path])):
        return [], []
    return load_licence_files([args.licences], load_default_catalogue(), stored)


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        print(format_problem(problem), file=sys.stderr)


def cmd_add(args: argparse.Namespace) -> int:
    raw = {name: getattr(args, name) for name in ADD_FLAGS if getattr(args, name) not in (None, [], False)}
    if args.key_stdin:
        raw["keys"] = [*raw.get("keys", []), *(line.strip() for line in sys.stdin if line.strip())]
    catalogue = load_default_catalogue()
    ent, problems = validate_record(raw, "cli", catalogue, locate=lambda name: ADD_FLAGS.get(name, "cli"))
    if ent is None:
        raise ValidationFailed(problems)
    with open_store(args.store) as store:
        stored = store.entitlements()
        licences, _ = _licence_files(args, stored)
        items, key_problems = check_batch([Checked(ent, ADD_FLAGS["keys"])], [*stored, *licences])
        problems += key_problems + same_as_files(items, licences)
        if has_errors(problems):
            raise ValidationFailed(problems)
        _print_problems(problems)
        added = store.add_entitlements(items)
    print(f"{'added' if added else 'already stored:'} {items[0].entitlement_id}")
    return 0


def _all(args: argparse.Namespace) -> tuple[list[Entitlement], list[Problem]]:
    stored = _stored(args.store)
    licences, problems = _licence_files(args, stored)
    items = sorted([*stored, *licences], key=lambda e: (e.publisher.casefold(), e.product.casefold(), e.entitlement_id))
    return items, problems


def _find(items: list[Entitlement], wanted: str) -> Entitlement:
    exact = [e for e in items if e.entitlement_id == wanted]
    found = exact or [e for e in items if e.entitlement_id.startswith(wanted)]
    if len(found) != 1:
        raise LookupError(f"{'no' if not found else 'more than one'} entitlement {wanted!r}")
    return found[0]


def cmd_list(args: argparse.Namespace) -> int:
    items, problems = _all(args)
    views = [entitlement_view(e) for e in items]
    if args.format == "json":
        print(json.dumps(views, indent=1, ensure_ascii=False))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(LIST_FIELDS)
        for view in views:
            writer.writerow(";".join(v) if isinstance(v, list) else ("" if v is None else v) for v in view.values())
    else:
        print(f"{'ID':20} {'PUBLISHER':12} {'PRODUCT':24} {'EDITION':12} {'METRIC':11} {'QTY':>9} "
              f"{'STATUS':11} {'KEYS':30} ORIGIN")
        for e, v in zip(items, views):
            qty = "unlimited" if e.quantity is None else e.quantity
            print(f"{e.entitlement_id:20} {e.publisher:12} {e.product:24} {e.edition or '-':12} {e.metric:11} "
                  f"{qty:>9} {v['status']:11} {', '.join(v['keys']) or '-':30} {e.origin}")
    if has_errors(problems):
        raise ValidationFailed(problems)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    items, problems = _all(args)
    for name, value in entitlement_view(_find(items, args.id)).items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{name:17} {'-' if value is None or value == '' else value}")
    if has_errors(problems):
        raise ValidationFailed(problems)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_store(args.store) as store:
        stored = store.entitlements()
        try:
            ent = _find(stored, args.id)
        except LookupError:
            licences, _ = _licence_files(args, stored)
            ent = _find(licences, args.id)  # raises LookupError when it is nowhere
            raise ValidationFailed([Problem(ent.origin, f"{ent.entitlement_id} is defined in this licence file; "
                                                        "edit the file to remove it")]) from None
        store.remove_entitlement(ent.entitlement_id)
    print(f"removed {ent.entitlement_id} ({ent.publisher} {ent.product}, from {ent.origin})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    catalogue = load_default_catalogue()
    with open_store(args.store) as store:
        licences, _ = _licence_files(args, store.entitlements())
        result = import_csv(args.file, args.mapping, store, catalogue, licences)
    _print_problems(list(result.warnings))
    print(f"{result.path}: {result.rows} entitlements, {result.added} new, {result.already_stored} already stored")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    paths = args.paths or [args.licences]
    files = licence_paths(paths)
    stored = _stored(args.store)
    entitlements, problems = load_licence_files(paths, load_default_catalogue(), stored)
    problems += same_as_files(stored, entitlements)
    if has_errors(problems):
        raise ValidationFailed(problems)
    _print_problems(problems)
    print(f"{len(entitlements)} entitlements in {len(files)} licence files, no errors")
    return 0


def register(subparsers) -> None:
    """Add ``fleetsam licence ...`` to the main parser's subcommands."""
    parser = subparsers.add_parser("licence", aliases=["license"], help="manage entitlements (what was bought)")
    parser.add_argument("--licences", default=os.environ.get("FLEETSAM_LICENCES", "licences"),
                        help="licence files directory (default: %(default)s, env FLEETSAM_LICENCES)")
    sub = parser.add_subparsers(dest="licence_command", required=True)

    p = sub.add_parser("add", help="store one entitlement entered by hand")
    for name, flag in ADD_FLAGS.items():
        if name == "downgrade_rights":
            p.add_argument(flag, dest=name, action="store_true", help="downgrade rights to earlier versions")
        elif name in ("suite_components", "keys"):
            p.add_argument(flag, dest=name, action="append", default=[], help="repeatable")
        elif name == "metric":
            p.add_argument(flag, dest=name, help=f"one of: {', '.join(sorted(METRICS))}")
        else:
            p.add_argument(flag, dest=name)
    p.add_argument("--key-stdin", action="store_true",
                   help="read licence keys from stdin, one a line (keeps them out of shell history)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="list stored and licence-file entitlements (keys masked)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show one entitlement (keys masked)")
    p.add_argument("id", help="entitlement id or a unique prefix")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("remove", help="remove one stored entitlement")
    p.add_argument("id", help="entitlement id or a unique prefix")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("import", help="import a procurement CSV: all rows or nothing")
    p.add_argument("file", help="CSV export (XLSX is not supported: save it as CSV)")
    p.add_argument("--mapping", required=True, help="column mapping file (mappings/*.yml)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("validate", help="check the licence files and print every problem")
    p.add_argument("paths", nargs="*", help="licence files or directories (default: --licences)")
    p.set_defaults(func=cmd_validate)
