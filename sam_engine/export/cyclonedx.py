"""The fleet's (or one host's) inventory as a CycloneDX 1.6 SBOM, built with cyclonedx-python-lib.

Shape: one component per distinct package URL, whatever the number of hosts
it is on, with one ``fleetsam:host`` property per host. SBOM consumers
(Dependency-Track, vulnerability scanners) key on the purl, so a package on
800 hosts is one finding to fix, and the properties say where; one component
per host and package would repeat the same purl 800 times. The hosts covered
(and those whose inventory is carried over from an earlier scan: stale) are
listed in the metadata's properties; with ``--host`` the host is also the
metadata's ``device`` component, whose dependencies are its packages. A
component the catalogue recognises carries its publisher, product and, where
the catalogue entry names one, its CPE.

Entitlements covering a component are its ``licenses``, each with CycloneDX's
``licensing`` block (licensor, licensee, purchase order, licence types,
expiration). cyclonedx-python-lib does not model that block yet (a TODO in
its ``DisjunctiveLicense``), so it is added to the serialised document, keyed
by the ``fleetsam:entitlement`` property of each licence. Licence keys leave
masked, never in clear.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field, replace
from typing import Sequence

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema.schema import SchemaVersion1Dot6

from sam_engine import __version__
from sam_engine.entitlements.schema import mask_key
from sam_engine.export.purls import Purl, purl_of
from sam_engine.licensing.catalogue import Catalogue, clean_vendor
from sam_engine.licensing.coverage import covers, norm
from sam_engine.licensing.editions import NO_LINES, EditionLines
from sam_engine.model import Entitlement, HostScan, Installation, LicenceNeed, Recognition, Scan
from sam_engine.report.formats import xml_text
from sam_engine.vocabulary import Metric

PREFIX = "fleetsam:"

# Our metric -> CycloneDX licenseTypes (CycloneDX 1.6 enum); the exact metric is kept as a property.
LICENCE_TYPES = {
    Metric.INSTALLATION: "custom-metric", Metric.DEVICE: "device", Metric.NAMED_USER: "named-user",
    Metric.PROCESSOR: "processor-points", Metric.CORE: "core-points", Metric.VM: "custom-metric",
    Metric.SITE: "other", Metric.EMPLOYEE: "user", Metric.PVU: "processor-points",
}


def text(value) -> str:
    """Text any SBOM consumer can carry, JSON or XML: NUL, control characters and lone surrogates
    become U+FFFD (a lone surrogate cannot even be written as UTF-8)."""
    return xml_text(value)


def prop(name: str, value) -> Property:
    return Property(name=PREFIX + name, value=text(value))


@dataclass
class _Package:
    """One distinct package: its first installation and reading, and the hosts it is on."""

    inst: Installation
    rec: Recognition
    publisher: str | None
    purl: Purl
    os_package: bool
    hosts: set[str] = field(default_factory=set)


def _os_package(inst: Installation) -> bool:
    return inst.source == "windows" and inst.package_id.startswith("windows:os:")


def _packages(host_scans: Sequence[HostScan], catalogue: Catalogue) -> dict[str, _Package]:
    """Distinct packages by purl; a purl is worked out once per distinct record and operating system."""
    packages: dict[str, _Package] = {}
    seen: dict[tuple, str] = {}
    for hs in host_scans:
        os_key = (hs.host.os_name, hs.host.os_version) if hs.host else (None, None)
        for inst in hs.installations:
            key = (inst.source, inst.name, inst.version, inst.arch, inst.vendor, inst.package_id, os_key)
            ref = seen.get(key)
            if ref is None:
                rec = catalogue.recognise(inst)
                publisher = rec.publisher if rec.rule else clean_vendor(inst.vendor)
                clean = replace(inst, name=text(inst.name), version=inst.version and text(inst.version),
                                arch=inst.arch and text(inst.arch))
                purl = purl_of(clean, hs.host, text(publisher) if publisher else None)
                ref = seen[key] = purl.to_string()
                if ref not in packages:
                    packages[ref] = _Package(inst, rec, publisher, purl, _os_package(inst))
            packages[ref].hosts.add(hs.inventory_name)
    return packages


def applies(ent: Entitlement, rec: Recognition, lines: EditionLines = NO_LINES) -> bool:
    """Whether ``ent`` licenses a title read as ``rec``: its product, edition (line) and version range, or as a
    suite component."""
    if rec.licence is LicenceNeed.UNKNOWN:
        return False
    if covers(ent, lines.key(rec.publisher, rec.product, rec.edition), rec, lines)[0]:
        return True
    return norm(ent.publisher) == norm(rec.publisher) and norm(rec.product) in {norm(c) for c in ent.suite_components}


def licence_name(ent: Entitlement) -> str:
    # "Oracle Database", not "Oracle Oracle Database"
    publisher = None if norm(ent.product).startswith(norm(ent.publisher)) else ent.publisher
    what = " ".join(p for p in (publisher, ent.product, ent.edition) if p)
    quantity = "unlimited" if ent.quantity is None else str(ent.quantity)
    po = f", PO {ent.po_number}" if ent.po_number else ""
    return text(f"{what}: {quantity} {ent.metric.replace('_', ' ')}{po}")


def _licence(ent: Entitlement) -> DisjunctiveLicense:
    props = [prop("entitlement", ent.entitlement_id), prop("metric", ent.metric), prop("origin", ent.origin)]
    props += [prop(name, getattr(ent, name)) for name in ("quantity", "version_range", "term_start", "maintenance_end",
                                                          "vendor", "invoice", "purchase_date", "unit_cost", "currency")
              if getattr(ent, name) is not None]
    props += [prop("key", mask_key(key)) for key in ent.keys]
    return DisjunctiveLicense(name=licence_name(ent), properties=props)


def licensing(ent: Entitlement, licensee: str | None) -> dict:
    """CycloneDX 1.6 ``licensing`` of one entitlement (the licensee and purchaser: the organisation, when named)."""
    doc: dict = {"altIds": [text(ent.entitlement_id)], "licensor": {"organization": {"name": text(ent.publisher)}}}
    if licensee:
        doc["licensee"] = doc["purchaser"] = {"organization": {"name": text(licensee)}}
    if ent.po_number:
        doc["purchaseOrder"] = text(ent.po_number)
    doc["licenseTypes"] = [LICENCE_TYPES.get(ent.metric, "other"), "subscription" if ent.term_end else "perpetual"]
    if ent.term_end:  # a term runs to the end of its last day
        doc["expiration"] = f"{ent.term_end}T23:59:59Z"
    return doc


def cpe_of(prefix: str | None, version: str | None) -> str | None:
    """The CPE 2.3 name of a catalogue product (``cpe:2.3:a:VENDOR:PRODUCT``) at ``version``; None
    without both (a CPE of any version would match every vulnerability of the product) or for a
    version that CPE cannot spell."""
    if not prefix or not version or not re.fullmatch(r"[!-~]+", version):  # CPE 2.3 quotes printable ASCII only
        return None
    quoted = re.sub(r"([^A-Za-z0-9._-])", r"\\\1", version)
    return f"{prefix}:{quoted}:*:*:*:*:*:*:*"


def _component(ref: str, pkg: _Package, licences: Sequence[Entitlement], cpes: dict[str, str | None]) -> Component:
    inst, rec = pkg.inst, pkg.rec
    props = [prop("source", inst.source), prop("package_id", inst.package_id), prop("licence", rec.licence.value)]
    if rec.rule:
        props += [prop("product", rec.product), prop("catalogue_rule", rec.rule)]
        if rec.edition:
            props.append(prop("edition", rec.edition))
    return Component(
        type=ComponentType.OPERATING_SYSTEM if pkg.os_package else ComponentType.APPLICATION,
        name=text(inst.name), version=text(inst.version) if inst.version else None,
        publisher=text(pkg.publisher) if pkg.publisher else None, bom_ref=ref, purl=pkg.purl,
        licenses=[_licence(e) for e in licences], properties=props,
        cpe=cpe_of(cpes.get(rec.rule or ""), text(rec.version) if rec.version else None))


def _timestamp(scan: Scan) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(scan.finished.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def _metadata(scan: Scan, host_scans: Sequence[HostScan], host: str | None) -> BomMetaData:
    props = [prop("scan_id", scan.scan_id)]
    props += [prop("host", hs.inventory_name) for hs in host_scans]
    props += [prop("stale_host", hs.inventory_name) for hs in host_scans if hs.stale]
    tool = Component(type=ComponentType.APPLICATION, name="fleetsam", version=__version__)
    meta = BomMetaData(timestamp=_timestamp(scan), properties=props)
    meta.tools.components.add(tool)
    if host is not None:
        (hs,) = host_scans
        facts = hs.host
        detail = [] if facts is None else [
            prop(name, getattr(facts, name)) for name in ("host_id", "fqdn", "os_name", "os_version", "kernel")
            if getattr(facts, name)]
        meta.component = Component(type=ComponentType.DEVICE, name=text(host), bom_ref="host", properties=detail)
    return meta


@dataclass(frozen=True)
class Sbom:
    """An SBOM as the library's records: the document's head (metadata), the components, the hosts of
    each component (by bom-ref) and the entitlements their licences name.

    The library serialises the head and each component; they are put together in ``to_json``,
    with the hosts, because the library does not scale to a fleet: ``Bom.validate()`` finds each
    component's dependency entry by a linear search (quadratic: a minute for 2,000 distinct
    packages), and properties live in sorted sets compared in Python."""

    head: Bom
    components: tuple[Component, ...]
    hosts: dict[str, list[str]]
    entitlements: tuple[Entitlement, ...]


def build(scan: Scan, catalogue: Catalogue, entitlements: Sequence[Entitlement], host: str | None = None) -> Sbom:
    """The SBOM of ``scan`` (of its host ``host`` only when given; the caller checks it is one)."""
    host_scans = [hs for hs in scan.hosts if host is None or hs.inventory_name == host]
    packages = _packages(host_scans, catalogue)
    components, used = [], {}
    cpes = {e.rule: e.cpe for e in catalogue.entries if e.cpe}
    lines = catalogue.edition_lines()
    for ref in sorted(packages):
        licences = [e for e in entitlements if applies(e, packages[ref].rec, lines)]
        used.update((e.entitlement_id, e) for e in licences)
        components.append(_component(ref, packages[ref], licences, cpes))
    return Sbom(Bom(metadata=_metadata(scan, host_scans, host)), tuple(components),
                {ref: sorted(p.hosts) for ref, p in packages.items()}, tuple(used.values()))


def _component_json(component: Component, hosts: Sequence[str], blocks: dict[str, dict]) -> dict:
    doc = json.loads(component.as_json(view_=SchemaVersion1Dot6))
    located = ({"name": PREFIX + "host", "value": text(h)} for h in hosts)
    doc["properties"] = sorted([*doc.get("properties", ()), *located], key=lambda p: (p["name"], p["value"]))
    for item in doc.get("licenses", ()):
        licence = item.get("license", {})
        ids = [p["value"] for p in licence.get("properties", ()) if p["name"] == PREFIX + "entitlement"]
        if ids and ids[0] in blocks:
            licence["licensing"] = blocks[ids[0]]
    return doc


def to_json(sbom: Sbom, licensee: str | None = None) -> str:
    """The SBOM as CycloneDX 1.6 JSON, with the hosts of each component and each licence's ``licensing``."""
    doc = json.loads(JsonV1Dot6(sbom.head).output_as_string())
    blocks = {e.entitlement_id: licensing(e, licensee) for e in sbom.entitlements}
    doc["components"] = [_component_json(c, sbom.hosts[c.bom_ref.value], blocks) for c in sbom.components]
    root = sbom.head.metadata.component
    if root is not None:  # one host: its packages are what it is made of
        doc["dependencies"] = [{"ref": root.bom_ref.value, "dependsOn": [c["bom-ref"] for c in doc["components"]]}]
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def export(scan: Scan, catalogue: Catalogue, entitlements: Sequence[Entitlement], host: str | None = None,
           licensee: str | None = None) -> str:
    """``scan``'s inventory (or ``host``'s) as a CycloneDX 1.6 JSON document."""
    return to_json(build(scan, catalogue, entitlements, host), licensee)
