"""The engine's Windows view: raw ``win_software_facts`` output to installations and a host.

The module (and the ``.reg`` importer, ``regfile.windows_raw_from_reg``) return raw
Uninstall entries; ``programs_and_features`` keeps what Programs and Features
would list, by these rules (each has a test in tests/unit/test_windows.py):

PF1  no DisplayName (absent or blank): not a program.
PF2  SystemComponent = 1 (DWORD or the string "1"): hidden component.
PF3  ParentKeyName set: an update shown under its parent product.
PF4  ReleaseType in UPDATE_RELEASE_TYPES: an update, hotfix or rollup.
PF5  one product under several keys of one scope (an MSI GUID key and a named
     key), same DisplayName + DisplayVersion + Publisher (trimmed, case-blind):
     counted once.
PF6  the machine scope is both views: a 32-bit (HKLM32) and a 64-bit (HKLM64)
     copy of one product and version count once per host. For this comparison
     a trailing bitness marker ("(64-bit)", "x64", "- x86") is ignored.
PF7  per-user installs (HKU) are kept, one scope per user SID; the SID is part
     of ``package_id``.
PF8  InstallDate ``YYYYMMDD`` is 00:00 UTC of that day in epoch seconds;
     anything else is no date.
Every raw key merged into one program stays in its ``package_id``
(``windows:HKLM64:{GUID}+HKLM32:{GUID}``), the trace of PF5/PF6.
Not applied: a missing UninstallString (classic Add/Remove Programs hid such
entries); for licensing, hiding a product is worse than listing it.

Also built here: SQL Server instances (name with version year and edition, as
``Microsoft SQL Server 2019 (64-bit) Enterprise Edition``), Office
registrations, the Windows edition, AppX packages (frameworks dropped) and SWID
tags (patch and supplemental tags dropped); and the ``Host`` with hardware
counted from Win32_Processor records.
"""

from __future__ import annotations

import calendar
import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sam_engine.platforms import hardware
from sam_engine.model import Hardware, Host, Installation, Problem, Virtualization

UPDATE_RELEASE_TYPES = frozenset({"update", "hotfix", "security update", "update rollup", "service pack"})
# SQL Server major version (10.50 = 2008 R2) -> product year; data a user may extend
SQL_SERVER_YEARS = {"8": "2000", "9": "2005", "10": "2008", "10.50": "2008 R2", "11": "2012", "12": "2014",
                    "13": "2016", "14": "2017", "15": "2019", "16": "2022", "17": "2025"}
# PPPP of an Office MSI product code {BRMMmmmm-PPPP-LLLL-p000-D000000FF1CE} -> suite edition
OFFICE_SKUS = {"0011": "Professional Plus", "0012": "Standard", "0013": "Basic", "0014": "Professional"}
OFFICE_YEARS = {"11": "2003", "12": "2007", "14": "2010", "15": "2013", "16": "2016"}  # MSI editions only
MICROSOFT = "Microsoft Corporation"
EXTRA_VM_MARKERS = (("nutanix", "Nutanix AHV"), ("hvm domu", "Xen"))

_BITS = r"(?:x64|x86|amd64|win64|win32|(?:64|32)[- ]?bits?)"
_BITNESS_GROUP = re.compile(r"\s*[(\[][^()\[\]]*\b" + _BITS + r"\b[^()\[\]]*[)\]]\s*$", re.IGNORECASE)
_BITNESS_WORD = re.compile(r"\s*(?:[-–]\s*)?\b" + _BITS + r"\s*$", re.IGNORECASE)
_OFFICE_CODE = re.compile(r"^\{[0-9A-F](?:[0-9A-F])(\d\d)\d{4}-([0-9A-F]{4})-[0-9A-F]{4}-([01])000-[01]000000FF1CE\}$",
                          re.IGNORECASE)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (bytes, bool)):
        return None
    value = str(value).strip()
    return value or None


def _is_one(value: Any) -> bool:
    return value is not None and not isinstance(value, bool) and str(value).strip() in ("1", "0x1", "0x00000001")


def install_date(value: Any) -> int | None:
    """PF8: epoch seconds of a ``YYYYMMDD`` InstallDate, None for any other text."""
    if type(value) is str:  # fleets share a few thousand dates: each is read once
        return _install_date_text(value)
    return _install_date(value)


def _install_date(value: Any) -> int | None:
    text = _text(value)
    if not text or not re.fullmatch(r"(19[89]\d|2\d\d\d)(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])", text):
        return None
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:])
    if day > calendar.monthrange(year, month)[1]:
        return None
    return calendar.timegm((year, month, day, 0, 0, 0))


def hidden_reason(entry: Mapping[str, Any]) -> str | None:
    """Which of PF1-PF4 hides a raw Uninstall entry, or None when Programs and Features shows it."""
    if not _text(entry.get("DisplayName")):
        return "PF1 no DisplayName"
    if _is_one(entry.get("SystemComponent")):
        return "PF2 SystemComponent=1"
    if _text(entry.get("ParentKeyName")):
        return "PF3 ParentKeyName"
    if (_text(entry.get("ReleaseType")) or "").lower() in UPDATE_RELEASE_TYPES:
        return "PF4 ReleaseType"
    return None


@dataclass(frozen=True, slots=True)
class Program:
    """One line of the Windows view: a product as Programs and Features lists it, with its raw keys."""

    name: str
    version: str | None
    publisher: str | None
    install_time: int | None
    location: str | None
    hive: str  # HKLM64, HKLM32, HKU; "HKLM" when both machine views were merged
    sid: str | None
    entries: tuple[Mapping[str, Any], ...]

    @property
    def package_id(self) -> str:
        def ref(e: Mapping[str, Any]) -> str:
            return f"HKU:{e.get('sid')}:{e.get('key')}" if e.get("hive") == "HKU" else f"{e.get('hive')}:{e.get('key')}"
        return "windows:" + "+".join(ref(e) for e in self.entries)


@functools.lru_cache(maxsize=65536)
def _machine_name(name: str) -> str:
    """PF6: a machine-scope name without its bitness marker (one regex pass per distinct name)."""
    return _BITNESS_WORD.sub("", _BITNESS_GROUP.sub("", name)) or name


@functools.lru_cache(maxsize=65536)
def _install_date_text(text: str) -> int | None:
    return _install_date(text)


def _scope_and_identity(entry: Mapping[str, Any]) -> tuple:
    name = _text(entry.get("DisplayName")) or ""
    machine = entry.get("hive") != "HKU"
    if machine:
        name = _machine_name(name)  # PF6
    scope = "machine" if machine else ("user", entry.get("sid"))
    return (scope, name.casefold(), (_text(entry.get("DisplayVersion")) or "").casefold(),
            (_text(entry.get("Publisher")) or "").casefold())


_FACT_KEYS = ("DisplayName", "SystemComponent", "ParentKeyName", "ReleaseType", "hive", "sid", "DisplayVersion",
              "Publisher")  # every field PF1-PF6 read
_FACTS: dict[tuple, tuple[bool, tuple | None]] = {}  # those fields' values -> (hidden, identity), per process


def _entry_facts(entry: Mapping[str, Any]) -> tuple[bool, tuple | None]:
    """(hidden by PF1-PF4, PF5/PF6 identity) of one raw entry; a fleet repeats its entries, so each
    distinct combination of the fields read is worked out once."""
    try:
        values = tuple(map(entry.get, _FACT_KEYS))
        facts = _FACTS.get(values)
    except TypeError:  # an unhashable value: no memo
        values, facts = None, None
    if facts is None:
        hidden = hidden_reason(entry) is not None
        facts = (hidden, None if hidden else _scope_and_identity(entry))
        if values is not None:
            if len(_FACTS) > 500_000:
                _FACTS.clear()
            _FACTS[values] = facts
    return facts


def programs_and_features(entries: Iterable[Mapping[str, Any]]) -> list[Program]:
    """The programs Programs and Features would list for these raw Uninstall entries (PF1-PF8)."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if type(entry) is dict or isinstance(entry, Mapping):
            hidden, identity = _entry_facts(entry)
            if not hidden:
                groups.setdefault(identity, []).append(entry)
    order = {"HKLM64": 0, "HKLM32": 1}
    programs = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:  # the common case: nothing to merge
            install_time = install_date(first.get("InstallDate")) or None
            location = _text(first.get("InstallLocation")) or None
            hive = first.get("hive")
        else:
            group.sort(key=lambda e: (order.get(e.get("hive"), 2), not str(e.get("key", "")).startswith("{")))
            first = group[0]
            install_time = next((t for t in (install_date(e.get("InstallDate")) for e in group) if t), None)
            location = next((loc for loc in (_text(e.get("InstallLocation")) for e in group) if loc), None)
            hive = first.get("hive") if len({e.get("hive") for e in group}) == 1 else "HKLM"
        programs.append(Program(
            name=_text(first.get("DisplayName")),
            version=_text(first.get("DisplayVersion")),
            publisher=_text(first.get("Publisher")),
            install_time=install_time,
            location=location,
            hive=hive,
            sid=first.get("sid") if first.get("hive") == "HKU" else None,
            entries=tuple(group),
        ))
    return programs


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
    if not _text(reg.get("ProductID")) and not reg.get("DigitalProductID"):
        return None
    key = str(reg.get("key") or "")
    code = _OFFICE_CODE.match(key)
    named_year = re.search(r"\b(20\d\d)$", _text(reg.get("ProductNameNonQualified")) or "")
    name = _text(reg.get("ProductName"))
    if not name and code and code.group(2) in OFFICE_SKUS:
        year = named_year.group(1) if named_year else OFFICE_YEARS.get(code.group(1), "")
        name = f"Microsoft Office {OFFICE_SKUS[code.group(2)]} {year}".strip()
    name = name or _text(reg.get("ConvertToEdition")) or _text(reg.get("ProductNameNonQualified"))
    if not name:
        return None
    arch = ("x64" if code.group(3) == "1" else "x86") if code else None
    return Installation("windows", name, _text(reg.get("version")), arch, MICROSOFT, None,
                        f"windows:office:{reg.get('view')}:{key}")


def appx_installations(packages: Iterable[Mapping[str, Any]]) -> list[Installation]:
    """AppX/MSIX packages, frameworks (runtime dependencies never listed as apps) dropped."""
    out, seen = [], set()
    for pkg in packages:
        full = _text(pkg.get("PackageFullName")) or _text(pkg.get("Name"))
        if not full or full in seen or pkg.get("IsFramework") is True:
            continue
        seen.add(full)
        publisher = _text(pkg.get("Publisher")) or ""
        org = re.search(r"(?:^|,\s*)(?:CN|O)=(\"[^\"]*\"|[^,]*)", publisher)
        out.append(Installation("appx", _text(pkg.get("Name")) or full, _text(pkg.get("Version")),
                                (_text(pkg.get("Architecture")) or "").lower() or None,
                                org.group(1).strip('"') if org else publisher or None, None,
                                f"appx:{full}", _text(pkg.get("InstallLocation"))))
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def swid_installation(text: str, path: str) -> Installation | None:
    """An ISO/IEC 19770-2 tag (2015/2014 SoftwareIdentity or 2009 software_identification_tag).

    Patch and supplemental tags describe no product of their own: None. Raises
    ValueError for text that is not a tag.
    """
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("DTD or entity declarations in a tag")
    try:
        root = ET.fromstring(text.lstrip("\ufeff"))  # already decoded: a declared encoding is ignored
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    if _local(root.tag) == "SoftwareIdentity":
        if str(root.get("patch")).lower() == "true" or str(root.get("supplemental")).lower() == "true":
            return None
        tag_id = root.get("tagId") or root.get("uniqueId")
        roles = {role: e.get("name") for e in root.iter() if _local(e.tag) == "Entity"
                 for role in (e.get("role") or "").lower().split()}
        vendor = _text(roles.get("softwarecreator")) or _text(roles.get("licensor"))
        name, version = root.get("name"), root.get("version")
    elif _local(root.tag) == "software_identification_tag":
        def find(*names: str) -> str | None:
            node = root
            for n in names:
                node = next((c for c in node if _local(c.tag) == n), None)
                if node is None:
                    return None
            return _text(node.text)
        tag_id = find("software_id", "unique_id") or find("unique_id")
        name, version = find("product_title"), find("product_version", "name")
        vendor = find("software_creator", "name")
    else:
        raise ValueError(f"root element {_local(root.tag)} is not a SWID tag")
    if not (tag_id or name):
        raise ValueError("tag without tagId and name")
    return Installation("swid", _text(name) or tag_id, _text(version), None, _text(vendor), None,
                        f"swid:{tag_id or name}", path)


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


def installations_from_windows(win: Mapping[str, Any], origin: str) -> tuple[tuple[Installation, ...], list[Problem]]:
    """Every installation of one host's ``windows`` result, with problems for records that cannot be read."""
    items: list[Installation] = []
    problems: list[Problem] = []
    for prog in programs_and_features(_records(win, "uninstall", origin, problems)):
        arch = "x86" if prog.hive == "HKLM32" else None
        items.append(Installation("windows", prog.name, prog.version, arch, prog.publisher, prog.install_time,
                                  prog.package_id, prog.location))
    for sql in _records(win, "sql_instances", origin, problems):
        edition, version = _text(sql.get("Edition")), _text(sql.get("PatchLevel")) or _text(sql.get("Version"))
        arch = "x64" if "64-bit" in (edition or "") else None
        items.append(Installation("windows", sql_server_name(edition, _text(sql.get("Version")) or version), version,
                                  arch, MICROSOFT, None, f"windows:sql:{sql.get('view')}:{sql.get('instance_id')}"))
    for reg in _records(win, "office", origin, problems):
        inst = office_installation(reg)
        if inst:
            items.append(inst)
    os_raw = win.get("os") if isinstance(win.get("os"), Mapping) else {}
    os_name = _text(os_raw.get("Caption")) or _text(os_raw.get("ProductName"))
    if os_name:
        version = _text(os_raw.get("Version")) or _text(os_raw.get("CurrentBuild"))
        if version and _text(os_raw.get("UBR")):
            version += f".{os_raw['UBR']}"
        items.append(Installation("windows", os_name, version, None, MICROSOFT, None,
                                  f"windows:os:{_text(os_raw.get('EditionID')) or os_name}"))
    items += appx_installations(_records(win, "appx", origin, problems))
    seen: set[str] = set()
    for n, tag in enumerate(_records(win, "swid_tags", origin, problems)):
        where = f"{origin}: windows.swid_tags[{n}] {tag.get('path')}"
        if not _text(tag.get("text")):
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
    return tuple(items), problems


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
        cpu_vendor=_text(procs[0].get("Manufacturer")) if procs else None,
        cpu_model=_text(procs[0].get("Name")) if procs else None,
        virtualization=virt,
        hypervisor=hypervisor,
        memory_mb=memory // (1024 * 1024) if memory else None,
    )


def derive_host_windows(win: Mapping[str, Any], inventory_name: str) -> Host:
    """The model ``Host``: identity from the SMBIOS UUID, then the serial number, then the inventory name."""
    raw = win.get("hardware") or {}
    os_raw = win.get("os") or {}
    product = raw.get("product") or {}
    host_id, source = f"inventory:{inventory_name}", "inventory"
    for kind, value in (("dmi-uuid", product.get("UUID")), ("serial", product.get("IdentifyingNumber"))):
        usable = hardware._usable(value)
        if usable:
            host_id, source = f"{kind}:{usable.lower()}", kind
            break
    hostname = _text(os_raw.get("hostname")) or _text((raw.get("computer_system") or {}).get("DNSHostName"))
    domain = _text(os_raw.get("domain"))
    version = _text(os_raw.get("Version")) or _text(os_raw.get("CurrentBuild"))
    return Host(host_id=host_id, inventory_name=inventory_name, identity_source=source, hostname=hostname,
                fqdn=f"{hostname}.{domain}" if hostname and domain else hostname, os_family="Windows",
                os_name=_text(os_raw.get("Caption")) or _text(os_raw.get("ProductName")) or "Windows",
                os_version=version, kernel=None, hardware=derive_hardware_windows(raw))
