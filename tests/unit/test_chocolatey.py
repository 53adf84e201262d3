"""Chocolatey packages from their real nuspec files (tests/fixtures/real/windows/chocolatey, from
chocolatey-community/chocolatey-packages): the engine's reading and the licence their origin carries.

The collector's side (``win_software_facts.ps1`` listing ``lib\\*\\*.nuspec``) is PowerShell and is not
run here: only its syntax is checked (test_powershell_syntax.py). These tests start from the raw
records it is documented to return (path, size, text or skipped).
"""

from pathlib import Path

import pytest

from sam_engine.licensing.catalogue import Catalogue, load_catalogue
from sam_engine.model import Installation, LicenceNeed
from sam_engine.platforms.windows_packages import NuspecError, chocolatey_installations, parse_nuspec
from sam_engine.platforms.windows import installations_from_windows

CATALOGUE, _ = load_catalogue()
FALLBACK = Catalogue([CATALOGUE.entry("chocolatey-open-source")])  # the provenance rule alone
LIB = "C:\\ProgramData\\chocolatey\\lib"


@pytest.fixture
def nuspecs(real_fixtures):
    folder = real_fixtures / "windows" / "chocolatey"
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.nuspec"))}


def raw(name, text):
    return {"path": f"{LIB}\\{name}\\{name}.nuspec", "size": len(text.encode()), "text": text, "skipped": None}


def packages(nuspecs):
    items, problems = chocolatey_installations([raw(n, t) for n, t in nuspecs.items()], "host pc1")
    assert problems == []
    return {i.package_id: i for i in items}


def test_every_real_nuspec_reads_with_its_raw_fields_whatever_its_namespace(nuspecs):
    chrome = parse_nuspec(nuspecs["googlechrome"])  # NuGet 2011/08 namespace; 7zip.install has none
    assert (chrome["id"], chrome["version"], chrome["title"], chrome["authors"]) == (
        "GoogleChrome", "152.0.7977.54", "Google Chrome", "Google LLC.")
    seven = parse_nuspec(nuspecs["7zip.install"])
    assert (seven["owners"], seven["licenseUrl"], seven["license"]) == (
        "chocolatey-community,Rob Reynolds", "http://www.7-zip.org/license.txt", None)
    assert seven["packageSourceUrl"] == "https://github.com/chocolatey-community/chocolatey-packages/tree/master/" \
                                        "automatic/7zip.install"


def test_a_package_is_an_installation_by_the_software_authors_with_its_licence_facts_as_origin(nuspecs):
    got = packages(nuspecs)
    assert sorted(got) == ["chocolatey:7zip.install", "chocolatey:Firefox", "chocolatey:GoogleChrome",
                           "chocolatey:git.install", "chocolatey:notepadplusplus.install", "chocolatey:vlc"]
    git = got["chocolatey:git.install"]
    assert git == Installation(
        "chocolatey", "Git (Install)", "2.55.0.5", None, "The Git Development Community", None,
        "chocolatey:git.install", f"{LIB}\\git.install\\git.install.nuspec",
        "chocolatey license=http://www.gnu.org/licenses/old-licenses/gpl-2.0.html spdx= "
        "source=https://github.com/chocolatey-community/chocolatey-packages/tree/master/automatic/git.install "
        "owners=chocolatey-community")


@pytest.mark.parametrize("package, product, licence", [
    ("chocolatey:git.install", "Git", LicenceNeed.FREE),              # gnu.org GPL-2.0
    ("chocolatey:Firefox", "Mozilla Firefox", LicenceNeed.FREE),      # mozilla.org MPL 2.0
    ("chocolatey:GoogleChrome", "Google Chrome", LicenceNeed.UNKNOWN),  # Google's EULA: not open source
    ("chocolatey:7zip.install", "7-Zip (Install)", LicenceNeed.UNKNOWN),  # the project's own page
    ("chocolatey:vlc", "VLC media player", LicenceNeed.UNKNOWN),     # the project's own page
])
def test_the_provenance_rule_alone_frees_only_open_source_licences(nuspecs, package, product, licence):
    rec = FALLBACK.recognise(packages(nuspecs)[package])
    assert rec.licence is licence
    if licence is LicenceNeed.FREE:
        assert rec.rule == "catalogue/distributions.yml:chocolatey-open-source" and rec.product == product


def test_with_the_whole_catalogue_every_real_package_is_recognised_under_its_product(nuspecs):
    got = {pid: CATALOGUE.recognise(inst) for pid, inst in packages(nuspecs).items()}
    assert {pid: (r.product, r.licence) for pid, r in got.items()} == {
        "chocolatey:7zip.install": ("7-Zip", LicenceNeed.FREE), "chocolatey:Firefox": ("Firefox", LicenceNeed.FREE),
        "chocolatey:GoogleChrome": ("Chrome", LicenceNeed.FREE), "chocolatey:git.install": ("Git", LicenceNeed.FREE),
        "chocolatey:notepadplusplus.install": ("Notepad++", LicenceNeed.FREE),
        "chocolatey:vlc": ("VLC media player", LicenceNeed.FREE)}


def test_an_spdx_expression_is_read_and_decides(nuspecs):
    text = nuspecs["vlc"].replace("<licenseUrl>http://www.videolan.org/legal.html</licenseUrl>",
                                  '<license type="expression">GPL-2.0-or-later</license>')
    (inst,), _ = chocolatey_installations([raw("vlc", text)], "pc1")
    assert "spdx=GPL-2.0-or-later" in inst.origin
    assert FALLBACK.recognise(inst).licence is LicenceNeed.FREE
    proprietary = text.replace("GPL-2.0-or-later", "LicenseRef-Proprietary")
    (inst,), _ = chocolatey_installations([raw("vlc", proprietary)], "pc1")
    assert FALLBACK.recognise(inst).licence is LicenceNeed.UNKNOWN


@pytest.mark.parametrize("text, message", [
    ('<!DOCTYPE p [<!ENTITY x "y">]><package/>', "DTD and entity declarations are not allowed"),
    ("<package><metadata><id>x</id>", "not well-formed XML"),
    ("<package><metadata><title>no id</title></metadata></package>", "no <id> and <version>"),
    ("<SoftwareIdentity/>", "root element is SoftwareIdentity"),
])
def test_a_bad_nuspec_is_a_warning_naming_the_file_and_the_others_are_kept(nuspecs, text, message):
    with pytest.raises(NuspecError, match=message):
        parse_nuspec(text)
    items, problems = chocolatey_installations([raw("bad", text), raw("vlc", nuspecs["vlc"]),
                                                {"path": f"{LIB}\\big\\big.nuspec", "size": 10 ** 7, "text": None,
                                                 "skipped": "larger than nuspec_max_bytes"}], "host pc1")
    assert [i.package_id for i in items] == ["chocolatey:vlc"]
    assert [(p.source, p.severity) for p in problems] == [
        (f"host pc1: windows.chocolatey[0] {LIB}\\bad\\bad.nuspec", "warning"),
        (f"host pc1: windows.chocolatey[2] {LIB}\\big\\big.nuspec", "warning")]
    assert message in problems[0].message and problems[1].message == "not read: larger than nuspec_max_bytes"


def test_hostile_metadata_stays_one_line_of_data(nuspecs):
    text = nuspecs["vlc"].replace("VideoLAN Organization", "=HYPERLINK(\"x\")\n&lt;b&gt;x&lt;/b&gt;").replace(
        "<owners>chocolatey-community, Rob Reynolds</owners>", "<owners>a\r\nlicense=https://opensource.org/licenses/MIT</owners>")
    (inst,), _ = chocolatey_installations([raw("vlc", text)], "pc1")
    assert inst.vendor == "=HYPERLINK(\"x\") <b>x</b>" and "\n" not in inst.origin
    assert FALLBACK.recognise(inst).licence is LicenceNeed.UNKNOWN  # an owner cannot forge the licence field


def test_the_windows_platform_reads_the_collectors_chocolatey_list(nuspecs):
    items, problems = installations_from_windows({"chocolatey": [raw("git.install", nuspecs["git.install"])]}, "pc1")
    assert problems == [] and [(i.source, i.name) for i in items] == [("chocolatey", "Git (Install)")]
    _, problems = installations_from_windows({"chocolatey": "not a list"}, "pc1")
    assert [p.message for p in problems] == ["not a list"]


def test_the_fixture_sources_are_recorded():
    sources = (Path(__file__).resolve().parents[1] / "fixtures" / "real" / "SOURCES.md").read_text(encoding="utf-8")
    for name in ("7zip.install", "git.install", "notepadplusplus.install", "firefox", "vlc", "googlechrome"):
        assert f"| windows/chocolatey/{name}.nuspec |" in sources
