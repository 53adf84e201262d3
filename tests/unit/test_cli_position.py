"""``fleetsam position``: reads the latest scan, stored entitlements and licence files; three formats."""

import csv
import io
import json

import pytest

from sam_engine.licensing import context as licensing
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.cli.main import main
from sam_engine.model import Entitlement, Scan
from sam_engine.store import open_store

from sam_engine.licensing.editions import EditionLines
from test_position import fleet, recognise


class FakeCatalogue:
    recognise = staticmethod(recognise)

    def knows(self, publisher, product, edition=None):
        return True

    def has_editions(self, publisher, product):
        return None  # no product of this fake has editions

    def suite_components(self, publisher, product):
        return ()

    def metric_hint(self, publisher, product):
        return None

    def edition_lines(self):
        return EditionLines()


LICENCE_FILE = """\
entitlements:
  - publisher: Oracle
    product: Oracle Database
    edition: Enterprise Edition
    metric: processor
    quantity: 16
    unit_cost: "47500"
    currency: USD
  - publisher: Microsoft
    product: Office
    edition: Professional Plus
    metric: site
    term_end: 2025-12-31
"""


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """Run ``fleetsam --store S position --licences L ARGS``; return (code, stdout, stderr)."""
    monkeypatch.setattr(licensing, "load_catalogue", lambda extra, today: (FakeCatalogue(), []))
    monkeypatch.setattr(licensing, "shipped_catalogue", lambda today: None)  # nor the shipped one composed
    store = str(tmp_path / "db.json")
    (tmp_path / "licences").mkdir()
    (tmp_path / "licences" / "main.yml").write_text(LICENCE_FILE)
    with open_store(store) as st:
        st.save_scan(Scan("s2", "2026-06-30T00:00:00Z", "2026-06-30T00:01:00Z", "0.1", None, tuple(fleet())))
        st.add_entitlements([Entitlement("E-SQL", "Microsoft", "SQL Server", "core", 10, "cli", edition="Standard")])

    def _run(*args):
        code = main(["--store", store, "position", "--licences", str(tmp_path / "licences"), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_table_lists_every_product_and_the_unrecognised(run):
    code, out, err = run("--as-of", "2026-06-30")
    assert code == 0, err
    assert "as of 2026-06-30" in out
    oracle = next(line for line in out.splitlines() if line.startswith("Oracle"))
    # consumption 20, owned 16, balance -4, shortfall 4, 4 × 47500 USD
    assert oracle.split()[-8:] == ["2", "20", "16", "-4", "4", "under-licensed", "190000", "USD"]
    assert "acme-agent" not in out and "not listed (--all lists them):" in out and "1 unrecognised" in out
    code, out, err = run("--as-of", "2026-06-30", "--all")
    assert code == 0 and "acme-agent" in out and "not listed" not in out


def test_json_and_csv_agree(run):
    _, out_json, _ = run("--as-of", "2026-06-30", "--format", "json")
    _, out_csv, _ = run("--as-of", "2026-06-30", "--format", "csv")
    doc = json.loads(out_json)
    rows = list(csv.DictReader(io.StringIO(out_csv)))
    assert len(rows) == len(doc["products"]) + len(doc["unrecognised"])
    for row, full in zip(rows, doc["products"] + doc["unrecognised"]):
        assert row["product"] == full["product"] and int(row["consumption"]) == full["consumption"]
    office = next(p for p in doc["products"] if p["product"] == "Office")
    assert office["owned"] == 0 and office["status"] == "unlicensed"  # the site licence expired
    assert any("expired on 2025-12-31" in t for t in office["trace"]["ownership"])


def test_stored_entitlements_count(run):
    _, out, _ = run("--as-of", "2026-06-30", "--format", "json")
    sql = next(p for p in json.loads(out)["products"] if p["product"] == "SQL Server")
    assert sql["entitlements"] == ["E-SQL"] and sql["owned"] == 10 and sql["status"] == "compliant"


def test_product_filter_shows_the_detail(run):
    code, out, _ = run("--as-of", "2026-06-30", "--product", "database")
    assert code == 0
    assert "db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16" in out
    assert "Office" not in out


def test_bad_date_and_missing_scan_exit_2(run, tmp_path, capsys):
    assert run("--as-of", "30/06/2026")[0] == 2
    capsys.readouterr()
    assert main(["--store", str(tmp_path / "none.json"), "position"]) == 2
    assert "none.json: no store here" in capsys.readouterr().err and not (tmp_path / "none.json").exists()
    with open_store(str(tmp_path / "empty.json")):
        pass
    assert main(["--store", str(tmp_path / "empty.json"), "position"]) == 2
    assert "empty.json: no scan stored" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["catalogue", "metric rules", "licence file"])
def test_a_broken_data_file_exits_2_with_its_located_problem(run, tmp_path, monkeypatch, kind):
    if kind == "catalogue":
        monkeypatch.setattr(licensing, "load_catalogue", load_catalogue)
        (tmp_path / "site.yml").write_text("- {id: a, publisher: A, product: B, licence: maybe, match: {title: x}}\n")
        monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(tmp_path / "site.yml"))
        args, expected = (), f'{tmp_path / "site.yml"}:1:46: error: a.licence: expected one of required, free, got "maybe"'
    elif kind == "metric rules":
        (tmp_path / "rules").mkdir()
        (tmp_path / "rules" / "core_factors.yml").write_text("factors: []\n")
        (tmp_path / "rules" / "metric_rules.yml").write_text("products:\n  - {publisher: A, product: B}\n  - [x]\n")
        args = ("--rules", str(tmp_path / "rules"))
        expected = f"{tmp_path / 'rules' / 'metric_rules.yml'}:3:5: error: products[1]: expected a mapping with " \
                   "publisher and product, got a list"
    else:
        (tmp_path / "licences" / "main.yml").write_text("entitlements:\n  - publisher: Oracle\n    publisher: IBM\n")
        args = ()
        expected = f"{tmp_path / 'licences' / 'main.yml'}:3:5: error: publisher: given twice (first at "
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith(expected), err
    assert "Traceback" not in err
