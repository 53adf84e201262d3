"""The engine's Windows view on the real captured Windows data and on synthetic records.

Real data: regedit exports (glpi-agent), NTUSER.DAT Uninstall keys read out by
regipy, glpi-agent's AppX listing, the Office SoftwareLicensingProduct record
and a `systeminfo` capture. The recorded module output
tests/fixtures/recorded/windows_composite-host.json is built from them by
``build_recorded_output`` below; ``test_recorded_output_matches_its_sources``
keeps it honest (FLEETSAM_REWRITE_FIXTURES=1 writes it again).
"""

import csv
import json
import os
from pathlib import Path

import pytest

from sam_engine import pipeline
from sam_engine.platforms import regfile
from sam_engine.platforms import windows
from sam_engine.platforms import windows_programs
from sam_engine.platforms.registry import platform_of
from sam_engine.model import Virtualization

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "windows_composite-host.json"
SID_A = "S-1-5-21-3623811015-3361044348-30300820-1013"  # regipy's hives do not record the SID: ours
SID_B = "S-1-5-21-3623811015-3361044348-30300820-1014"


def reg_raw(real_fixtures, name, **kw):
    return regfile.windows_raw_from_reg(regfile.read_reg_file(real_fixtures / "windows" / name), **kw)


def view(entries):
    return [(p.name, p.version, p.publisher) for p in windows_programs.programs_and_features(entries)]


def regipy_entries(path, sid):
    """The module's raw HKU entries from a regipy-derived NTUSER.DAT Uninstall listing."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for key in doc["keys"]:
        values = {v["name"]: ("\n".join(v["data"]) if isinstance(v["data"], list) else v["data"]) for v in key["values"]}
        entry = {"hive": "HKU", "sid": sid, "key": key["path"].rsplit("\\", 1)[-1]}
        entry.update({name: values.get(name) for name in regfile.UNINSTALL_VALUES})
        out.append(entry)
    return out


def glpi_appx(path):
    """Raw appx records from glpi-agent's `KEY: value` AppX listing (its own format, not the cmdlet's)."""
    out = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        f = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
        if not f:
            continue
        folder = f["FOLDER"].rsplit("\\", 1)[-1]
        out.append({"Name": folder.split("_")[0], "Version": f["VERSION"], "Publisher": f["PUBLISHER"],
                    "Architecture": f["ARCH"].capitalize(), "PackageFullName": folder, "InstallLocation": f["FOLDER"],
                    "IsFramework": False, "SignatureKind": "System" if f.get("SYSTEM_CATEGORY") == "system" else "Store"})
    return out


def entry(key, name, version="1.0", publisher="ACME", hive="HKLM64", sid=None, **values):
    rec = dict.fromkeys(regfile.UNINSTALL_VALUES)
    rec.update(hive=hive, sid=sid, key=key, DisplayName=name, DisplayVersion=version, Publisher=publisher, **values)
    return rec


# --- Programs and Features on the real exports ----------------------------------------------


def test_mssql_host_lists_exactly_what_programs_and_features_shows(real_fixtures):
    raw = reg_raw(real_fixtures, "glpi-agent_mssql-host_hklm-uninstall.reg")
    # 8 keys in the export: the root Uninstall key itself (@="" only) is no entry; none of the 7
    # entries is hidden (no SystemComponent, ParentKeyName or ReleaseType), none duplicates another.
    assert view(raw["uninstall"]) == [
        ("Microsoft SQL Server 2005", "10.53.6000.34", "Microsoft"),
        ("Microsoft SQL Server 2017", "17.77.6700.34", "Microsoft"),
        ("Microsoft SQL Server 2008", "14.72.6100.34", "Microsoft"),
        ("FusionInventory Agent 2.4.x-build-26 (x64 edition)", "2.4.x-build-26", "FusionInventory Team"),
        ("Git version 2.12.2.2", "2.12.2.2", "The Git Development Community"),
        ("Strawberry Perl (64-bit)", "5.24.1", "strawberryperl.com project"),
        ("Mozilla Firefox 57.0.2 (fr)", "57.0.2", "Mozilla"),
    ]
    items, problems = windows.installations_from_windows(raw, "mssql.reg")
    assert problems == []
    perl = next(i for i in items if i.name == "Strawberry Perl (64-bit)")
    assert perl.source == "windows" and perl.package_id == "windows:HKLM64:{532C05E1-7376-1014-987E-E28031843670}"
    assert perl.install_time == 1498089600 and perl.location == "C:\\Strawberry\\" and perl.arch is None
    git = next(i for i in items if i.name.startswith("Git "))
    assert git.install_time == 1493683200 and git.location == "C:\\Program Files\\Git\\"


def test_russian_host_lists_its_two_programs_with_cyrillic_names(real_fixtures):
    raw = reg_raw(real_fixtures, "glpi-agent_win10-russian_hklm-uninstall.reg")
    # 3 keys: the root Uninstall key (no entry), an MSI GUID key and a named key, both shown.
    assert view(raw["uninstall"]) == [
        ("КриптоПро CSP", "5.0.12000", "Компания КриптоПро"),
        ("1C Предприятие 7.7", "77.27", None),
    ]
    items, _ = windows.installations_from_windows(raw, "ru.reg")
    assert [i.package_id for i in items] == ["windows:HKLM64:{50F91F80-D397-437C-B0C8-62128DE3B55E}",
                                             "windows:HKLM64:1C Предприятие 7.7.27"]
    assert items[0].install_time == 1627084800 and items[0].location == "C:\\Program Files (x86)\\Crypto Pro\\CSP\\"


def test_xp_export_rule_by_rule(real_fixtures):
    raw = reg_raw(real_fixtures, "glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg")
    entries = raw["uninstall"]
    # 335 keys: the root key and one key below an entry (...\{0001B4FD-...}\CustomMessages) are no entries
    assert len(entries) == 333
    reasons = {}
    for e in entries:
        reasons.setdefault(windows_programs.hidden_reason(e), []).append(e)
    assert {k: len(v) for k, v in reasons.items()} == {
        "PF1 no DisplayName": 115, "PF2 SystemComponent=1": 32, "PF3 ParentKeyName": 122,
        "PF4 ReleaseType": 1, None: 63}
    (hotfix,) = reasons["PF4 ReleaseType"]
    assert (hotfix["key"], hotfix["ReleaseType"]) == ("KB969084", "Hotfix")  # a hotfix without ParentKeyName
    # "Software Update" is not an update release type: Windows Management Framework Core is a product
    assert any(e["key"] == "KB968930" for e in reasons[None])
    programs = windows_programs.programs_and_features(entries)
    assert len(programs) == 63 and all(len(p.entries) == 1 for p in programs)
    names = [p.name for p in programs]
    # each of these has a named key and a GUID key; the GUID key is a SystemComponent: listed once
    for twice in ("Microsoft Office Professional Plus 2010", "Microsoft .NET Framework 3.5 SP1",
                  "Microsoft .NET Framework 4 Client Profile", "Network Console",
                  "Symantec Backup Exec Remote Agent for Windows Systems"):
        assert names.count(twice) == 1 and sum(e["DisplayName"] == twice for e in entries) == 2
    assert "Frank Heindörfer, Philip Chinery" in {p.publisher for p in programs}


# --- the rules one by one -------------------------------------------------------------------


def test_pf1_pf2_hidden_entries():
    assert windows_programs.hidden_reason(entry("a", None)) == "PF1 no DisplayName"
    assert windows_programs.hidden_reason(entry("a", "   ")) == "PF1 no DisplayName"
    assert windows_programs.hidden_reason(entry("a", "X", SystemComponent=1)) == "PF2 SystemComponent=1"
    assert windows_programs.hidden_reason(entry("a", "X", SystemComponent="1")) == "PF2 SystemComponent=1"
    assert windows_programs.hidden_reason(entry("a", "X", SystemComponent=0)) is None


@pytest.mark.parametrize("release_type", ["Update", "Hotfix", "Security Update", "Update Rollup", "Service Pack",
                                          "security update"])
def test_pf3_pf4_updates(release_type):
    assert windows_programs.hidden_reason(entry("KB1", "Update for X", ParentKeyName="X")) == "PF3 ParentKeyName"
    assert windows_programs.hidden_reason(entry("KB2", "Update for X", ReleaseType=release_type)) == "PF4 ReleaseType"
    assert windows_programs.hidden_reason(entry("KB3", "X", ReleaseType="Software Update")) is None


def test_pf5_guid_key_and_named_key_count_once():
    guid, named = entry("{11111111-2222-3333-4444-555555555555}", "Tool", InstallDate="20200102"), entry("Tool", "tool ")
    (prog,) = windows_programs.programs_and_features([named, guid])
    assert prog.package_id == "windows:HKLM64:{11111111-2222-3333-4444-555555555555}+HKLM64:Tool"
    assert prog.install_time == 1577923200
    assert len(windows_programs.programs_and_features([guid, entry("Tool", "Tool", version="2.0")])) == 2


def test_pf6_32_and_64_bit_copies_count_once_per_host():
    x64 = entry("{J64}", "Java 8 Update 141 (64-bit)", "8.0.1410.15", "Oracle Corporation")
    x86 = entry("{J32}", "Java 8 Update 141", "8.0.1410.15", "Oracle Corporation", hive="HKLM32")
    (prog,) = windows_programs.programs_and_features([x86, x64])
    assert prog.hive == "HKLM" and prog.package_id == "windows:HKLM64:{J64}+HKLM32:{J32}"
    (inst,), _ = windows.installations_from_windows({"uninstall": [x86, x64]}, "t")
    assert inst.arch is None and inst.name == "Java 8 Update 141 (64-bit)"
    (only32,), _ = windows.installations_from_windows({"uninstall": [x86]}, "t")
    assert only32.arch == "x86" and only32.package_id == "windows:HKLM32:{J32}"
    assert len(windows_programs.programs_and_features([x64, dict(x86, DisplayVersion="8.0.1510.12")])) == 2
    zip64 = entry("7-Zip", "7-Zip 19.00 (x64)", "19.00", "Igor Pavlov")
    zip32 = entry("7-Zip", "7-Zip 19.00", "19.00", "Igor Pavlov", hive="HKLM32")
    assert len(windows_programs.programs_and_features([zip64, zip32])) == 1
    # the bitness in the middle of a name is part of the product: both runtimes are installed
    vc = [entry("{A}", "Microsoft Visual C++ 2008 Redistributable - x64 9.0.30729", "9.0.30729"),
          entry("{B}", "Microsoft Visual C++ 2008 Redistributable - x86 9.0.30729", "9.0.30729", hive="HKLM32")]
    assert len(windows_programs.programs_and_features(vc)) == 2
    # a per-user copy is never merged into the machine-wide one
    assert len(windows_programs.programs_and_features([zip64, dict(zip32, hive="HKU", sid=SID_A)])) == 2


def test_pf7_per_user_installs_are_kept_per_sid(real_fixtures):
    win = real_fixtures / "windows"
    partial = regipy_entries(win / "derived-regipy_ntuser-software-partial_hkcu-uninstall.json", SID_A)
    assert view(partial) == [
        ("Python 3.7 distorm3-3.3.4", None, None),
        ("GitKraken", "5.0.4", "Axosoft, LLC"),
        ("Microsoft OneDrive", "20.028.0206.0009", "Microsoft Corporation"),
        ("Python 3.7.0 (Anaconda3 5.3.0 64-bit)", "5.3.0", "Anaconda, Inc."),
        ("Microsoft Visual Studio Code (User)", "1.33.1", "Microsoft Corporation"),
    ]
    bagmru = regipy_entries(win / "derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json", SID_A)
    winscp = regipy_entries(win / "derived-regipy_ntuser-tony-winscp_hkcu-uninstall.json", SID_B)
    assert [name for name, _, _ in view(bagmru)] == [
        "GitHub Desktop", "Microsoft OneDrive", "Microsoft Teams", "Zoom", "JetBrains dotPeek 2021.1.2",
        "Python 3.8.8 (64-bit)"]
    assert [name for name, _, _ in view(winscp)] == [
        "GitHub Desktop", "Zoom", "JetBrains dotPeek 2021.3.3", "Python 3.10.2 (64-bit)"]
    # the two hives as two users of one host, beside a machine-wide Zoom of the same version
    machine_zoom = entry("ZoomUMX", "Zoom", "5.9.3 (3169)", "Zoom Video Communications, Inc.")
    items, _ = windows.installations_from_windows({"uninstall": bagmru + winscp + [machine_zoom]}, "t")
    assert len(items) == 6 + 4 + 1
    zoom = sorted(i.package_id for i in items if i.name == "Zoom")
    assert zoom == ["windows:HKLM64:ZoomUMX", f"windows:HKU:{SID_A}:ZoomUMX", f"windows:HKU:{SID_B}:ZoomUMX"]
    teams = next(i for i in items if i.name == "Microsoft Teams")
    assert teams.install_time == 1652227200 and teams.location == "C:\\Users\\tony\\AppData\\Local\\Microsoft\\Teams"


@pytest.mark.parametrize("value,expected", [
    ("20170622", 1498089600), (20170622, 1498089600), (" 20000229 ", 951782400),
    ("20170231", None), ("2017-06-22", None), ("6/22/2017", None), ("", None), (None, None), ("18991231", None)])
def test_pf8_install_date(value, expected):
    assert windows_programs.install_date(value) == expected


# --- SQL Server, Office, the Windows edition ------------------------------------------------


@pytest.mark.parametrize("edition,version,name", [
    ("Enterprise Edition (64-bit)", "15.0.2000.5", "Microsoft SQL Server 2019 (64-bit) Enterprise Edition"),
    ("Enterprise Edition: Core-based Licensing (64-bit)", "16.0.1000.6",
     "Microsoft SQL Server 2022 (64-bit) Enterprise Edition: Core-based Licensing"),
    ("Standard Edition", "10.50.1600.1", "Microsoft SQL Server 2008 R2 Standard Edition"),
    ("Express Edition (64-bit)", "10.0.1600.22", "Microsoft SQL Server 2008 (64-bit) Express Edition"),
    ("Developer Edition (64-bit)", "99.1.2.3", "Microsoft SQL Server (version 99) (64-bit) Developer Edition"),
])
def test_sql_server_names(edition, version, name):
    assert windows.sql_server_name(edition, version) == name


def test_sql_instance_installation():
    sql = {"view": "HKLM64", "instance": "MSSQLSERVER", "instance_id": "MSSQL15.MSSQLSERVER",
           "Edition": "Enterprise Edition (64-bit)", "Version": "15.0.2000.5", "PatchLevel": "15.0.4153.1"}
    (inst,), _ = windows.installations_from_windows({"sql_instances": [sql]}, "t")
    assert (inst.name, inst.version, inst.arch, inst.vendor, inst.package_id) == (
        "Microsoft SQL Server 2019 (64-bit) Enterprise Edition", "15.0.4153.1", "x64", "Microsoft Corporation",
        "windows:sql:HKLM64:MSSQL15.MSSQLSERVER")


def test_office_registration_name_comes_from_the_product_code(real_fixtures):
    raw = reg_raw(real_fixtures, "glpi-agent_office2016_hklm-office-registration.reg")
    (inst,), _ = windows.installations_from_windows(raw, "office.reg")
    # ConvertToEdition says "Professional", but product code SKU 0011 is Professional Plus, as the
    # host's SoftwareLicensingProduct record (Office16ProPlusVL_KMS_Client) confirms; p=1: x64
    assert (inst.name, inst.version, inst.arch) == ("Microsoft Office Professional Plus 2016", "16.0", "x64")
    assert inst.package_id == "windows:office:HKLM64:{90160000-0011-0000-1000-0000000FF1CE}"
    named = {"view": "HKLM32", "version": "15.0", "key": "{X}", "ProductName": "Microsoft Office Standard 2013",
             "ProductID": "00000-1"}
    assert windows.office_installation(named).name == "Microsoft Office Standard 2013"
    assert windows.office_installation(dict(named, ProductID=None)) is None


def test_windows_edition_is_an_installation():
    os_raw = {"ProductName": "Windows 10 Pro", "EditionID": "Professional", "CurrentBuild": "22631", "UBR": 4037,
              "Caption": "Microsoft Windows 11 Pro", "Version": "10.0.22631"}
    (inst,), _ = windows.installations_from_windows({"os": os_raw}, "t")
    # the registry still says "Windows 10" on Windows 11: Win32_OperatingSystem's caption wins
    assert (inst.name, inst.version, inst.package_id) == ("Microsoft Windows 11 Pro", "10.0.22631.4037",
                                                         "windows:os:Professional")


# --- AppX and SWID --------------------------------------------------------------------------


def test_appx_packages_from_the_russian_host(real_fixtures):
    packages = glpi_appx(real_fixtures / "windows" / "glpi-agent_win10-russian_appx-packages.txt")
    assert len(packages) == 8
    items = windows.appx_installations(packages)
    assert len(items) == 8 and {i.source for i in items} == {"appx"}
    explorer = items[0]
    assert (explorer.name, explorer.version, explorer.arch, explorer.vendor) == (
        "Microsoft.Windows.FileExplorer", "10.0.19041.423", "neutral", "Microsoft Corporation")
    assert explorer.package_id == "appx:Microsoft.Windows.FileExplorer_cw5n1h2txyewy"
    assert "Корпорация Майкрософт" in {i.vendor for i in items}


def test_appx_frameworks_dropped_and_publisher_name_read():
    calc = {"Name": "Microsoft.WindowsCalculator", "Version": "11.2210.0.0", "Architecture": "X64",
            "Publisher": "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
            "PackageFullName": "Microsoft.WindowsCalculator_11.2210.0.0_x64__8wekyb3d8bbwe", "IsFramework": False}
    vclibs = dict(calc, Name="Microsoft.VCLibs.140.00", PackageFullName="Microsoft.VCLibs.140.00_14.0_x64__8wekyb3d8bbwe",
                  IsFramework=True)
    (inst,) = windows.appx_installations([calc, vclibs, calc])
    assert (inst.vendor, inst.arch) == ("Microsoft Corporation", "x64")


def test_swid_tags(real_fixtures):
    swid = real_fixtures / "swid"
    hello = windows.swid_installation((swid / "rpm2swidtag_hello-2.0-1.x86_64-signed.swidtag").read_text(), "p")
    assert (hello.name, hello.version, hello.package_id) == ("hello", "2.0-1.x86_64", "swid:unavailable.invalid.hello-2.0-1.x86_64")
    cowsay = windows.swid_installation((swid / "strongtnc_debian7.4_cowsay.full.swidtag").read_text(), "p")
    assert (cowsay.name, cowsay.vendor, cowsay.package_id) == ("cowsay", "strongSwan", "swid:debian_7.4-x86_64-cowsay-3.03+dfsg1-4")
    supplemental = (swid / "rpm2swidtag_pkg1-1.3.0_supplemental-component-of-distro.swidtag").read_text()
    assert windows.swid_installation(supplemental, "p") is None
    legacy = ('<?xml version="1.0" encoding="utf-16"?><swid:software_identification_tag '
              'xmlns:swid="http://standards.iso.org/iso/19770/-2/2009/schema.xsd">'
              "<swid:product_title>Windows 10 Pro</swid:product_title><swid:product_version><swid:name>10.0.19041"
              "</swid:name></swid:product_version><swid:software_creator><swid:name>Microsoft Corporation</swid:name>"
              "</swid:software_creator><swid:software_id><swid:unique_id>Windows-10-Pro</swid:unique_id>"
              "</swid:software_id></swid:software_identification_tag>")
    tags = [{"path": "C:\\ProgramData\\regid.1991-06.com.microsoft\\w.swidtag", "text": legacy},
            {"path": "C:\\ProgramData\\regid.x\\big.swidtag", "text": None, "skipped": "larger than swid_max_bytes"},
            {"path": "C:\\ProgramData\\regid.x\\bad.swidtag", "text": "<nope"}]
    items, problems = windows.installations_from_windows({"swid_tags": tags}, "h.json")
    assert [(i.source, i.name, i.version, i.vendor, i.package_id) for i in items] == [
        ("swid", "Windows 10 Pro", "10.0.19041", "Microsoft Corporation", "swid:Windows-10-Pro")]
    assert [p.severity for p in problems] == ["warning", "warning"]
    assert "larger than swid_max_bytes" in problems[0].message and "not well-formed" in problems[1].message


# --- hardware and identity ------------------------------------------------------------------


def xeon(n):
    return {"DeviceID": f"CPU{n}", "Name": "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", "Manufacturer": "GenuineIntel",
            "NumberOfCores": 16, "NumberOfLogicalProcessors": 32}


def test_hardware_two_socket_physical_hyperv_host():
    raw = {"processors": [xeon(0), xeon(1)],
           "computer_system": {"Manufacturer": "Dell Inc.", "Model": "PowerEdge R740", "NumberOfProcessors": 2,
                               "HypervisorPresent": True, "TotalPhysicalMemory": 274877906944}}
    hw = windows.derive_hardware_windows(raw)
    assert (hw.sockets, hw.cores, hw.threads) == (2, 32, 64)
    assert hw.cpu_vendor == "GenuineIntel" and hw.cpu_model.startswith("Intel(R) Xeon(R) Gold 6130")
    # the Hyper-V parent partition runs under the hypervisor too: the DMI strings say physical
    assert hw.virtualization is Virtualization.PHYSICAL and hw.memory_mb == 262144


@pytest.mark.parametrize("maker,model,hypervisor", [
    ("VMware, Inc.", "VMware7,1", "VMware"), ("Microsoft Corporation", "Virtual Machine", "Hyper-V"),
    ("QEMU", "Standard PC (Q35 + ICH9, 2009)", "QEMU"), ("Xen", "HVM domU", "Xen"), ("Nutanix", "AHV", "Nutanix AHV")])
def test_hardware_vm_from_maker_and_model(maker, model, hypervisor):
    cpu = dict(xeon(0), NumberOfCores=2, NumberOfLogicalProcessors=2)
    hw = windows.derive_hardware_windows({"processors": [cpu, dict(cpu, DeviceID="CPU1")],
                                          "computer_system": {"Manufacturer": maker, "Model": model}})
    assert (hw.virtualization, hw.hypervisor) == (Virtualization.VM, hypervisor)
    assert (hw.sockets, hw.cores, hw.threads) == (2, 4, 4)


def test_hardware_with_little_data():
    assert windows.derive_hardware_windows({"computer_system": {"HypervisorPresent": True}}).virtualization \
        is Virtualization.VM
    hw = windows.derive_hardware_windows({"computer_system": {"NumberOfProcessors": 1, "NumberOfLogicalProcessors": 8}})
    assert (hw.sockets, hw.cores, hw.threads, hw.virtualization) == (1, None, 8, Virtualization.UNKNOWN)


def test_identity_uuid_then_serial_then_inventory_name():
    def host(product):
        return windows.derive_host_windows({"hardware": {"product": product}, "os": {"hostname": "SQL01"}}, "sql01")
    uuid = "4C4C4544-004A-3510-804B-B4C04F4E3332"
    assert (host({"UUID": uuid, "IdentifyingNumber": "ABC"}).host_id) == "dmi-uuid:" + uuid.lower()
    placeholder = host({"UUID": "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "IdentifyingNumber": "5CG1234XYZ"})
    assert (placeholder.host_id, placeholder.identity_source) == ("serial:5cg1234xyz", "serial")
    nothing = host({"UUID": None, "IdentifyingNumber": "To be filled by O.E.M."})
    assert (nothing.host_id, nothing.identity_source, nothing.os_family) == ("inventory:sql01", "inventory", "Windows")


# --- a recorded module output through the pipeline -------------------------------------------


def build_recorded_output(real_fixtures):
    """A composite host in the module's RETURN shape, built from the real captures.

    uninstall: the mssql-host export (HKLM64) and the bagmru NTUSER hive (HKU, SID ours); office: the
    Office 2016 export; licensing: its SoftwareLicensingProduct record; appx: the Russian host; os and
    hardware: the jc Windows 10 `systeminfo` capture (VMware, 1 processor, 2,047 MB). Ours, not captured:
    the SQL instance (matching the export's "Microsoft SQL Server 2017" key), cores/threads, UUID.
    """
    win = real_fixtures / "windows"
    machine = reg_raw(real_fixtures, "glpi-agent_mssql-host_hklm-uninstall.reg")
    office = reg_raw(real_fixtures, "glpi-agent_office2016_hklm-office-registration.reg")["office"]
    wmi = (win / "glpi-agent_office2016_SoftwareLicensingProduct.wmi").read_bytes().decode("utf-16")
    fields = dict(line.split("=", 1) for line in wmi.splitlines() if "=" in line)
    licensing = {k: fields[k] for k in ("Name", "Description", "ApplicationID", "LicenseFamily", "ProductKeyChannel",
                                        "PartialProductKey")}
    licensing["LicenseStatus"] = int(fields["LicenseStatus"])
    return {
        "changed": False,
        "windows": {
            "uninstall": machine["uninstall"] + regipy_entries(win / "derived-regipy_ntuser-tony-bagmru_hkcu-uninstall.json",
                                                               SID_A),
            "user_hives": [{"sid": SID_A, "profile_path": "C:\\Users\\tony", "state": "mounted", "message": None}],
            "sql_instances": [{"view": "HKLM64", "instance": "MSSQLSERVER", "instance_id": "MSSQL14.MSSQLSERVER",
                               "Edition": "Standard Edition (64-bit)", "EditionType": "Standard Edition (64-bit)",
                               "Version": "14.0.1000.169", "PatchLevel": "14.0.3456.2"}],
            "office": office,
            "os": {"ProductName": "Windows 10 Enterprise", "EditionID": "Enterprise", "CurrentBuild": "19042",
                   "DisplayVersion": "20H2", "ReleaseId": "2009", "UBR": None, "InstallationType": "Client",
                   "CurrentVersion": "6.3", "Caption": "Microsoft Windows 10 Enterprise", "Version": "10.0.19042",
                   "OSArchitecture": "64-bit", "hostname": "DESKTOP-WIN01", "domain": "TEST.local"},
            "licensing": [licensing],
            "appx": glpi_appx(win / "glpi-agent_win10-russian_appx-packages.txt"),
            "swid_tags": [],
            "hardware": {
                "processors": [{"DeviceID": "CPU0", "SocketDesignation": "CPU #000",
                                "Name": "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz", "Manufacturer": "GenuineIntel",
                                "NumberOfCores": 2, "NumberOfLogicalProcessors": 2}],
                "computer_system": {"Manufacturer": "VMware, Inc.", "Model": "VMware7,1", "NumberOfProcessors": 1,
                                    "NumberOfLogicalProcessors": 2, "HypervisorPresent": True,
                                    "TotalPhysicalMemory": 2047 * 1024 * 1024, "Domain": "TEST.local",
                                    "PartOfDomain": True, "DNSHostName": "DESKTOP-WIN01"},
                "product": {"UUID": "564D2B6C-3F1A-9E77-0B5E-21C48A1266F0",
                            "IdentifyingNumber": "VMware-56 4d 2b 6c 3f 1a 9e 77-0b 5e 21 c4 8a 12 66 f0",
                            "Vendor": "VMware, Inc.", "Name": "VMware7,1"},
            },
        },
        "warnings": ["fleetsam: per-user installs of S-1-5-21-3623811015-3361044348-30300820-1015 not read: "
                     "reg load failed: ERROR: The process cannot access the file because it is being used by another process."],
    }


def test_recorded_output_matches_its_sources(real_fixtures):
    built = build_recorded_output(real_fixtures)
    if os.environ.get("FLEETSAM_REWRITE_FIXTURES"):
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps(built, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert json.loads(RECORDED.read_text(encoding="utf-8")) == built


def test_recorded_output_through_ingest_store_and_report(tmp_path):
    result = json.loads(RECORDED.read_text(encoding="utf-8"))
    spool = tmp_path / "s1"
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-11-29T01:00:00Z",
                                                "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    (spool / "hosts" / "win01.json").write_text(json.dumps(
        {"inventory_name": "win01", "status": "ok", "result": result, "error": None}, ensure_ascii=False),
        encoding="utf-8")
    out = pipeline.process_spool(spool, store=str(tmp_path / "db.json"), report_dir=tmp_path / "reports")
    assert out.problems == ()
    (hs,) = out.scan.hosts
    host = hs.host
    assert (host.host_id, host.identity_source) == ("dmi-uuid:564d2b6c-3f1a-9e77-0b5e-21c48a1266f0", "dmi-uuid")
    assert (host.os_family, host.os_name, host.fqdn) == ("Windows", "Microsoft Windows 10 Enterprise",
                                                        "DESKTOP-WIN01.TEST.local")
    hw = host.hardware
    assert (hw.sockets, hw.cores, hw.threads, hw.virtualization, hw.hypervisor, hw.memory_mb) == (
        1, 2, 2, Virtualization.VM, "VMware", 2047)
    by_source = {}
    for inst in hs.installations:
        by_source.setdefault(inst.source, []).append(inst)
    # 7 machine-wide programs + 6 of the user + SQL instance + Office + the Windows edition; 8 AppX
    assert {k: len(v) for k, v in by_source.items()} == {"windows": 16, "appx": 8}
    names = {i.name for i in by_source["windows"]}
    assert {"Microsoft SQL Server 2017 (64-bit) Standard Edition", "Microsoft Office Professional Plus 2016",
            "Microsoft Windows 10 Enterprise", "Microsoft Teams", "Strawberry Perl (64-bit)"} <= names
    assert hs.warnings and "reg load failed" in hs.warnings[0]
    report = json.loads((tmp_path / "reports" / "report.json").read_text(encoding="utf-8"))
    (rhost,) = report["hosts"]
    assert rhost["package_count"] == 24 and rhost["sources"] == {"appx": 8, "windows": 16}
    with open(tmp_path / "reports" / "installations.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 and f"windows:HKU:{SID_A}:Teams" in {r["package_id"] for r in rows}
    # the platform registry gives the same reading directly
    items, problems = platform_of(result).installations(result, "win01.json")
    assert len(items) == 24 and problems == []


def test_malformed_result_parts_are_problems_not_crashes():
    win = {"uninstall": [entry("A", "App"), "junk"], "sql_instances": {"not": "a list"}, "os": "Windows", "appx": [None]}
    items, problems = windows.installations_from_windows(win, "h.json")
    assert [i.name for i in items] == ["App"]
    assert [p.source for p in problems] == ["h.json: windows.uninstall[1]", "h.json: windows.sql_instances",
                                            "h.json: windows.appx[0]"]


def test_role_and_callback_wire_the_windows_collector():
    from ansible_collections.fleetsam.sam.plugins.callback import collector
    from ansible_collections.fleetsam.sam.plugins.module_utils.collect_args import COLLECTORS

    assert {"fleetsam.sam.win_software_facts", "win_software_facts", "fleetsam.sam.collect"} <= collector.COLLECTOR_ACTIONS
    assert COLLECTORS["windows"] == "fleetsam.sam.win_software_facts"  # what the role's one task runs on Windows
