"""The engine's Windows view: raw ``win_software_facts`` output to installations and a host.

Programs and Features entries are read by ``windows_programs`` (rules PF1-PF8);
built here: SQL Server instances (name with version year and edition, as
``Microsoft SQL Server 2019 (64-bit) Enterprise Edition``), Office
registrations, the Windows edition, AppX packages (frameworks dropped), SWID
tags (read by ``swid``; patch and supplemental tags dropped) and Chocolatey
packages (their nuspec files, licence facts as origins); and the ``Host``
with hardware counted from Win32_Processor records.
"""

from __future__ import annotations

import re
from array import array
from typing import Any, Iterable, Mapping, Sequence

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable
from sam_engine.model import Hardware, Host, Installation, Problem, Virtualization
from sam_engine.platforms import hardware, swid
from sam_engine.platforms.windows_packages import chocolatey_installations, winget_packages, with_winget_origins
from sam_engine.platforms.windows_programs import (Program, install_date, program, program_groups, programs_and_features,
                                                   value_text)
from sam_engine.topology import uuids

# SQL Server major version (10.50 = 2008 R2) -> product year; data a user may extend
SQL_SERVER_YEARS = {"8": "2000", "9": "2005", "10": "2008", "10.50": "2008 R2", "11": "2012", "12": "2014",
                    "13": "2016", "14": "2017", "15": "2019", "16": "2022", "17": "2025"}
# PPPP of an Office MSI product code {BRMMmmmm-PPPP-LLLL-p000-D000000FF1CE} -> suite edition
OFFICE_SKUS = {"0011": "Professional Plus", "0012": "Standard", "0013": "Basic", "0014": "Professional"}
OFFICE_YEARS = {"11": "2003", "12": "2007", "14": "2010", "15": "2013", "16": "2016"}  # MSI editions only
MICROSOFT = "Microsoft Corporation"
EXTRA_VM_MARKERS = (("nutanix", "Nutanix AHV"), ("hvm domu", "Xen"))
_OFFICE_CODE = re.compile(r"^\{[0-9A-F](?:[0-9A-F])(\d\d)\d{4}-([0-9A-F]{4})-[0-9A-F]{4}-([01])000-[01]000000FF1CE\}$",
                          re.IGNORECASE)


def sql_server_name(edition: str | None, version: str | None) -> str:
    """``Microsoft SQL Server 2019 (64-bit) Enterprise Edition`` from Setup's Edition and Version."""
    parts = (version or "").split(".")
    year = (SQL_SERVER_YEARS.get(".".join(parts[:2])) or SQL_SERVER_YEARS.get(parts[0])) if parts[0] else None
    edition = edition or ""
    bits = re.search(r"\((\d\d-bit)\)", edition)
    base, _, qualifier = re.sub(r"\s*\(\d\d-bit\)", "", edition).partition(":")
    name = "Microsoft SQL Server " + (year or f"(version {parts[0] or 'unknown'})")
    if bits:
        name += f" ({bits.group(1)})"
    if base.strip():
        name += " " + base.strip()
    if qualifier.strip():
        name += ": " + qualifier.strip()
    return name


def office_installation(reg: Mapping[str, Any]) -> Installation | None:
    """An Office product from a registration key with a product ID (the SKU name table has none)."""
    if not value_text(reg.get("ProductID")) and not reg.get("DigitalProductID"):
        return None
    key = str(reg.get("key") or "")
    code = _OFFICE_CODE.match(key)
    named_year = re.search(r"\b(20\d\d)$", value_text(reg.get("ProductNameNonQualified")) or "")
    name = value_text(reg.get("ProductName"))
    if not name and code and code.group(2) in OFFICE_SKUS:
        year = named_year.group(1) if named_year else OFFICE_YEARS.get(code.group(1), "")
        name = f"Microsoft Office {OFFICE_SKUS[code.group(2)]} {year}".strip()
    name = name or value_text(reg.get("ConvertToEdition")) or value_text(reg.get("ProductNameNonQualified"))
    if not name:
        return None
    arch = ("x64" if code.group(3) == "1" else "x86") if code else None
    return Installation("windows", name, value_text(reg.get("version")), arch, MICROSOFT, None,
                        f"windows:office:{reg.get('view')}:{key}")


def appx_installations(packages: Iterable[Mapping[str, Any]]) -> list[Installation]:
    """AppX/MSIX packages, frameworks (runtime dependencies never listed as apps) dropped."""
    out, seen = [], set()
    for pkg in packages:
        full = value_text(pkg.get("PackageFullName")) or value_text(pkg.get("Name"))
        if not full or full in seen or pkg.get("IsFramework") is True:
            continue
        seen.add(full)
        publisher = value_text(pkg.get("Publisher")) or ""
        org = re.search(r"(?:^|,\s*)(?:CN|O)=(\"[^\"]*\"|[^,]*)", publisher)
        out.append(Installation("appx", value_text(pkg.get("Name")) or full, value_text(pkg.get("Version")),
                                (value_text(pkg.get("Architecture")) or "").lower() or None,
                                org.group(1).strip('"') if org else publisher or None, None,
                                f"appx:{full}", value_text(pkg.get("InstallLocation"))))
    return out


def swid_installation(text: str, path: str) -> Installation | None:
    """The installation a SWID tag file names (one tag per file); None for a patch or supplemental tag,
    which describes no product of its own. Raises ``swid.SwidTagError`` (a ValueError) for text that is
    not a tag."""
    record = swid.parse_tag(text, path)
    if record["extra"]["patch"] or record["extra"]["supplemental"]:
        return None
    return Installation("swid", record["name"], record["version"], record["arch"], record["vendor"], None,
                        f"swid:{record['package_id']}", path)


def _records(win: Mapping[str, Any], key: str, origin: str, problems: list[Problem]) -> list[Mapping[str, Any]]:
    """The dict records of one list of the result; anything else is a problem, not a crash."""
    value = win.get(key)
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        problems.append(Problem(f"{origin}: windows.{key}", "not a list", "warning"))
        return []
    for n, rec in enumerate(value):
        if type(rec) is not dict and not isinstance(rec, Mapping):  # the exact-type test first: typing's is slow
            problems.append(Problem(f"{origin}: windows.{key}[{n}]", "not a record", "warning"))
    return [rec for rec in value if type(rec) is dict or isinstance(rec, Mapping)]


def program_installation(prog: Program) -> Installation:
    """A Programs and Features line as an installation (a 32-bit machine view's program is x86)."""
    return Installation("windows", prog.name, prog.version, "x86" if prog.hive == "HKLM32" else None, prog.publisher,
                        prog.install_time, prog.package_id, prog.location)


def installations_from_windows(win: Mapping[str, Any], origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
    """Every installation of one host's ``windows`` result, with problems for records that cannot be read."""
    problems: list[Problem] = []
    items = [program_installation(p) for p in programs_and_features(_records(win, "uninstall", origin, problems))]
    items += _other_installations(win, origin, problems)
    winget, unread = winget_packages(_records(win, "winget", origin, problems), win.get("winget_export"), origin)
    items, untied = with_winget_origins(items, winget, origin)
    packages, unparsed = chocolatey_installations(_records(win, "chocolatey", origin, problems), origin)
    return tuple(items + packages), problems + unread + untied + unparsed


# the fields that make a one-key program's row (all but InstallDate, which varies from host to host)
_ROW_KEYS = ("hive", "sid", "key", "DisplayName", "DisplayVersion", "Publisher", "InstallLocation")


def inventory_from_windows(win: Mapping[str, Any], origin: str, table: RowTable) -> tuple[Sequence[Installation],
                                                                                           list[Problem]]:
    """``installations_from_windows`` in compact form, the same rows in the same order. A fleet repeats
    its Uninstall keys: the row of a program from one key is remembered on ``table`` by its raw values
    (text only, so ``1`` and ``True`` never share an entry) and made once. A host with winget records
    takes the plain path: winget sets the origin of the installations it describes."""
    if win.get("winget") or win.get("winget_export"):
        items, problems = installations_from_windows(win, origin)
        return Inventory.of(items, table), problems
    problems: list[Problem] = []
    memo = table.cache.setdefault("windows-programs", {})  # type: ignore[arg-type]
    ids, times = array("I"), array("q")
    try:
        for group in program_groups(_records(win, "uninstall", origin, problems)):
            key = tuple(map(group[0].get, _ROW_KEYS)) if len(group) == 1 else None
            rid = memo.get(key) if key is not None else None
            if rid is None:
                inst = program_installation(program(group))
                rid = table.intern_installation(inst)
                if key is not None and all(v is None or type(v) is str for v in key):
                    memo[key] = rid
                when = inst.install_time
            else:
                when = install_date(group[0].get("InstallDate"))
            ids.append(rid)
            times.append(NO_TIME if when is None else when)
        others = _other_installations(win, origin, problems)
        packages, unparsed = chocolatey_installations(_records(win, "chocolatey", origin, problems), origin)
        for inst in others + packages:
            ids.append(table.intern_installation(inst))
            times.append(NO_TIME if inst.install_time is None else inst.install_time)
        problems += unparsed
    except (TypeError, OverflowError):  # an unhashable raw value: the plain path decides
        items, problems = installations_from_windows(win, origin)
        return Inventory.of(items, table), problems
    return Inventory(table, ids, times), problems


def _other_installations(win: Mapping[str, Any], origin: str, problems: list[Problem]) -> list[Installation]:
    """What a Windows host has besides Programs and Features: SQL Server instances, Office, the OS, AppX, SWID."""
    items: list[Installation] = []
    for sql in _records(win, "sql_instances", origin, problems):
        edition, release = value_text(sql.get("Edition")), value_text(sql.get("Version"))
        version = value_text(sql.get("PatchLevel")) or release
        arch = "x64" if "64-bit" in (edition or "") else None
        items.append(Installation("windows", sql_server_name(edition, release or version), version, arch, MICROSOFT,
                                  None, f"windows:sql:{sql.get('view')}:{sql.get('instance_id')}"))
    for reg in _records(win, "office", origin, problems):
        inst = office_installation(reg)
        if inst:
            items.append(inst)
    os_raw = win.get("os") if isinstance(win.get("os"), Mapping) else {}
    os_name = value_text(os_raw.get("Caption")) or value_text(os_raw.get("ProductName"))
    if os_name:
        version = value_text(os_raw.get("Version")) or value_text(os_raw.get("CurrentBuild"))
        if version and value_text(os_raw.get("UBR")):
            version += f".{os_raw['UBR']}"
        items.append(Installation("windows", os_name, version, None, MICROSOFT, None,
                                  f"windows:os:{value_text(os_raw.get('EditionID')) or os_name}"))
    items += appx_installations(_records(win, "appx", origin, problems))
    seen: set[str] = set()
    for n, tag in enumerate(_records(win, "swid_tags", origin, problems)):
        where = f"{origin}: windows.swid_tags[{n}] {tag.get('path')}"
        if not value_text(tag.get("text")):
            problems.append(Problem(where, f"not read: {tag.get('skipped') or 'no text'}", "warning"))
            continue
        try:
            inst = swid_installation(tag["text"], str(tag.get("path")))
        except ValueError as exc:
            problems.append(Problem(where, str(exc), "warning"))
            continue
        if inst and inst.package_id not in seen:
            seen.add(inst.package_id)
            items.append(inst)
    return items


# --- hardware and host ---------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def derive_hardware_windows(raw: Mapping[str, Any]) -> Hardware:
    """Sockets = Win32_Processor records, cores/threads = their sums; VM-ness from DMI strings.

    HypervisorPresent alone does not make a VM when the maker and model are
    known: a Hyper-V host's parent partition and a PC with virtualization-based
    security run under the hypervisor too. It decides only when no string says.
    """
    procs = [p for p in raw.get("processors") or () if isinstance(p, Mapping)]
    system = raw.get("computer_system") or {}
    product = raw.get("product") or {}
    cores = [_int(p.get("NumberOfCores")) for p in procs]
    threads = [_int(p.get("NumberOfLogicalProcessors")) for p in procs]
    strings = " ".join(str(v) for v in (system.get("Manufacturer"), system.get("Model"), product.get("Vendor"),
                                        product.get("Name")) if v).lower()
    virt, hypervisor = Virtualization.UNKNOWN, None
    for marker, name in hardware.VM_DMI_MARKERS + EXTRA_VM_MARKERS:
        if marker in strings:
            virt, hypervisor = Virtualization.VM, name
            break
    else:
        if strings.strip():
            virt = Virtualization.PHYSICAL
        elif system.get("HypervisorPresent") is True:
            virt = Virtualization.VM
    memory = _int(system.get("TotalPhysicalMemory"))
    return Hardware(
        sockets=len(procs) or _int(system.get("NumberOfProcessors")),
        cores=sum(cores) if procs and None not in cores else None,
        threads=sum(threads) if procs and None not in threads else _int(system.get("NumberOfLogicalProcessors")),
        cpu_vendor=value_text(procs[0].get("Manufacturer")) if procs else None,
        cpu_model=value_text(procs[0].get("Name")) if procs else None,
        virtualization=virt,
        hypervisor=hypervisor,
        memory_mb=memory // (1024 * 1024) if memory else None,
        cloud=hardware.detect_cloud(system.get("Manufacturer"), system.get("Model"),
                                    (raw.get("enclosure") or {}).get("SMBIOSAssetTag")),
    )


def derive_host_windows(win: Mapping[str, Any], inventory_name: str) -> Host:
    """The model ``Host``: identity from the SMBIOS UUID, then the serial number, then the inventory name."""
    raw = win.get("hardware") or {}
    os_raw = win.get("os") or {}
    product = raw.get("product") or {}
    host_id, source = hardware.identity((("dmi-uuid", product.get("UUID")),
                                         ("serial", product.get("IdentifyingNumber"))), inventory_name)
    hostname = value_text(os_raw.get("hostname")) or value_text((raw.get("computer_system") or {}).get("DNSHostName"))
    domain = value_text(os_raw.get("domain"))
    version = value_text(os_raw.get("Version")) or value_text(os_raw.get("CurrentBuild"))
    return Host(host_id=host_id, inventory_name=inventory_name, identity_source=source, hostname=hostname,
                fqdn=f"{hostname}.{domain}" if hostname and domain else hostname, os_family="Windows",
                os_name=value_text(os_raw.get("Caption")) or value_text(os_raw.get("ProductName")) or "Windows",
                os_version=version, kernel=None, hardware=derive_hardware_windows(raw),
                bios_uuid=uuids.canonical(product.get("UUID")))
