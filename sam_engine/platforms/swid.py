"""The engine's SWID tag parser: ISO/IEC 19770-2 tags sent raw by the Windows and macOS collectors.

Reads ``SoftwareIdentity`` tags (2015 schema, the pre-final 2014 schema with
``uniqueId`` for ``tagId``, or no namespace) and the legacy 2008/2009
``software_identification_tag``. An enveloped ``Signature`` is ignored, not
verified. A text of several concatenated tags is split into single documents.

A tag becomes a record of the collectors' package record contract (``source``
``swid``, ``package_id`` the tag id, details in ``extra``); what a platform
keeps of it (patch and supplemental tags, the package id's form) is the
platform's decision. The Linux module parses its tags on the host with
``plugins/module_utils/swid.py`` (Ansiballz ships module_utils, not this
package); tests/unit/test_swid.py checks both give the same records.

Worked example: ``<SoftwareIdentity tagId="t-1" name="hello" version="2.0"
xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd"/>`` is
``{"source": "swid", "name": "hello", "version": "2.0", "package_id": "t-1",
"extra": {"schema": "2015", ...}, ...}``.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from typing import Any

_SCHEMA_YEAR = re.compile(r"/19770/-2/(\d{4})/")
_ROOTS = r"(?:SoftwareIdentity|software_identification_tag)"
_DOC_START = re.compile(r"(?:<\?xml[^>]*\?>\s*)?<(?:[\w.-]+:)?" + _ROOTS + r"(?=[\s/>])")
_DOC_END = re.compile(r"</(?:[\w.-]+:)?" + _ROOTS + r"\s*>")


class SwidTagError(ValueError):
    """A document is not a usable SWID tag."""


def decode_tag_bytes(data: bytes) -> str:
    """A tag file's text: UTF-16 when it starts with a UTF-16 byte order mark, else UTF-8 (BOM optional)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def split_documents(text: str) -> list[str]:
    """Single tag documents of a text: each from a root start tag (and its XML declaration) to the last
    root end tag before the next one; text between documents is dropped."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    documents = []
    for k, start in enumerate(starts):
        chunk = text[start:starts[k + 1] if k + 1 < len(starts) else len(text)]
        ends = [m.end() for m in _DOC_END.finditer(chunk)]
        documents.append(chunk[:ends[-1]] if ends else chunk.strip())
    return documents


def local_name(tag: str) -> str:
    """An element's name without its namespace: ``{http://...}Entity`` -> ``Entity``."""
    return tag.rpartition("}")[2]


def untrusted_xml(text: str, what: str, error: type[ValueError]) -> ET.Element:
    """The root element of XML text from a scanned host (a tag, a nuspec). Raises ``error`` naming
    ``what`` for a DTD or entity declaration (never expanded) and for text that is not well-formed."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion from a scanned host
        raise error(f"DTD and entity declarations are not allowed in {what}")
    try:
        return ET.fromstring(text.lstrip("\ufeff"))  # already text: a declared encoding is ignored
    except ET.ParseError as exc:
        raise error(f"not well-formed XML: {exc}") from None


def _namespace(tag: str) -> str | None:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else None


def _flag(value: str | None) -> bool:  # xsd:boolean, absent meaning false
    return (value or "").strip().lower() in ("true", "1")


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _schema(namespace: str | None) -> str | None:
    """The schema year of a 19770-2 namespace ("2015"), None for a tag without namespace."""
    if namespace is None:
        return None
    match = _SCHEMA_YEAR.search(namespace)
    if not match:
        raise SwidTagError(f"unsupported namespace {namespace}")
    return match[1]


def _record(name: str, version: str | None, tag_id: str, location: str | None, arch: str | None,
            vendor: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {"source": "swid", "name": name, "version": version, "arch": arch, "vendor": vendor,
            "install_time": None, "package_id": tag_id, "location": location, "extra": extra}


def _software_identity(root: ET.Element, location: str | None) -> dict[str, Any]:
    namespace = _namespace(root.tag)
    tag_id = _text(root.get("tagId") or root.get("uniqueId"))
    if not tag_id:
        raise SwidTagError("SoftwareIdentity has no tagId")
    entities: dict[str, ET.Element] = {}
    meta: dict[str, str] = {}
    for child in root:
        if _namespace(child.tag) != namespace:  # a Signature or a foreign extension
            continue
        if local_name(child.tag) == "Entity":
            for role in (child.get("role") or "").lower().split():
                entities.setdefault(role, child)
        elif local_name(child.tag) == "Meta":
            for key, value in child.attrib.items():
                meta.setdefault(key, value)

    def entity(role: str, attribute: str) -> str | None:
        element = entities.get(role)
        return _text(element.get(attribute)) if element is not None else None

    entitlement = meta.get("entitlementDataRequired")
    extra = {
        "schema": _schema(namespace),
        "version_scheme": _text(root.get("versionScheme")),
        "supplemental": _flag(root.get("supplemental")),
        "patch": _flag(root.get("patch")),
        "corpus": _flag(root.get("corpus")),
        "tag_creator_regid": entity("tagcreator", "regid"),
        "software_creator_regid": entity("softwarecreator", "regid"),
        "product": _text(meta.get("product")),
        "edition": _text(meta.get("edition")),
        "colloquial_version": _text(meta.get("colloquialVersion")),
        "entitlement_data_required": None if entitlement is None else _flag(entitlement),
    }
    name = _text(root.get("name")) or extra["product"] or tag_id
    vendor = entity("softwarecreator", "name") or entity("licensor", "name")
    return _record(name, _text(root.get("version")), tag_id, location, _text(meta.get("arch")), vendor, extra)


def _legacy(root: ET.Element, location: str | None) -> dict[str, Any]:
    namespace = _namespace(root.tag)
    prefix = f"{{{namespace}}}" if namespace else ""

    def find(path: str) -> str | None:
        return _text(root.findtext("/".join(prefix + part for part in path.split("/"))))

    tag_id = find("software_id/unique_id")
    if not tag_id:
        raise SwidTagError("software_identification_tag has no software_id/unique_id")
    entitlement = find("entitlement_required_indicator")
    extra = {
        "schema": _schema(namespace),
        "version_scheme": None,
        "supplemental": False,
        "patch": False,
        "corpus": False,
        "tag_creator_regid": find("software_id/tag_creator_regid") or find("tag_creator/regid"),
        "software_creator_regid": find("software_creator/regid"),
        "product": find("product_title"),
        "edition": None,
        "colloquial_version": None,
        "entitlement_data_required": None if entitlement is None else _flag(entitlement),
    }
    vendor = find("software_creator/name") or find("software_licensor/name")
    return _record(extra["product"] or tag_id, find("product_version/name"), tag_id, location, None, vendor, extra)


def parse_tag(document: str, location: str | None = None) -> dict[str, Any]:
    """The record of one tag document; raises ``SwidTagError`` when it is not a usable tag."""
    root = untrusted_xml(document, "a tag", SwidTagError)
    local = local_name(root.tag)
    if local == "SoftwareIdentity":
        return _software_identity(root, location)
    if local == "software_identification_tag":
        return _legacy(root, location)
    raise SwidTagError(f"root element is {local}, not SoftwareIdentity")


def parse_text(text: str, location: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of a text of one or more tags, and an error message per document that is not a tag
    (naming its 1-based number when there are several)."""
    documents = split_documents(text)
    if not documents:
        return [], ["no SoftwareIdentity element found"]
    records, errors = [], []
    for number, document in enumerate(documents, 1):
        try:
            records.append(parse_tag(document, location))
        except SwidTagError as exc:
            errors.append(f"document {number}: {exc}" if len(documents) > 1 else str(exc))
    return records, errors
