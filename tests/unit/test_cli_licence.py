"""``fleetsam licence``: exit codes, located messages, and keys never printed unmasked."""

import io
import json
from pathlib import Path

import pytest

from sam_engine.cli import licence as cli_licence
from sam_engine.cli.main import main
from sam_engine.store import open_store

REPO = Path(__file__).resolve().parents[2]
KEY = "Q7M2K-4HXRT-9WBCP-V3D8J-7H3KQ"
OTHER_KEY = "T2VNP-8KQ4W-X6MRC-J9BH3-D4F7Y"
EXAMPLE_KEYS = ("Q7M2K-4HXRT", "VEEAM-LNX-4F9K2", "E52A-90C1-7FD4", "CSI-20849117")


class FakeCatalogue:
    def knows(self, publisher, product, edition=None):
        return product != "Databse"

    def has_editions(self, publisher, product):
        return None  # no product of this fake has editions


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """Run ``fleetsam --store S licence --licences L ARGS``; return (code, stdout, stderr)."""
    monkeypatch.setattr(cli_licence, "load_default_catalogue", FakeCatalogue)
    licences = tmp_path / "licences"
    licences.mkdir()

    def invoke(*args, licences=licences):
        code = main(["--store", str(tmp_path / "store.json"), "licence", "--licences", str(licences), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def empty_store(tmp_path):
    with open_store(str(tmp_path / "store.json")):
        pass


def add(run, *extra):
    return run("add", "--publisher", "Oracle", "--product", "Database", "--edition", "Enterprise",
               "--metric", "processor", "--quantity", "16", "--start", "2024-01-01", "--unit-cost", "$47,500.00",
               "--key", KEY, "--key", OTHER_KEY, "--suite-component", "Partitioning", *extra)


def test_add_then_list_in_every_format_with_keys_masked(run):
    code, out, _ = add(run)
    assert code == 0 and out.startswith("added ent-")
    ent_id = out.split()[-1]
    code, table, _ = run("list")
    assert code == 0 and ent_id in table and "XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ" in table
    code, text, _ = run("list", "--format", "json")
    (view,) = json.loads(text)
    assert code == 0 and view["entitlement_id"] == ent_id
    assert view["keys"] == ["XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ", "XXXXX-XXXXX-XXXXX-XXXXX-D4F7Y"]
    assert (view["unit_cost"], view["currency"], view["origin"], view["status"]) == ("47500.00", "USD", "cli", "perpetual")
    code, text, _ = run("list", "--format", "csv")
    lines = text.splitlines()
    assert code == 0 and lines[0].startswith("entitlement_id,publisher,product") and len(lines) == 2
    assert "XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ;XXXXX-XXXXX-XXXXX-XXXXX-D4F7Y" in lines[1]
    code, shown, _ = run("show", ent_id[:8])
    assert code == 0 and "keys              XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ, XXXXX-XXXXX-XXXXX-XXXXX-D4F7Y" in shown
    for text in (out, table, text, shown):
        assert KEY not in text and OTHER_KEY not in text


def test_adding_the_same_entitlement_twice_stores_it_once(run, tmp_path):
    add(run)
    before = (tmp_path / "store.json").read_bytes()
    code, out, _ = add(run)
    assert code == 0 and out.startswith("already stored: ent-")
    assert (tmp_path / "store.json").read_bytes() == before


def test_add_with_bad_input_exits_2_and_names_the_flags(run, tmp_path):
    code, out, err = run("add", "--publisher", "Oracle", "--product", "Databse", "--metric", "per_seat",
                         "--quantity", "-3", "--start", "2024-01-01", "--end", "2023-01-01", "--currency", "EURO",
                         "--key", KEY, "--key", KEY)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        '--metric: metric: unknown metric "per_seat"; expected one of core, device, employee, installation, '
        "named_user, processor, pvu, site, vm",
        '--quantity: quantity: expected a whole number >= 0, got "-3"',
        '--currency: currency: expected an ISO 4217 currency code like EUR or USD, got "EURO"',
        "--end: term_end: 2023-01-01 is before term_start 2024-01-01",
        "--key: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ is listed twice",
        '--product: product: not in the catalogue: publisher "Oracle", product "Databse"; '
        "fix the name or add a catalogue entry",
    ]
    assert not (tmp_path / "store.json").exists()


def test_add_refuses_a_key_held_by_a_licence_file(run, tmp_path):
    (tmp_path / "licences" / "a.yml").write_text(
        "entitlements:\n  - {publisher: Microsoft, product: Office, metric: device, quantity: 5, keys: [%s]}\n" % KEY)
    code, _, err = add(run)
    assert code == 2
    assert err.startswith("--key: keys: licence key XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ already belongs to ent-")
    assert err.rstrip().endswith(f"({tmp_path / 'licences' / 'a.yml'}:2)") and KEY not in err


def test_add_refuses_an_entitlement_already_in_a_licence_file(run, tmp_path):
    (tmp_path / "licences" / "a.yml").write_text(
        "entitlements:\n  - {publisher: Microsoft, product: Visio, metric: named_user, quantity: 5}\n")
    code, _, err = run("add", "--publisher", "microsoft", "--product", "Visio", "--metric", "named_user",
                       "--quantity", "5")
    assert code == 2 and err.startswith(f"cli: the same entitlement is already in {tmp_path / 'licences' / 'a.yml'}:2")


def test_key_stdin(run, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{KEY}\n\n"))
    code, out, _ = run("add", "--publisher", "Microsoft", "--product", "Visio", "--metric", "named_user",
                       "--quantity", "5", "--key-stdin")
    assert code == 0
    view = json.loads(run("list", "--format", "json")[1])[0]
    assert view["keys"] == ["XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"]


def test_remove(run):
    ent_id = add(run)[1].split()[-1]
    assert run("remove", ent_id)[0] == 0
    code, _, err = run("remove", ent_id)
    assert code == 2 and err == f"fleetsam: error: no entitlement {ent_id!r}\n"
    assert json.loads(run("list", "--format", "json")[1]) == []


def test_licence_file_entitlements_are_listed_but_not_removable(run, tmp_path):
    empty_store(tmp_path)
    code, out, _ = run("list", "--format", "json", licences=REPO / "examples" / "licences")
    assert code == 0 and len(json.loads(out)) == 12
    assert not any(key in out for key in EXAMPLE_KEYS)
    visio = next(v for v in json.loads(out) if v["product"] == "Visio")
    assert visio["status"] == "expired"
    code, _, err = run("remove", visio["entitlement_id"], licences=REPO / "examples" / "licences")
    assert code == 2 and err == (f"{visio['origin']}: {visio['entitlement_id']} is defined in this licence file; "
                                 "edit the file to remove it\n")


def test_import_good_then_bad_file(run, tmp_path):
    mapping = str(REPO / "mappings" / "generic.yml")
    code, out, _ = run("import", str(REPO / "mappings" / "examples" / "generic.csv"), "--mapping", mapping)
    assert code == 0 and out.endswith("4 entitlements, 4 new, 0 already stored\n")
    before = (tmp_path / "store.json").read_bytes()
    bad = tmp_path / "po.csv"
    bad.write_text((REPO / "mappings" / "examples" / "generic.csv").read_text(encoding="utf-8-sig")
                   .replace("named_user,25", "named_user,-3"))
    code, out, err = run("import", str(bad), "--mapping", mapping)
    assert code == 2 and out == ""
    assert err == f'{bad}:4:Quantity (col 5): quantity: expected a whole number >= 0, got "-3"\n'
    assert (tmp_path / "store.json").read_bytes() == before
    code, _, err = run("import", str(bad), "--mapping", str(tmp_path / "nope.yml"))
    assert code == 2 and err == f"{tmp_path / 'nope.yml'}: cannot read mapping file: No such file or directory\n"


def test_validate(run, tmp_path):
    code, out, err = run("validate", licences=REPO / "examples" / "licences")
    assert (code, out, err) == (0, "12 entitlements in 3 licence files, no errors\n", "")
    broken = tmp_path / "licences" / "broken.yml"
    broken.write_text("entitlements:\n  - publisher: Oracle\n    product: Databse\n    metric: core\n"
                      "    quantity: lots\n    term_start: 2024-02-30\n")
    code, out, err = run("validate")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f'{broken}:5:5: quantity: expected a whole number >= 0, got "lots"',
        f'{broken}:6:5: term_start: expected a date YYYY-MM-DD, got "2024-02-30", a day that does not exist',
        f'{broken}:3:5: product: not in the catalogue: publisher "Oracle", product "Databse"; '
        "fix the name or add a catalogue entry",
    ]
    empty_store(tmp_path)
    code, out, err = run("list")
    assert code == 2 and out.startswith("ID ") and len(err.splitlines()) == 3


def test_real_catalogue_is_loaded_with_the_extra_directories(monkeypatch, tmp_path):
    user = tmp_path / "site.yml"
    user.write_text("- id: acme-widget\n  publisher: Acme\n  product: Widget Pro\n  licence: required\n"
                    "  match:\n    - title: 'Widget Pro.*'\n"
                    "  examples:\n    - {title: Widget Pro 2, expect: {product: Widget Pro, licence: required}}\n")
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(user))
    catalogue = cli_licence.load_default_catalogue()
    assert catalogue.knows("Acme", "Widget Pro") and catalogue.knows("Oracle", "Oracle Database")


def test_cli_import_of_10000_rows_with_one_bad_row_changes_nothing(tmp_path, capsys):
    """`fleetsam licence import` with the real catalogue and the shipped generic mapping."""
    store, licences = tmp_path / "store.json", tmp_path / "licences"
    licences.mkdir()
    header = ("Publisher,Product,Edition,Metric,Quantity,Start,End,Maintenance End,Downgrade,Vendor,PO Number,"
              "Invoice,Purchase Date,Unit Cost,Currency,Licence Keys\n")

    def rows(count, bad=None):
        lines = [f"Microsoft,SQL Server,Standard,core,{2 + n % 6},2024-04-01,,2027-03-31,yes,SoftwareOne,"
                 f"PO-{n:05d},INV-{n:05d},2024-03-25,1859.00,USD,KEY-{n:05d}-ABCDE\n" for n in range(count)]
        if bad is not None:
            lines[bad] = lines[bad].replace(",core,", ",per-banana,")
        return header + "".join(lines)

    base = ["--store", str(store), "licence", "--licences", str(licences), "import"]
    mapping = ["--mapping", str(REPO / "mappings" / "generic.yml")]
    (tmp_path / "first.csv").write_text(rows(10))
    assert main([*base, str(tmp_path / "first.csv"), *mapping]) == 0
    before = store.read_bytes()
    big = tmp_path / "big.csv"
    big.write_text(rows(10_000, bad=6_200))
    capsys.readouterr()
    assert main([*base, str(big), *mapping]) == 2
    err = capsys.readouterr().err
    assert f"{big}:6202:Metric (col 4): metric:" in err  # header is line 1, row 6200 is line 6202
    assert len(err.strip().splitlines()) == 1
    assert store.read_bytes() == before


def test_an_entitlement_both_stored_and_in_a_licence_file_is_listed_once_with_an_error(run, tmp_path):
    code, out, _ = run("add", "--publisher", "TeamViewer", "--product", "TeamViewer", "--metric", "named_user",
                       "--quantity", "2", "--po", "PO-77")
    ent_id = out.split()[-1]
    tv = tmp_path / "licences" / "tv.yml"
    tv.write_text("entitlements:\n  - publisher: TeamViewer\n    product: TeamViewer\n    metric: named_user\n"
                  "    quantity: 2\n    po_number: PO-77\n")
    twice = f"cli: the same entitlement is already in {tv}:2 ({ent_id}); keep only one of them"
    code, text, err = run("list", "--format", "json")
    assert code == 2 and [v["origin"] for v in json.loads(text)] == ["cli"] and twice in err
    code, shown, err = run("show", ent_id)
    assert code == 2 and f"entitlement_id    {ent_id}" in shown and twice in err and "more than one" not in err
    code, _, err = run("validate")
    assert code == 2 and twice in err  # the one rule, as every reconciling command applies it


def test_a_licences_directory_named_but_missing_is_an_error_the_default_one_is_none(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_licence, "load_default_catalogue", FakeCatalogue)
    monkeypatch.chdir(tmp_path)  # no ./licences here
    monkeypatch.delenv("FLEETSAM_LICENCES", raising=False)
    empty_store(tmp_path)
    store = ["--store", str(tmp_path / "store.json"), "licence"]
    missing = tmp_path / "licenses"  # a typo
    assert main([*store, "--licences", str(missing), "list"]) == 2
    assert capsys.readouterr().err == (f"{missing}: the licence files directory (named by --licences) does not "
                                       "exist: expected a directory of licence files\n")
    monkeypatch.setenv("FLEETSAM_LICENCES", str(missing))
    before = (tmp_path / "store.json").read_bytes()
    assert main([*store, "add", "--publisher", "Oracle", "--product", "Database", "--metric", "core",
                 "--quantity", "2"]) == 2  # its copies in the files could not be looked for
    assert "(named by FLEETSAM_LICENCES) does not exist" in capsys.readouterr().err
    assert (tmp_path / "store.json").read_bytes() == before
    (tmp_path / "a-file").write_text("entitlements: []\n")
    assert main([*store, "--licences", str(tmp_path / "a-file"), "list"]) == 2
    assert "(named by --licences) is not a directory" in capsys.readouterr().err
    monkeypatch.delenv("FLEETSAM_LICENCES")
    assert main([*store, "list"]) == 0  # the default ./licences, absent: no licence files
    assert capsys.readouterr().err == ""


def test_add_with_bytes_that_are_not_utf8_names_the_flag_and_stores_nothing(run, tmp_path, monkeypatch):
    # argv and stdin carry such bytes as lone surrogates: hashing the id raised UnicodeEncodeError (exit 2, "--debug")
    empty_store(tmp_path)
    before = (tmp_path / "store.json").read_bytes()
    code, out, err = add(run, "--vendor", "Ven\udcffdor")
    assert (code, out, err) == (2, "", "--vendor: vendor: not valid UTF-8 text (character 4 is a byte UTF-8 cannot "
                                       "decode)\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("KEY-\udcff\udcfe-12345\n"))
    code, out, err = add(run, "--key-stdin")
    assert (code, out) == (2, "") and err == ("--key: keys: not valid UTF-8 text (character 5 is a byte UTF-8 cannot "
                                              "decode)\n")
    assert (tmp_path / "store.json").read_bytes() == before
