"""The licence importer under hostile rows (#18): Hypothesis-generated procurement CSVs.

Any cell of any row may hold markup, a formula, a line break, a NUL, a lone
surrogate (the file is then not UTF-8), an RTL override or a 5,000-digit
number. Whatever the rows: no traceback, every problem located in the file
(``po.csv:LINE...`` with a line the file has), the store byte-identical after a
rejected import, and what was imported listed as parseable JSON and as CSV
with no live formula.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from test_hostile_writers import HOSTILE, csv_rows, live_formulas
from test_procurement import GENERIC, HEADER, FakeCatalogue, row

from sam_engine.cli import licence as cli_licence
from sam_engine.cli.main import main
from sam_engine.entitlements.procurement import import_csv
from sam_engine.entitlements.schema import ValidationFailed
from sam_engine.store import open_store

BAD = [*HOSTILE, "9" * 5000, "1" * 16, "-3", "2024-02-30", "12,34,56", "unlimited", "", " ", "\ufeff", "per core"]
cell = st.one_of(st.sampled_from(BAD), st.text(max_size=8))
BOUNDED = settings(max_examples=25, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def procurement_rows(draw) -> list[list[str]]:
    """1-6 good rows of the generic mapping, some cells replaced by hostile ones."""
    rows = []
    for n in range(draw(st.integers(1, 6))):
        values = row(n)
        for column in draw(st.lists(st.integers(0, len(HEADER) - 1), max_size=4)):
            values[column] = draw(cell)
        rows.append(values)
    return rows


def write(path, rows: list[list[str]], bom: bool) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerows([HEADER, *rows])
    # surrogatepass: a lone surrogate becomes the bytes a broken export would hold
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.getvalue().encode("utf-8", "surrogatepass"))


@pytest.fixture
def workspace(tmp_path_factory, monkeypatch):
    monkeypatch.setattr(cli_licence, "load_default_catalogue", FakeCatalogue)
    return tmp_path_factory


@BOUNDED
@given(rows=procurement_rows(), bom=st.booleans())
def test_any_rows_import_whole_or_not_at_all_with_located_problems(workspace, rows, bom):
    tmp = workspace.mktemp("import")
    store, path = tmp / "store.json", tmp / "po.csv"
    write(tmp / "first.csv", [row(99)], bom=False)
    with open_store(str(store)) as st_:
        import_csv(tmp / "first.csv", GENERIC, st_, FakeCatalogue())
    before = store.read_bytes()
    write(path, rows, bom)
    lines = len(path.read_bytes().splitlines()) + 1  # a lone CR ends a line too, for the csv module as for editors
    try:
        with open_store(str(store)) as st_:
            result = import_csv(path, GENERIC, st_, FakeCatalogue())
    except ValidationFailed as failed:
        event("rejected")
        assert failed.problems and store.read_bytes() == before, "a rejected import leaves the store as it was"
        for problem in failed.problems:
            where = re.fullmatch(rf"{re.escape(str(path))}:(\d+)(:.*)?", str(problem.source), re.S)
            assert where and 1 <= int(where.group(1)) <= lines, f"not located in the file: {problem}"
            assert problem.message
        return
    event("imported")
    assert result.rows <= len(rows)
    (tmp / "none").mkdir(exist_ok=True)  # no licence file: a directory named must exist
    base = ["--store", str(store), "licence", "--licences", str(tmp / "none"), "list"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.stdout", out)
        assert main([*base, "--format", "json"]) == 0
        listed = json.loads(out.getvalue())
        out.seek(0)
        out.truncate()
        assert main([*base, "--format", "csv"]) == 0
    table = csv_rows(out.getvalue())
    assert len(table) == len(listed) + 1 and not live_formulas(c for r in table[1:] for c in r)
