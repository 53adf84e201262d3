"""A procurement row restating a stored purchase line with other values (``entitlements.restated``):
refused unless ``--replace`` or ``--keep-both`` says what it is, never silently counted twice."""

import csv
import json
from pathlib import Path

import pytest

from sam_engine.cli import licence as cli_licence
from sam_engine.cli.main import main
from sam_engine.entitlements.restated import purchase_line, replacing, restated
from sam_engine.entitlements.schema import entitlement_id
from sam_engine.model import Entitlement

REPO = Path(__file__).resolve().parents[2]
GENERIC = REPO / "mappings" / "generic.yml"
HEADER = ["Publisher", "Product", "Edition", "Metric", "Quantity", "Start", "End", "Maintenance End", "Downgrade",
          "Vendor", "PO Number", "Invoice", "Purchase Date", "Unit Cost", "Currency", "Licence Keys"]
KEY = "Q7M2K-4HXRT-9WBCP-V3D8J-7H3KQ"


class FakeCatalogue:
    def knows(self, publisher, product, edition=None):
        return True

    def has_editions(self, publisher, product):
        return None


def ent(origin="v1.csv:2", **changes) -> Entitlement:
    fields = {**dict(publisher="Microsoft", product="SQL Server", edition="Standard", metric="core", quantity=8,
                     po_number="PO-1", term_start="2024-04-01", origin=origin), **changes}
    e = Entitlement(entitlement_id="", **fields)
    return Entitlement(entitlement_id=entitlement_id(e), **fields)


def test_a_purchase_line_is_the_order_and_what_was_bought_on_it():
    assert purchase_line(ent()) == purchase_line(ent(po_number=" PO-1 ", edition="standard", quantity=10))
    assert purchase_line(ent()) != purchase_line(ent(edition="Enterprise"))
    assert purchase_line(ent()) != purchase_line(ent(metric="processor"))
    assert purchase_line(ent(po_number=None)) is None and purchase_line(ent(po_number="  ")) is None


def test_only_rows_not_stored_as_they_are_restate_their_line():
    stored = [ent()]
    (found,) = restated([ent(origin="v2.csv:2", quantity=10), ent(origin="v2.csv:3")], stored)
    assert found.row.quantity == 10 and found.stored == tuple(stored)
    message = found.problem().message
    assert message.startswith("purchase line PO-1 Microsoft SQL Server Standard (core) is stored already as ")
    assert "from v1.csv:2; this row differs in quantity (8 -> 10): --replace replaces" in message
    assert restated([ent(po_number=None, quantity=10)], [ent(po_number=None)]) == []  # no order: no line


def test_replacing_keeps_rows_repeated_as_they_are_and_moves_keys_to_a_row_without_any():
    a, b = ent(keys=(KEY,)), ent(term_start="2025-04-01")  # two purchases of one line on one order
    changed = ent(origin="v2.csv:2", quantity=10)
    found = restated([changed, b], [a, b])
    removed, rows = replacing(found, [changed, b])
    assert removed == [a.entitlement_id]  # b is in the file as it is stored: it stays
    assert rows[changed.entitlement_id].keys == (KEY,) and rows[changed.entitlement_id].quantity == 10


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for quantity, key in rows:
            writer.writerow(["Microsoft", "SQL Server", "Standard", "core", quantity, "2024-04-01", "", "", "",
                             "SoftwareOne", "PO-1", "", "", "", "", key])
    return path


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli_licence, "load_default_catalogue", FakeCatalogue)
    (tmp_path / "licences").mkdir()

    def invoke(*args):
        code = main(["--store", str(tmp_path / "store.json"), "licence", "--licences", str(tmp_path / "licences"),
                     *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def stored(run):
    code, out, _ = run("list", "--format", "json")
    assert code == 0
    return sorted((e["quantity"], tuple(e["keys"]), e["origin"]) for e in json.loads(out))


def test_an_updated_export_is_refused_then_replaces_or_adds_as_told(run, tmp_path):
    store = tmp_path / "store.json"
    v1 = write_csv(tmp_path / "v1.csv", [(8, KEY)])
    assert run("import", str(v1), "--mapping", str(GENERIC))[0] == 0
    before = store.read_bytes()
    v2 = write_csv(tmp_path / "v2.csv", [(10, "")])  # the quantity corrected, the key column left empty
    code, out, err = run("import", str(v2), "--mapping", str(GENERIC))
    assert code == 2 and out == "" and store.read_bytes() == before
    assert f"{v2}:2: purchase line PO-1 Microsoft SQL Server Standard (core) is stored already as ent-" in err
    assert "differs in quantity (8 -> 10): --replace replaces the stored entitlement" in err and KEY not in err
    code, out, err = run("import", str(v2), "--mapping", str(GENERIC), "--replace")
    assert code == 0 and "1 new" in out and "1 replaced" in out
    assert stored(run) == [(10, ("XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ",), f"{v2}:2")]  # the key kept with the purchase
    again = store.read_bytes()
    assert run("import", str(v2), "--mapping", str(GENERIC), "--replace")[0] == 0 and store.read_bytes() == again
    v3 = write_csv(tmp_path / "v3.csv", [(4, "")])  # a second purchase on the same order
    code, out, err = run("import", str(v3), "--mapping", str(GENERIC), "--keep-both")
    assert code == 0 and "both are kept" in err
    assert [q for q, _, _ in stored(run)] == [4, 10]


def test_replace_and_keep_both_exclude_each_other(run, tmp_path, capsys):
    v1 = write_csv(tmp_path / "v1.csv", [(8, KEY)])
    with pytest.raises(SystemExit) as exited:
        run("import", str(v1), "--mapping", str(GENERIC), "--replace", "--keep-both")
    assert exited.value.code == 2 and "not allowed with argument --replace" in capsys.readouterr().err
    assert not (tmp_path / "store.json").exists()
