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
    assert located[1].startswith(f"{licences}: the licence data has errors: the scan is stored, but no finding")
    assert located[2].startswith(f"{rules / 'core_factors.yml'}:2:26: factors[0].factor: expected a number > 0")
    assert located[3].startswith(f"{tmp_path / 'site.yml'}:1:76: acme.match[0].title: expected a regular expression")
    assert len(located) == 4 and out.licence_errors
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert len(report["position"]["problems"]) == 4


def test_a_licence_field_holding_a_mapping_with_a_list_key_is_a_located_problem(tmp_path):
    path = tmp_path / "odd.yml"
    path.write_text("entitlements:\n  - {publisher: Oracle, product: {? [a]: b}, metric: site}\n")
    ents, problems = load_licence_files([path], FakeCatalogue())
    assert ents == [] and [str(p) for p in problems] == [f"{path}:2:25: error: product: expected text, got a mapping"]


TEAMVIEWER = {"host": {"machine_id": "m1", "lscpu": "0,0,0\n"}, "software": [
    {"source": "dpkg", "name": "teamviewer", "version": "15.49.2", "arch": "amd64", "vendor": "TeamViewer GmbH",
     "package_id": "dpkg:teamviewer:amd64"}]}
BAD_TERM = ("entitlements:\n  - {publisher: TeamViewer, product: TeamViewer, metric: device, quantity: 2,"
            " po_number: PO-7, purchase_date: 2024-02-30}\n")


def test_a_rejected_licence_file_is_exit_2_everywhere_and_records_no_finding(tmp_path, monkeypatch, capsys):
    """The entitlement of the rejected file is missing from the position: ingest stores the scan and
    writes the reports, but records no finding state, queues no notification, keeps no position
    summary and exits 2; report and diff exit 2, audit-pack writes no pack. Fixed, all is 0 again."""
    from sam_engine.cli import main as cli
    from sam_engine.store import open_store

    licences = tmp_path / "licences"
    licences.mkdir()
    (licences / "tv.yml").write_text(BAD_TERM)
    monkeypatch.setenv("FLEETSAM_LICENCES", str(licences))
    store = str(tmp_path / "db.json")

    def run(*args):
        code = cli.main(["--store", store, *map(str, args)])
        return code, capsys.readouterr()

    for scan_id in ("s1", "s2"):
        code, out = run("ingest", write_spool(tmp_path, scan_id, [("web1", "ok", TEAMVIEWER)]),
                        "--report-dir", tmp_path / "r")
        assert code == 2 and "tv.yml:2:96: error: purchase_date: expected a date YYYY-MM-DD" in out.out
        assert "no finding is recorded or notified" in out.out and "nothing is owned yet" not in out.out
    with open_store(store, readonly=True) as st:
        assert [i.scan_id for i in st.scans()] == ["s1", "s2"]  # the scans are kept
        assert st.finding_states() == [] and st.deliveries() == [] and st.scan_summaries() == {}
    assert (tmp_path / "r" / "index.html").exists()
    code, out = run("report", "--report-dir", tmp_path / "r2")
    assert code == 2 and "tv.yml:2:96" in out.err and (tmp_path / "r2" / "index.html").exists()
    code, out = run("diff")
    assert code == 2 and "tv.yml:2:96" in out.err and out.out == ""
    code, out = run("audit-pack", "--publisher", "TeamViewer", "--out", tmp_path / "tv.zip")
    assert code == 2 and "no pack written" in out.err and "tv.yml:2:96" in out.err
    assert not (tmp_path / "tv.zip").exists()

    (licences / "tv.yml").write_text(BAD_TERM.replace("2024-02-30", "2024-02-29"))
    assert run("report", "--report-dir", tmp_path / "r3")[0] == 0
    assert run("diff")[0] == 0
    assert run("audit-pack", "--publisher", "TeamViewer", "--out", tmp_path / "tv.zip")[0] == 0
    code, out = run("ingest", write_spool(tmp_path, "s3", [("web1", "ok", TEAMVIEWER)]), "--report-dir", tmp_path / "r")
    assert code == 0 and "error" not in out.out
    with open_store(store, readonly=True) as st:
        assert list(st.scan_summaries()) == ["s3"]
