"""Entitlements: the one schema and the one validator behind every way in.

Licence files (``entitlements.files``), procurement CSV imports
(``entitlements.procurement``) and ``fleetsam licence add`` (``cli.licence``)
all turn their input into a flat ``{field: value}`` mapping and call
``validate_record``; values may be text (CSV cells, YAML scalars, CLI flags)
or already typed (lists, dates).

Problems point at the field: ``po.csv:233:Qty (col 5)`` or
``licences/oracle.yml:14:5``, and their message starts with the field name::

    po.csv:233:Qty (col 5): quantity: expected a whole number >= 0, got "-3"

Identity and idempotency: an entitlement's id is a hash of its normalised
content (every field except ``keys`` and ``origin``), so the same purchase
read again, from the same file or from an overlapping export, gets the same
id and the store keeps one copy. Identical records inside one input are told
apart by their occurrence number (the 2nd identical line hashes with ``2``),
so a PO with two identical lines still counts twice, and re-reading it does
not add a third. Keys are left out of the hash so that adding a forgotten key
does not create a second, double-counted entitlement.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from sam_engine.entitlements import fields
from sam_engine.entitlements.fields import FieldError, ParseOptions
from sam_engine.model import Entitlement, Problem
from sam_engine.plain_text import one_line
from sam_engine.vocabulary import ANY_EDITION, Metric

# Field name -> parser. The order is the order of the id hash and of listings.
FIELDS: dict[str, Callable] = {
    "publisher": fields.parse_text,
    "product": fields.parse_text,
    "edition": fields.parse_text,
    "version_range": fields.parse_version_range,
    "metric": fields.parse_metric,
    "quantity": fields.parse_quantity,
    "term_start": fields.parse_date,
    "term_end": fields.parse_date,
    "maintenance_end": fields.parse_date,
    "downgrade_rights": fields.parse_bool,
    "suite_components": fields.parse_list,
    "vendor": fields.parse_text,
    "po_number": fields.parse_text,
    "invoice": fields.parse_text,
    "purchase_date": fields.parse_date,
    "unit_cost": fields.parse_money,
    "pack_size": fields.parse_pack_size,
    "currency": fields.parse_currency,
    "keys": fields.parse_list,
    "licensing": fields.parse_licensing,
}
REQUIRED = ("publisher", "product", "metric")  # and quantity, except for site licences
ID_FIELDS = tuple(f for f in FIELDS if f != "keys")


class CatalogueLike(Protocol):
    """What the validator needs from the normalisation catalogue."""

    def knows(self, publisher: str, product: str, edition: str | None = None) -> bool: ...

    def has_editions(self, publisher: str, product: str) -> tuple[str, ...] | None: ...


class ValidationFailed(Exception):
    """Input was rejected; ``problems`` says where and why. The CLI exits 2."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(format_problem(p) for p in self.problems))


def format_problem(problem: Problem) -> str:
    """``file:line:col: field: message`` (warnings say so after the location), one inert line: both
    may quote the input (``plain_text``)."""
    if problem.severity == "error":
        return f"{one_line(problem.source)}: {one_line(problem.message)}"
    return f"{one_line(problem.source)}: {problem.severity}: {one_line(problem.message)}"


def mask_key(key: str, visible: int = 5) -> str:
    """Hide a licence key but its last few characters, keeping its layout.

    ``ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ`` -> ``XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ``;
    short keys show at most a third of their characters.
    """
    count = sum(1 for c in key if c.isalnum())
    hide = count - min(visible, count // 3)
    out, seen = [], 0
    for c in key:
        if c.isalnum():
            out.append("X" if seen < hide else c)
            seen += 1
        else:
            out.append(c)
    return "".join(out)


def _key_identity(key: str) -> str:
    return "".join(key.split()).upper()


def entitlement_id(ent: Entitlement, occurrence: int = 1) -> str:
    """The content address of an entitlement (see the module docstring)."""
    content: list = []
    for name in ID_FIELDS:
        value = getattr(ent, name)
        if name in ("publisher", "product", "edition") and value:
            value = value.casefold()
        elif name == "suite_components":
            value = sorted(v.casefold() for v in value)
        elif name == "unit_cost" and value is not None:
            value = str(Decimal(value).normalize())  # 1234.5 and 1234.50 are one price
        elif name in ("pack_size", "licensing") and value is None:
            continue  # added later: entitlements without them keep the ids they were stored under
        content.append(value)
    if occurrence > 1:
        content.append(occurrence)
    blob = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    return "ent-" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _is_empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple)) and not value


def validate_record(
    raw: Mapping,
    origin: str,
    catalogue: CatalogueLike,
    *,
    locate: Callable[[str], str] | None = None,
    options: ParseOptions = ParseOptions(),
    defaults: Mapping | None = None,
) -> tuple[Entitlement | None, list[Problem]]:
    """Check one raw record; return the entitlement (None if any error) and the problems.

    ``origin`` is the record's source (``po.csv:233``); ``locate(field)`` gives
    a field's location (the record's own when the field is absent). ``defaults``
    fill empty fields (a currency in the cost cell beats a default currency).
    The id is the occurrence-1 content id; ``check_batch`` numbers repeats apart.
    """
    where = locate or (lambda _field: origin)
    problems: list[Problem] = []
    explicit_currency = not _is_empty(raw.get("currency"))
    raw = {**raw, **{k: v for k, v in (defaults or {}).items() if _is_empty(raw.get(k))}}

    def fail(name: str, message: str) -> None:
        problems.append(Problem(where(name), f"{name}: {message}"))

    for name in raw:
        if name not in FIELDS:
            fail(str(name), f"unknown field; expected one of {', '.join(FIELDS)}")
    values: dict = {}
    failed: set[str] = set()
    for name, parse in FIELDS.items():
        value = raw.get(name)
        if _is_empty(value):
            continue
        try:
            values[name] = parse(value, options)
        except FieldError as exc:
            failed.add(name)
            fail(name, str(exc))

    for name in REQUIRED:
        if _is_empty(raw.get(name)):
            fail(name, "required, but missing or empty")
    metric = values.get("metric")
    quantity = values.get("quantity", fields.UNLIMITED)
    if quantity is fields.UNLIMITED and metric not in (None, Metric.SITE) and "quantity" not in failed:
        if _is_empty(raw.get("quantity")):
            fail("quantity", "required (only a site licence may leave it empty)")
        else:
            fail("quantity", f'"unlimited" is only valid for metric site, not {metric}')

    if values.get("licensing") and metric not in (None, Metric.PROCESSOR, Metric.CORE):
        fail("licensing", f"only a processor or core licence can choose between the VMs and their host, "
                          f"not {metric}")

    start, end = values.get("term_start"), values.get("term_end")
    if start and end and end < start:
        fail("term_end", f"{end} is before term_start {start}")

    amount, cost_currency, marker = values.pop("unit_cost", (None, None, None))
    currency = values.get("currency")
    if cost_currency and not explicit_currency:
        currency = cost_currency
    elif cost_currency and currency and cost_currency != currency:
        fail("currency", f'"{currency}" conflicts with the currency in unit_cost ("{marker}" = {cost_currency})')

    keys = values.get("keys", ())
    seen: set[str] = set()
    for key in keys:
        ident = _key_identity(key)
        if ident in seen:
            fail("keys", f"licence key {mask_key(key)} is listed twice")
        seen.add(ident)

    publisher, product, edition = values.get("publisher"), values.get("product"), values.get("edition")
    every = edition is not None and edition.strip().casefold() == ANY_EDITION
    if publisher and product and not catalogue.knows(publisher, product, None if every else edition):
        shown = f"publisher {fields.shown(publisher)}, product {fields.shown(product)}" + (
            f", edition {fields.shown(edition)}" if edition else "")
        fail("product", f"not in the catalogue: {shown}; fix the name or add a catalogue entry")
    elif publisher and product and edition is None:
        editions = catalogue.has_editions(publisher, product)
        if editions is not None:  # an editionless entitlement covers only editionless installations
            listed = f" ({', '.join(editions[:6])}{', ...' if len(editions) > 6 else ''})" if editions else ""
            problems.append(Problem(where("edition"), f"edition: none named, so this entitlement covers only "
                                    f"{product} installations recognised without an edition, not its editions"
                                    f"{listed}; name the edition bought, or write `edition: any` to cover every "
                                    f"edition", "warning"))

    if any(p.severity == "error" for p in problems):
        return None, problems
    ent = Entitlement(
        entitlement_id="",
        publisher=publisher,
        product=product,
        metric=metric,
        quantity=None if quantity is fields.UNLIMITED else quantity,
        origin=origin,
        edition=edition,
        version_range=values.get("version_range"),
        term_start=start,
        term_end=end,
        maintenance_end=values.get("maintenance_end"),
        downgrade_rights=values.get("downgrade_rights", False),
        suite_components=values.get("suite_components", ()),
        vendor=values.get("vendor"),
        po_number=values.get("po_number"),
        invoice=values.get("invoice"),
        purchase_date=values.get("purchase_date"),
        unit_cost=amount,
        currency=currency,
        keys=tuple(keys),
        pack_size=values.get("pack_size"),
        licensing=values.get("licensing"),
    )
    return replace(ent, entitlement_id=entitlement_id(ent)), problems


@dataclass(frozen=True, slots=True)
class Checked:
    """A validated record and where its ``keys`` field is (for key problems)."""

    entitlement: Entitlement
    keys_at: str


def check_batch(
    records: Sequence[Checked], existing: Iterable[Entitlement] = ()
) -> tuple[list[Entitlement], list[Problem]]:
    """Give repeated identical records distinct ids and reject licence keys used twice.

    A key may appear once in the input, and only on the entitlement that already
    holds it in ``existing`` (the store, the licence files): re-reading a file
    is not a duplicate, giving someone else's key is.
    """
    holders: dict[str, Entitlement] = {}
    stored_keys: dict[str, set[str]] = {}
    for ent in existing:
        stored_keys[ent.entitlement_id] = {_key_identity(k) for k in ent.keys}
        for key in ent.keys:
            holders.setdefault(_key_identity(key), ent)
    occurrences: Counter[str] = Counter()
    given: dict[str, str] = {}
    out: list[Entitlement] = []
    problems: list[Problem] = []
    for record in records:
        ent = record.entitlement
        occurrences[ent.entitlement_id] += 1
        if occurrences[ent.entitlement_id] > 1:
            ent = replace(ent, entitlement_id=entitlement_id(ent, occurrences[ent.entitlement_id]))
        for key in ent.keys:
            ident = _key_identity(key)
            holder = holders.get(ident)
            if ident in given:
                message = f"keys: licence key {mask_key(key)} is also given at {given[ident]}"
                problems.append(Problem(record.keys_at, message))
            elif holder is not None and holder.entitlement_id != ent.entitlement_id:
                problems.append(Problem(
                    record.keys_at,
                    f"keys: licence key {mask_key(key)} already belongs to {holder.entitlement_id} ({holder.origin})",
                ))
            given.setdefault(ident, ent.origin)
        kept = stored_keys.get(ent.entitlement_id)
        if kept is not None and kept != {_key_identity(k) for k in ent.keys}:
            problems.append(Problem(
                record.keys_at,
                f"keys: {ent.entitlement_id} is already stored with other licence keys; the stored keys are kept",
                "warning",
            ))
        out.append(ent)
    return out, problems


def same_as_files(items: Iterable[Entitlement], files: Iterable[Entitlement]) -> list[Problem]:
    """Stored or imported entitlements identical to one in a licence file: it would count twice."""
    defined = {e.entitlement_id: e for e in files}
    return [
        Problem(e.origin, f"the same entitlement is already in {defined[e.entitlement_id].origin} "
                          f"({e.entitlement_id}); keep only one of them")
        for e in items if e.entitlement_id in defined
    ]


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)
