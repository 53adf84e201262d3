"""The entitlement schema and validator: every rule, with its exact located message."""

import time
from dataclasses import replace
from pathlib import Path

import pytest

from sam_engine.entitlements.fields import ParseOptions
from sam_engine.entitlements.schema import (Checked, check_batch, entitlement_id, format_problem, mask_key,
                                            validate_record)
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.entitlements.files import licence_paths, load_licence_files

REPO = Path(__file__).resolve().parents[2]
KEY = "Q7M2K-4HXRT-9WBCP-V3D8J-7H3KQ"


class FakeCatalogue:
    """Knows every product but the ones listed as unknown."""

    def __init__(self, unknown=("Databse",)):
        self.unknown = set(unknown)

    def knows(self, publisher, product, edition=None):
        return product not in self.unknown

    def has_editions(self, publisher, product):
        return None  # no product of this fake has editions


def record(**changes):
    raw = {"publisher": "Oracle", "product": "Database", "edition": "Enterprise", "metric": "processor",
           "quantity": "16", "term_start": "2024-01-01"}
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def check(raw, options=ParseOptions(), **kwargs):
    """Validate with each field located at ``x.csv:7:<field>``; return (entitlement, messages)."""
    ent, problems = validate_record(raw, "x.csv:7", FakeCatalogue(), locate=lambda f: f"x.csv:7:{f}",
                                    options=options, **kwargs)
    return ent, [f"{p.source}: {p.message}" for p in problems]


def test_metrics_are_the_engine_names():
    from sam_engine.licensing import metrics
    from sam_engine.vocabulary import METRICS

    assert set(METRICS) == {"installation", "device", "named_user", "processor", "core", "vm", "site", "employee", "pvu"}
    assert set(METRICS) == set(metrics.RULES)


def test_a_full_record_validates():
    ent, problems = check(record(term_end="2026-12-31", maintenance_end="2026-12-31", downgrade_rights="yes",
                                 suite_components="Partitioning; Diagnostics Pack", vendor="Crayon", po_number="PO-1",
                                 invoice="INV-9", purchase_date="2023-12-20", unit_cost="47,500.00", currency="usd",
                                 keys=[KEY], version_range=">=19"))
    assert problems == []
    assert (ent.metric, ent.quantity, ent.term_end, ent.downgrade_rights) == ("processor", 16, "2026-12-31", True)
    assert ent.suite_components == ("Partitioning", "Diagnostics Pack")
    assert (ent.unit_cost, ent.currency, ent.keys, ent.origin) == ("47500.00", "USD", (KEY,), "x.csv:7")
    assert ent.entitlement_id == entitlement_id(ent)


def test_metric_spellings_are_normalised():
    assert check(record(metric="Named User"))[0].metric == "named_user"
    assert check(record(metric="per-core"))[0].metric == "core"


def test_unknown_metric():
    assert check(record(metric="per_seat"))[1] == [
        'x.csv:7:metric: metric: unknown metric "per_seat"; expected one of '
        "core, device, employee, installation, named_user, processor, pvu, site, vm"]


@pytest.mark.parametrize("value", ["-3", "ten", "2.5"])
def test_negative_or_non_numeric_quantity(value):
    assert check(record(quantity=value)) == (
        None, [f'x.csv:7:quantity: quantity: expected a whole number >= 0, got "{value}"'])


def test_unlimited_only_for_site_licences():
    assert check(record(metric="site", quantity="Unlimited"))[0].quantity is None
    assert check(record(metric="site", quantity=None))[0].quantity is None
    assert check(record(quantity="unlimited"))[1] == [
        'x.csv:7:quantity: quantity: "unlimited" is only valid for metric site, not processor']
    assert check(record(quantity=""))[1] == [
        "x.csv:7:quantity: quantity: required (only a site licence may leave it empty)"]


def test_required_fields():
    assert check(record(publisher=None, metric=" "))[1] == [
        "x.csv:7:publisher: publisher: required, but missing or empty",
        "x.csv:7:metric: metric: required, but missing or empty",
    ]


def test_unknown_field():
    assert check(record(qty="3"))[1] == [
        "x.csv:7:qty: qty: unknown field; expected one of publisher, product, edition, version_range, metric, "
        "quantity, term_start, term_end, maintenance_end, downgrade_rights, suite_components, vendor, po_number, "
        "invoice, purchase_date, unit_cost, pack_size, currency, keys, licensing"]


def test_version_range_uses_the_versions_syntax():
    assert check(record(version_range=">=2016,<2020"))[0].version_range == ">=2016,<2020"
    assert check(record(version_range=">=<3"))[1] == [
        'x.csv:7:version_range: version_range: expected a version range like ">=2016,<2020" or "17.*", got ">=<3"']


def test_end_date_before_start():
    assert check(record(term_end="2023-12-31"))[1] == [
        "x.csv:7:term_end: term_end: 2023-12-31 is before term_start 2024-01-01"]


def test_product_the_catalogue_does_not_know():
    assert check(record(product="Databse"))[1] == [
        'x.csv:7:product: product: not in the catalogue: publisher "Oracle", product "Databse", '
        'edition "Enterprise"; fix the name or add a catalogue entry']


@pytest.mark.parametrize("value", ["2024-13-01", "31/12/2024", "2024-2-1", "yesterday"])
def test_malformed_dates(value):
    assert check(record(purchase_date=value))[1] == [
        f'x.csv:7:purchase_date: purchase_date: expected a date YYYY-MM-DD, got "{value}"']


def test_declared_date_format():
    options = ParseOptions(date_format="%d/%m/%Y")
    assert check(record(term_start="31/01/2024"), options)[0].term_start == "2024-01-31"
    assert check(record(term_start="2024-01-31"), options)[0].term_start == "2024-01-31"
    assert check(record(term_start="31/02/2024"), options)[1] == [
        'x.csv:7:term_start: term_start: expected a date DD/MM/YYYY or YYYY-MM-DD, got "31/02/2024", '
        'a day that does not exist']


@pytest.mark.parametrize("text, options, amount", [
    ("1,234.50", ParseOptions(), "1234.50"),
    ("1234.50", ParseOptions(), "1234.50"),
    ("1 234.50", ParseOptions(), "1234.50"),
    ("1.234,50", ParseOptions(decimal_comma=True), "1234.50"),
    ("1234,5", ParseOptions(decimal_comma=True), "1234.5"),
])
def test_unit_cost_is_exact_decimal_text(text, options, amount):
    assert check(record(unit_cost=text), options)[0].unit_cost == amount


def test_bad_unit_cost():
    assert check(record(unit_cost="12,34"))[1] == [
        'x.csv:7:unit_cost: unit_cost: expected an amount >= 0 like 1234.50 or 1,234.50, got "12,34"']
    assert check(record(unit_cost="1,234.50"), ParseOptions(decimal_comma=True))[1] == [
        'x.csv:7:unit_cost: unit_cost: expected an amount >= 0 like 1234,50 or 1.234,50, got "1,234.50"']


@pytest.mark.parametrize("cost, currency", [("$10", "USD"), ("10 €", "EUR"), ("£10.50", "GBP"), ("CHF 10", "CHF")])
def test_currency_in_the_cost_cell(cost, currency):
    assert check(record(unit_cost=cost))[0].currency == currency


def test_currency_must_be_iso_4217():
    assert check(record(currency="EURO"))[1] == [
        'x.csv:7:currency: currency: expected an ISO 4217 currency code like EUR or USD, got "EURO"']


def test_conflicting_currency_column_is_an_error():
    assert check(record(unit_cost="$10", currency="EUR"))[1] == [
        'x.csv:7:currency: currency: "EUR" conflicts with the currency in unit_cost ("$" = USD)']
    assert check(record(unit_cost="$10", currency="USD"))[0].currency == "USD"


def test_defaults_fill_empty_fields_and_a_cost_symbol_beats_the_default_currency():
    ent, problems = check(record(unit_cost="$10", vendor=""), defaults={"currency": "EUR", "vendor": "Crayon"})
    assert problems == [] and (ent.currency, ent.vendor) == ("USD", "Crayon")
    assert check(record(unit_cost="10"), defaults={"currency": "EUR"})[0].currency == "EUR"


def test_key_listed_twice_in_one_record_is_reported_masked():
    assert check(record(keys=[KEY, KEY.lower()]))[1] == [
        "x.csv:7:keys: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7h3kq is listed twice"]


def test_duplicate_keys_in_the_input_and_against_the_store():
    first = check(record(keys=[KEY]))[0]
    second = check(record(quantity="8", keys=[KEY]))[0]
    _, problems = check_batch([Checked(first, "a.yml:3:5"), Checked(second, "b.yml:9:5")])
    assert [f"{p.source}: {p.message}" for p in problems] == [
        "b.yml:9:5: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ is also given at x.csv:7"]
    _, problems = check_batch([Checked(second, "b.yml:9:5")], existing=[first])
    assert [f"{p.source}: {p.message}" for p in problems] == [
        f"b.yml:9:5: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ already belongs to {first.entitlement_id} (x.csv:7)"]


def test_reading_the_same_entitlement_again_is_not_a_duplicate_key():
    ent = check(record(keys=[KEY]))[0]
    assert check_batch([Checked(ent, "x")], existing=[ent]) == ([ent], [])


def test_id_depends_on_content_not_on_origin_or_keys():
    ent = check(record())[0]
    elsewhere, _ = validate_record(record(keys=[KEY], publisher="ORACLE"), "other.yml:99", FakeCatalogue())
    assert elsewhere.entitlement_id == ent.entitlement_id
    assert check(record(quantity="17"))[0].entitlement_id != ent.entitlement_id


def test_identical_records_in_one_input_get_distinct_stable_ids():
    ent = check(record())[0]
    items, problems = check_batch([Checked(ent, "x"), Checked(ent, "x"), Checked(ent, "x")])
    ids = [e.entitlement_id for e in items]
    assert problems == [] and len(set(ids)) == 3 and ids[0] == ent.entitlement_id
    assert [e.entitlement_id for e in check_batch([Checked(ent, "x")] * 3)[0]] == ids


@pytest.mark.parametrize("key, masked", [
    ("ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ", "XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"),
    ("CSI-20849117", "XXX-XXXXX117"),
    ("ab12", "XXX2"),
    ("", ""),
])
def test_mask_key(key, masked):
    assert mask_key(key) == masked


# --- licence files ---------------------------------------------------------------------------

def test_example_licence_files_load_cleanly():
    """The shipped examples validate against the shipped catalogue: their names are its names."""
    catalogue, catalogue_problems = load_catalogue()
    assert catalogue_problems == []
    ents, problems = load_licence_files([REPO / "examples" / "licences"], catalogue)
    assert problems == []
    assert len(ents) == 12 and len({e.entitlement_id for e in ents}) == 12
    by_product = {(e.product, e.edition): e for e in ents}
    assert by_product[("MATLAB", None)].quantity is None
    assert by_product[("Java SE", None)].term_end == "2025-01-31"
    assert by_product[("Microsoft 365 Apps", "Enterprise")].currency == "EUR"
    assert all(e.origin.startswith(str(REPO / "examples" / "licences")) for e in ents)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_licence_file_problems_point_at_the_key(tmp_path):
    path = write(tmp_path, "acme.yml", (
        "entitlements:\n"
        "  - publisher: Oracle\n"
        "    product: Database\n"
        "    metric: processor\n"
        "    quantity: -3\n"
        "    keys: [" + KEY + "]\n"
        "  - {publisher: Oracle, product: Databse, metric: core, quantity: 4, keys: [" + KEY + "]}\n"
    ))
    ents, problems = load_licence_files([tmp_path], FakeCatalogue())
    assert ents == []
    assert [str(p) for p in problems] == [
        f'{path}:5:5: error: quantity: expected a whole number >= 0, got "-3"',
        f'{path}:7:25: error: product: not in the catalogue: publisher "Oracle", product "Databse"; '
        "fix the name or add a catalogue entry",
    ]


def test_licence_file_origin_and_duplicate_keys_across_files(tmp_path):
    entry = "entitlements:\n  - {publisher: Oracle, product: Database, metric: processor, quantity: %d, keys: [%s]}\n"
    a = write(tmp_path, "a.yml", entry % (2, KEY))
    b = write(tmp_path, "b.yml", "# comment\n" + entry % (4, KEY))
    ents, problems = load_licence_files([a, b], FakeCatalogue())
    assert [e.origin for e in ents] == [f"{a}:2", f"{b}:3"]
    assert [str(p) for p in problems] == [
        f"{b}:3:76: error: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ is also given at {a}:2"]


def test_malformed_licence_files_are_located(tmp_path):
    bad_yaml = write(tmp_path, "a.yml", "entitlements:\n  - publisher: [Oracle\n")
    wrong_shape = write(tmp_path, "b.yml", "licences:\n  - publisher: Oracle\n")
    twice = write(tmp_path, "c.yml", "entitlements:\n  - publisher: Oracle\n    publisher: IBM\n"
                                     "    product: Database\n    metric: site\n")
    _, problems = load_licence_files([bad_yaml, wrong_shape, twice, tmp_path / "missing.yml"], FakeCatalogue())
    messages = [str(p) for p in problems]
    assert messages[0].startswith(f"{bad_yaml}:3:1: error: licence file is not valid YAML: ")
    assert messages[1:] == [
        f"{wrong_shape}:1:1: error: licences: unknown field; expected one of entitlements",
        f"{wrong_shape}:1:1: error: entitlements: expected a list of entitlements, got nothing",
        f"{twice}:3:5: error: publisher: given twice (first at {twice}:2:5)",
        f"{tmp_path / 'missing.yml'}: error: cannot read licence file: No such file or directory",
    ]


def test_a_date_in_the_iso_format_is_not_offered_twice_and_a_missing_day_is_named():
    options = ParseOptions(date_format="%Y-%m-%d")  # mappings/generic.yml declares ISO
    assert check(record(term_start="2025-02-29"), options)[1] == [
        'x.csv:7:term_start: term_start: expected a date YYYY-MM-DD, got "2025-02-29", a day that does not exist']
    assert check(record(term_start="1.2.2025"), options)[1] == [
        'x.csv:7:term_start: term_start: expected a date YYYY-MM-DD, got "1.2.2025"']


def test_text_that_is_not_utf8_is_a_field_error_not_a_crash():
    # a command-line byte UTF-8 cannot decode arrives as a lone surrogate; hashing the id raised UnicodeEncodeError
    ent, problems = check(record(vendor="Ven\udcffdor", keys=["KEY-\udcff\udcfe-12345"]))
    assert ent is None and problems == [
        "x.csv:7:vendor: vendor: not valid UTF-8 text (character 4 is a byte UTF-8 cannot decode)",
        "x.csv:7:keys: keys: not valid UTF-8 text (character 5 is a byte UTF-8 cannot decode)"]


def test_problems_are_formatted_as_one_inert_line():
    ent, problems = validate_record(record(product="SQL\x1b[2J\x1b]0;owned\x07Server\u202e", quantity="\x9b2J\u2028x"),
                                    "x.yml:3", FakeCatalogue(unknown=("SQL\x1b[2J\x1b]0;owned\x07Server\u202e",)))
    lines = [format_problem(p) for p in problems]
    assert lines == ['x.yml:3: quantity: expected a whole number >= 0, got "\\x9b2J\\u2028x"',
                     'x.yml:3: product: not in the catalogue: publisher "Oracle", product '
                     '"SQL\\u001b[2J\\u001b]0;owned\\u0007Server\\u202e", edition "Enterprise"; '
                     'fix the name or add a catalogue entry']
    assert format_problem(replace(problems[0], source="x\u202e.yml", severity="warning")).startswith(
        "x\\u202e.yml: warning: ")


def test_licence_files_in_subdirectories_and_with_any_yaml_suffix_are_read(tmp_path):
    entry = "entitlements:\n  - {publisher: Oracle, product: Database, metric: processor, quantity: %d}\n"
    (tmp_path / "microsoft").mkdir()
    (tmp_path / ".git").mkdir()
    files = [write(tmp_path, "microsoft/sql.yml", entry % 1), write(tmp_path, "oracle.YML", entry % 2),
             write(tmp_path, "zz.yaml", entry % 3)]
    write(tmp_path, ".git/config.yml", "not: a licence file")
    write(tmp_path, "notes.txt", "not read")
    assert licence_paths([tmp_path]) == files
    ents, problems = load_licence_files([tmp_path], FakeCatalogue())
    assert problems == [] and [e.quantity for e in ents] == [1, 2, 3]


def test_a_licence_key_out_of_place_is_shown_masked(tmp_path):
    # an indentation slip made the key an entitlement of its own, printed in full
    path = write(tmp_path, "indent.yml", "entitlements:\n  - publisher: Oracle\n    keys:\n  - " + KEY + "\n"
                                         "  - " + "LONG-" * 30 + "KEY\n")
    _, problems = load_licence_files([path], FakeCatalogue())
    assert [str(p) for p in problems][-2:] == [
        f'{path}:4:5: error: expected an entitlement (a mapping of fields), got "XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"',
        f'{path}:5:5: error: expected an entitlement (a mapping of fields), got '
        '"XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-"... (153 characters)']


def test_aliases_that_expand_a_licence_file_beyond_reason_are_refused_quickly(tmp_path):
    lines = ["entitlements:", "  - {publisher: Oracle, product: Database, metric: processor, quantity: 1}",
             "  - publisher: Oracle", "    n0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"    n{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "laughs.yml", "\n".join(lines) + "\n")
    started = time.monotonic()
    ents, problems = load_licence_files([path], FakeCatalogue())
    assert ents == [] and [str(p) for p in problems] == [
        f"{path}:8:9: error: licence file is not valid YAML: its aliases expand to more than 100000 values; "
        "write the data out instead"]
    assert time.monotonic() - started < 2
