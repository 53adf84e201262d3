"""macOS: read the raw command outputs of ``fleetsam.sam.macos_software_facts``, on the controller.

Stock macOS 12.3+ has no usable Python, so the collector runs plain ``sh`` commands and returns
their text in the result key ``macos``: a ``{command, rc, stdout, stderr, truncated, timed_out}``
entry per section (see the module's RETURN). Streams of many files mark each with a header line:
``#fleetsam-file PATH`` (content follows), ``#fleetsam-dir PATH`` or ``#fleetsam-cmd NAME``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import plistlib
import re
from typing import Any, Mapping

from sam_engine.platforms import hardware, swid
from sam_engine.model import Hardware, Host, Problem, Virtualization
from sam_engine.topology import uuids

APPLE = "Apple Inc."
_MARK_RE = re.compile(r"^#fleetsam-(file|dir|cmd) (.*)$")
_SIGNER = r"(?:Developer ID Application|Apple Distribution|Apple Development|3rd Party Mac Developer Application): "
_SIGNER_TEAM_RE = re.compile(_SIGNER + r"(.+?) \([A-Z0-9]{10}\)")
_SIGNER_OLD_RE = re.compile(_SIGNER + r"([^,]+)")  # old certificates carry no team id
# system_profiler "Kind" (text), arch_kind (XML) and runtime_environment (old XML) -> architecture.
_ARCH = {"arch_arm_i64": "universal", "universal": "universal", "arch_i64": "x86_64", "arch_i32": "i386",
         "32-bit (unsupported)": "i386", "arch_arm": "arm64", "apple silicon": "arm64", "arch_ios": "ios",
         "arch_x86": "x86", "intel": "x86", "powerpc": "ppc", "arch_other": None, "other": None}
_TEXT_KEYS = {"version": "version", "location": "path", "obtained from": "obtained_from",
              "last modified": "lastModified", "kind": "kind", "signed by": "signed_by", "get info string": "info"}
_VM_MARKERS = (("virtualmac", "Apple Virtualization"),) + hardware.VM_DMI_MARKERS  # in model / manufacturer
_UNREADABLE = (ValueError, binascii.Error, plistlib.InvalidFileException)


def split_stream(text: str | None) -> list[tuple[str, str, str]]:
    """``(kind, label, body)`` for each ``#fleetsam-<kind> LABEL`` header of a collector stream."""
    parts: list[tuple[str, str, list[str]]] = []
    for line in (text or "").splitlines(keepends=True):
        match = _MARK_RE.match(line.rstrip("\r\n"))
        if match:
            parts.append((match[1], match[2], []))
        elif parts:
            parts[-1][2].append(line)
    return [(kind, label, "".join(body)) for kind, label, body in parts]


def vendor_from_id(identifier: str | None) -> str | None:
    """A vendor from a reverse-DNS bundle or package id: ``com.apple.*`` is Apple, else the domain."""
    labels = (identifier or "").lower().split(".")
    if len(labels) < 3 or not labels[0].isalpha() or not labels[1]:
        return None
    return APPLE if labels[:2] == ["com", "apple"] else f"{labels[1]}.{labels[0]}"


def _record(source: str, name: str, version: Any, package_id: str, *, arch=None, vendor=None,
            install_time=None, location=None, **extra: Any) -> dict[str, Any]:  # software_facts' record shape
    return {"source": source, "name": " ".join(str(name).split()), "arch": arch, "vendor": vendor,
            "version": None if version in (None, "") else str(version), "install_time": install_time,
            "package_id": package_id, "location": location, "extra": {k: v for k, v in extra.items() if v is not None}}


def _epoch(value: Any) -> int | None:
    if isinstance(value, datetime.datetime):  # plistlib gives naive UTC datetimes
        return int((value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)).timestamp())
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _plist(body: str) -> Any:
    """A plist from a stream body (``plutil -convert xml1`` output, or any plist as base64)."""
    data = body.encode("utf-8")
    return plistlib.loads(data if body.lstrip().startswith("<") else base64.b64decode(b"".join(data.split())))


def parse_sp_xml(text: str) -> list[dict[str, Any]]:
    """The ``_items`` of ``system_profiler -xml SPApplicationsDataType`` (plist XML)."""
    doc = plistlib.loads(text.encode("utf-8"))
    items: list[dict[str, Any]] = []
    for section in doc if isinstance(doc, list) else [doc]:
        if isinstance(section, dict) and section.get("_dataType", "SPApplicationsDataType") == "SPApplicationsDataType":
            items += [i for i in section.get("_items") or () if isinstance(i, dict) and i.get("_name")]
    return items


def parse_sp_text(text: str) -> list[dict[str, Any]]:
    """Items of the text ``system_profiler SPApplicationsDataType`` keyed like the XML: an app is a 4-space
    ``Name:`` line (maybe localised), then 6-space ``Key: value`` lines; other lines continue the last
    field. Dates stay text: their format follows the locale (``04/09/11`` is ambiguous)."""
    apps: list[dict[str, Any]] = []
    field = None
    for line in text.splitlines():
        body, indent = line.strip(), len(line) - len(line.lstrip(" "))
        if not body:
            continue
        if indent == 4 and body.endswith(":"):
            apps.append({"_name": body[:-1].strip()})
            field = None
        elif indent == 6 and apps and ":" in body:
            key, _, value = body.partition(":")
            field = _TEXT_KEYS.get(key.strip().lower(), key.strip())
            apps[-1][field] = value.strip()
        elif apps and field:
            apps[-1][field] += "\n" + body
    for app in apps:
        if "obtained_from" in app:
            source = app["obtained_from"].lower()
            app["obtained_from"] = "mac_app_store" if source == "app store" else source.replace(" ", "_")
    return apps


def _app_vendor(signed_by: Any, obtained_from: str | None) -> str | None:
    """The signing developer's name; Apple for Apple-signed or Apple-obtained apps."""
    signers = ", ".join(signed_by) if isinstance(signed_by, list) else str(signed_by or "")
    match = _SIGNER_TEAM_RE.search(signers) or _SIGNER_OLD_RE.search(signers)
    if match:
        return match[1].strip()
    return APPLE if signers.startswith("Software Signing") or obtained_from == "apple" else None


def app_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """A ``macos-app`` record from one system_profiler item (package id: the bundle path)."""
    kind = item.get("arch_kind") or item.get("runtime_environment") or item.get("kind")
    path, modified = item.get("path"), item.get("lastModified")
    return _record("macos-app", item["_name"], item.get("version"), path or f"name:{item['_name']}",
                   arch=_ARCH.get(str(kind).lower(), str(kind).lower()) if kind else None,
                   vendor=_app_vendor(item.get("signed_by"), item.get("obtained_from")),
                   install_time=_epoch(modified), location=path, method="system_profiler",
                   obtained_from=item.get("obtained_from"), kind=kind, info=item.get("info"),
                   last_modified=modified.isoformat() if isinstance(modified, datetime.datetime) else modified)


def _text(value: Any) -> str | None:  # a usable Info.plist string (not an unexpanded build variable)
    return value.strip() if isinstance(value, str) and value.strip() and "$(" not in value else None


def info_plist_record(plist: Mapping[str, Any], app_path: str) -> dict[str, Any]:
    """A ``macos-app`` record from a bundle's ``Contents/Info.plist`` (package id: the bundle id)."""
    folder = app_path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".app")
    bundle_id = _text(plist.get("CFBundleIdentifier"))
    name = _text(plist.get("CFBundleDisplayName")) or _text(plist.get("CFBundleName")) or folder
    version = _text(plist.get("CFBundleShortVersionString")) or _text(plist.get("CFBundleVersion"))
    return _record("macos-app", name or _text(plist.get("CFBundleExecutable")) or app_path, version,
                   bundle_id or app_path, vendor=vendor_from_id(bundle_id), location=app_path, method="info_plist",
                   bundle_id=bundle_id, bundle_version=_text(plist.get("CFBundleVersion")))


def parse_info_plists(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Records from the Info.plist fallback stream (``#fleetsam-file APP_PATH`` + plist)."""
    records, errors = [], []
    for _, app_path, body in split_stream(text):
        try:
            plist = _plist(body)
        except _UNREADABLE as exc:
            errors.append(f"{app_path}/Contents/Info.plist: unreadable: {exc}")
            continue
        records += [info_plist_record(plist, app_path)] if isinstance(plist, dict) else []
    return records, errors


def parse_pkg_receipts(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """``pkgutil --pkg-info-plist`` outputs, or ``/var/db/receipts/*.plist`` files, as ``pkgutil`` records."""
    records, errors = [], []
    for _, label, body in split_stream(text):
        try:
            info = _plist(body) if body.strip() else None
        except _UNREADABLE as exc:
            errors.append(f"receipt {label}: unreadable: {exc}")
            continue
        if not isinstance(info, dict):
            continue  # pkgutil printed nothing for this id: it was forgotten meanwhile
        pkgid = info.get("pkgid") or info.get("PackageIdentifier") or label
        where = info.get("install-location", info.get("InstallPrefixPath"))
        parts = (str(info.get("volume") or ""), str(where))
        location = "/" + "/".join(p.strip("/") for p in parts if p.strip("/")) if where is not None else None
        records.append(_record("pkgutil", pkgid, info.get("pkg-version") or info.get("PackageVersion"), pkgid,
                               vendor=vendor_from_id(pkgid), location=location,
                               install_time=_epoch(info.get("install-time")) or _epoch(info.get("InstallDate"))))
    return records, errors


def _receipt_facts(receipt: Mapping[str, Any]) -> dict[str, Any]:
    source = receipt.get("source") if isinstance(receipt.get("source"), dict) else {}
    return {"arch": receipt.get("arch") or None, "install_time": _epoch(receipt.get("time")), "tap": source.get("tap"),
            "installed_on_request": receipt.get("installed_on_request"),
            "installed_as_dependency": receipt.get("installed_as_dependency")}


def parse_homebrew(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Cellar keg receipts (``PREFIX/Cellar/NAME/VERSION/INSTALL_RECEIPT.json``), one record per keg, and
    Caskroom ``TOKEN/VERSION`` directories, with ``TOKEN/.metadata/INSTALL_RECEIPT.json`` (Homebrew 4.3+)."""
    records, errors, casks, cask_receipts = [], [], [], {}
    for kind, path, body in split_stream(text):
        parts = path.rstrip("/").split("/")
        if kind == "dir" and len(parts) >= 3 and parts[-3] == "Caskroom":
            casks.append(parts)
            continue
        try:
            receipt = json.loads(body)
        except ValueError as exc:
            errors.append(f"{path}: unreadable: {exc}")
            continue
        receipt = receipt if isinstance(receipt, dict) else {}
        if len(parts) >= 4 and parts[-4] == "Cellar":
            records.append(_record("brew", parts[-3], parts[-2], f"{parts[-3]}/{parts[-2]}",
                                   location="/".join(parts[:-1]), **_receipt_facts(receipt)))
        elif len(parts) >= 3 and parts[-2] == ".metadata":
            cask_receipts["/".join(parts[:-2])] = receipt
    for parts in casks:
        token, version, receipt = parts[-2], parts[-1], cask_receipts.get("/".join(parts[:-1])) or {}
        source = receipt.get("source") if isinstance(receipt.get("source"), dict) else {}
        facts = _receipt_facts(receipt) if source.get("version") in (None, version) else {}
        records.append(_record("brew-cask", token, version, f"{token}/{version}", location="/".join(parts), **facts))
    return records, errors


def parse_brew_info_json(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """``brew info --json=v2 --installed`` (or v1's list of formulae): a record per installed keg and cask."""
    doc = json.loads(text) if text.strip() else {}
    doc = doc if isinstance(doc, dict) else {"formulae": doc}
    records = [_record("brew", f["name"], keg.get("version"), f"{f['name']}/{keg.get('version')}",
                       install_time=_epoch(keg.get("time")), tap=f.get("tap"), license=f.get("license"),
                       installed_on_request=keg.get("installed_on_request"),
                       installed_as_dependency=keg.get("installed_as_dependency"))
               for f in doc.get("formulae") or () for keg in f.get("installed") or ()]
    return records + [_record("brew-cask", c["token"], c["installed"], f"{c['token']}/{c['installed']}",
                              install_time=_epoch(c.get("installed_time")), tap=c.get("tap"),
                              display_name=(c.get("name") or [None])[0])
                      for c in doc.get("casks") or () if c.get("installed")], []


def parse_swid_stream(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """SWID tags sent as ``#fleetsam-file PATH`` + base64 (tags may be UTF-16), read by ``swid``."""
    records, errors = [], []
    for _, path, body in split_stream(text):
        try:
            content = swid.decode_tag_bytes(base64.b64decode("".join(body.split())))
        except (ValueError, binascii.Error) as exc:
            errors.append(f"{path}: unreadable: {exc}")
            continue
        found, failed = swid.parse_text(content, path)
        records += found
        errors += [f"{path}: {reason}" for reason in failed]
    return records, errors


def section_ok(section: Any) -> bool:
    """The section ran to completion: rc 0 (or none given), not killed at the timeout, not cut at the size bound."""
    ok = isinstance(section, Mapping) and section.get("rc", 0) == 0
    return ok and not (section.get("timed_out") or section.get("truncated"))


def _apps(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    xml = text.lstrip().startswith(("<?xml", "<plist", "<!DOCTYPE"))
    return [app_record(i) for i in (parse_sp_xml(text) if xml else parse_sp_text(text))], []


def software_records(macos: Mapping[str, Any], origin: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every installation record of one ``macos`` result, and the problems met reading it. Apps come from
    system_profiler when it completed, else from the Info.plist fallback; when both ran, system_profiler's
    records take the bundle id of the Info.plist at the same path as package id."""
    apps: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    problems: list[Problem] = []
    readers = {"system_profiler": _apps, "info_plist": parse_info_plists, "pkgutil": parse_pkg_receipts,
               "homebrew": parse_homebrew, "brew_info": parse_brew_info_json, "swid": parse_swid_stream}
    for name, reader in readers.items():
        section = macos.get(name)
        if not isinstance(section, Mapping):
            continue
        where = f"{origin}: macos/{name}"
        if not section_ok(section):
            state = ("timed out" if section.get("timed_out") else
                     "output truncated" if section.get("truncated") else f"rc={section.get('rc')}")
            detail = str(section.get("stderr") or "").strip()[:200]
            problems.append(Problem(where, f"{state} {detail}".strip(), "warning"))
            if name == "system_profiler":
                continue  # partial XML is unreadable: the Info.plist fallback stands in
        if not section.get("stdout"):
            continue
        try:
            found, errors = reader(section["stdout"])
        except (*_UNREADABLE, KeyError, TypeError, AttributeError) as exc:
            problems.append(Problem(where, f"unreadable output: {exc}", "warning"))
            continue
        problems += [Problem(where, error, "warning") for error in errors]
        if name == "system_profiler":
            apps = found
        elif name != "info_plist":
            records += found
        elif not apps:
            apps = found
        else:
            bundles = {r["location"]: r for r in found if r["extra"].get("bundle_id")}
            for app in apps:
                if app["location"] in bundles:
                    bundle = bundles[app["location"]]
                    app["package_id"] = app["extra"]["bundle_id"] = bundle["extra"]["bundle_id"]
                    app["vendor"] = app["vendor"] or bundle["vendor"]
    return apps + records, problems


def parse_pairs(text: str | None, sep: str = "=") -> dict[str, str]:
    """``key=value`` (sysctl) or ``Key: value`` lines (sw_vers); empty values (a missing sysctl) are dropped."""
    pairs = [line.partition(sep) for line in (text or "").splitlines()]
    return {key.strip(): value.strip() for key, found, value in reversed(pairs) if found and value.strip()}


def parse_ioreg(text: str | None) -> dict[str, str]:
    """``"key" = value`` properties of ``ioreg -rd1 -c IOPlatformExpertDevice``; ``<"x">`` becomes ``x``."""
    props: dict[str, str] = {}
    for match in re.finditer(r'^\s*"([^"]+)" = (.*?)\s*$', text or "", re.M):
        value = match[2][1:-1] if match[2].startswith("<") and match[2].endswith(">") else match[2]
        props.setdefault(match[1], value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value)
    return props


def parse_sp_software(text: str | None) -> dict[str, str | None]:
    """OS name, version, build and kernel from ``system_profiler SPSoftwareDataType`` text."""
    fields = parse_pairs(text, ":")
    match = re.match(r"(.*?)\s+(\d+(?:\.\d+)+)\s*(?:\((\w+)\))?$", fields.get("System Version", ""))
    kernel = fields.get("Kernel Version", "").split()
    return {"os_name": match and match[1], "os_version": match and match[2], "build": match and match[3],
            "kernel": kernel[-1] if kernel else None, "computer_name": fields.get("Computer Name")}


def host_facts(macos: Mapping[str, Any]) -> dict[str, Any]:
    """The ``host`` section split into its commands and parsed (plus an optional ``sp_software`` section)."""
    host = macos.get("host") if isinstance(macos.get("host"), Mapping) else {}
    out = {label: body for kind, label, body in split_stream(host.get("stdout")) if kind == "cmd"}
    software = macos.get("sp_software") if isinstance(macos.get("sp_software"), Mapping) else {}
    return {"sysctl": parse_pairs(out.get("sysctl")), "ioreg": parse_ioreg(out.get("ioreg")),
            "sw_vers": parse_pairs(out.get("sw_vers"), ":"), "hostname": (out.get("hostname") or "").strip(),
            "uname": (out.get("uname") or "").split(), "sp_software": parse_sp_software(software.get("stdout"))}


def derive_hardware_macos(macos: Mapping[str, Any]) -> Hardware:
    """Sockets = ``hw.packages`` (1 when absent), cores = ``hw.physicalcpu``, threads = ``hw.logicalcpu``;
    a VM when ``kern.hv_vmm_present=1`` or a model names a hypervisor (``VMware7,1``, ``VirtualMac2,1``)."""
    facts = host_facts(macos)
    sysctl, ioreg = facts["sysctl"], facts["ioreg"]
    cores, threads, sockets, memsize = (int(sysctl[k]) if sysctl.get(k, "").isdigit() else None
                                        for k in ("hw.physicalcpu", "hw.logicalcpu", "hw.packages", "hw.memsize"))
    brand = sysctl.get("machdep.cpu.brand_string")
    models = " ".join([sysctl.get("hw.model", "")] + [ioreg.get(k, "") for k in ("model", "manufacturer")])
    hypervisor = next((name for marker, name in _VM_MARKERS if marker in models.lower()), None)
    vmm = sysctl.get("kern.hv_vmm_present")
    virt = (Virtualization.VM if hypervisor or vmm == "1" else
            Virtualization.PHYSICAL if vmm == "0" or models.strip() else Virtualization.UNKNOWN)
    return Hardware(sockets=sockets if sockets is not None or not (cores or threads) else 1, cores=cores,
                    threads=threads, cpu_vendor=sysctl.get("machdep.cpu.vendor") or
                    ("Apple" if brand and brand.startswith("Apple") else None), cpu_model=brand,
                    virtualization=virt, hypervisor=hypervisor, memory_mb=memsize // 1048576 if memsize else None)


def host_identity_macos(macos: Mapping[str, Any], inventory_name: str) -> tuple[str, str]:
    """``(host_id, source)``: IOPlatformUUID, then the serial number, then the inventory name."""
    ioreg = host_facts(macos)["ioreg"]
    return hardware.identity((("platform-uuid", ioreg.get("IOPlatformUUID")),
                              ("serial", ioreg.get("IOPlatformSerialNumber"))), inventory_name)


def derive_host_macos(macos: Mapping[str, Any], inventory_name: str) -> Host:
    """A model ``Host`` from a ``macos`` result (sw_vers first, SPSoftwareDataType text as a fallback)."""
    facts = host_facts(macos)
    host_id, source = host_identity_macos(macos, inventory_name)
    sw, sp, uname = facts["sw_vers"], facts["sp_software"], facts["uname"]
    hostname = facts["hostname"] or sp["computer_name"]
    return Host(host_id=host_id, inventory_name=inventory_name, identity_source=source,
                hostname=hostname or None, fqdn=hostname if hostname and "." in hostname else None,
                os_family="Darwin", os_name=sw.get("ProductName") or sp["os_name"] or "macOS",
                os_version=sw.get("ProductVersion") or sp["os_version"],
                kernel=(uname[1] if len(uname) > 1 else None) or sp["kernel"], hardware=derive_hardware_macos(macos),
                bios_uuid=uuids.canonical(facts["ioreg"].get("IOPlatformUUID")))
