"""Package managers' own records on Windows: Chocolatey packages and winget's installed list.

Chocolatey packages are installations of their own (``chocolatey``), read from each package's nuspec
with its licence facts as the origin. winget adds no installation: its installed list *is* Programs and
Features and the AppX packages, seen through winget's index; each of its records is tied to the
installation it describes and gives it an origin saying where the package came from
(``winget source=<source> id=<package id> licence=…``), so nothing is counted twice.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Iterable, Mapping, NamedTuple

from sam_engine.model import Installation, Problem
from sam_engine.platforms.records import origin_line
from sam_engine.platforms.swid import local_name, untrusted_xml
from sam_engine.platforms.windows_programs import value_text

# --- Chocolatey packages ---------------------------------------------------------------------
# Chocolatey keeps each installed package's metadata in lib\<id>\<id>.nuspec (the ``choco pack`` copy of
# the package's nuspec); the collector returns each file's text untouched (``windows.chocolatey``). A package
# is an installation of source ``chocolatey`` named by its title (its id without one), published by its
# ``authors`` (the software's; ``owners`` maintain the package), with an origin line carrying what decides
# its licence: licenseUrl, an SPDX ``<license type="expression">``, packageSourceUrl and owners. The
# catalogue classifies by that line (distributions.yml: chocolatey-open-source). Example, the community
# 7-Zip package: id 7zip.install, title "7-Zip (Install)", authors Igor Pavlov, licenseUrl
# http://www.7-zip.org/license.txt -> Installation("chocolatey", "7-Zip (Install)", "26.2", None,
# "Igor Pavlov", None, "chocolatey:7zip.install", <path>, "chocolatey license=http://www.7-zip.org/license.txt
# spdx= source=https://github.com/chocolatey-community/... owners=chocolatey-community,Rob Reynolds").

NUSPEC_FIELDS = ("id", "version", "title", "authors", "owners", "licenseUrl", "projectUrl", "packageSourceUrl")


class NuspecError(ValueError):
    """A nuspec text that is not a package's metadata; the message says why."""


def parse_nuspec(text: str) -> dict[str, str | None]:
    """The metadata fields of one nuspec (``NUSPEC_FIELDS`` and ``license``: an SPDX expression or None).

    Any schema namespace, or none, is read alike. Raises ``NuspecError`` for text that is not
    well-formed, declares a DTD or entities, or names no id and version.
    """
    root = untrusted_xml(text, "a nuspec", NuspecError)
    metadata = next((child for child in root if local_name(child.tag) == "metadata"), None)
    if local_name(root.tag) != "package" or metadata is None:
        raise NuspecError(f"root element is {local_name(root.tag)}, not a package with metadata")
    values: dict[str, str | None] = dict.fromkeys((*NUSPEC_FIELDS, "license"))
    for child in metadata:
        name = local_name(child.tag)
        content = " ".join((child.text or "").split()) or None
        if name in NUSPEC_FIELDS:
            values[name] = content
        elif name == "license" and child.get("type") == "expression":  # type="file": a file in the package
            values["license"] = content
    if not values["id"] or not values["version"]:
        raise NuspecError("no <id> and <version> in <metadata>")
    return values


def chocolatey_installation(values: Mapping[str, str | None], path: str | None) -> Installation:
    """The installation of one parsed nuspec, its licence facts in the origin line."""
    origin = origin_line({"type": "chocolatey", "license": values.get("licenseUrl"), "spdx": values.get("license"),
                          "source": values.get("packageSourceUrl"), "owners": values.get("owners")})
    return Installation("chocolatey", values.get("title") or str(values["id"]), values["version"], None,
                        values.get("authors"), None, f"chocolatey:{values['id']}", path, origin)


def chocolatey_installations(files: Iterable[Mapping[str, Any]], where: str) -> tuple[list[Installation], list[Problem]]:
    """Installations of the collector's nuspec files; a file skipped or unreadable is a warning naming it."""
    items, problems, seen = [], [], set()
    for n, nuspec in enumerate(files):
        path = value_text(nuspec.get("path"))
        at = f"{where}: windows.chocolatey[{n}] {path}"
        text = nuspec.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append(Problem(at, f"not read: {value_text(nuspec.get('skipped')) or 'no text'}", "warning"))
            continue
        try:
            inst = chocolatey_installation(parse_nuspec(text), path)
        except NuspecError as exc:
            problems.append(Problem(at, str(exc), "warning"))
            continue
        if inst.package_id.casefold() not in seen:  # Chocolatey ids are case-insensitive
            seen.add(inst.package_id.casefold())
            items.append(inst)
    return items, problems


# --- winget ----------------------------------------------------------------------------------
# The collector returns what winget knows, untouched: ``windows.winget``, the objects of Get-WinGetPackage
# (Microsoft.WinGet.Client: Name, Id, InstalledVersion, Source), or, with only winget.exe present,
# ``windows.winget_export``, the text of ``winget export --include-versions`` (ids and versions per source,
# no names). winget lists what Programs and Features and the AppX packages hold, by their DisplayName, so a
# record is tied to the installation of that name; an export record, which has none, to the installation
# named like its whole id ("Microsoft Edge") or holding its product part (``OpenJS.NodeJS.LTS`` -> "nodejslts",
# else "nodejs": "Node.js"). The version only chooses between look-alikes: winget's version of a package is
# not always its DisplayVersion (IntelliJ IDEA 2021.1.3 is 211.7628.21 in the registry). A record whose
# source is the Microsoft Store (``msstore``) is a Store app: its licence is the Store's, which the origin says.

STORE_SOURCE = "msstore"
STORE_LICENCE = "from the Microsoft Store (the account that acquired it)"
_KEY_CHARS = re.compile(r"[\W_]+")
MIN_KEY = 3  # shorter product keys ("go", "qt") would tie an id to unrelated names


class WingetPackage(NamedTuple):
    """One package winget reports installed; ``name`` is None in an export."""
    package_id: str
    version: str | None
    source: str | None
    name: str | None


class WingetExportError(ValueError):
    """An export text that is not winget's export document; the message says why."""


def parse_winget_export(text: str) -> list[WingetPackage]:
    """The packages of one ``winget export`` JSON text, each with its source's name.

    Raises ``WingetExportError`` for text that is not JSON or has no ``Sources`` list of packages.
    """
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except ValueError as exc:
        raise WingetExportError(f"not JSON: {exc}") from None
    sources = doc.get("Sources") if isinstance(doc, dict) else None
    if not isinstance(sources, list):
        raise WingetExportError("no Sources list: not a winget export")
    out = []
    for group in sources:
        details = group.get("SourceDetails") if isinstance(group, dict) else None
        source = value_text(details.get("Name")) if isinstance(details, dict) else None
        for pkg in (group.get("Packages") if isinstance(group, dict) else None) or ():
            pid = value_text(pkg.get("PackageIdentifier")) if isinstance(pkg, dict) else None
            if pid:
                out.append(WingetPackage(pid, value_text(pkg.get("Version")), source, None))
    return out


def winget_packages(records: Iterable[Mapping[str, Any]], export: Any, where: str) -> tuple[list[WingetPackage], list[Problem]]:
    """The packages of a host's Get-WinGetPackage records and its export text (either may be absent). A record
    of no source (winget's own ``ARP\\Machine\\X64\\…`` ids for what it did not install) says nothing of where
    a package came from and is left out."""
    out = [WingetPackage(str(value_text(r.get("Id"))), value_text(r.get("InstalledVersion")) or value_text(r.get("Version")),
                         value_text(r.get("Source")), value_text(r.get("Name")))
           for r in records if value_text(r.get("Id")) and value_text(r.get("Source"))]  # no source: ARP\…, MSIX\… ids
    if not isinstance(export, Mapping):
        return out, []
    if not isinstance(export.get("text"), str):
        return out, [Problem(f"{where}: windows.winget_export", f"not read: {value_text(export.get('skipped')) or 'no text'}",
                             "warning")]
    try:
        return out + parse_winget_export(export["text"]), []
    except WingetExportError as exc:
        return out, [Problem(f"{where}: windows.winget_export", str(exc), "warning")]


def _key(text: str) -> str:
    return _KEY_CHARS.sub("", text).casefold()


def _described(inst: Installation) -> bool:
    """An installation winget can list: a Programs-and-Features program or an AppX package."""
    return inst.source == "appx" or inst.package_id.startswith("windows:HK")


def _same_version(pkg: WingetPackage, inst: Installation) -> bool:
    if not pkg.version or pkg.version.startswith(("<", ">")) or not inst.version:  # "> 3.0.17.4": a bound, not a version
        return True
    return pkg.version.strip() == inst.version.strip()


def _id_keys(package_id: str) -> list[str]:
    """The whole id ("microsoftedge"), then its product part, longest first ("nodejslts", "nodejs")."""
    parts = package_id.split(".")[1:]  # the first part is the publisher
    keys = [_key(package_id)] + [_key("".join(parts[:size])) for size in range(len(parts), 0, -1)]
    return [key for key in dict.fromkeys(keys) if len(key) >= MIN_KEY]


def _candidates(pkg: WingetPackage, items: list[Installation], free: set[int]) -> list[int]:
    """Indexes of the installations one record may describe: a name equal to the record's name or to a key
    of its id, else a name holding one; several alike are narrowed by the version."""
    names = {n: _key(items[n].name) for n in free}
    keys = list(dict.fromkeys(([_key(pkg.name)] if pkg.name else []) + _id_keys(pkg.package_id)))
    found: list[int] = []
    for test in (str.__eq__, str.__contains__):
        for key in keys:
            found = [n for n, name in names.items() if key and test(name, key)]
            if found:
                break
        if found:
            break
    same = [n for n in found if _same_version(pkg, items[n])]
    return same if len(found) > 1 else found


def winget_origin(pkg: WingetPackage) -> str | None:
    """The origin line of an installation winget describes."""
    source = "_".join((pkg.source or "unknown").split())  # one word: the fields after it stay apart
    return origin_line({"type": "winget", "source": source, "id": pkg.package_id,
                        "licence": STORE_LICENCE if source == STORE_SOURCE else None})


def with_winget_origins(items: list[Installation], packages: Iterable[WingetPackage],
                        where: str) -> tuple[list[Installation], list[Problem]]:
    """The installations, those winget describes carrying its origin; one warning lists the records that
    describe none (or several alike: tying one at random would mislabel the other)."""
    out = list(items)
    free = {n for n, inst in enumerate(out) if _described(inst)}
    unmatched = []
    for pkg in packages:
        found = _candidates(pkg, out, free)
        if len(found) != 1:
            unmatched.append(pkg.package_id + (" (several installations alike)" if found else ""))
            continue
        n = found[0]
        free.discard(n)
        out[n] = dataclasses.replace(out[n], origin=winget_origin(pkg))
    problems = [Problem(f"{where}: windows.winget", f"{len(unmatched)} winget package(s) tied to no installed program "
                        f"or AppX package (no origin recorded): {', '.join(unmatched)}", "warning")] if unmatched else []
    return out, problems
