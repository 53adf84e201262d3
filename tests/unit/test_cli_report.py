"""``fleetsam diff``: installs added/removed per host and the position moves, as table, JSON or Markdown."""

from __future__ import annotations

import json

import pytest

import report_fleet
from sam_engine import cli


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    store, _ = report_fleet.scanned_twice(root)
    return root, store


@pytest.fixture
def run(fleet, capsys, monkeypatch):
    root, store = fleet
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(root / "catalogue-extra.yml"))

    def fleetsam(*args):
        code = cli.main(["--store", store, *args, "--licences", str(root / "licences"), "--as-of", "2026-06-30"])
        out = capsys.readouterr()
        return code, out.out, out.err

    return fleetsam


def test_default_is_previous_against_latest_as_json(run):
    code, out, _ = run("diff", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert (d["from_scan"], d["to_scan"]) == ("s1", "s2")
    web2 = next(h for h in d["hosts"] if h["host"] == "web2")
    assert web2["changed"] == [{"source": "dpkg", "name": "teamviewer", "package_id": "dpkg:teamviewer:amd64",
                                "before": "15.49.2", "after": "15.51.5"}]
    moves = {m["product"]: m for m in d["position"]}
    assert (moves["TeamViewer"]["before"]["consumption"], moves["TeamViewer"]["after"]["consumption"]) == (1, 3)


def test_table_lists_hosts_and_position(run):
    code, out, _ = run("diff", "s1", "s2")
    assert code == 0
    assert "Changes from scan s1 to s2" in out
    assert "    ~ teamviewer 15.49.2 -> 15.51.5 [dpkg]" in out
    assert "    + curl 7.88.1-10 [dpkg]" in out
    assert "db2                      status   ok -> unreachable" in out
    assert "TeamViewer" in out and "worse" in out and "1->3" in out


def test_reverse_order_and_markdown(run):
    code, out, _ = run("diff", "s2", "s1", "--format", "markdown")
    assert code == 0
    assert out.startswith("## Changes from scan `s2` to `s1`")
    assert "| web2 | changed | - | - | teamviewer 15.51.5 → 15.49.2 |" in out
    assert "| web1 | changed | - | curl 7.88.1-10, teamviewer 15.49.2 | - |" in out
    assert "| TeamViewer TeamViewer | better |" in out


def test_bad_input_exits_2(run, tmp_path, capsys):
    assert run("diff", "s1", "nope")[0] == 2
    code = cli.main(["--store", str(tmp_path / "empty.json"), "diff"])
    assert code == 2 and "a diff needs two" in capsys.readouterr().err
