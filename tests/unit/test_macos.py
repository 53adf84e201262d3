"""The macOS collector (action plugin) and its engine side (sam_engine.platforms.macos).

Parsers run on the real captured macOS outputs (system_profiler text and XML,
localised French names, apps without versions, Info.plist files, brew info
JSON). The collector's sh commands run for real under /bin/sh against a fake
Mac: synthetic file trees in tmp_path and stand-in ``sysctl``, ``ioreg``,
``system_profiler``, ``pkgutil``... scripts first on PATH. The recorded module
output tests/fixtures/recorded/macos_arm64-sample6.json is what the action
plugin's ``collect`` returns on such a fake Mac (``build_recorded_output``);
FLEETSAM_REWRITE_FIXTURES=1 writes it again.
"""

import base64
import datetime
import csv
import json
import os
import plistlib
import subprocess
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest

from ansible_collections.fleetsam.sam.plugins.action import macos_software_facts as action
from sam_engine.platforms import macos
from sam_engine.platforms.users import macos_users
from sam_engine import pipeline
from sam_engine.platforms.registry import platform_of
from sam_engine.model import Virtualization

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "macos_arm64-sample6.json"
RECORDED_USERS = RECORDED.parent / "users"
DEFAULTS = {name: spec["default"] for name, spec in action.ARGUMENT_SPEC.items()}

TEXT_FIXTURES = {  # file: (apps, apps without a version)
    "glpi-agent_sample1_macos10.6-fr_SPApplicationsDataType.txt": (349, 12),
    "glpi-agent_sample2_SPApplicationsDataType.txt": (491, 15),
    "glpi-agent_sample3_SPApplicationsDataType.txt": (317, 9),  # 8 without the line, 1 with "Version: " empty
    "glpi-agent_sample4_SPApplicationsDataType.txt": (367, 6),
}
XML_FIXTURES = {
    "glpi-agent_sample5_SPApplicationsDataType.xml": (367, 6),
    "glpi-agent_sample6_SPApplicationsDataType.xml": (362, 9),  # 8 without the key, 1 with an empty string
    "glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml": (291, 12),
}

APPLE_SILICON_SYSCTL = {"hw.packages": "1", "hw.physicalcpu": "10", "hw.logicalcpu": "10", "hw.memsize": "17179869184",
                        "hw.model": "MacBookPro18,3", "machdep.cpu.brand_string": "Apple M1 Pro",
                        "kern.hv_vmm_present": "0"}  # no machdep.cpu.vendor on Apple Silicon
APPLE_SILICON_IOREG = """+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000227, registered, matched, active, busy 0 (9 ms), retain 34>
    {
      "IOPlatformSerialNumber" = "FLEETSAM0001"
      "compatible" = <"J314sAP","MacBookPro18,3","AppleARM">
      "manufacturer" = <"Apple Inc.">
      "model" = <"MacBookPro18,3">
      "IOPlatformUUID" = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
      "product-name" = <"MacBook Pro (14-inch, 2021)">
    }
"""
SW_VERS = "ProductName:\t\tmacOS\nProductVersion:\t\t14.4.1\nBuildVersion:\t\t23E224\n"


def apps_of(real_fixtures, name):
    text = (real_fixtures / "macos" / name).read_text(encoding="utf-8")
    items = macos.parse_sp_xml(text) if name.endswith(".xml") else macos.parse_sp_text(text)
    return [macos.app_record(item) for item in items]


def find(records, name):
    return [(r["name"], r["version"], r["location"]) for r in records if r["name"] == name]


# --- a fake Mac: stand-in commands first on PATH -------------------------------------------------


def script(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def fake_mac(tmp_path, sysctl=None, ioreg="", sw_vers=SW_VERS, uname="Darwin 23.4.0 arm64", hostname="mac1.example.com",
             system_profiler=None, packages=None):
    """Stand-in macOS commands in tmp_path/bin; returns ``execute(command) -> {rc, stdout, stderr}``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cases = "".join(f"{key}) echo '{value}';;\n" for key, value in (sysctl or {}).items())
    script(bin_dir, "sysctl", f'case "$2" in\n{cases}*) echo "sysctl: unknown oid \'$2\'" >&2; exit 1;;\nesac\n')
    (tmp_path / "ioreg.txt").write_text(ioreg)
    script(bin_dir, "ioreg", f"cat '{tmp_path / 'ioreg.txt'}'\n")
    (tmp_path / "sw_vers.txt").write_text(sw_vers)
    script(bin_dir, "sw_vers", f"cat '{tmp_path / 'sw_vers.txt'}'\n")
    script(bin_dir, "uname", f"echo '{uname}'\n")
    script(bin_dir, "hostname", f"echo '{hostname}'\n")
    # who uses the Mac: the recorded dscl and last outputs (tests/fixtures/recorded/users), a fixed clock
    users = (RECORDED_USERS / "macos_users.txt").read_text().split("#fleetsam-cmd ")
    (tmp_path / "dscl.txt").write_text(users[1].split("\n", 1)[1])
    (tmp_path / "last.txt").write_text(users[2].split("\n", 1)[1])
    script(bin_dir, "dscl", f"cat '{tmp_path / 'dscl.txt'}'\n")
    script(bin_dir, "last", f"cat '{tmp_path / 'last.txt'}'\n")
    script(bin_dir, "date", "echo 1796200000\n")
    script(bin_dir, "system_profiler", f"cat '{system_profiler}'\n" if system_profiler else "exit 1\n")
    # plutil converts XML plists (a cat); binary ones fail, as if plutil could not read them
    script(bin_dir, "plutil", 'case "$(head -c 5 "$5")" in "<?xml"|"<plis") exec cat "$5";; *) exit 1;; esac\n')
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    for pkgid, info in (packages or {}).items():
        (receipts / f"{pkgid}.plist").write_bytes(plistlib.dumps(info))
    script(bin_dir, "pkgutil", f'case "$1" in\n--pkgs) ls \'{receipts}\' | sed "s/\\.plist$//";;\n'
                               f"--pkg-info-plist) exec cat '{receipts}'/\"$2\".plist;;\nesac\n")

    def execute(command):
        done = subprocess.run(["/bin/sh", "-c", command], capture_output=True,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C"})
        return {"rc": done.returncode, "stdout": done.stdout.decode("utf-8", "replace"),
                "stderr": done.stderr.decode("utf-8", "replace")}
    return execute


def homebrew_tree(root, brew_info):
    """A Homebrew prefix (Cellar, Caskroom) rebuilt from a real ``brew info --json=v2 --installed``."""
    for formula in brew_info["formulae"]:
        for keg in formula["installed"]:
            keg_dir = root / "Cellar" / formula["name"] / keg["version"]
            keg_dir.mkdir(parents=True)
            (keg_dir / "INSTALL_RECEIPT.json").write_text(json.dumps({
                "homebrew_version": "4.5.13", "installed_as_dependency": keg["installed_as_dependency"],
                "installed_on_request": keg["installed_on_request"], "poured_from_bottle": True, "time": keg["time"],
                "source": {"tap": formula["tap"], "spec": "stable", "versions": formula["versions"]},
                "arch": "arm64"}, indent=2))
    for cask in brew_info["casks"]:
        (root / "Caskroom" / cask["token"] / cask["installed"]).mkdir(parents=True)
        meta = root / "Caskroom" / cask["token"] / ".metadata"
        meta.mkdir()
        (meta / "INSTALL_RECEIPT.json").write_text(json.dumps({
            "homebrew_version": "4.5.13", "installed_on_request": True, "time": cask["installed_time"],
            "source": {"tap": cask["tap"], "version": cask["installed"]}, "arch": "arm64"}))


def app_bundle(apps_dir, folder, plist_bytes):
    contents = apps_dir / folder / "Contents"
    contents.mkdir(parents=True)
    (contents / "Info.plist").write_bytes(plist_bytes)


# --- system_profiler ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEXT_FIXTURES) + sorted(XML_FIXTURES))
def test_system_profiler_counts(real_fixtures, name):
    apps, without_version = {**TEXT_FIXTURES, **XML_FIXTURES}[name]
    records = apps_of(real_fixtures, name)
    assert len(records) == apps
    assert sum(r["version"] is None for r in records) == without_version
    assert all(r["source"] == "macos-app" and r["name"] for r in records)


def test_text_french_names_and_multiline_info(real_fixtures):
    records = apps_of(real_fixtures, "glpi-agent_sample1_macos10.6-fr_SPApplicationsDataType.txt")
    assert find(records, "Mise à jour de logiciels") == [
        ("Mise à jour de logiciels", "4.0.6", "/System/Library/CoreServices/Software Update.app")]
    assert find(records, "Terminal") == [("Terminal", "2.1.2", "/Applications/Utilities/Terminal.app")]
    word = [r for r in records if r["name"] == "Microsoft Word"]
    assert [(r["version"], r["arch"]) for r in word] == [("11.2.0", "ppc")]
    # the Get Info String runs over several unindented lines; the Location after it is still read
    assert find(records, "Wish") == [
        ("Wish", "8.4.19", "/System/Library/Frameworks/Tk.framework/Versions/8.4/Resources/Wish.app"),
        ("Wish", "8.5.7", "/System/Library/Frameworks/Tk.framework/Versions/8.5/Resources/Wish.app")]
    assert sum(1 for r in records if r["name"] == "Python") == 3
    assert sum(1 for r in records if not r["name"].isascii()) == 38


def test_text_us_dates_and_per_user_apps(real_fixtures):
    records = apps_of(real_fixtures, "glpi-agent_sample2_SPApplicationsDataType.txt")
    assert find(records, "Microsoft Word") == [
        ("Microsoft Word", "12.2.8", "/Applications/Microsoft Office 2008/Microsoft Word.app")]
    assert sum(1 for r in records if r["location"].startswith("/Users/")) == 99
    word = next(r for r in records if r["name"] == "Microsoft Word")
    assert word["install_time"] is None and word["extra"]["last_modified"] == "12/27/10 2:23 PM"


def test_text_signers_give_vendors(real_fixtures):
    records = apps_of(real_fixtures, "glpi-agent_sample3_SPApplicationsDataType.txt")
    by_name = {r["name"]: r for r in records}
    assert (by_name["Microsoft Word"]["version"], by_name["Microsoft Word"]["vendor"]) == ("16.66.1", "Microsoft Corporation")
    # an old Developer ID certificate without a team id, and an empty "Version:" line
    assert (by_name["Reset Serial Cloner"]["version"], by_name["Reset Serial Cloner"]["vendor"]) == (None, "Franck Perez")
    assert Counter(r["extra"]["obtained_from"] for r in records) == {"apple": 263, "identified_developer": 45, "unknown": 9}
    assert Counter(r["vendor"] for r in records)["Apple Inc."] == 263


def test_text_and_xml_of_the_same_mac_agree(real_fixtures):
    """sample4 (text) and sample5 (XML) come from one Mac; only OneDrive was updated in between."""
    key = lambda r: (r["name"], r["version"], r["location"], r["vendor"], r["extra"].get("obtained_from"))  # noqa: E731
    text = Counter(map(key, apps_of(real_fixtures, "glpi-agent_sample4_SPApplicationsDataType.txt")))
    xml = Counter(map(key, apps_of(real_fixtures, "glpi-agent_sample5_SPApplicationsDataType.xml")))
    assert list(text - xml) == [("OneDrive", "24.055.0317", "/Applications/OneDrive.app", "Microsoft Corporation",
                                 "identified_developer")]
    assert list(xml - text) == [("OneDrive", "24.065.0331", "/Applications/OneDrive.app", "Microsoft Corporation",
                                 "identified_developer")]


def test_xml_fields(real_fixtures):
    records = apps_of(real_fixtures, "glpi-agent_sample6_SPApplicationsDataType.xml")
    word = next(r for r in records if r["name"] == "Microsoft Word")
    assert (word["version"], word["vendor"], word["arch"], word["location"]) == (
        "16.84", "Microsoft Corporation", "universal", "/Applications/Microsoft Word.app")
    assert word["install_time"] == 1713337781 and word["package_id"] == "/Applications/Microsoft Word.app"
    assert {r["name"] for r in records if r["arch"] == "ios"} == {"VLC", "Adobe Elements 2023 Organizer"}
    assert Counter(r["extra"]["obtained_from"] for r in records)["mac_app_store"] == 5
    # names keep their letters; a no-break space becomes a plain one
    assert sum(1 for r in records if r["name"] == "iCloud Drive") == 2


def test_legacy_french_xml(real_fixtures):
    records = apps_of(real_fixtures, "glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml")
    assert find(records, "Programme d’installation") == [
        ("Programme d’installation", "4.0", "/System/Library/CoreServices/Installer.app")]
    assert find(records, "Préférences Système") == [("Préférences Système", "7.0", "/Applications/System Preferences.app")]
    assert Counter(r["arch"] for r in records) == {"x86": 173, "universal": 114, None: 4}
    assert all(r["vendor"] is None for r in records)  # the legacy schema has no signing information


def test_sp_software_gives_the_os(real_fixtures):
    text = (real_fixtures / "macos" / "glpi-agent_macos10.11_SPSoftwareDataType.txt").read_text()
    assert macos.parse_sp_software(text) == {"os_name": "OS X", "os_version": "10.11.6", "build": "15G1217",
                                             "kernel": "15.6.0", "computer_name": "mac-fusion01"}
    host = macos.derive_host_macos({"sp_software": {"rc": 0, "stdout": text}}, "mac-fusion01")
    assert (host.os_name, host.os_version, host.kernel, host.hostname) == ("OS X", "10.11.6", "15.6.0", "mac-fusion01")
    assert host.identity_source == "inventory"


# --- Info.plist fallback ----------------------------------------------------------------------------


def test_info_plist_records(real_fixtures):
    samples = {name: plistlib.loads((real_fixtures / "macos" / name).read_bytes()) for name in (
        "jc_Safari_Info.plist", "jc_GarageBand_Info.plist", "osquery_PhotoBooth_Info.plist")}
    safari = macos.info_plist_record(samples["jc_Safari_Info.plist"], "/Applications/Safari.app")
    assert (safari["name"], safari["version"], safari["package_id"], safari["vendor"]) == (
        "Safari", "15.6", "com.apple.Safari", "Apple Inc.")
    assert safari["extra"]["bundle_version"] == "17613.3.9.1.5"
    garageband = macos.info_plist_record(samples["jc_GarageBand_Info.plist"], "/Applications/GarageBand.app")
    assert (garageband["name"], garageband["version"], garageband["package_id"]) == (
        "GarageBand", "10.3.2", "com.apple.garageband10")
    # Photo Booth has neither CFBundleName nor CFBundleDisplayName: the bundle's folder names it
    booth = macos.info_plist_record(samples["osquery_PhotoBooth_Info.plist"], "/Applications/Photo Booth.app")
    assert (booth["name"], booth["version"], booth["package_id"]) == ("Photo Booth", "6.0", "com.apple.PhotoBooth")
    # no CFBundleShortVersionString: CFBundleVersion stands in
    assert macos.info_plist_record({"CFBundleVersion": "517"}, "/Applications/X.app")["version"] == "517"


def test_info_plist_fallback_over_sh(real_fixtures, tmp_path):
    """system_profiler fails; the action reads each bundle's Info.plist, XML or binary, over sh."""
    apps = tmp_path / "Applications"
    for folder, name in (("Safari.app", "jc_Safari_Info.plist"), ("Utilities/GarageBand.app", "jc_GarageBand_Info.plist")):
        app_bundle(apps, folder, (real_fixtures / "macos" / name).read_bytes())
    booth = plistlib.loads((real_fixtures / "macos" / "osquery_PhotoBooth_Info.plist").read_bytes())
    app_bundle(tmp_path / "Users" / "alice" / "Applications", "Photo Booth.app", plistlib.dumps(booth, fmt=plistlib.FMT_BINARY))
    app_bundle(apps, "Broken.app", b"\x00 not a plist")
    (apps / "Safari.app" / "Contents" / "Resources" / "Helper.app").mkdir(parents=True)  # inside a bundle: not searched
    execute = fake_mac(tmp_path, sysctl=APPLE_SILICON_SYSCTL)
    args = dict(DEFAULTS, sources=["apps"], app_dirs=[str(apps), str(tmp_path / "Users" / "*" / "Applications")])
    result = action.collect(execute, args)
    assert not result.get("failed")
    out = result["macos"]
    assert out["system_profiler"]["rc"] == 1 and "info_plist" in out
    assert any("read from Info.plist" in w for w in result["warnings"])
    records, problems = macos.software_records(out, "spool/mac1.json")
    got = sorted((r["name"], r["version"], r["package_id"], r["location"].replace(str(tmp_path), "")) for r in records)
    assert got == [
        ("GarageBand", "10.3.2", "com.apple.garageband10", "/Applications/Utilities/GarageBand.app"),
        ("Photo Booth", "6.0", "com.apple.PhotoBooth", "/Users/alice/Applications/Photo Booth.app"),
        ("Safari", "15.6", "com.apple.Safari", "/Applications/Safari.app"),
    ]
    messages = [p.message for p in problems]
    assert any("Broken.app/Contents/Info.plist: unreadable" in m for m in messages)
    assert any(p.source == "spool/mac1.json: macos/system_profiler" for p in problems)


def test_both_methods_give_system_profiler_records_their_bundle_ids():
    sp = plistlib.dumps([{"_dataType": "SPApplicationsDataType", "_items": [
        {"_name": "Safari", "version": "15.6", "path": "/Applications/Safari.app", "obtained_from": "apple"},
        {"_name": "Tool", "version": "1", "path": "/opt/Tool.app"}]}]).decode()
    plists = "#fleetsam-file /Applications/Safari.app\n" + plistlib.dumps(
        {"CFBundleIdentifier": "com.apple.Safari", "CFBundleShortVersionString": "15.6"}).decode()
    records, problems = macos.software_records({"system_profiler": {"rc": 0, "stdout": sp},
                                                "info_plist": {"rc": 0, "stdout": plists}}, "o")
    assert [(r["name"], r["package_id"]) for r in records] == [("Safari", "com.apple.Safari"), ("Tool", "/opt/Tool.app")]
    assert problems == []


# --- receipts, Homebrew, SWID -----------------------------------------------------------------------


def test_pkgutil_receipts_over_sh(tmp_path):
    packages = {
        "com.apple.pkg.CLTools_Executables": {"pkgid": "com.apple.pkg.CLTools_Executables", "pkg-version": "15.3.0.0.1.1708646388",
                                              "install-location": "/", "install-time": 1712000000, "volume": "/"},
        "com.microsoft.package.Microsoft_Word.app": {"pkgid": "com.microsoft.package.Microsoft_Word.app",
                                                     "pkg-version": "16.84.24041420", "install-location": "Applications",
                                                     "install-time": 1713337000, "volume": "/"},
    }
    execute = fake_mac(tmp_path, packages=packages)
    result = action.collect(execute, dict(DEFAULTS, sources=["pkgutil"]))
    records, problems = macos.software_records(result["macos"], "o")
    assert problems == []
    assert [(r["source"], r["name"], r["version"], r["vendor"], r["install_time"], r["location"]) for r in records] == [
        ("pkgutil", "com.apple.pkg.CLTools_Executables", "15.3.0.0.1.1708646388", "Apple Inc.", 1712000000, "/"),
        ("pkgutil", "com.microsoft.package.Microsoft_Word.app", "16.84.24041420", "microsoft.com", 1713337000,
         "/Applications"),
    ]


def test_receipt_files_binary_as_base64():
    """Without pkgutil the collector sends /var/db/receipts/*.plist as base64 (they may be binary)."""
    receipt = plistlib.dumps({"PackageIdentifier": "org.python.Python.PythonFramework-3.12", "PackageVersion": "3.12.3",
                              "InstallPrefixPath": "Library/Frameworks/Python.framework",
                              "InstallDate": datetime.datetime(2024, 4, 10, 8, 0, 0)},
                             fmt=plistlib.FMT_BINARY)
    text = "#fleetsam-file /var/db/receipts/org.python.plist\n" + base64.encodebytes(receipt).decode()
    (record,), errors = macos.parse_pkg_receipts(text + "#fleetsam-file /var/db/receipts/bad.plist\n@@@\n")
    assert (record["name"], record["version"], record["vendor"], record["install_time"], record["location"]) == (
        "org.python.Python.PythonFramework-3.12", "3.12.3", "python.org", 1712736000,
        "/Library/Frameworks/Python.framework")
    assert len(errors) == 1 and "bad.plist" in errors[0]


def test_homebrew_receipts_over_sh(real_fixtures, tmp_path):
    brew_info = json.loads((real_fixtures / "macos" / "cheznix_brew-info-json-v2-installed.json").read_text())
    homebrew_tree(tmp_path / "opt" / "homebrew", brew_info)
    (tmp_path / "usr" / "local" / "Cellar" / "wget" / "1.24.5").mkdir(parents=True)
    (tmp_path / "usr" / "local" / "Cellar" / "wget" / "1.24.5" / "INSTALL_RECEIPT.json").write_text("{broken")
    execute = fake_mac(tmp_path)
    args = dict(DEFAULTS, sources=["homebrew"], homebrew_prefixes=[str(tmp_path / "opt/homebrew"), str(tmp_path / "usr/local")])
    records, problems = macos.software_records(action.collect(execute, args)["macos"], "o")
    kegs = [(r["name"], r["version"]) for r in records if r["source"] == "brew"]
    assert len(kegs) == 10 and ("unbound", "1.23.0.reinstall") in kegs and ("cocoapods", "1.16.2_1") in kegs
    unbound = next(r for r in records if r["package_id"] == "unbound/1.23.1")
    assert (unbound["install_time"], unbound["arch"], unbound["extra"]["installed_on_request"]) == (1754375186, "arm64", True)
    assert unbound["location"] == str(tmp_path / "opt/homebrew/Cellar/unbound/1.23.1")
    casks = {r["name"]: r for r in records if r["source"] == "brew-cask"}
    assert len(casks) == 8 and casks["tunnelblick"]["version"] == "8.0,6300"
    assert casks["zoom"]["install_time"] == 1754348823
    assert [p.message for p in problems] == [f"{tmp_path}/usr/local/Cellar/wget/1.24.5/INSTALL_RECEIPT.json: unreadable: "
                                             "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]


def test_cask_without_receipt_and_old_version_dirs():
    text = ("#fleetsam-dir /usr/local/Caskroom/firefox/140.0\n#fleetsam-dir /usr/local/Caskroom/firefox/141.0\n"
            "#fleetsam-file /usr/local/Caskroom/firefox/.metadata/INSTALL_RECEIPT.json\n"
            '{"time": 1754347125, "source": {"version": "141.0"}}\n#fleetsam-dir /usr/local/Caskroom/iterm2/3.5.14\n')
    records, errors = macos.parse_homebrew(text)
    assert [(r["name"], r["version"], r["install_time"]) for r in records] == [
        ("firefox", "140.0", None), ("firefox", "141.0", 1754347125), ("iterm2", "3.5.14", None)]


def test_brew_info_json(real_fixtures):
    text = (real_fixtures / "macos" / "cheznix_brew-info-json-v2-installed.json").read_text()
    records, errors = macos.parse_brew_info_json(text)
    assert Counter(r["source"] for r in records) == {"brew": 10, "brew-cask": 8}
    assert [r["version"] for r in records if r["name"] == "unbound"] == ["1.23.0", "1.23.0.reinstall", "1.23.1"]
    libevent = next(r for r in records if r["name"] == "libevent")
    assert (libevent["version"], libevent["extra"]["installed_as_dependency"], libevent["install_time"]) == (
        "2.1.12_1", True, 1749710351)
    code = next(r for r in records if r["name"] == "visual-studio-code")
    assert (code["version"], code["extra"]["display_name"]) == ("1.102.3", "Microsoft Visual Studio Code")
    assert next(r for r in records if r["name"] == "tunnelblick")["version"] == "8.0,6300"
    # brought by the user as the brew_info section
    found, problems = macos.software_records({"brew_info": {"rc": 0, "stdout": text}}, "o")
    assert len(found) == 18 and problems == []


def test_swid_tags_over_sh(real_fixtures, tmp_path):
    tags = tmp_path / "Library" / "Application Support" / "regid.2005-02.org.example"
    tags.mkdir(parents=True)
    tag = (real_fixtures / "swid" / "swidgenerator_docker-deb.swidtag").read_bytes()
    (tags / "docker.swidtag").write_bytes(tag)
    utf16 = (real_fixtures / "swid" / "strongtnc_fedora19_strongswan-tnc-imcvs.full.swidtag").read_text(encoding="utf-8")
    (tags / "strongswan.swidtag").write_bytes(utf16.encode("utf-16"))
    (tags / "broken.swidtag").write_text("<SoftwareIdentity")
    execute = fake_mac(tmp_path)
    result = action.collect(execute, dict(DEFAULTS, sources=["swid"], swid_dirs=[str(tmp_path / "Library/Application Support")]))
    records, problems = macos.software_records(result["macos"], "o")
    assert sorted((r["source"], r["name"], r["version"]) for r in records) == [
        ("swid", "docker", "1.5-1"), ("swid", "strongswan-tnc-imcvs", "5.1.2-4.fc19")]
    assert len(problems) == 1 and "broken.swidtag" in problems[0].message


# --- host facts and hardware ------------------------------------------------------------------------


def host_section(tmp_path, **kw):
    result = action.collect(fake_mac(tmp_path, **kw), dict(DEFAULTS, sources=["pkgutil"]))
    return result["macos"]


def test_apple_silicon_host(tmp_path):
    raw = host_section(tmp_path, sysctl=APPLE_SILICON_SYSCTL, ioreg=APPLE_SILICON_IOREG)
    assert "machdep.cpu.vendor=\n" in raw["host"]["stdout"]  # the missing key stays, empty
    host = macos.derive_host_macos(raw, "mac1")
    assert (host.host_id, host.identity_source) == ("platform-uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301", "platform-uuid")
    assert (host.os_family, host.os_name, host.os_version, host.kernel) == ("Darwin", "macOS", "14.4.1", "23.4.0")
    assert (host.hostname, host.fqdn) == ("mac1.example.com", "mac1.example.com")
    hw = host.hardware
    assert (hw.sockets, hw.cores, hw.threads, hw.memory_mb) == (1, 10, 10, 16384)
    assert (hw.cpu_vendor, hw.cpu_model, hw.virtualization, hw.hypervisor) == (
        "Apple", "Apple M1 Pro", Virtualization.PHYSICAL, None)


def test_intel_vmware_guest_without_uuid(tmp_path):
    sysctl = {"hw.physicalcpu": "2", "hw.logicalcpu": "2", "hw.memsize": "8589934592", "hw.model": "VMware7,1",
              "machdep.cpu.brand_string": "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", "machdep.cpu.vendor": "GenuineIntel",
              "kern.hv_vmm_present": "1"}
    ioreg = '    "IOPlatformUUID" = "00000000-0000-0000-0000-000000000000"\n    "IOPlatformSerialNumber" = "VMQ1Fleet"\n'
    host = macos.derive_host_macos(host_section(tmp_path, sysctl=sysctl, ioreg=ioreg), "vm1")
    assert (host.host_id, host.identity_source) == ("serial:vmq1fleet", "serial")  # a placeholder UUID is no identity
    hw = host.hardware
    assert (hw.sockets, hw.cores, hw.threads, hw.cpu_vendor) == (1, 2, 2, "GenuineIntel")
    assert (hw.virtualization, hw.hypervisor) == (Virtualization.VM, "VMware")


def test_vm_markers_and_two_socket_mac_pro():
    def hw(sysctl, ioreg=""):
        stdout = "#fleetsam-cmd sysctl\n" + "".join(f"{k}={v}\n" for k, v in sysctl.items()) + "#fleetsam-cmd ioreg\n" + ioreg
        return macos.derive_hardware_macos({"host": {"rc": 0, "stdout": stdout}})
    apple_vm = hw({"hw.model": "VirtualMac2,1", "hw.physicalcpu": "4", "hw.logicalcpu": "4"})
    assert (apple_vm.virtualization, apple_vm.hypervisor) == (Virtualization.VM, "Apple Virtualization")
    parallels = hw({"hw.physicalcpu": "2"}, '  "manufacturer" = <"Parallels Software International Inc.">\n')
    assert (parallels.virtualization, parallels.hypervisor) == (Virtualization.VM, "Parallels")
    mac_pro = hw({"hw.packages": "2", "hw.physicalcpu": "12", "hw.logicalcpu": "24", "kern.hv_vmm_present": "0"})
    assert (mac_pro.sockets, mac_pro.cores, mac_pro.threads, mac_pro.virtualization) == (2, 12, 24, Virtualization.PHYSICAL)
    assert hw({}).virtualization is Virtualization.UNKNOWN and hw({}).sockets is None


# --- the action plugin --------------------------------------------------------------------------------


def test_command_building():
    commands = action.build_commands(DEFAULTS)
    assert list(commands) == ["host", "users", "system_profiler", "info_plist", "pkgutil", "homebrew", "swid"]
    assert all(c.startswith("{ ") and c.endswith("} | head -c 67108864") for c in commands.values())
    assert "for d in /Applications /System/Applications /Users/*/Applications;" in commands["info_plist"]
    assert "for d in /Library/'Application Support';" in commands["swid"]
    assert "sleep 300" in commands["system_profiler"]
    assert "sysctl -n" in commands["host"] and "kern.hv_vmm_present" in commands["host"]
    only = action.build_commands(dict(DEFAULTS, sources=["apps", "homebrew"], apps_method="system_profiler",
                                      homebrew_method="brew_info", system_profiler_timeout=5))
    assert list(only) == ["host", "users", "system_profiler", "brew_info"] and "sleep 5" in only["system_profiler"]
    assert action.shell_path("/Users/*/My Apps") == "/Users/*/'My Apps'"
    assert action.shell_path("/x/$(reboot)") == "/x/'$(reboot)'"
    for command in commands.values():  # valid POSIX sh
        assert subprocess.run(["/bin/sh", "-n", "-c", command]).returncode == 0


def fake_answers(answers):
    """``execute`` answering by section; records the commands it saw."""
    seen = []

    def execute(command):
        seen.append(command)
        for marker, answer in answers.items():
            if marker in command:
                return answer
        return {"rc": 0, "stdout": "", "stderr": ""}
    execute.seen = seen
    return execute


def test_collect_falls_back_and_reports_the_timeout():
    execute = fake_answers({
        "system_profiler": {"rc": 0, "stdout": "<?xml version", "stderr": "Killed\nfleetsam-rc=137\n"},
        "#fleetsam-cmd sysctl": {"rc": 0, "stdout": "#fleetsam-cmd uname\nDarwin 23.4.0 arm64\n", "stderr": ""},
    })
    result = action.collect(execute, DEFAULTS)
    sp = result["macos"]["system_profiler"]
    assert (sp["rc"], sp["timed_out"], sp["stderr"]) == (137, True, "Killed")
    assert "info_plist" in result["macos"] and len(execute.seen) == 7
    assert result["warnings"][0] == "fleetsam: macOS section system_profiler: timed out: Killed"
    assert not result.get("failed") and result["changed"] is False
    assert set(result["macos"]["pkgutil"]) == {"command", "rc", "stdout", "stderr", "truncated", "timed_out"}


def test_collect_skips_the_fallback_when_system_profiler_worked():
    execute = fake_answers({"system_profiler": {"rc": 0, "stdout": "<plist/>", "stderr": "fleetsam-rc=0\n"}})
    result = action.collect(execute, DEFAULTS)
    assert "info_plist" not in result["macos"] and "warnings" not in result
    truncated = action.collect(fake_answers({"system_profiler": {"rc": 0, "stdout": "x" * 10, "stderr": ""}}),
                               dict(DEFAULTS, max_output_bytes=10))
    assert truncated["macos"]["system_profiler"]["truncated"] and "info_plist" in truncated["macos"]


def test_collect_refuses_other_systems_and_fails_without_any_source():
    linux = fake_answers({"#fleetsam-cmd sysctl": {"rc": 0, "stdout": "#fleetsam-cmd uname\nLinux 6.1.0 x86_64\n"}})
    result = action.collect(linux, DEFAULTS)
    assert result["failed"] and "not a macOS host (uname -s: Linux)" in result["msg"] and len(linux.seen) == 1
    broken = action.collect(fake_answers({"": {"rc": 2, "stdout": "", "stderr": "sh: syntax error"}}), DEFAULTS)
    assert broken["failed"] and broken["msg"] == "No macOS software source could be read on this host"
    assert len(broken["warnings"]) == 8  # 7 sections + the Info.plist fallback notice


def test_the_users_section_runs_dscl_last_and_date_and_can_be_left_out(tmp_path):
    execute = fake_mac(tmp_path)
    result = action.collect(execute, dict(DEFAULTS, sources=["pkgutil"]))
    section = result["macos"]["users"]
    assert section["rc"] == 0 and section["stdout"] == (RECORDED_USERS / "macos_users.txt").read_text()
    assert [u.account for u in macos_users(section)] == ["alice", "jdoe", "root"]
    assert "users" not in action.build_commands(dict(DEFAULTS, users=False))


def test_action_module_runs_raw_commands_with_sh():
    task = mock.MagicMock(args={"sources": ["pkgutil"], "users": False}, async_val=0, check_mode=True, action="fleetsam.sam.macos_software_facts")
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    module = action.ActionModule(task, connection, mock.MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    answer = {"rc": 0, "stdout": "#fleetsam-file com.example.pkg\n", "stderr": "", "stdout_lines": ["x"]}
    with mock.patch.object(module, "_low_level_execute_command", return_value=answer) as run:
        result = module.run(task_vars={})
    assert [c.kwargs for c in run.call_args_list] == [{"executable": "/bin/sh"}] * 2
    assert list(result["macos"]) == ["format", "host", "pkgutil"] and "stdout_lines" not in result["macos"]["pkgutil"]
    assert not result.get("failed")
    task.args = {"sources": ["apps"], "bogus": 1}
    module._load_name = "fleetsam.sam.macos_software_facts"
    with pytest.raises(Exception, match="bogus"):
        module.run(task_vars={})


# --- recorded module output through the pipeline ---------------------------------------------------


def build_recorded_output(real_fixtures, tmp_path):
    """The action's result on a fake Apple Silicon Mac serving real captures (paths made absolute again)."""
    brew_info = json.loads((real_fixtures / "macos" / "cheznix_brew-info-json-v2-installed.json").read_text())
    homebrew_tree(tmp_path / "opt" / "homebrew", brew_info)
    tags = tmp_path / "Library" / "Application Support" / "regid.2005-02.org.example"
    tags.mkdir(parents=True)
    (tags / "docker.swidtag").write_bytes((real_fixtures / "swid" / "swidgenerator_docker-deb.swidtag").read_bytes())
    packages = {"com.apple.pkg.CLTools_Executables": {
        "pkgid": "com.apple.pkg.CLTools_Executables", "pkg-version": "15.3.0.0.1.1708646388", "install-location": "/",
        "install-time": 1712000000, "volume": "/"}}
    execute = fake_mac(tmp_path, sysctl=APPLE_SILICON_SYSCTL, ioreg=APPLE_SILICON_IOREG, hostname="mac-sample6",
                       system_profiler=real_fixtures / "macos" / "glpi-agent_sample6_SPApplicationsDataType.xml",
                       packages=packages)
    args = dict(DEFAULTS, homebrew_prefixes=[str(tmp_path / "opt/homebrew"), str(tmp_path / "usr/local")],
                swid_dirs=[str(tmp_path / "Library/Application Support")])
    result = json.loads(json.dumps(action.collect(execute, args)).replace(str(tmp_path), ""))
    for section in result["macos"].values():
        if isinstance(section, dict):
            section["stderr"] = ""  # job-control chatter of the local /bin/sh, not the Mac's
    result["_provenance"] = (
        "fleetsam test fixture, built by tests/unit/test_macos.py::build_recorded_output: system_profiler is the real "
        "glpi-agent sample6 capture (Apple Silicon); Homebrew receipts are rebuilt from the real cheznix brew info; "
        "the SWID tag is the real swidGenerator docker tag; sysctl, ioreg, sw_vers, hostname, uname and the one "
        "pkgutil receipt are synthetic; the users section (dscl, last, date) is the crafted "
        "tests/fixtures/recorded/users/macos_users.txt.")
    return result


def test_recorded_output_matches_its_sources(real_fixtures, tmp_path):
    built = build_recorded_output(real_fixtures, tmp_path)
    if os.environ.get("FLEETSAM_REWRITE_FIXTURES"):
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps(built, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    assert recorded == built
    xml = (real_fixtures / "macos" / "glpi-agent_sample6_SPApplicationsDataType.xml").read_text(encoding="utf-8")
    assert recorded["macos"]["system_profiler"]["stdout"] == xml


def test_recorded_output_through_the_pipeline(tmp_path):
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    installations, problems = platform_of(recorded).installations(recorded, "spool/hosts/mac-sample6.json")
    assert problems == []
    assert Counter(i.source for i in installations) == {"macos-app": 362, "brew": 10, "brew-cask": 8, "pkgutil": 1, "swid": 1}
    spool = tmp_path / "spool" / "s1"
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-11-29T01:00:00Z",
                                                "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    plain = {k: v for k, v in recorded.items() if not k.startswith("_")}
    (spool / "hosts" / "mac-sample6.json").write_text(json.dumps(
        {"inventory_name": "mac-sample6", "status": "ok", "result": plain, "error": None}))
    summary = pipeline.process_spool(spool, store=str(tmp_path / "db.json"), report_dir=tmp_path / "reports")
    assert summary.scan.installation_count == 382 and summary.problems == ()
    (host,) = json.loads((tmp_path / "reports" / "report.json").read_text())["hosts"]
    assert host["host_id"] == "platform-uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    assert (host["os"], host["kernel"], host["sockets"], host["cores"], host["threads"]) == ("macOS 14.4.1", "23.4.0", 1, 10, 10)
    assert (host["virtualization"], host["memory_mb"], host["package_count"]) == ("physical", 16384, 382)
    assert host["sources"] == {"brew": 10, "brew-cask": 8, "macos-app": 362, "pkgutil": 1, "swid": 1}
    with open(tmp_path / "reports" / "installations.csv", encoding="utf-8-sig", newline="") as handle:
        word = [r for r in csv.DictReader(handle) if r["name"] == "Microsoft Word"]
    assert [(p["version"], p["vendor"], p["source"]) for p in word] == [("16.84", "Microsoft Corporation", "macos-app")]


def test_last_runs_in_the_c_locale_so_its_dates_read_in_any_locale(tmp_path):
    """macOS ``last`` writes its dates in the user's locale ("lun 30 nov", day first); the collector asks for
    the C locale, whose "Mon Nov 30" the engine reads. The command runs under bash against a ``last`` that
    answers in French unless LC_ALL is C."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script(bin_dir, "dscl", "echo 'jdoe 501'\n")
    script(bin_dir, "last", 'if [ "$LC_ALL" = C ]; then echo "jdoe  console  Mon Nov 30 09:12   still logged in"; '
                            'else echo "jdoe  console  lun 30 nov 09:12   still logged in"; fi\n')
    script(bin_dir, "date", "echo 1796200000\n")
    command = action._USERS.replace("@MAX@", "10")
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LC_ALL": "fr_FR.UTF-8"})
    (user,) = macos_users({"rc": 0, "stdout": run.stdout})
    assert (user.account, user.last_login is not None) == ("jdoe", True)
