"""How much of each real captured inventory the shipped catalogue recognises (issue #15, "real titles still
missed"), read through the engine's own readers: regedit exports, the Russian host's AppX list, system_profiler
XML and text. Each figure is a ceiling: a catalogue change that loses a title fails here.

Before the catalogue grew on these captures (commit d16fa5b) the unrecognised counts were: Russian AppX 8 of 8,
macOS 10.8 (French) 85 of 291, sample1 (OS X 10.6, French) 93 of 349, sample2 176 of 491, sample3 11 of 317,
sample4 18 of 367, sample5 18 of 367, sample6 20 of 362. What is left is third-party software whose licence
the captures do not tell (games, shareware, a bare "Untitled.app").
"""

import pytest
from test_windows import glpi_appx, reg_raw

from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.model import Installation, LicenceNeed
from sam_engine.platforms import macos, windows

CATALOGUE, _ = load_catalogue()


def _apps(path):
    text = path.read_text(encoding="utf-8")
    items = macos.parse_sp_xml(text) if path.suffix == ".xml" else macos.parse_sp_text(text)
    return [Installation(r["source"], r["name"], r["version"], r["arch"], r["vendor"], None, r["package_id"],
                         r["location"]) for r in map(macos.app_record, items)]


def _inventory(real_fixtures, relpath):
    path = real_fixtures / relpath
    if path.suffix == ".reg":
        items, _ = windows.installations_from_windows(reg_raw(real_fixtures, path.name), path.name)
        return list(items)
    if path.name.endswith("appx-packages.txt"):
        return windows.appx_installations(glpi_appx(path))
    return _apps(path)


COVERAGE = [  # fixture, installations, unrecognised at most
    ("windows/glpi-agent_win10-russian_hklm-uninstall.reg", 2, 0),
    ("windows/glpi-agent_win10-russian_appx-packages.txt", 8, 0),
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", 7, 0),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", 63, 4),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", 291, 0),
    ("macos/glpi-agent_sample1_macos10.6-fr_SPApplicationsDataType.txt", 349, 11),
    ("macos/glpi-agent_sample2_SPApplicationsDataType.txt", 491, 15),
    ("macos/glpi-agent_sample3_SPApplicationsDataType.txt", 317, 1),
    ("macos/glpi-agent_sample4_SPApplicationsDataType.txt", 367, 5),
    ("macos/glpi-agent_sample5_SPApplicationsDataType.xml", 367, 5),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", 362, 1),
]


@pytest.mark.parametrize("relpath, total, ceiling", COVERAGE, ids=[c[0].split("/")[1] for c in COVERAGE])
def test_unrecognised_titles_per_real_inventory_stay_under_the_measured_count(real_fixtures, relpath, total, ceiling):
    items = _inventory(real_fixtures, relpath)
    unknown = sorted({i.name for i in items if CATALOGUE.recognise(i).licence is LicenceNeed.UNKNOWN})
    assert len(items) == total
    assert len([i for i in items if CATALOGUE.recognise(i).licence is LicenceNeed.UNKNOWN]) <= ceiling, unknown


@pytest.mark.parametrize("relpath, title, product, publisher", [
    # a Russian Windows 10's system apps: publisher display names in Russian, known by Microsoft's publisher id
    ("windows/glpi-agent_win10-russian_appx-packages.txt", "Microsoft.Win32WebViewHost", "Windows Inbox App",
     "Microsoft"),
    ("windows/glpi-agent_win10-russian_appx-packages.txt", "microsoft.windows.narratorquickstart",
     "Windows Inbox App", "Microsoft"),
    # French titles of Apple's stock utilities with no signer (OS X 10.6): known by the bundle's file name
    ("macos/glpi-agent_sample1_macos10.6-fr_SPApplicationsDataType.txt", "Utilitaire de réseau",
     "Utilitaire de réseau", "Apple"),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", "Colorimètre numérique",
     "Colorimètre numérique", "Apple"),
    ("macos/glpi-agent_sample2_SPApplicationsDataType.txt", "Organigramme hiérarchique", "Office Components",
     "Microsoft"),
    # publisher only from the signing authority ("Signed by")
    ("macos/glpi-agent_sample3_SPApplicationsDataType.txt", "Cortex XDR Configuration Wizard", "Cortex XDR",
     "Palo Alto Networks"),
    ("macos/glpi-agent_sample5_SPApplicationsDataType.xml", "fsavd", "Elements Agent", "WithSecure"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "R", "R", "R Foundation"),
    # shortcuts that install nothing of their own
    ("macos/glpi-agent_sample2_SPApplicationsDataType.txt", "Paint", "Windows VM application shortcuts", "Parallels"),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", "Gmail", "Google browser helpers", "Google"),
])
def test_real_titles_the_catalogue_grew_on(real_fixtures, relpath, title, product, publisher):
    found = [i for i in _inventory(real_fixtures, relpath) if i.name == title]
    assert found, f"{title!r} is not in {relpath}"
    for inst in found:
        rec = CATALOGUE.recognise(inst)
        assert (rec.product, rec.publisher, rec.licence) != (None, None, LicenceNeed.UNKNOWN)
        assert (rec.product, rec.publisher) == (product, publisher), inst
