"""A 10,000-host fleet: the HTML report stays under 10 MB (opening time is measured in bench/report_open.py)."""

from __future__ import annotations

import json

import pytest

from sam_engine import render
from synthetic_fleet import synthetic_model

HOSTS = 10_000
LIMIT = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def model():
    return synthetic_model(HOSTS)


def test_ten_thousand_host_report_is_under_10_mb(model):
    html = render.render_html(model)
    size = len(html.encode("utf-8"))
    assert size < LIMIT, f"{size / 1e6:.1f} MB"
    assert html.count("<tr") < 200, "host detail is paginated from the data island, not dumped as rows"
    island = json.loads(html.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert len(island["hosts"]) == HOSTS and len(island["unrecognised"]) >= HOSTS
    rhel = next(p for p in island["products"].values() if p["label"].startswith("Red Hat Enterprise Linux"))
    assert len(rhel["hosts"]) == 4000, "every host behind a number stays reachable in the drill-down"
    assert all(len(line) < 600 for p in island["products"].values() for line in p["trace"])


def test_the_model_keeps_everything(model):
    assert model["summary"]["hosts"] == HOSTS and model["summary"]["hosts_stale"] == HOSTS // 100
    assert all(len(h["packages"]) == h["package_count"] for h in model["hosts"])
    assert model["summary"]["installations"] == sum(h["package_count"] for h in model["hosts"]) > 40 * HOSTS
    changes = model["changes"]["summary"]
    assert (changes["installs_changed"], changes["installs_added"]) == (HOSTS // 10, HOSTS // 100)
