"""The normalisation catalogue: shipped data, loading, precedence, located errors, licensing rules."""

import json
import plistlib
import re
import textwrap
import unicodedata
from datetime import date

import pytest

from sam_engine.licensing import rule_index
from sam_engine.licensing.catalogue import Catalogue, clean_vendor, default_catalogue_dir, load_catalogue
from sam_engine.model import Installation, LicenceNeed
from sam_engine.platforms.macos import app_record

TODAY = date(2025, 6, 1)  # fixed, so date-bound licence rules (JDK 21) do not move under the tests
SHIPPED, SHIPPED_PROBLEMS = load_catalogue(today=TODAY)


def inst(name, version=None, vendor=None, source="windows", package_id=None, location=None, arch=None,
         origin=None):
    return Installation(source, name, version, arch, vendor, None, package_id or f"{source}:{name}", location,
                        origin)


def from_example(example):
    version = example.get("version")
    return inst(example["title"], None if version is None else str(version), example.get("publisher"),
                example.get("source", "windows"), example.get("package_id"), example.get("location"),
                origin=example.get("origin"))


def entry_id(recognition):
    return recognition.rule.rsplit(":", 1)[1] if recognition.rule else None


# ---- the shipped catalogue ------------------------------------------------------------


def test_shipped_catalogue_loads_cleanly():
    assert SHIPPED_PROBLEMS == []
    assert len(SHIPPED) >= 150
    assert len({e.id for e in SHIPPED.entries}) == len(SHIPPED.entries)


def test_one_file_per_publisher_family():
    names = {p.name for p in default_catalogue_dir().glob("*.yml")}
    assert {"microsoft.yml", "oracle.yml", "adobe.yml", "autodesk.yml", "vmware.yml", "citrix.yml",
            "jetbrains.yml", "mathworks.yml", "redhat-suse.yml", "misc-commercial.yml",
            "free-software.yml"} <= names
    assert all(e.rule.startswith("catalogue/") for e in SHIPPED.entries)


def test_every_entry_has_an_example_of_its_own():
    lonely = [e.id for e in SHIPPED.entries
              if not any(ex.get("expect", {}).get("id", e.id) == e.id for ex in e.examples)]
    assert lonely == []


def test_every_example_states_product_and_licence():
    missing = [(e.id, ex["title"]) for e in SHIPPED.entries for ex in e.examples
               if not {"product", "licence"} <= set(ex.get("expect") or {})]
    assert missing == []


EXAMPLES = [(e.id, n, ex) for e in SHIPPED.entries for n, ex in enumerate(e.examples)]


@pytest.mark.parametrize("owner, example", [(o, ex) for o, _, ex in EXAMPLES],
                         ids=[f"{o}-{n}" for o, n, _ in EXAMPLES])
def test_catalogue_example(owner, example):
    expect = dict(example["expect"])
    wanted_id = expect.pop("id", owner)
    got = SHIPPED.recognise(from_example(example))
    assert entry_id(got) == wanted_id
    for field, value in expect.items():
        actual = getattr(got, field)
        actual = actual.value if isinstance(actual, LicenceNeed) else actual
        assert actual == (None if value is None else str(value)), field


def test_fast_path_finds_what_a_full_scan_finds(monkeypatch):
    monkeypatch.setattr(rule_index, "literal_word", lambda pattern: None)
    monkeypatch.setattr(rule_index, "first_words", lambda pattern: None)
    slow = Catalogue(SHIPPED.entries, today=TODAY)
    assert not slow._by_word
    for _, _, example in EXAMPLES:
        assert slow.recognise(from_example(example)) == SHIPPED.recognise(from_example(example))


@pytest.mark.parametrize("pattern, word", [
    ("Microsoft SQL Server (?P<version>20\\d\\d)", "microsoft"),
    ("VLC", "vlc"),
    ("VLC( media player)?", None),  # "VLCx" is impossible, but the pattern does not say where the word ends
    ("(Microsoft )?Visio", None),
    ("Micro(soft)?", None),
    ("Adobe\\s+Reader", None),
    ("7-Zip( .*)?", "7"),
    ("\\.NET", None),
])
def test_literal_word(pattern, word):
    assert rule_index.literal_word(pattern) == word


# ---- real titles from the captured outputs ---------------------------------------------


def _reg_records(path):
    text = path.read_bytes().decode("utf-16")
    records, current = [], {}
    for line in text.splitlines() + ["["]:
        if line.startswith("["):
            title = current.get("DisplayName") or current.get("ProductName")
            if title:
                records.append({"title": title, "publisher": current.get("Publisher"),
                                "version": current.get("DisplayVersion")})
            current = {}
        match = re.match(r'"(DisplayName|ProductName|Publisher|DisplayVersion)"="(.*)"$', line)
        if match:
            current[match.group(1)] = match.group(2)
    return records


def _regipy_records(path):
    records = []
    for key in json.loads(path.read_text(encoding="utf-8"))["keys"]:
        values = {v["name"]: v["data"] for v in key["values"]}
        title = values.get("DisplayName") or values.get("Name")
        if title:
            records.append({"title": title, "publisher": values.get("Publisher") or None,
                            "version": values.get("DisplayVersion") or values.get("Version") or None,
                            "source": "appx" if values.get("Source") == "AppxPackage" else "windows"})
    return records


def _plist_records(path):
    """The items as the engine reads them (``macos.app_record``: the signer is the publisher)."""
    return [{"title": r["name"], "version": r["version"], "publisher": r["vendor"], "source": r["source"],
             "location": r["location"]} for r in map(app_record, plistlib.loads(path.read_bytes())[0]["_items"])]


def _stanza_records(path, name_key, version_key, vendor_key, source):
    records = []
    for stanza in re.split(r"\n(?=%s\s*:)" % re.escape(name_key), path.read_text(encoding="utf-8")):
        fields = dict(re.findall(r"^(\w[\w ]*?)\s*:\s?(.*)$", stanza, re.M))
        if name_key in fields:
            version = fields.get(version_key)
            if source == "rpm" and fields.get("Release"):
                version = f"{version}-{fields['Release']}"
            records.append({"title": fields[name_key], "version": version,
                            "publisher": fields.get(vendor_key), "source": source})
    return records


def _records(path):
    name = path.name
    if name.endswith(".reg"):
        return _reg_records(path)
    if name.startswith("derived-regipy"):
        return _regipy_records(path)
    if name.endswith(".xml"):
        return _plist_records(path)
    if name.endswith("systeminfo.txt"):
        os_name = re.search(r"^OS Name:\s+(.*)$", path.read_text(encoding="utf-8"), re.M).group(1)
        return [{"title": os_name, "source": "windows"}]
    if "dpkg-status" in name:
        return _stanza_records(path, "Package", "Version", "Maintainer", "dpkg")
    if "rpm-qai" in name:
        return _stanza_records(path, "Name", "Version", "Vendor", "rpm")
    if "pacman-Qii" in name:
        return _stanza_records(path, "Name", "Version", "Packager", "pacman")
    if "apk-db-installed" in name:
        text = path.read_text(encoding="utf-8")
        return [{"title": p, "version": v, "publisher": m, "source": "apk"}
                for p, v, m in re.findall(r"^P:(.*)\nV:(.*)\n(?:.*\n)*?m:(.*)$", text, re.M)]
    if name.endswith("rpm-qa.txt"):  # name-version-release.arch
        return [{"title": n, "version": f"{v}-{r.rsplit('.', 1)[0]}", "source": "rpm"}
                for n, v, r in (line.rsplit("-", 2) for line in path.read_text().split() if line.count("-") >= 2)]
    if name.endswith("snap-list.txt"):
        return [{"title": row.split()[0], "version": row.split()[1], "publisher": row.split()[4].rstrip("*"),
                 "source": "snap"} for row in path.read_text().splitlines()[1:] if row.strip()]
    if name.endswith("flatpak-list_columns.tsv"):
        return [{"title": row.split("\t")[0], "version": row.split("\t")[1], "source": "flatpak"}
                for row in path.read_text().splitlines() if row.strip()]
    if name.endswith((".swidtag", "concatenated-tags.txt")):
        text = path.read_text(encoding="utf-8")
        return [{"title": re.search(r'\bname="([^"]*)"', tag).group(1),
                 "package_id": re.search(r'\b(?:tagId|uniqueId)="([^"]*)"', tag).group(1),
                 "version": (re.search(r'\bversion="([^"]*)"', tag) or [None, None])[1], "source": "swid"}
                for tag in re.findall(r"<SoftwareIdentity\b[^>]*>", text)]
    raise AssertionError(f"no reader for {name}")


REAL_TITLES = [
    # file, title, expected entry id (None: unrecognised), licence
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", "Microsoft SQL Server 2017", "sql-server", "required"),
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", "Mozilla Firefox 57.0.2 (fr)", "firefox", "free"),
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", "Git version 2.12.2.2", "git", "free"),
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", "Strawberry Perl (64-bit)", "strawberry-perl", "free"),
    ("windows/glpi-agent_mssql-host_hklm-uninstall.reg", "FusionInventory Agent 2.4.x-build-26 (x64 edition)",
     "inventory-agents", "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Microsoft Office Professional Plus 2010", "office",
     "required"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Microsoft Office Excel MUI (English) 2010",
     "office-components", "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Adobe Reader X (10.1.2)", "acrobat-reader", "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Java(TM) 6 Update 31", "oracle-java-se-legacy",
     "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "PuTTY version 0.58", "putty", "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "WinSCP 4.0.7", "winscp", "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Symantec Endpoint Protection",
     "symantec-endpoint-protection", "required"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Hummingbird Exceed 2006", "exceed", "required"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Oracle Calendar", "oracle-calendar", "required"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Windows Internet Explorer 8", "windows-components",
     "free"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Spider4", None, "unknown"),
    ("windows/glpi-agent_office2016_hklm-office-registration.reg", "Microsoft Office Professional Plus 2016",
     "office", "required"),
    ("windows/glpi-agent_office2016_hklm-office-registration.reg", "Microsoft Office 365 ProPlus",
     "microsoft-365-apps", "required"),
    ("windows/glpi-agent_office2016_hklm-office-registration.reg", "Microsoft Visio Professional 2016", "visio",
     "required"),
    ("windows/glpi-agent_office2016_hklm-office-registration.reg", "Microsoft Project Standard 2016", "project",
     "required"),
    ("windows/glpi-agent_office2016_hklm-office-registration.reg", "Microsoft Access Runtime 2016",
     "access-runtime", "free"),
    ("windows/glpi-agent_win10-russian_hklm-uninstall.reg", "1C Предприятие 7.7", "1c-enterprise", "required"),
    ("windows/glpi-agent_win10-russian_hklm-uninstall.reg", "КриптоПро CSP", "cryptopro-csp", "required"),
    ("windows/glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg", "Windows Media Player 10 Hotfix - KB888656",
     "windows-components", "free"),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", "Utilitaire d’archive", "apple-system",
     "free"),  # no signer on OS X 10.6: the /System location says Apple
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "Numbers", "apple-macos-apps", "free"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "HP COLOR M553 Bat2 3eme étage",
     "printer-scanner-utilities", "free"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "adobe_licensing_helper", "adobe-support-helpers", "free"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "Java 8 Update 141 (64-bit)",
     "oracle-java-se-legacy", "free"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "7-Zip 16.04 (x64)", "7-zip", "free"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "Sublime Text Build 3126", "sublime-text",
     "required"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "VMware Tools", "vmware-tools", "free"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "Microsoft.WindowsCalculator",
     "windows-inbox-apps", "free"),
    ("windows/derived-regipy_amcache_InventoryApplication.json", "89006A2E.AutodeskSketchBook", "sketchbook",
     "free"),
    ("windows/derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json", "Zoom", "zoom", "free"),
    ("windows/derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json", "Microsoft Teams", "teams", "free"),
    ("windows/derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json", "JetBrains dotPeek 2021.1.2", "dotpeek",
     "free"),
    ("windows/derived-regipy_ntuser-software-partial_hkcu-uninstall.json", "Python 3.7.0 (Anaconda3 5.3.0 64-bit)",
     "anaconda", "required"),
    ("windows/derived-regipy_ntuser-software-partial_hkcu-uninstall.json", "GitKraken", "gitkraken", "required"),
    ("windows/derived-regipy_ntuser-software-partial_hkcu-uninstall.json", "Microsoft Visual Studio Code (User)",
     "visual-studio-code", "free"),
    ("windows/jc_win10_systeminfo.txt", "Microsoft Windows 10 Enterprise", "windows-client", "required"),
    ("windows/jc_win7_systeminfo.txt", "Microsoft Windows 7 Professional ", "windows-client", "required"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "Microsoft Word", "word", "required"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "Adobe Acrobat Reader", "acrobat-reader", "free"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "Foxit PDF Editor", "foxit-pdf-editor", "required"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "Microsoft Defender", "defender", "required"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "zoom", "zoom", "free"),
    ("macos/glpi-agent_sample6_SPApplicationsDataType.xml", "PyMOL", "pymol", "required"),
    ("macos/glpi-agent_sample5_SPApplicationsDataType.xml", "Microsoft Teams classic", "teams", "free"),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", "Google Chrome", "chrome", "free"),
    ("macos/glpi-agent_macos10.8-fr_SPApplicationsDataType_detail1.xml", "Moniteur d’activité",
     "apple-macos-apps", "free"),  # stored decomposed (NFD) in the file
    ("linux/trivy_ubuntu18.04_var-lib-dpkg-status", "fdisk", "distro-ubuntu", "free"),
    ("linux/jc_centos7.7_rpm-qai.txt", "centos-release", "centos", "free"),
    ("linux/jc_centos7.7_rpm-qai.txt", "bash", "distro-rpm-community", "free"),
    ("linux/jc_centos7.7_rpm-qai.txt", "openssl", "distro-rpm-community", "free"),
    ("linux/vicibox_opensuse-leap15.3_rpm-qa.txt", "openSUSE-release", "opensuse", "free"),
    ("linux/jc_arch_pacman-Qii_zstd.txt", "zstd", "distro-arch", "free"),
    ("linux/jc_arch_pacman-Qii_zstd.txt", "apulse", None, "unknown"),  # built locally: "Unknown Packager"
    ("linux/syft_alpine_lib-apk-db-installed", "alpine-baselayout-data", "distro-alpine", "free"),
    ("linux/glpi-agent_snap-list.txt", "core18", "snap-runtimes", "free"),
    ("linux/glpi-agent_snap-list.txt", "kdenlive", "kdenlive", "free"),
    ("linux/glpi-agent_flatpak-list_columns.tsv", "com.vscodium.codium", "vscodium", "free"),
    ("linux/glpi-agent_flatpak-list_columns.tsv", "org.gnome.Platform", "flatpak-runtimes", "free"),
    ("swid/strongtnc_ubuntu12.04_many-concatenated-tags.txt", "bash", "distro-swid", "free"),
    ("swid/strongtnc_fedora19_strongswan-tnc-imcvs.full.swidtag", "strongswan-tnc-imcvs", "distro-swid", "free"),
]


@pytest.mark.parametrize("relpath, title, wanted, licence", REAL_TITLES, ids=[f"{t[1]}@{t[0]}" for t in REAL_TITLES])
def test_real_titles(real_fixtures, relpath, title, wanted, licence):
    records = [r for r in _records(real_fixtures / relpath)
               if unicodedata.normalize("NFC", r["title"]) == unicodedata.normalize("NFC", title)]
    assert records, f"{title!r} is not in {relpath}"
    for record in records:
        got = SHIPPED.recognise(inst(record["title"], record.get("version"), record.get("publisher"),
                                     record.get("source", "windows"), record.get("package_id"), record.get("location")))
        assert (entry_id(got), got.licence.value) == (wanted, licence), record


# ---- licensing rules that depend on edition, version or date ---------------------------


@pytest.mark.parametrize("title, version, licence", [
    ("Java 8 Update 202", "8.0.2020.8", "free"),
    ("Java 8 Update 211", "8.0.2110.12", "required"),
    ("Java SE Development Kit 8 Update 202 (64-bit)", "8.0.2020.8", "free"),
    ("Java(TM) SE Development Kit 8 Update 211 (64-bit)", "8.0.2110.12", "required"),
])
def test_oracle_jdk_8_free_until_8u202(title, version, licence):
    got = SHIPPED.recognise(inst(title, version, "Oracle Corporation"))
    assert (got.publisher, got.product, got.licence.value) == ("Oracle", "Java SE", licence)


def test_oracle_jdk_8_rpm_versions():
    def rpm(version):
        return SHIPPED.recognise(inst("jdk1.8", version, "Oracle Corporation", "rpm"))
    assert (rpm("2000:1.8.0_202-fcs").version, rpm("2000:1.8.0_202-fcs").licence) == ("8u202", LicenceNeed.FREE)
    assert (rpm("2000:1.8.0_211-fcs").version, rpm("2000:1.8.0_211-fcs").licence) == ("8u211", LicenceNeed.REQUIRED)


@pytest.mark.parametrize("version, licence", [
    ("17.0.1", "free"), ("17.0.12", "free"), ("17.0.13", "required"), ("17.0.14", "required"), ("11.0.22", "required"),
])
def test_oracle_jdk_17_free_until_17_0_12(version, licence):
    got = SHIPPED.recognise(inst(f"Java(TM) SE Development Kit {version} (64-bit)", f"{version}.0",
                                 "Oracle Corporation"))
    assert (got.version, got.licence.value) == (version, licence)


@pytest.mark.parametrize("version, licence", [("21.0.5", "free"), ("21.0.12", "free"), ("21.0.13", "required")])
def test_oracle_jdk_21_is_decided_by_the_build_not_by_todays_date(version, licence):
    """An NFTC build stays free for good: 21.0.5 is free before and after September 2026."""
    title = inst(f"Java(TM) SE Development Kit {version} (64-bit)", f"{version}.0", "Oracle Corporation")
    for today in (date(2026, 9, 30), date(2026, 10, 1), date(2031, 1, 1)):
        catalogue, _ = load_catalogue(today=today)
        assert catalogue.recognise(title).licence.value == licence


def test_the_position_names_the_version_band_that_decided_each_java_build():
    """21.0.5 is free by its NFTC band and 21.0.13 falls outside every band: the position counts the
    employees once for the licensable build and says, per version, which band of which entry decided."""
    from sam_engine.licensing.position import build_position
    from sam_engine.model import Entitlement, HostScan, HostStatus

    scans = [HostScan("s1", f"pc{n}", HostStatus.OK, None,
                      (inst(f"Java(TM) SE Development Kit {v} (64-bit)", f"{v}.0", "Oracle Corporation"),))
             for n, v in enumerate(("21.0.5", "21.0.13"))]
    java = Entitlement("J1", "Oracle", "Java SE", "employee", 450, "licences/oracle.yml:3")
    (p,) = [p for p in build_position(scans, SHIPPED.recognise, [java], TODAY, headcount=450).products
            if p.product == "Java SE"]
    assert (p.consumption.quantity, p.owned, p.status.value) == (450, 450, "compliant")
    rule = "catalogue/oracle.yml:oracle-java-se"
    assert [n for n in p.notes if n.startswith("version ")] == [
        f"version 21.0.5: licence_when version >=21,<=21.0.12 of {rule}: free (NFTC; 21.0.13 and later are OTN)",
        f"version 21.0.13: no licence_when band of {rule} covers it: required"]


@pytest.mark.parametrize("record", [
    inst("Eclipse Temurin JDK with Hotspot 17.0.9+9 (x64)", "17.0.9.9", "Eclipse Adoptium"),
    inst("Amazon Corretto 17.0.9.8.1 (x64)", "17.0.9.8", "Amazon"),
    inst("Zulu JDK 17.46+19 (17.0.9), 64-bit", None, "Azul Systems, Inc."),
    inst("Microsoft Build of OpenJDK with Hotspot 21.0.1+12 (x64)", "21.0.1.12"),
    inst("openjdk-17-jre-headless", "17.0.9+9-1~22.04", "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
         "dpkg"),
    inst("java-17-openjdk-headless", "1:17.0.9.0.9-2.el9", "Red Hat, Inc.", "rpm"),
])
def test_openjdk_builds_are_free(record):
    got = SHIPPED.recognise(record)
    assert got.licence is LicenceNeed.FREE and got.publisher != "Oracle"


@pytest.mark.parametrize("title, edition, licence", [
    ("Microsoft SQL Server 2019 Express LocalDB", "Express", "free"),
    ("Microsoft SQL Server 2014 Express Edition (64-bit)", "Express", "free"),
    ("Microsoft SQL Server 2022 Developer Edition (64-bit)", "Developer", "free"),
    ("Microsoft SQL Server 2019 Standard Edition (64-bit)", "Standard", "required"),
    ("Microsoft SQL Server 2019 Enterprise Edition: Core-based Licensing (64-bit)", "Enterprise", "required"),
    ("Microsoft SQL Server 2019 (64-bit)", None, "required"),  # edition unknown: assume a licence
])
def test_sql_server_editions(title, edition, licence):
    got = SHIPPED.recognise(inst(title, "15.0.2000.5", "Microsoft Corporation"))
    assert (got.product, got.edition, got.version, got.licence.value) == ("SQL Server", edition, title[21:25], licence)


def test_rhel_and_sles_release_packages_carry_the_subscription():
    rhel = SHIPPED.recognise(inst("redhat-release", "9.3-0.5.el9", "Red Hat, Inc.", "rpm"))
    bash = SHIPPED.recognise(inst("bash", "5.1.8-6.el9_1", "Red Hat, Inc.", "rpm"))
    sles = SHIPPED.recognise(inst("sles-release", "15.5-150500.57.1", "SUSE LLC <https://www.suse.com/>", "rpm"))
    assert (rhel.product, rhel.licence) == ("Red Hat Enterprise Linux", LicenceNeed.REQUIRED)
    assert (bash.product, bash.licence) == ("bash", LicenceNeed.FREE)
    assert (sles.product, sles.licence) == ("SUSE Linux Enterprise Server", LicenceNeed.REQUIRED)


def test_unknown_software_is_kept_as_unknown():
    got = SHIPPED.recognise(inst("  Acme   Widget Studio 9 ", "V9.1Beta", "Acme Corp <sales@acme.example>"))
    assert got.product == "Acme Widget Studio 9"
    assert got.publisher == "Acme Corp"
    assert got.version == "9.1beta"
    assert got.licence is LicenceNeed.UNKNOWN and got.edition is None and got.rule is None
    appx = SHIPPED.recognise(inst("9E2F88E3.Twitter", "5.8.1.0", "CN=2079F891-4F1B-4C35-9488-2582FB598793", "appx"))
    assert appx.licence is LicenceNeed.UNKNOWN and appx.publisher == "2079F891-4F1B-4C35-9488-2582FB598793"
    assert SHIPPED.recognise(inst("Nameless", None, None)).publisher is None


def test_6_4beta_and_6_4Beta_are_one_version():
    a = SHIPPED.recognise(inst("Acme Tool", "6.4Beta"))
    b = SHIPPED.recognise(inst("Acme Tool", "6.4beta"))
    assert a.version == b.version == "6.4beta"
    assert a == b


def test_memoised_per_distinct_title():
    cat, _ = load_catalogue(today=TODAY)
    first = cat.recognise(inst("Microsoft Office Professional Plus 2010", "14.0.6029.1000", "Microsoft Corporation"))
    calls = []
    original = cat._recognise
    cat._recognise = lambda i: calls.append(i) or original(i)
    for _ in range(1000):
        again = cat.recognise(inst("Microsoft Office Professional Plus 2010", "14.0.6029.1000",
                                   "Microsoft Corporation"))
    assert again is first and calls == []
    assert cat.cache_info() == (1000, 1, 1)
    cat.recognise(inst("Microsoft Office Professional Plus 2010", "14.0.7015.1000", "Microsoft Corporation"))
    assert len(calls) == 1  # another version is another key


def test_a_large_fleet_reads_each_distinct_title_once():
    cat, _ = load_catalogue(today=TODAY)
    titles = [f"Internal Tool {n}" for n in range(500)] + [f"Microsoft Gadget {n}" for n in range(500)]
    for host in range(20):
        for title in titles:
            cat.recognise(inst(title, "1.0", "Acme"))
    hits, misses, size = cat.cache_info()
    assert (misses, size, hits) == (1000, 1000, 19000)


def test_knows_products_suites_and_hints():
    assert SHIPPED.knows("Microsoft", "SQL Server")
    assert SHIPPED.knows("microsoft", "sql server", "standard")
    assert SHIPPED.knows("Microsoft", "SQL Server", "Express")
    assert not SHIPPED.knows("Microsoft", "SQL Server", "Platinum")
    assert SHIPPED.knows("Oracle", "Java SE")
    assert not SHIPPED.knows("Acme", "Widget")
    assert not SHIPPED.knows("Ubuntu", "{name}")
    assert ("Microsoft", "Office") in SHIPPED.products()
    assert all("{" not in p for pair in SHIPPED.products() for p in pair)
    assert {"Word", "Excel", "PowerPoint", "Outlook"} <= set(SHIPPED.suite_components("Microsoft", "Office"))
    assert SHIPPED.suite_components("Microsoft", "Word") == ()
    assert SHIPPED.metric_hint("Microsoft", "SQL Server") == "core"
    assert SHIPPED.metric_hint("Oracle", "Java SE") == "employee"
    assert SHIPPED.metric_hint("Acme", "Widget") is None


def test_suite_components_are_catalogue_products():
    for publisher, product in SHIPPED.products():
        for component in SHIPPED.suite_components(publisher, product):
            assert SHIPPED.knows(publisher, component), (product, component)


def test_clean_vendor():
    assert clean_vendor("CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US") \
        == "Microsoft Corporation"
    assert clean_vendor("Matthias Klose <doko@debian.org>") == "Matthias Klose"
    assert clean_vendor("  ") is None and clean_vendor(None) is None


# ---- user catalogues and located errors ------------------------------------------------


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_user_entries_take_precedence(tmp_path):
    user = write(tmp_path / "site.yml", """
        - id: sql-server            # same id: replaces the shipped entry
          publisher: Microsoft
          product: SQL Server
          licence: required
          metric_hint: vm
          match: [{title: 'Microsoft SQL Server (?P<version>20\\d\\d)'}]
        - id: approved-firefox      # new: tried before the shipped entries
          publisher: Mozilla
          product: Firefox (approved build)
          licence: free
          match: [{title: 'Mozilla Firefox .*', publisher: 'Mozilla'}]
    """)
    cat, problems = load_catalogue([default_catalogue_dir(), user], today=TODAY)
    assert problems == []
    assert len(cat) == len(SHIPPED) + 1
    assert cat.entry("sql-server").rule.endswith("site.yml:sql-server")
    assert cat.metric_hint("Microsoft", "SQL Server") == "vm"
    assert cat.recognise(inst("Microsoft SQL Server 2017", "1", "Microsoft")).rule.endswith("site.yml:sql-server")
    firefox = cat.recognise(inst("Mozilla Firefox 57.0.2 (fr)", "57.0.2", "Mozilla"))
    assert (firefox.product, entry_id(firefox)) == ("Firefox (approved build)", "approved-firefox")
    # the shipped entry still serves what the user entry does not cover
    assert cat.recognise(inst("Firefox", "124.0.2", None, "macos")).product == "Firefox"


def test_later_user_paths_win_and_directories_load(tmp_path):
    (tmp_path / "a").mkdir()
    write(tmp_path / "a" / "10-first.yml", """
        - {id: acme, publisher: Acme, product: Widget, licence: free, match: {title: 'Acme Widget'}}
    """)
    second = write(tmp_path / "second.yaml", """
        - {id: acme, publisher: Acme, product: Widget, licence: required, match: {title: 'Acme Widget'}}
    """)
    cat, problems = load_catalogue([tmp_path / "a", second], today=TODAY)
    assert problems == []
    assert cat.recognise(inst("Acme Widget")).licence is LicenceNeed.REQUIRED
    cat, _ = load_catalogue([second, tmp_path / "a"], today=TODAY)
    assert cat.recognise(inst("Acme Widget")).licence is LicenceNeed.FREE


def test_bad_entries_are_located_and_skipped(tmp_path):
    bad = write(tmp_path / "bad.yml", """
        - id: good
          publisher: Acme
          product: Good
          licence: free
          match: [{title: 'Acme Good'}]
        - id: bad-regex
          publisher: Acme
          product: Broken
          licence: free
          match:
            - {title: 'Acme Broken (unclosed'}
        - id: no-product
          publisher: Acme
          licence: free
          match: [{title: 'Acme Nothing'}]
        - id: bad-licence
          publisher: Acme
          product: Odd
          licence: maybe
          match: [{title: 'Acme Odd'}]
        - id: stray-key
          publisher: Acme
          product: Stray
          licence: free
          colour: blue
          match: [{title: 'Acme Stray', size: '.*'}]
        - id: bad-when
          publisher: Acme
          product: When
          licence: required
          match: [{title: 'Acme When'}]
          licence_when:
            - {version: '>=>1', licence: free}
        - id: bad-template
          publisher: Acme
          product: Template
          version: '{update}'
          licence: free
          match: [{title: 'Acme Template'}]
        - id: good
          publisher: Acme
          product: Twice
          licence: free
          match: [{title: 'Acme Twice'}]
    """)
    cat, problems = load_catalogue([bad], include_shipped=False, today=TODAY)
    label = str(bad)
    assert all(p.source.startswith(label + ":") for p in problems)
    found = {p.source[len(label) + 1:]: p.message for p in problems}  # line:col (line alone: an entry)
    assert found["11:15"].startswith('bad-regex.match[0].title: expected a regular expression, got "Acme Broken')
    assert found["12:3"] == "no-product.product: expected a text, got nothing"  # the entry: nothing to point at
    assert found["19:12"] == 'bad-licence.licence: expected one of required, free, got "maybe"'
    assert found["25:3"].startswith("stray-key.colour: unknown field; expected one of id, match, ")
    assert found["26:33"].startswith("stray-key.match[0].size: unknown field; expected one of title, ")
    assert found["33:17"].startswith("bad-when.licence_when[0].version: expected a version range")
    assert found["37:12"] == "bad-template.version: uses update: no such named group in match"
    assert found["40"] == f"duplicate id 'good' (first at {label}:1)"
    assert len(problems) == 8 and [e.id for e in cat.entries] == ["good"]
    assert cat.recognise(inst("Acme Broken (unclosed")).licence is LicenceNeed.UNKNOWN
    assert cat.recognise(inst("Acme Twice")).rule is None


def test_invalid_yaml_is_located(tmp_path):
    broken = write(tmp_path / "broken.yml", """
        - id: one
          publisher: Acme
          product: [unclosed
    """)
    notalist = write(tmp_path / "mapping.yml", "id: lonely\n")
    cat, problems = load_catalogue([broken, notalist, tmp_path / "missing.yml"], include_shipped=False)
    sources = [p.source for p in problems]
    assert sources[0] == f"{broken}:4:1" and problems[0].message.startswith("catalogue file is not valid YAML: ")
    assert sources[1:] == [f"{notalist}:1:1", str(tmp_path / "missing.yml")]
    assert problems[1].message == "expected a list of catalogue entries, got a mapping"
    assert len(cat) == 0


@pytest.mark.parametrize("text, expected", [
    ("- {id: a, publisher: A, product: B, licence: free, match: {title: x}, fallback: sometimes}\n",
     ':1:81: a.fallback: expected true or false, got "sometimes"'),
    ("- {id: a, publisher: A, licence: free, match: {title: x}}\n", ":1:3: a.product: expected a text, got nothing"),
    ("- id: a\n  publisher: A\n  product: B\n  licence: free\n  product: C\n  match: {title: x}\n",
     ":5:3: a.product: given twice (first at {path}:3:3)"),
    ("- {id: a, publisher: A, product: B, licence: free, match: []}\n", ":1:59: a.match: expected at least one rule, got an empty list"),
    ("- {id: a, publisher: A, product: B, licence: free, match: {title: x}, examples: [{expect: {}}]}\n",
     ":1:82: a.examples[0].title: expected a text, got nothing"),
    ("- {id: a, publisher: A, product: B, licence: free\n", ":2:1: catalogue file is not valid YAML: "),
    ("- {id: a, publisher: A, product: '{name', licence: free, match: {title: '(?P<name>.*)'}}\n",
     ':1:34: a.product: expected a text or a {{group}} template, got "{{name" (expected \'}}\' before end of string)'),
])
def test_a_broken_catalogue_file_is_a_located_problem(tmp_path, text, expected):
    path = tmp_path / "user.yml"
    path.write_text(text)
    cat, problems = load_catalogue([path], include_shipped=False, today=TODAY)
    assert len(cat) == 0 and len(problems) == 1
    assert f"{problems[0].source}: {problems[0].message}".startswith(str(path) + expected.format(path=path))


def test_catalogue_dir_from_environment(tmp_path, monkeypatch):
    write(tmp_path / "only.yml", """
        - {id: only, publisher: Acme, product: Only, licence: free, match: {title: 'Acme Only'}}
    """)
    monkeypatch.setenv("FLEETSAM_CATALOGUE", str(tmp_path))
    assert default_catalogue_dir() == tmp_path
    cat, problems = load_catalogue()
    assert problems == [] and [e.id for e in cat.entries] == ["only"]


def test_fallback_entries_come_last(tmp_path):
    user = write(tmp_path / "user.yml", """
        - {id: anything-from-acme, fallback: true, publisher: Acme, product: '{name}', licence: free,
           match: {title: '(?P<name>.+)', publisher: 'Acme'}}
    """)
    cat, _ = load_catalogue([user], today=TODAY)
    fallbacks = [e.id for e in cat.entries if e.fallback]
    assert [e.fallback for e in cat.entries] == sorted(e.fallback for e in cat.entries)  # all at the end
    assert fallbacks[0] == "anything-from-acme"  # and a user one before the shipped ones
    assert entry_id(cat.recognise(inst("WinRAR 6.24 (64-bit)", "6.24.0", "Acme"))) == "winrar"
    assert cat.recognise(inst("Gizmo", "1", "Acme")).product == "Gizmo"
