"""Procurement CSV import: mappings, located row errors, all-or-nothing, idempotency."""

import codecs
import csv
from dataclasses import replace
from pathlib import Path

import pytest

from sam_engine.entitlements.schema import ValidationFailed
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.entitlements.procurement import import_csv, load_mapping, read_csv
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]
GENERIC = REPO / "mappings" / "generic.yml"
SAP = REPO / "mappings" / "sap-ariba-like.yml"
HEADER = ["Publisher", "Product", "Edition", "Metric", "Quantity", "Start", "End", "Maintenance End", "Downgrade",
          "Vendor", "PO Number", "Invoice", "Purchase Date", "Unit Cost", "Currency", "Licence Keys"]


class FakeCatalogue:
    def knows(self, publisher, product, edition=None):
        return product != "Databse"

    def has_editions(self, publisher, product):
        return None  # no product of this fake has editions


def row(n, **changes):
    """One generic-mapping row; ``n`` makes the PO number and the key unique."""
    values = {"Publisher": "Microsoft", "Product": "SQL Server", "Edition": "Standard", "Metric": "core",
              "Quantity": "4", "Start": "2024-04-01", "End": "", "Maintenance End": "2027-03-31", "Downgrade": "yes",
              "Vendor": "SoftwareOne", "PO Number": f"PO-{n:05d}", "Invoice": f"INV-{n}", "Purchase Date": "2024-03-25",
              "Unit Cost": "1,859.00", "Currency": "USD", "Licence Keys": f"KEY{n:05d}-ABCDE-FGHIJ-KLMNO"}
    values.update(changes)
    return [values[h] for h in HEADER]


def write_csv(path, rows, delimiter=",", bom=False):
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def problems_of(csv_path, mapping_path=GENERIC, existing=()):
    mapping, problems = load_mapping(mapping_path)
    assert problems == []
    ents, problems = read_csv(csv_path, mapping, FakeCatalogue(), existing)
    return ents, [f"{p.source}: {p.message}" for p in problems]


def import_into(store_path, csv_path, mapping_path=GENERIC):
    with open_store(str(store_path)) as store:
        return import_csv(csv_path, mapping_path, store, FakeCatalogue())


@pytest.mark.parametrize("name", ["generic", "sap-ariba-like"])
def test_example_exports_read_with_their_mappings(name):
    ents, problems = problems_of(REPO / "mappings" / "examples" / f"{name}.csv", REPO / "mappings" / f"{name}.yml")
    assert problems == [] and len(ents) == 4


def test_sap_like_mapping_reads_dates_decimal_comma_and_its_own_words():
    ents, _ = problems_of(REPO / "mappings" / "examples" / "sap-ariba-like.csv", SAP)
    vsphere = next(e for e in ents if e.product == "vSphere")
    assert (vsphere.metric, vsphere.quantity) == ("core", 64)
    assert (vsphere.term_start, vsphere.term_end) == ("2025-01-15", "2028-01-14")
    assert (vsphere.unit_cost, vsphere.currency, len(vsphere.keys)) == ("1234.50", "EUR", 2)
    assert [e.currency for e in ents] == ["EUR"] * 4  # the default, and "7,00 €"


def test_bad_row_is_located_by_line_column_and_field(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1), row(2, Quantity="-3", End="2020-01-01"), row(3, Product="Databse")])
    ents, problems = problems_of(path)
    assert problems == [
        f'{path}:3:Quantity (col 5): quantity: expected a whole number >= 0, got "-3"',
        f"{path}:3:End (col 7): term_end: 2020-01-01 is before term_start 2024-04-01",
        f'{path}:4:Product (col 2): product: not in the catalogue: publisher "Microsoft", product "Databse", '
        'edition "Standard"; fix the name or add a catalogue entry',
    ]


def test_semicolons_are_sniffed_and_a_bom_is_skipped(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, **{"Unit Cost": "1234.50"})], delimiter=";", bom=True)
    ents, problems = problems_of(path)
    assert problems == [] and ents[0].unit_cost == "1234.50" and ents[0].publisher == "Microsoft"


def test_declared_date_format_and_decimal_comma(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, Start="01.02.2025", **{"Unit Cost": "1.859,00"})], delimiter=";")
    mapping = tmp_path / "m.yml"
    text = GENERIC.read_text().replace('"%Y-%m-%d"', '"%d.%m.%Y"')
    mapping.write_text(text.replace("decimal_comma: false", "decimal_comma: true"))
    ents, problems = problems_of(path, mapping)
    assert problems == [] and (ents[0].term_start, ents[0].unit_cost) == ("2025-02-01", "1859.00")
    path = write_csv(tmp_path / "po.csv", [row(1, Start="2025/02/01")], delimiter=";")
    assert problems_of(path, mapping)[1] == [
        f'{path}:2:Start (col 6): term_start: expected a date DD.MM.YYYY or YYYY-MM-DD, got "2025/02/01"',
        f'{path}:2:Unit Cost (col 14): unit_cost: expected an amount >= 0 like 1234,50 or 1.234,50, got "1,859.00"',
    ]


def test_conflicting_currency_column(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, **{"Unit Cost": "€1,859.00"})])
    assert problems_of(path)[1] == [
        f'{path}:2:Currency (col 15): currency: "USD" conflicts with the currency in unit_cost ("€" = EUR)']


def test_duplicate_keys_within_the_file_and_against_the_store(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1), row(2, **{"Licence Keys": "KEY00001-ABCDE-FGHIJ-KLMNO"})])
    assert problems_of(path)[1] == [
        f"{path}:3:Licence Keys (col 16): keys: licence key XXXXXXXX-XXXXX-XXXXX-KLMNO is also given at {path}:2"]
    stored, _ = problems_of(write_csv(tmp_path / "old.csv", [row(7, **{"Licence Keys": "KEY00002-ABCDE-FGHIJ-KLMNO"})]))
    assert problems_of(write_csv(tmp_path / "new.csv", [row(2)]), existing=stored)[1] == [
        f"{tmp_path / 'new.csv'}:2:Licence Keys (col 16): keys: licence key XXXXXXXX-XXXXX-XXXXX-KLMNO already "
        f"belongs to {stored[0].entitlement_id} ({tmp_path / 'old.csv'}:2)"]


def test_structural_row_and_header_problems(tmp_path):
    path = tmp_path / "po.csv"
    path.write_text(",".join(HEADER) + "\n" + ",".join(row(1, **{"Unit Cost": "1859"})) + "\n\nMicrosoft,Visio\n")
    assert problems_of(path)[1] == [f"{path}:4: expected 16 columns as in the header, got 2"]
    path.write_text("Publisher,Product\nMicrosoft,Visio\n")
    assert problems_of(path)[1][0] == f'{path}:1: edition: column "Edition" (from {GENERIC}) is not in the header'
    path.write_bytes(",".join(HEADER).encode() + b"\nMicrosoft,Visio \xff\n")
    assert problems_of(path)[1] == [f"{path}:2: not utf-8-sig text (byte 0xff, byte 17 of the line, offset "
                                    f"{len(','.join(HEADER)) + 17} in the file); set format.encoding in the mapping"]


def test_a_bad_byte_after_a_byte_order_mark_is_located_in_the_file_as_it_is(tmp_path):
    # the mark's three bytes used to shift the location: this bad byte was reported on line 1 as 0x0a
    path = tmp_path / "po.csv"
    data = codecs.BOM_UTF8 + ",".join(HEADER).encode() + b"\nMicrosoft,Vis\xffio\n"
    path.write_bytes(data)
    at = data.index(b"\xff")
    assert problems_of(path)[1] == [f"{path}:2: not utf-8-sig text (byte 0xff, byte 14 of the line, offset {at} "
                                    "in the file); set format.encoding in the mapping"]
    path.write_bytes(codecs.BOM_UTF8 + b"\xfe" + data[3:])
    assert problems_of(path)[1][0].startswith(f"{path}:1: not utf-8-sig text (byte 0xfe, byte 4 of the line, offset 3 ")


def test_a_5000_digit_quantity_or_cost_is_a_located_error(tmp_path):
    digits = "9" * 5000
    path = write_csv(tmp_path / "po.csv", [row(1, Quantity=digits), row(2, **{"Unit Cost": digits + ".00"}),
                                           row(3, Quantity="999999999999999")])
    ents, problems = problems_of(path)
    shown = '"' + "9" * 40 + '"... (5000 characters)'
    assert problems == [
        f"{path}:2:Quantity (col 5): quantity: expected a whole number >= 0 of at most 15 digits, got {shown}",
        f"{path}:3:Unit Cost (col 14): unit_cost: expected an amount of at most 15 digits before the decimal mark "
        f'and 9 after, got "{"9" * 40}"... (5003 characters)']
    assert [e.quantity for e in ents] == [999999999999999]
    before = _store_with_one_import(tmp_path)
    with pytest.raises(ValidationFailed):
        import_into(tmp_path / "store.json", path)
    assert (tmp_path / "store.json").read_bytes() == before


def _store_with_one_import(tmp_path) -> bytes:
    import_into(tmp_path / "store.json", write_csv(tmp_path / "good.csv", [row(9)]))
    return (tmp_path / "store.json").read_bytes()


@pytest.mark.parametrize("name", ["generic", "sap-ariba-like"])
def test_shipped_examples_import_into_a_fresh_store_with_the_shipped_catalogue(tmp_path, name):
    catalogue, problems = load_catalogue()
    assert not [p for p in problems if p.severity == "error"]
    store = tmp_path / "store.json"
    with open_store(str(store)) as st:
        result = import_csv(REPO / "mappings" / "examples" / f"{name}.csv", REPO / "mappings" / f"{name}.yml", st,
                            catalogue)
    assert (result.rows, result.added, result.warnings) == (4, 4, ())
    with open_store(str(store)) as st:
        assert len(st.entitlements()) == 4


def test_unusable_mapping_files_are_located_errors(tmp_path):
    mapping = tmp_path / "m.yml"
    assert [str(p) for p in load_mapping(mapping)[1]] == [
        f"{mapping}: error: cannot read mapping file: No such file or directory"]
    mapping.write_text("columns:\n  publisher: Publisher\n  product: [Product\n")
    assert str(load_mapping(mapping)[1][0]).startswith(f"{mapping}:4:1: error: mapping file is not valid YAML")
    mapping.write_text("format:\n  decimal_comma: perhaps\n  date_format: DD/MM\ncolumns:\n  publisher: Publisher\n"
                       "  product: Product\n  qty: Qty\ndefaults:\n  metric: per_seat\n")
    mapping_, problems = load_mapping(mapping)
    assert mapping_ is None and [f"{p.source}: {p.message}" for p in problems] == [
        f'{mapping}:2:3: format.decimal_comma: expected yes or no (true/false), got "perhaps"',
        f"{mapping}:3:3: format.date_format: expected a strptime format like \"%d/%m/%Y\", got \"DD/MM\"",
        f"{mapping}:7:3: columns.qty: unknown entitlement field; expected one of publisher, product, edition, "
        "version_range, metric, quantity, term_start, term_end, maintenance_end, downgrade_rights, suite_components, "
        "vendor, po_number, invoice, purchase_date, unit_cost, pack_size, currency, keys, licensing",
        f'{mapping}:9:3: defaults.metric: unknown metric "per_seat"; expected one of core, device, employee, '
        "installation, named_user, processor, pvu, site, vm",
    ]


def test_bad_mapping_rejects_the_import(tmp_path):
    mapping = tmp_path / "m.yml"
    mapping.write_text("columns:\n  publisher: Publisher\n")
    with pytest.raises(ValidationFailed) as failed:
        import_into(tmp_path / "store.json", write_csv(tmp_path / "po.csv", [row(1)]), mapping)
    assert str(failed.value).splitlines() == [
        f"{mapping}:1:1: columns: no column or default for the required field product",
        f"{mapping}:1:1: columns: no column or default for the required field metric",
    ]
    assert not (tmp_path / "store.json").exists()


def test_ten_thousand_rows_with_one_bad_row_import_nothing(tmp_path):
    store = tmp_path / "store.json"
    import_into(store, write_csv(tmp_path / "first.csv", [row(n) for n in range(20_000, 20_010)]))
    before = store.read_bytes()
    rows = [row(n) for n in range(10_000)]
    rows[7_341] = row(7_341, Quantity="ten")
    big = write_csv(tmp_path / "po.csv", rows)
    with pytest.raises(ValidationFailed) as failed:
        import_into(store, big)
    assert str(failed.value) == f'{big}:7343:Quantity (col 5): quantity: expected a whole number >= 0, got "ten"'
    assert store.read_bytes() == before


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    store = tmp_path / "store.json"
    path = write_csv(tmp_path / "po.csv", [row(n) for n in range(500)] + [row(1), row(1, **{"Licence Keys": ""})])
    with pytest.raises(ValidationFailed):  # row(1) twice: the same key twice
        import_into(store, path)
    path = write_csv(tmp_path / "po.csv", [row(n) for n in range(500)] + [row(1, **{"Licence Keys": ""})] * 2)
    first = import_into(store, path)
    assert (first.rows, first.added) == (502, 502)  # identical lines are two purchases
    before = store.read_bytes()
    again = import_into(store, path)
    assert (again.rows, again.added, again.already_stored) == (502, 0, 502)
    assert store.read_bytes() == before
    copy = tmp_path / "copy-of-po.csv"
    copy.write_bytes(path.read_bytes())
    assert import_into(store, copy).added == 0
    assert store.read_bytes() == before


def test_a_row_identical_to_a_licence_file_entry_is_refused(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, **{"Licence Keys": ""})])
    (from_file,) = problems_of(path)[0]
    from_file = replace(from_file, origin="licences/ms.yml:4")
    with open_store(str(tmp_path / "store.json")) as store, pytest.raises(ValidationFailed) as failed:
        import_csv(path, GENERIC, store, FakeCatalogue(), licences=[from_file])
    assert str(failed.value) == (f"{path}:2: the same entitlement is already in licences/ms.yml:4 "
                                 f"({from_file.entitlement_id}); keep only one of them")


def unquoted(n, **changes):
    """A row as a line written by hand: no cell quoted (the unit cost without its comma)."""
    return ",".join(row(n, **{"Unit Cost": "1859", **changes}))


def test_a_quote_left_open_is_located_where_it_opened_and_imports_nothing(tmp_path):
    # csv read the rest of the file into the open cell: two rows were lost and the import said "1 new"
    store = tmp_path / "store.json"
    import_into(store, write_csv(tmp_path / "first.csv", [row(99)]))
    before = store.read_bytes()
    path = tmp_path / "po.csv"
    rows = [unquoted(1) + ',"12"" rack, see ticket', unquoted(2) + ",", unquoted(3) + ",ok"]
    path.write_text(",".join([*HEADER, "Notes"]) + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValidationFailed) as failed:
        import_into(store, path)
    assert str(failed.value) == (f'{path}:2:Notes (col 17): quoted field never closed: this quote makes the rest '
                                 'of the file one cell; close it, or write a quote inside a cell as ""')
    assert store.read_bytes() == before
    keys = unquoted(2, **{"Licence Keys": '"KEY00002-ABCDE;KEY00003'})
    path.write_text("\n".join([",".join(HEADER), unquoted(1), keys, unquoted(3), unquoted(4)]) + "\n")
    assert problems_of(path)[1] == [f"{path}:3:Licence Keys (col 16): quoted field never closed: this quote makes "
                                    'the rest of the file one cell; close it, or write a quote inside a cell as ""']
    path.write_text('Publisher,"Product\nMicrosoft,SQL Server\n')
    assert problems_of(path)[1][0].startswith(f"{path}:1: quoted field never closed")


def test_a_licence_key_spanning_lines_is_refused_without_showing_it(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, **{"Licence Keys": "KEY00001-ABCDE\nKEY00002-FGHIJ"})])
    assert problems_of(path)[1] == [
        f"{path}:2:Licence Keys (col 16): keys: item 1 holds a line break; expected each item on one line"]


def test_a_csv_given_as_the_mapping_is_not_printed_with_its_keys(tmp_path):
    csv_path = write_csv(tmp_path / "po.csv", [row(n) for n in range(5)])
    with pytest.raises(ValidationFailed) as failed:
        import_into(tmp_path / "store.json", GENERIC, csv_path)  # the two files swapped
    (message,) = str(failed.value).splitlines()
    assert message.startswith(f'{csv_path}:1:1: expected a mapping with "columns:", got "XXXXXXXXX,XXXXXXX,')
    assert message.endswith(f'"... ({len(csv_path.read_text().rstrip())} characters)') and "KEY" not in message


def test_hostile_cells_are_printed_inert(tmp_path):
    path = write_csv(tmp_path / "po.csv", [row(1, Product="SQL\x1b[31mServer\u202e", Quantity="\x9b2J\u2028x",
                                           Publisher="Databse")])
    mapping = tmp_path / "m.yml"
    mapping.write_text(GENERIC.read_text())
    with open_store(str(tmp_path / "store.json")) as store, pytest.raises(ValidationFailed) as failed:
        import_csv(path, mapping, store, type("Knows", (FakeCatalogue,), {"knows": lambda *a: False})())
    text = str(failed.value)
    assert not {"\x1b", "\x9b", "\u202e", "\u2028"} & set(text)
    assert text.splitlines() == [
        f'{path}:2:Quantity (col 5): quantity: expected a whole number >= 0, got "\\x9b2J\\u2028x"',
        f'{path}:2:Product (col 2): product: not in the catalogue: publisher "Databse", product '
        '"SQL\\u001b[31mServer\\u202e", edition "Standard"; fix the name or add a catalogue entry']


def test_the_delimiter_is_taken_from_the_header_line_and_named_when_columns_are_missing(tmp_path):
    # csv.Sniffer read 64 KB of rows: this comma file took 26 s and was split on ";"
    path = write_csv(tmp_path / "po.csv", [row(1, Vendor="x" + ";'" * 32000), row(2)])
    ents, problems = problems_of(path)
    assert problems == [] and [e.po_number for e in ents] == ["PO-00001", "PO-00002"]
    path.write_text("Publisher;Product;Edition\nMicrosoft;Visio;Standard\n")
    problems = problems_of(path)[1]
    assert problems[0] == f'{path}:1: metric: column "Metric" (from {GENERIC}) is not in the header'
    assert problems[-1] == f'{path}:1: the header has 3 columns split on ";" (detected in the header line); is that ' \
                           "the file's delimiter?"


@pytest.mark.parametrize("setting, value, expected", [
    ("delimiter", '"\\n"', 'expected "auto", "tab" or one character that is no letter, digit, quote or control, '
                           'got "\\n"'),
    ("delimiter", "'\"'", 'expected "auto", "tab" or one character that is no letter, digit, quote or control, '
                          'got "\\""'),
    ("delimiter", "x", 'expected "auto", "tab" or one character that is no letter, digit, quote or control, got "x"'),
    ("list_separator", "5", 'expected characters that are no letter, digit or control character (like ; or |), '
                            'got "5"'),
    ("list_separator", "[a]", "expected characters that are no letter, digit or control character (like ; or |), "
                              "got a list"),
])
def test_separators_that_cannot_work_are_located_errors(tmp_path, setting, value, expected):
    mapping = tmp_path / "m.yml"
    mapping.write_text(f"format:\n  {setting}: {value}\ncolumns:\n  publisher: P\n  product: Q\n  metric: M\n")
    assert [f"{p.source}: {p.message}" for p in load_mapping(mapping)[1]] == [
        f"{mapping}:2:3: format.{setting}: {expected}"]
    mapping.write_text(f"format:\n  {setting}: '|'\ncolumns:\n  publisher: P\n  product: Q\n  metric: M\n")
    assert load_mapping(mapping)[1] == []
