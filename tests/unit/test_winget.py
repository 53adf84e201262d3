"""winget's records tied to the installations they describe, on real exports and manifests.

Real data (tests/fixtures/real/SOURCES.md): two ``winget export`` files committed by one user
(the second with ``--include-versions``, one with a Microsoft Store source), the Python 3.8.8
per-user Programs-and-Features entry of a real NTUSER.DAT (regipy), and three winget-pkgs locale
manifests. The collector's PowerShell side (Get-WinGetPackage, winget.exe export) cannot run
here and is checked for syntax only; Get-WinGetPackage records below follow its documented
properties (Name, Id, InstalledVersion, Source), not a capture.
"""

from __future__ import annotations

import pytest
import yaml

from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.model import LicenceNeed
from sam_engine.platforms.windows import installations_from_windows
from sam_engine.platforms.windows_packages import WingetExportError, parse_winget_export
from tests.unit.test_windows import SID_A, entry, glpi_appx, regipy_entries

CATALOGUE, _ = load_catalogue()
EXPORT = "webpavel_winget-export_include-versions.json"
STORE_EXPORT = "webpavel_winget-export_2023-04-26.json"


@pytest.fixture(scope="module")
def winget_dir(real_fixtures):
    return real_fixtures / "windows" / "winget"


@pytest.fixture(scope="module")
def programs(real_fixtures):
    """Programs and Features of the exporting PC: the real per-user Python entry (regipy), and
    machine entries under the names and versions these products' installers write."""
    python = [e for e in regipy_entries(real_fixtures / "windows" / "derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json",
                                        SID_A) if e["DisplayName"] in ("Python 3.8.8 (64-bit)", "JetBrains dotPeek 2021.1.2")]
    return python + [
        entry("7-Zip", "7-Zip 22.01 (x64)", "22.01", "Igor Pavlov"),
        entry("Git_is1", "Git", "2.34.1", "The Git Development Community"),
        entry("GitHubDesktop", "GitHub Desktop", "3.2.1", "GitHub, Inc.", hive="HKU", sid=SID_A),
        entry("IntelliJ IDEA 2021.1.3", "IntelliJ IDEA 2021.1.3", "211.7628.21", "JetBrains s.r.o."),
        entry("Microsoft Edge", "Microsoft Edge", "113.0.1774.57", "Microsoft Corporation"),
        entry("Microsoft EdgeWebView", "Microsoft Edge WebView2 Runtime", "113.0.1774.57", "Microsoft Corporation"),
        entry("VLC media player", "VLC media player", "3.0.18", "VideoLAN"),
        entry("{6AB4EDF5-E6AA-4C6B-A1B4-ADDC0B2F9B35}", "Node.js", "12.22.12", "Node.js Foundation"),
        entry("Acme", "Acme Ledger", "4.2", "Acme Corp."),
    ]


def test_the_real_exports_are_read_with_their_sources(winget_dir):
    pkgs = parse_winget_export(winget_dir.joinpath(EXPORT).read_text(encoding="utf-8"))
    assert len(pkgs) == 23 and {p.source for p in pkgs} == {"winget"} and {p.name for p in pkgs} == {None}
    assert ("Git.Git", "2.34.1") in [(p.package_id, p.version) for p in pkgs]
    assert ("VideoLAN.VLC", "> 3.0.17.4") in [(p.package_id, p.version) for p in pkgs]  # a bound as winget writes it
    older = parse_winget_export(winget_dir.joinpath(STORE_EXPORT).read_text(encoding="utf-8"))
    assert [p.source for p in older].count("winget") == 21 and [p.source for p in older].count("msstore") == 8


def test_each_record_gives_its_program_an_origin_and_nothing_is_counted_twice(winget_dir, programs):
    text = winget_dir.joinpath(EXPORT).read_text(encoding="utf-8")
    plain, _ = installations_from_windows({"uninstall": programs}, "pc1")
    items, problems = installations_from_windows({"uninstall": programs, "winget_export": {"text": text}}, "pc1")
    assert [(i.name, i.version) for i in items] == [(i.name, i.version) for i in plain]  # no installation added
    origins = {i.name: i.origin for i in items}
    assert origins["Git"] == "winget source=winget id=Git.Git licence="  # equal to the id's key, not GitHub Desktop
    assert origins["GitHub Desktop"] is None and origins["Acme Ledger"] is None
    assert origins["Python 3.8.8 (64-bit)"] == "winget source=winget id=Python.Python.3.8 licence="  # real, 3.8.8150.0
    assert origins["IntelliJ IDEA 2021.1.3"].startswith("winget source=winget id=JetBrains.IntelliJIDEA.Ultimate ")
    assert origins["JetBrains dotPeek 2021.1.2"] is None
    assert "id=Microsoft.Edge " in origins["Microsoft Edge"]  # the whole id's key first: not the WebView2 runtime
    assert "id=Microsoft.EdgeWebView2Runtime " in origins["Microsoft Edge WebView2 Runtime"]
    assert "id=VideoLAN.VLC " in origins["VLC media player"] and "id=OpenJS.NodeJS.LTS " in origins["Node.js"]
    assert "id=7zip.7zip " in origins["7-Zip 22.01 (x64)"]
    (untied,) = problems
    assert untied.severity == "warning" and untied.source == "pc1: windows.winget"
    assert untied.message.startswith("15 winget package(s) tied to no installed program") and "ShareX.ShareX" in untied.message


def test_the_catalogue_classifies_by_the_winget_id(winget_dir, programs):
    text = winget_dir.joinpath(EXPORT).read_text(encoding="utf-8")
    title = "IntelliJ IDEA Ultimate 2021.1.3 (JetBrains)"  # a title no rule knows: the id decides
    renamed = [dict(e, DisplayName=title) if e["DisplayName"] == "IntelliJ IDEA 2021.1.3" else e for e in programs]
    plain, _ = installations_from_windows({"uninstall": renamed}, "pc1")
    assert CATALOGUE.recognise(next(i for i in plain if i.name == title)).licence is LicenceNeed.UNKNOWN
    items, _ = installations_from_windows({"uninstall": renamed, "winget_export": {"text": text}}, "pc1")
    rec = CATALOGUE.recognise(next(i for i in items if i.name == title))
    assert (rec.product, rec.edition, rec.licence) == ("IntelliJ IDEA", "Ultimate", LicenceNeed.REQUIRED)
    assert rec.rule == "catalogue/jetbrains.yml:intellij-idea-ultimate"


@pytest.mark.parametrize("manifest, licence_field, expected", [
    ("Git.Git", "GNU General Public License version 2", LicenceNeed.FREE),
    ("OpenJS.NodeJS.LTS", "Copyright Joyent, Inc. and other Node contributors. All rights reserved.", LicenceNeed.FREE),
    # the community manifest names the platform's licence; Ultimate is sold per user
    ("JetBrains.IntelliJIDEA.Ultimate", "Apache License 2.0", LicenceNeed.REQUIRED),
])
def test_the_catalogue_knows_winget_ids_whatever_the_manifests_license_field_says(winget_dir, programs, manifest,
                                                                                 licence_field, expected):
    doc = yaml.safe_load(winget_dir.joinpath("winget-pkgs", f"{manifest}.locale.en-US.yaml").read_text(encoding="utf-8"))
    assert doc["License"] == licence_field
    record = {"Name": "Unnamed Tool", "Id": doc["PackageIdentifier"], "InstalledVersion": doc["PackageVersion"],
              "Source": "winget"}
    tool = entry("Tool", "Unnamed Tool", str(doc["PackageVersion"]), doc["Publisher"])
    (inst,), problems = installations_from_windows({"uninstall": [tool], "winget": [record]}, "pc1")
    assert problems == [] and inst.origin == f"winget source=winget id={doc['PackageIdentifier']} licence="
    assert CATALOGUE.recognise(inst).licence is expected


def test_a_store_package_says_its_licence_is_the_stores(real_fixtures):
    appx = glpi_appx(real_fixtures / "windows" / "glpi-agent_win10-russian_appx-packages.txt")
    name = appx[0]["Name"]  # e.g. Microsoft.Windows.Cortana
    record = {"Name": name.split(".", 1)[1], "Id": "9NBLGGH5Q5FV", "InstalledVersion": appx[0]["Version"],
              "Source": "msstore"}
    items, problems = installations_from_windows({"appx": appx, "winget": [record]}, "pc1")
    tied = [i for i in items if i.origin]
    assert problems == [] and [i.name for i in tied] == [name]
    assert tied[0].origin == "winget source=msstore id=9NBLGGH5Q5FV licence=from the Microsoft Store (the account that acquired it)"


def test_store_records_of_an_export_without_names_are_reported_not_guessed(winget_dir, programs):
    text = winget_dir.joinpath(STORE_EXPORT).read_text(encoding="utf-8")
    _, problems = installations_from_windows({"uninstall": programs, "winget_export": {"text": text}}, "pc1")
    assert "9NBLGGH5Q5FV" in problems[0].message and "9WZDNCRFHVQM" in problems[0].message


def test_no_winget_gives_nothing_and_no_problem(programs):
    items, problems = installations_from_windows({"uninstall": programs, "winget": [], "winget_export": None}, "pc1")
    assert problems == [] and all(i.origin is None for i in items)
    unsourced = {"Name": "Git", "Id": "ARP\\Machine\\X64\\Git_is1", "InstalledVersion": "2.34.1", "Source": ""}
    items, problems = installations_from_windows({"uninstall": programs, "winget": [unsourced]}, "pc1")
    assert problems == [] and all(i.origin is None for i in items)  # listed by winget, installed by something else


@pytest.mark.parametrize("export, message", [
    ({"text": "<html>no</html>"}, "not JSON"),
    ({"text": "[1, 2]"}, "no Sources list"),
    ({"text": None, "skipped": "winget export failed: exit 1"}, "not read: winget export failed: exit 1"),
])
def test_a_bad_export_is_a_warning_and_the_programs_are_kept(programs, export, message):
    items, problems = installations_from_windows({"uninstall": programs, "winget_export": export}, "pc1")
    assert len(items) == len(programs)  # nothing lost
    assert [(p.source, p.severity) for p in problems] == [("pc1: windows.winget_export", "warning")]
    assert message in problems[0].message
    with pytest.raises(WingetExportError):
        parse_winget_export("{")


def test_hostile_records_stay_one_line_of_data(programs):
    record = {"Name": "Git", "Id": "Git.Git\r\nlicence=free", "InstalledVersion": "2.34.1",
              "Source": "winget id=Git.Git x"}
    items, _ = installations_from_windows({"uninstall": programs, "winget": [record]}, "pc1")
    git = next(i for i in items if i.name == "Git")
    assert "\n" not in git.origin and "\r" not in git.origin
    assert git.origin.startswith("winget source=winget_id=Git.Git_x id=Git.Git")
