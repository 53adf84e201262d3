"""A scan goes on when a data file is broken: each mistake is reported, located, beside the result."""

import json

from sam_engine import pipeline
from sam_engine.entitlements.files import load_licence_files
from sam_engine.licensing.context import LicenceSettings

from test_entitlements import FakeCatalogue
from test_pipeline import RESULT, write_spool


def test_a_scan_with_a_broken_catalogue_rule_and_licence_file_still_stores_and_reports(tmp_path):
    (tmp_path / "site.yml").write_text("- {id: acme, publisher: Acme, product: Tool, licence: free, match: {title: '('}}\n")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "core_factors.yml").write_text("factors:\n  - {label: x86, factor: half, match: Xeon}\n")
    (rules / "metric_rules.yml").write_text("products: []\n")
    licences = tmp_path / "licences"
    licences.mkdir()
    (licences / "ok.yml").write_text("entitlements:\n  - {publisher: Veeam, product: Agent for Linux, edition: any, metric: site}\n")
    (licences / "broken.yml").write_text("entitlements:\n  - {publisher: Acme, product: Tool, metric: site\n")
    settings = LicenceSettings(licences_dir=licences, rules_dir=rules, catalogue_extra=(tmp_path / "site.yml",))

    out = pipeline.process_spool(write_spool(tmp_path, "s1", [("web1", "ok", RESULT)]), store=str(tmp_path / "db.json"),
                                 report_dir=tmp_path / "reports", settings=settings)

    assert out.scan.installation_count == 2
    assert [p.product for p in out.position.products] == ["Agent for Linux"]  # the good licence file counts
    located = sorted(f"{p.source}: {p.message}" for p in out.problems)
    assert located[0].startswith(f"{licences / 'broken.yml'}:3:1: licence file is not valid YAML: ")
    assert located[1].startswith(f"{rules / 'core_factors.yml'}:2:26: factors[0].factor: expected a number > 0")
    assert located[2].startswith(f"{tmp_path / 'site.yml'}:1:76: acme.match[0].title: expected a regular expression")
    assert len(located) == 3
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert len(report["position"]["problems"]) == 3


def test_a_licence_field_holding_a_mapping_with_a_list_key_is_a_located_problem(tmp_path):
    path = tmp_path / "odd.yml"
    path.write_text("entitlements:\n  - {publisher: Oracle, product: {? [a]: b}, metric: site}\n")
    ents, problems = load_licence_files([path], FakeCatalogue())
    assert ents == [] and [str(p) for p in problems] == [f"{path}:2:25: error: product: expected text, got a mapping"]
