"""The regedit export reader on the real captured exports and on small synthetic ones."""

import codecs

import pytest

from sam_engine.platforms import regfile

REG_FILES = (
    "glpi-agent_mssql-host_hklm-uninstall.reg",
    "glpi-agent_win10-russian_hklm-uninstall.reg",
    "glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg",
    "glpi-agent_office2016_hklm-office-registration.reg",
)
UNINSTALL = "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"


def value_lines(path):
    """Count of value lines ("name"= or @=) in an export, read independently of the parser."""
    text = path.read_bytes().decode("utf-16")
    return sum(1 for line in text.splitlines() if line.startswith(('"', "@=")))


def key_of(export, suffix):
    (key,) = [k for k in export.keys if k.path.endswith(suffix)]
    return key


@pytest.mark.parametrize("name", REG_FILES)
def test_every_real_export_parses_completely(real_fixtures, name):
    path = real_fixtures / "windows" / name
    assert path.read_bytes().startswith(codecs.BOM_UTF16_LE)
    export = regfile.read_reg_file(path)
    assert export.version == "5.00"
    assert export.problems == []
    text = path.read_bytes().decode("utf-16")
    assert len(export.keys) == sum(1 for line in text.splitlines() if line.startswith("["))
    assert sum(len(k.values) for k in export.keys) == value_lines(path)


def test_truncated_xp_export_keeps_all_its_keys(real_fixtures):
    export = regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_winxp_hklm-uninstall_TRUNCATED.reg")
    assert len(export.keys) == 335
    root = key_of(export, "\\Uninstall")
    assert root.values[""] == regfile.RegValue("REG_SZ", "")
    assert root.values["RootKeyValue"].data == "something"
    office = key_of(export, "\\Office14.PROPLUS")
    codes = office.values["ProductCodes"]
    assert codes.type == "REG_MULTI_SZ" and "{90140000-0011-0000-0000-0000000FF1CE}" in codes.data
    last = export.keys[-1]
    assert last.values["DisplayName"].data == "User Profile Hive Cleanup Service"
    assert last.values["Version"] == regfile.RegValue("REG_DWORD", 0x0106001E)


def test_russian_names_stay_intact(real_fixtures):
    export = regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_win10-russian_hklm-uninstall.reg")
    crypto = key_of(export, "{50F91F80-D397-437C-B0C8-62128DE3B55E}")
    assert crypto.values["DisplayName"].data == "КриптоПро CSP"
    assert crypto.values["Publisher"].data == "Компания КриптоПро"
    assert crypto.values["HelpLink"] == regfile.RegValue("REG_EXPAND_SZ", "https://support.cryptopro.ru/")
    assert crypto.values["UninstallString"].data == "MsiExec.exe /I{50F91F80-D397-437C-B0C8-62128DE3B55E}"
    one_c = key_of(export, "\\1C Предприятие 7.7.27")
    assert one_c.values["DisplayName"].data == "1C Предприятие 7.7"
    assert one_c.values["DisplayIcon"].data == "C:\\Program Files (x86)\\1Cv77\\BIN\\1cv7s.exe"


def test_escaped_strings_and_binary_values(real_fixtures):
    git = key_of(regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_mssql-host_hklm-uninstall.reg"), "\\Git_is1")
    assert git.values["UninstallString"].data == '"C:\\Program Files\\Git\\unins001.exe"'
    assert git.values["InstallLocation"].data == "C:\\Program Files\\Git\\"
    assert git.values["EstimatedSize"] == regfile.RegValue("REG_DWORD", 0x353F6)
    office = regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_office2016_hklm-office-registration.reg")
    digital = key_of(office, "{90160000-0011-0000-1000-0000000FF1CE}").values["DigitalProductID"]
    assert digital.type == "REG_BINARY" and len(digital.data) == 0x4F8 and digital.data[:4] == b"\xf8\x04\x00\x00"


def test_regedit4_ansi_and_utf8_exports():
    text = ("REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Caf\xe9]\r\n"
            '"DisplayName"="Caf\xe9 \\"Pro\\""\r\n"InstallLocation"=hex(2):43,3a,5c,43,61,66,\\\r\n  e9,00\r\n'
            '"SystemComponent"=dword:00000001\r\n')
    export = regfile.parse_reg_text(regfile.decode_reg_bytes(text.encode("cp1252")))
    assert export.version == "4" and export.problems == []
    (key,) = export.keys
    assert key.path.endswith("\\Café")
    assert key.values["DisplayName"].data == 'Café "Pro"'
    assert key.values["InstallLocation"] == regfile.RegValue("REG_EXPAND_SZ", "C:\\Café")
    assert key.values["SystemComponent"].data == 1
    utf8 = regfile.decode_reg_bytes(codecs.BOM_UTF8 + text.replace("REGEDIT4", regfile.HEADER_V5).encode("utf-8"))
    assert regfile.parse_reg_text(utf8).keys[0].values["DisplayName"].data == 'Café "Pro"'


def test_other_value_types_deletions_and_multiline_strings():
    text = "\n".join([
        regfile.HEADER_V5, "",
        "[HKEY_CURRENT_USER\\Software\\X]",
        '"q"=hex(b):01,00,00,00,00,00,00,00',
        '"be"=hex(5):00,00,01,00',
        '"gone"=-',
        '"two\\\\lines"="first',
        'second"',
        "[-HKEY_CURRENT_USER\\Software\\Old]",
        '"ignored"="x"',
    ])
    export = regfile.parse_reg_text(text)
    (key,) = export.keys
    assert key.values == {"q": regfile.RegValue("REG_QWORD", 1), "be": regfile.RegValue("REG_DWORD_BIG_ENDIAN", 256),
                          "two\\lines": regfile.RegValue("REG_SZ", "first\nsecond")}
    assert [p.severity for p in export.problems] == ["warning"]  # the value under the deleted key


def test_export_cut_inside_a_value_keeps_what_is_complete():
    text = "\r\n".join([regfile.HEADER_V5, "", f"[{UNINSTALL}\\A]", '"DisplayName"="A"',
                        '"HelpLink"=hex(2):68,00,74,00,\\', "  74,00,70,00,\\"])
    export = regfile.parse_reg_text(text, "cut.reg")
    (key,) = export.keys
    assert key.values == {"DisplayName": regfile.RegValue("REG_SZ", "A")}
    (problem,) = export.problems
    assert problem.source == "cut.reg:5" and "cut off" in problem.message
    unterminated = regfile.parse_reg_text(regfile.HEADER_V5 + f'\n[{UNINSTALL}\\B]\n"DisplayName"="no end')
    assert unterminated.keys[0].values == {} and "cut off" in unterminated.problems[0].message


def test_not_an_export():
    export = regfile.parse_reg_text("hello\n[x]\n", "notes.txt")
    assert export.keys == [] and "not a regedit export" in export.problems[0].message


def test_uninstall_entries_from_an_export_follow_the_module_shape(real_fixtures):
    export = regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_mssql-host_hklm-uninstall.reg")
    raw = regfile.windows_raw_from_reg(export)
    assert len(raw["uninstall"]) == 7  # the root Uninstall key is not an entry
    perl = next(e for e in raw["uninstall"] if e["key"] == "{532C05E1-7376-1014-987E-E28031843670}")
    assert perl == {"hive": "HKLM64", "sid": None, "key": "{532C05E1-7376-1014-987E-E28031843670}",
                    "DisplayName": "Strawberry Perl (64-bit)", "DisplayVersion": "5.24.1",
                    "Publisher": "strawberryperl.com project", "InstallDate": "20170622",
                    "InstallLocation": "C:\\Strawberry\\", "SystemComponent": None, "ParentKeyName": None,
                    "ReleaseType": None, "WindowsInstaller": 1}


def test_views_users_office_and_sql_from_an_export():
    sid = "S-1-5-21-1-2-3-1001"
    text = "\n".join([
        regfile.HEADER_V5, "",
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\App32]",
        '"DisplayName"="App"',
        f"[HKEY_USERS\\{sid}\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Mine]",
        '"DisplayName"="Mine"',
        "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Current]",
        '"DisplayName"="Current"',
        f"[{UNINSTALL}\\App\\Child]",
        '"DisplayName"="not an entry: a key below an entry"',
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Microsoft SQL Server\\Instance Names\\SQL]",
        '"MSSQLSERVER"="MSSQL15.MSSQLSERVER"',
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Microsoft SQL Server\\MSSQL15.MSSQLSERVER\\Setup]",
        '"Edition"="Standard Edition (64-bit)"', '"Version"="15.0.2000.5"', '"PatchLevel"="15.0.4345.5"',
        "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Office\\16.0\\Registration\\{SKU-TABLE-ROW}]",
        '"ProductName"="Microsoft Visio Standard 2016"',
    ])
    raw = regfile.windows_raw_from_reg(regfile.parse_reg_text(text), sid="S-1-5-21-9-9-9-500")
    assert [(e["hive"], e["sid"], e["key"]) for e in raw["uninstall"]] == [
        ("HKLM32", None, "App32"), ("HKU", sid, "Mine"), ("HKU", "S-1-5-21-9-9-9-500", "Current")]
    assert raw["sql_instances"] == [{"view": "HKLM64", "instance": "MSSQLSERVER", "instance_id": "MSSQL15.MSSQLSERVER",
                                     "Edition": "Standard Edition (64-bit)", "EditionType": None,
                                     "Version": "15.0.2000.5", "PatchLevel": "15.0.4345.5"}]
    assert raw["office"] == []  # a SKU name table row (no ProductID) is not a registration


def test_office_export_keeps_only_the_registered_product(real_fixtures):
    export = regfile.read_reg_file(real_fixtures / "windows" / "glpi-agent_office2016_hklm-office-registration.reg")
    # 344 Registration subkeys hold a ProductName; only one carries a ProductID (the installed product)
    assert sum(1 for k in export.keys if "ProductName" in k.values) == 344
    (office,) = regfile.windows_raw_from_reg(export)["office"]
    assert office == {"view": "HKLM64", "version": "16.0", "key": "{90160000-0011-0000-1000-0000000FF1CE}",
                      "ProductName": None, "ProductNameNonQualified": "Microsoft Office 2016",
                      "ProductNameVersion": None, "ConvertToEdition": "Microsoft Office Professional 2016",
                      "ProductID": "00339-10000-00000-AA310", "ProductCode": None}
    assert "DigitalProductID" not in office
