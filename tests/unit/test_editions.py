"""Editions: macOS bundle ids name Acrobat's edition, Office LTSC succeeds Professional Plus on one edition
line (catalogue data), and an entitlement naming no edition covers only editionless installations
(``edition: any`` covers every edition; ``licence validate`` warns when a product has editions)."""

import datetime as dt
import plistlib
from dataclasses import replace

import pytest

from sam_engine.cli.main import main
from sam_engine.export.cyclonedx import applies
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.catalogue_entries import read_entries
from sam_engine.licensing.position import build_position, product_label
from sam_engine.model import Entitlement, Hardware, Host, HostScan, HostStatus, HostUser, Installation, Virtualization
from sam_engine.platforms import macos
from sam_engine.vocabulary import Status

CATALOGUE, _ = load_catalogue()
AS_OF = dt.date(2026, 6, 30)
LTSC, PROPLUS19, PROPLUS16 = ("Microsoft Office LTSC Professional Plus 2021 - en-us",
                              "Microsoft Office Professional Plus 2019", "Microsoft Office Professional Plus 2016")


def scan(name, *installations):
    login = int(dt.datetime(2026, 6, 29, tzinfo=dt.timezone.utc).timestamp())  # one person, lately (named users)
    host = Host(f"machine-id:{name}", name, "machine-id",
                hardware=Hardware(1, 4, 8, "GenuineIntel", "Intel(R) Core(TM) i5", Virtualization.PHYSICAL),
                users=(HostUser(f"{name}-user", "human", login, "wtmp"),))
    return HostScan("s1", name, HostStatus.OK, host, tuple(installations), inventory_scan_id="s1")


def windows(title, version="16.0"):
    return Installation("windows", title, version, "x64", "Microsoft Corporation", None, f"msi:{title}")


def ent(eid, product, quantity, edition=None, publisher="Microsoft", metric="device", **kw):
    return Entitlement(eid, publisher, product, metric, quantity, f"licences/test.yml:{eid}", edition=edition, **kw)


def position(scans, ents):
    return build_position(scans, CATALOGUE.recognise, ents, AS_OF, suites=CATALOGUE.suite_components,
                          metric_hint=CATALOGUE.metric_hint, edition_lines=CATALOGUE.edition_lines())


def row(pos, product, edition=None):
    return next(p for p in pos.products if p.product == product and p.edition == edition)


# --- (a) the bundle id gives Acrobat's edition on macOS -------------------------------------------


def mac_records():
    """A Mac scanned with apps_method both: system_profiler's items, and each bundle's Info.plist."""
    sp = plistlib.dumps([{"_dataType": "SPApplicationsDataType", "_items": [
        {"_name": "Adobe Acrobat", "version": "24.002.20687", "path": "/Applications/Adobe Acrobat DC/Adobe Acrobat.app",
         "obtained_from": "identified_developer", "signed_by": ["Developer ID Application: Adobe Inc. (JQ525L2MZD)"]},
        {"_name": "Adobe Acrobat Reader", "version": "24.002.20687", "path": "/Applications/Adobe Acrobat Reader.app"},
    ]}]).decode()
    plists = "".join(f"#fleetsam-file {path}\n" + plistlib.dumps({"CFBundleIdentifier": bundle}).decode()
                     for path, bundle in (("/Applications/Adobe Acrobat DC/Adobe Acrobat.app", "com.adobe.Acrobat.Pro"),
                                          ("/Applications/Adobe Acrobat Reader.app", "com.adobe.Reader")))
    records, problems = macos.software_records({"system_profiler": {"rc": 0, "stdout": sp},
                                                "info_plist": {"rc": 0, "stdout": plists}}, "mac1")
    assert problems == []
    return [Installation(r["source"], r["name"], r["version"], r["arch"], r["vendor"], r["install_time"],
                         r["package_id"], r["location"]) for r in records]


def test_the_bundle_id_makes_acrobat_pro_and_an_acrobat_pro_entitlement_covers_it():
    acrobat, reader = mac_records()
    assert (CATALOGUE.recognise(acrobat).product, CATALOGUE.recognise(acrobat).edition) == ("Acrobat", "Pro")
    assert CATALOGUE.recognise(reader).product == "Acrobat Reader"
    pos = position([scan("mac1", acrobat, reader)], [ent("E-PRO", "Acrobat", 1, "Pro", "Adobe", "named_user")])
    pro = row(pos, "Acrobat", "Pro")
    assert (pro.owned, pro.shortfall, pro.status) == (1, 0, Status.COMPLIANT)
    assert not [p for p in pos.products if p.product == "Acrobat" and p.edition is None]


def test_without_the_bundle_id_acrobat_has_no_edition():
    path_only = Installation("macos-app", "Adobe Acrobat", "24.0", None, "Adobe Inc.", None,
                             "/Applications/Adobe Acrobat DC/Adobe Acrobat.app")
    assert CATALOGUE.recognise(path_only).edition is None


# --- (b) Office LTSC Professional Plus succeeds Professional Plus -----------------------------------


def office_fleet():
    return [scan("pc1", windows(LTSC, "16.0.14332.20615")), scan("pc2", windows(PROPLUS19)),
            scan("pc3", windows(PROPLUS16))]


def test_one_ltsc_entitlement_with_downgrade_rights_covers_professional_plus_2019_and_2016_in_one_row():
    ltsc = ent("E-LTSC", "Office", 3, "LTSC Professional Plus", version_range="==2021", downgrade_rights=True)
    pos = position(office_fleet(), [ltsc])
    (office,) = [p for p in pos.products if p.product == "Office"]
    assert office.edition == "Professional Plus" and len(office.installations) == 3
    assert (office.consumption.quantity, office.owned, office.shortfall, office.status) == (3, 3, 0, Status.COMPLIANT)
    assert any("LTSC Professional Plus is counted in the Professional Plus row: one edition line (Professional "
               "Plus -> LTSC Professional Plus, catalogue edition_lineage)" in n for n in office.notes)


def test_without_downgrade_rights_the_ltsc_entitlement_covers_only_ltsc():
    pos = position(office_fleet(), [ent("E-LTSC", "Office", 3, "LTSC Professional Plus", version_range="==2021")])
    office = row(pos, "Office", "Professional Plus")
    assert (office.owned, office.shortfall, office.status) == (3, 2, Status.UNDER_LICENSED)  # 3 bought, 1 usable
    trace = [line.text for line in office.consumption.trace]
    assert any("pc2: not covered (E-LTSC: Professional Plus precedes LTSC Professional Plus: no downgrade rights)"
               == t for t in trace)


def test_an_earlier_edition_never_covers_its_successor():
    older = ent("E-2019", "Office", 3, "Professional Plus", version_range="==2019", downgrade_rights=True)
    office = row(position(office_fleet(), [older]), "Office", "Professional Plus")
    assert office.shortfall == 1
    assert any("pc1: not covered (E-2019: LTSC Professional Plus succeeds Professional Plus: an entitlement for the "
               "earlier edition does not cover it)" == line.text for line in office.consumption.trace)


def test_an_edition_lineage_names_only_listed_editions(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- id: tool\n  publisher: Acme\n  product: Tool\n  licence: required\n  editions: [Pro, Max]\n"
                   "  edition_lineage: [[Pro, Ultra], [Max]]\n  match: {title: 'Acme Tool'}\n")
    entries, problems = read_entries(bad, "bad.yml")
    assert entries == []
    assert [f"{p.source}: {p.message}" for p in problems] == [
        "bad.yml:6:21: tool.edition_lineage[0]: expected editions listed in tool.editions, got Pro, Ultra",
        "bad.yml:6:35: tool.edition_lineage[1]: expected two or more editions, oldest first, got Max",
    ]


# --- (c) editionless entitlements -------------------------------------------------------------------


def test_an_editionless_entitlement_does_not_cover_standard_and_home():
    fleet = [scan("pc1", windows("Microsoft Office Standard 2016")), scan("pc2", windows("Microsoft Office Home and "
                                                                                          "Business 2016"))]
    pos = position(fleet, [ent("E-BARE", "Office", 2)])
    for edition in ("Standard", "Home and Business"):
        p = row(pos, "Office", edition)
        assert (p.owned, p.status) == (0, Status.UNLICENSED)
        assert any(n.startswith("E-BARE names no edition") for n in p.notes)
    covered = position(fleet, [ent("E-ANY", "Office", 2, "any")])
    assert [row(covered, "Office", e).owned for e in ("Standard", "Home and Business")] == [1, 1]


@pytest.fixture
def validate(tmp_path, capsys):
    def run(entry):
        (tmp_path / "licences").mkdir(exist_ok=True)
        (tmp_path / "licences" / "l.yml").write_text("entitlements:\n" + entry)
        code = main(["--store", str(tmp_path / "none.json"), "licence", "--licences", str(tmp_path / "licences"),
                     "validate"])
        return code, *capsys.readouterr()
    return run


def test_licence_validate_warns_about_an_editionless_entitlement_of_a_product_with_editions(validate, tmp_path):
    code, out, err = validate("  - {publisher: Microsoft, product: Office, metric: device, quantity: 5}\n")
    assert (code, out) == (0, "1 entitlements in 1 licence files, no errors\n")
    assert err.startswith(f"{tmp_path / 'licences' / 'l.yml'}:2:5: warning: edition: none named, so this entitlement "
                          "covers only Office installations recognised without an edition, not its editions "
                          "(Professional Plus, Professional, Standard, Home and Business, Home and Student, Personal, "
                          "...); name the edition bought, or write `edition: any` to cover every edition")
    assert validate("  - {publisher: Microsoft, product: Office, edition: any, metric: device, quantity: 5}\n")[2] == ""
    assert validate("  - {publisher: Sublime HQ, product: Sublime Text, metric: named_user, quantity: 3}\n")[2] == ""


def test_the_sbom_lists_an_ltsc_entitlement_under_professional_plus_only_with_downgrade_rights():
    proplus19 = CATALOGUE.recognise(windows(PROPLUS19))
    lines = CATALOGUE.edition_lines()
    ltsc = ent("E-LTSC", "Office", 3, "LTSC Professional Plus", version_range="==2021", downgrade_rights=True)
    assert applies(ltsc, proplus19, lines)
    assert not applies(replace(ltsc, downgrade_rights=False), proplus19, lines)


def test_an_every_edition_entitlement_reads_as_such():
    assert product_label("Microsoft", "Office", "any") == "Microsoft Office, every edition"
