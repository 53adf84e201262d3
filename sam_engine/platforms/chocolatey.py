"""Chocolatey packages: the ``.nuspec`` files the Windows collector sends raw, read into installations.

Chocolatey keeps each installed package's metadata in
``C:\\ProgramData\\chocolatey\\lib\\<id>\\<id>.nuspec`` (the ``choco pack`` copy
of the package's nuspec). ``win_software_facts`` returns each file's text
untouched (``windows.chocolatey``: path, size, text or why it was skipped);
the rules live here, where real nuspec files test them
(tests/fixtures/real/windows/chocolatey).

A package becomes an ``Installation`` of source ``chocolatey`` named by its
``title`` (its ``id`` without one), published by its ``authors`` (the
software's authors; ``owners`` are the package's maintainers), with an
``origin`` line carrying what decides its licence: the ``licenseUrl``, an SPDX
``<license type="expression">``, the ``packageSourceUrl`` and the owners. The
catalogue classifies by that line (``distributions.yml``: ``chocolatey-*``),
as it does Homebrew's taps.

Worked example, the community 7-Zip package: ``<id>7zip.install</id>
<title>7-Zip (Install)</title><version>26.2</version><authors>Igor
Pavlov</authors><licenseUrl>http://www.7-zip.org/license.txt</licenseUrl>`` ->
``Installation("chocolatey", "7-Zip (Install)", "26.2", None, "Igor Pavlov",
None, "chocolatey:7zip.install", <path>, "chocolatey
license=http://www.7-zip.org/license.txt spdx= source=https://github.com/
chocolatey-community/... owners=chocolatey-community,Rob Reynolds")``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping

from sam_engine.model import Installation, Problem
from sam_engine.platforms.records import origin_line
from sam_engine.platforms.windows_programs import value_text

FIELDS = ("id", "version", "title", "authors", "owners", "licenseUrl", "projectUrl", "packageSourceUrl")


class NuspecError(ValueError):
    """A nuspec text that is not a package's metadata; the message says why."""


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # "{http://schemas.microsoft.com/packaging/...}id" -> "id"


def parse_nuspec(text: str) -> dict[str, str | None]:
    """The metadata fields of one nuspec (``FIELDS`` and ``license``: an SPDX expression or None).

    Any schema namespace, or none, is read alike. Raises ``NuspecError`` for text that is not
    well-formed, declares a DTD or entities, or names no id and version.
    """
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion from a scanned host
        raise NuspecError("DTD and entity declarations are not allowed in a nuspec")
    try:
        root = ET.fromstring(text.lstrip("\ufeff"))  # already text: a declared encoding is ignored
    except ET.ParseError as exc:
        raise NuspecError(f"not well-formed XML: {exc}") from None
    metadata = next((child for child in root if _local(child.tag) == "metadata"), None)
    if _local(root.tag) != "package" or metadata is None:
        raise NuspecError(f"root element is {_local(root.tag)}, not a package with metadata")
    values: dict[str, str | None] = dict.fromkeys((*FIELDS, "license"))
    for child in metadata:
        name = _local(child.tag)
        content = " ".join((child.text or "").split()) or None
        if name in FIELDS:
            values[name] = content
        elif name == "license" and child.get("type") == "expression":  # type="file": a file in the package
            values["license"] = content
    if not values["id"] or not values["version"]:
        raise NuspecError("no <id> and <version> in <metadata>")
    return values


def installation(values: Mapping[str, str | None], path: str | None) -> Installation:
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
            inst = installation(parse_nuspec(text), path)
        except NuspecError as exc:
            problems.append(Problem(at, str(exc), "warning"))
            continue
        if inst.package_id.casefold() not in seen:  # Chocolatey ids are case-insensitive
            seen.add(inst.package_id.casefold())
            items.append(inst)
    return items, problems
