"""``fleetsam licence``: add, list, show, remove, import and validate entitlements.

Hand-entered and imported entitlements live in the store; ``licences/*.yml``
(``--licences``, env ``FLEETSAM_LICENCES``) are read from disk every time and
shown beside them; one that is stored too is shown once, with the error every
reconciling command gives (``licensing.context.counted_once``). Licence keys
are printed masked, always. Bad input raises ``ValidationFailed``:
``cli.commands`` prints every problem as ``file:line:col: field: message`` on
stderr and exits 2. Only ``add`` and ``import`` may create the store;
``list``, ``show`` and ``remove`` need one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import TYPE_CHECKING

from sam_engine.vocabulary import METRICS, OnRestated
from sam_engine.cli.exit_codes import BadInput, ExitCode
from sam_engine.plain_text import one_line
from sam_engine.store import open_store, store_exists

if TYPE_CHECKING:
    from sam_engine.entitlements.schema import CatalogueLike
    from sam_engine.model import Entitlement, Problem

# entitlement field -> ``licence add`` flag
ADD_FLAGS = {
    "publisher": "--publisher", "product": "--product", "edition": "--edition", "version_range": "--version-range",
    "metric": "--metric", "quantity": "--quantity", "term_start": "--start", "term_end": "--end",
    "maintenance_end": "--maintenance-end", "downgrade_rights": "--downgrade",
    "suite_components": "--suite-component", "vendor": "--vendor", "po_number": "--po", "invoice": "--invoice",
    "purchase_date": "--purchase-date", "unit_cost": "--unit-cost", "pack_size": "--pack-size", "currency": "--currency",
    "keys": "--key", "licensing": "--licensing",
}
ADD_HELP = {
    "publisher": "publisher, as the catalogue names it (required)", "product": "product, as the catalogue names it "
    "(required)", "edition": "edition covered; 'any' for every edition (default: none: only installations "
    "without an edition)", "version_range": "versions covered, e.g. '>=19,<22'",
    "quantity": "licences bought: a whole number or 'unlimited' (required but for a site licence)",
    "term_start": "first day of the term, YYYY-MM-DD", "term_end": "last day of a subscription, YYYY-MM-DD "
    "(default: perpetual)", "maintenance_end": "last day of maintenance, YYYY-MM-DD",
    "suite_components": "a product the suite includes (repeatable)", "vendor": "reseller or vendor bought from",
    "po_number": "purchase order number", "invoice": "invoice number", "purchase_date": "date bought, YYYY-MM-DD",
    "unit_cost": "price of one licence (one metric unit), or of one pack with --pack-size, e.g. 47500.00 or "
    "'$47,500.00'", "pack_size": "metric units per pack when --unit-cost is a pack's price, e.g. 2 for 2-core packs",
    "currency": "ISO 4217 code, e.g. EUR",
    "keys": "a licence key (repeatable; stored as given, always printed masked)",
    "licensing": "processor or core licences of VMs: 'host' licenses the physical servers they run on, 'vm' "
    "each VM (default: the product's rule)",
}


def load_default_catalogue() -> CatalogueLike:
    """The shipped catalogue plus the user catalogues of ``FLEETSAM_CATALOGUE_EXTRA`` (os.pathsep-separated)."""
    from sam_engine.entitlements.schema import ValidationFailed, has_errors
    from sam_engine.licensing.catalogue import load_catalogue
    from sam_engine.licensing.context import LicenceSettings

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


def list_fields() -> tuple[str, ...]:
    """The columns of ``licence list``: the id, every entitlement field, the origin and the term status."""
    from sam_engine.entitlements.schema import FIELDS

    return ("entitlement_id", *FIELDS, "origin", "status")


def entitlement_view(ent: Entitlement) -> dict:
    """An entitlement for output: every field, keys masked."""
    from sam_engine.entitlements.schema import mask_key

    view = {name: getattr(ent, name) for name in list_fields() if name != "status"}
    view["suite_components"] = list(ent.suite_components)
    view["keys"] = [mask_key(k) for k in ent.keys]
    view["status"] = term_status(ent)
    return view


def _stored(location: str) -> list[Entitlement]:
    """Stored entitlements; ``NoStore`` when there is no store (nothing is created)."""
    with open_store(location, create=False) as store:
        return store.entitlements()


def add_licences_option(parser: argparse.ArgumentParser) -> None:
    """``--licences DIR``, for every command that reads the licence files (``LicenceSettings.from_env``)."""
    parser.add_argument("--licences", metavar="DIR",
                        help="licence files directory (default: env FLEETSAM_LICENCES, else ./licences when present); "
                             "a directory named here or in FLEETSAM_LICENCES must exist")


def _licence_files(args: argparse.Namespace, stored: list[Entitlement]) -> tuple[list[Entitlement], list[Problem]]:
    """The entitlements in the licence files not stored too (the catalogue is loaded only if there are
    any) and their problems; ``ValidationFailed`` when the directory named is missing."""
    from sam_engine.entitlements.schema import ValidationFailed
    from sam_engine.licensing.context import LicenceSettings, licence_files, licences_dir_problem

    settings = LicenceSettings.from_env(licences=args.licences)
    missing = licences_dir_problem(settings)
    if missing is not None:  # add and import check the files for copies: a typo must not skip that
        raise ValidationFailed([missing])
    return licence_files(settings, load_default_catalogue, stored)


def _print_problems(problems: list[Problem]) -> None:
    from sam_engine.entitlements.schema import format_problem

    for problem in problems:
        print(format_problem(problem), file=sys.stderr)


def cmd_add(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.schema import (Checked, ValidationFailed, check_batch, has_errors, same_as_files,
                                                validate_record)

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
    return ExitCode.OK


def _all(args: argparse.Namespace) -> tuple[list[Entitlement], list[Problem]]:
    stored = _stored(args.store)
    licences, problems = _licence_files(args, stored)
    items = sorted([*stored, *licences], key=lambda e: (e.publisher.casefold(), e.product.casefold(), e.entitlement_id))
    return items, problems


def _find(items: list[Entitlement], wanted: str) -> Entitlement:
    exact = [e for e in items if e.entitlement_id == wanted]
    found = exact or [e for e in items if e.entitlement_id.startswith(wanted)]
    if len(found) != 1:
        raise BadInput(f"{'no' if not found else 'more than one'} entitlement {wanted!r}")
    return found[0]


def cmd_list(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.schema import ValidationFailed, has_errors
    from sam_engine.report.formats import csv_writer, safe_cell

    items, problems = _all(args)
    views = [entitlement_view(e) for e in items]
    if args.format == "json":
        print(json.dumps(views, indent=1, ensure_ascii=False))
    elif args.format == "csv":
        writer = csv_writer(sys.stdout)
        writer.writerow(list_fields())
        for view in views:
            writer.writerow(safe_cell(";".join(v) if isinstance(v, list) else v) for v in view.values())
    else:
        print(f"{'ID':20} {'PUBLISHER':12} {'PRODUCT':24} {'EDITION':12} {'METRIC':11} {'QTY':>9} "
              f"{'STATUS':11} {'KEYS':30} ORIGIN")
        for e, v in zip(items, views):
            qty = "unlimited" if e.quantity is None else e.quantity
            print(one_line(f"{e.entitlement_id:20} {e.publisher:12} {e.product:24} {e.edition or '-':12} "
                           f"{e.metric:11} {qty:>9} {v['status']:11} {', '.join(v['keys']) or '-':30} {e.origin}"))
    if has_errors(problems):
        raise ValidationFailed(problems)
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.schema import ValidationFailed, has_errors

    items, problems = _all(args)
    for name, value in entitlement_view(_find(items, args.id)).items():
        if isinstance(value, list):
            value = ", ".join(value)
        print(f"{name:17} {'-' if value is None or value == '' else one_line(value)}")
    if has_errors(problems):
        raise ValidationFailed(problems)
    return ExitCode.OK


def cmd_remove(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.schema import ValidationFailed
    from sam_engine.model import Problem

    with open_store(args.store, create=False) as store:
        stored = store.entitlements()
        try:
            ent = _find(stored, args.id)
        except BadInput:
            licences, _ = _licence_files(args, stored)
            ent = _find(licences, args.id)  # raises BadInput when it is nowhere
            raise ValidationFailed([Problem(ent.origin, f"{ent.entitlement_id} is defined in this licence file; "
                                                        "edit the file to remove it")]) from None
        store.remove_entitlement(ent.entitlement_id)
    print(f"removed {ent.entitlement_id} ({ent.publisher} {ent.product}, from {ent.origin})")
    return ExitCode.OK


def cmd_import(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.procurement import import_csv

    catalogue = load_default_catalogue()
    with open_store(args.store) as store:
        licences, _ = _licence_files(args, store.entitlements())
        result = import_csv(args.file, args.mapping, store, catalogue, licences, args.restated)
    _print_problems(list(result.warnings))
    replaced = f", {result.replaced} replaced" if result.replaced else ""
    print(f"{result.path}: {result.rows} entitlements, {result.added} new{replaced}, "
          f"{result.already_stored} already stored")
    return ExitCode.OK


def cmd_validate(args: argparse.Namespace) -> int:
    from sam_engine.entitlements.files import licence_paths, load_licence_files
    from sam_engine.entitlements.schema import ValidationFailed, has_errors, same_as_files
    from sam_engine.licensing.context import LicenceSettings, licences_dir_problem

    settings = LicenceSettings.from_env(licences=args.licences)
    missing = None if args.paths else licences_dir_problem(settings)
    if missing is not None:
        raise ValidationFailed([missing])
    paths = args.paths or [settings.licences_dir]
    files = licence_paths(paths)
    stored = _stored(args.store) if store_exists(args.store) else []  # the files can be checked before any scan
    entitlements, problems = load_licence_files(paths, load_default_catalogue(), stored)
    problems += same_as_files(stored, entitlements)
    if has_errors(problems):
        raise ValidationFailed(problems)
    _print_problems(problems)
    print(f"{len(entitlements)} entitlements in {len(files)} licence files, no errors")
    return ExitCode.OK


def register(subparsers) -> None:
    """Add ``fleetsam licence ...`` to the main parser's subcommands."""
    parser = subparsers.add_parser(
        "licence", aliases=["license"], help="manage entitlements (what was bought)",
        description="Add, list, show, remove, import and validate entitlements: those stored (entered by hand "
                    "or imported from procurement) and those in the licence files, which are read every time. "
                    "Licence keys are always printed masked.")
    add_licences_option(parser)
    sub = parser.add_subparsers(dest="licence_command", required=True)

    p = sub.add_parser("add", help="store one entitlement entered by hand",
                       description="Validate one entitlement against the catalogue and store it (the store is "
                                   "created if needed). An entitlement already stored is not stored twice.")
    for name, flag in ADD_FLAGS.items():
        if name == "downgrade_rights":
            p.add_argument(flag, dest=name, action="store_true", help="downgrade rights to earlier versions")
        elif name in ("suite_components", "keys"):
            p.add_argument(flag, dest=name, action="append", default=[], help=ADD_HELP[name])
        elif name == "metric":
            p.add_argument(flag, dest=name, help=f"how use is counted, one of: {', '.join(sorted(METRICS))} "
                                                 "(required)")
        else:
            p.add_argument(flag, dest=name, help=ADD_HELP[name])
    p.add_argument("--key-stdin", action="store_true",
                   help="read licence keys from stdin, one a line (keeps them out of shell history)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="list stored and licence-file entitlements (keys masked)",
                       description="List the stored entitlements and those in the licence files, with their "
                                   "term status and origin; keys masked.")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format (default: table)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show one entitlement (keys masked)",
                       description="Show every field of one entitlement, stored or from a licence file; keys masked.")
    p.add_argument("id", help="entitlement id or a unique prefix")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("remove", help="remove one stored entitlement",
                       description="Remove one stored entitlement. One from a licence file is removed by "
                                   "editing that file.")
    p.add_argument("id", help="entitlement id or a unique prefix")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("import", help="import a procurement CSV: all rows or nothing",
                       description="Import the entitlements of a procurement CSV export through a column mapping: "
                                   "every row is validated first, and one bad row stores nothing.")
    p.add_argument("file", help="CSV export (XLSX is not supported: save it as CSV)")
    p.add_argument("--mapping", required=True, help="column mapping file (mappings/*.yml)")
    restating = p.add_mutually_exclusive_group()
    restating.add_argument("--replace", dest="restated", action="store_const", const=OnRestated.REPLACE,
                           default=OnRestated.REFUSE,
                           help="a row restating a stored purchase line (same PO number, product, edition and "
                                "metric, other values) replaces the line's stored entitlements")
    restating.add_argument("--keep-both", dest="restated", action="store_const", const=OnRestated.KEEP_BOTH,
                           help="store such a row beside the stored ones (another purchase on the same order)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("validate", help="check the licence files and print every problem",
                       description="Check licence files (and their keys against the stored entitlements, when "
                                   "there is a store) and print every problem as file:line:col: field: message.")
    p.add_argument("paths", nargs="*", help="licence files or directories (default: --licences)")
    p.set_defaults(func=cmd_validate)
