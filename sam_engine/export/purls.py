"""Package URLs (purl) of installations, for the CycloneDX export.

A purl names a package the way vulnerability databases and SBOM consumers
(Dependency-Track, scanners) look it up: ``pkg:deb/ubuntu/bash@5.2-2?arch=amd64``.
The type comes from the collector source, the namespace of a distribution
package from the host's operating system, and ``packageurl-python`` does the
escaping, so hostile names cannot break the URL.
"""

from __future__ import annotations

import re

from packageurl import PackageURL, quote

from sam_engine.model import Host, Installation

# Collector source -> purl type. Titles that no package manager names (Windows and
# macOS programs, SWID tags, snaps, flatpaks) are ``generic``: the purl spec has no
# type for them, and a consumer still gets a stable, escaped identifier.
PURL_TYPES = {"dpkg": "deb", "rpm": "rpm", "apk": "apk", "pacman": "alpm", "brew": "brew", "brew-cask": "brew"}

# The namespace when the host does not say which distribution it runs: what the
# package format implies (``rpm`` is shared by many vendors, so it gets none).
DEFAULT_DISTRO = {"deb": "debian", "apk": "alpine", "alpm": "arch"}

# os-release NAME (lower case, start of the string) -> the distribution's os-release ID,
# which is what purl namespaces use. The host record keeps NAME only.
_DISTRO_NAMES = (
    ("ubuntu", "ubuntu"), ("debian", "debian"), ("linux mint", "linuxmint"), ("raspbian", "raspbian"),
    ("kali", "kali"), ("pop!_os", "pop"), ("fedora", "fedora"), ("centos", "centos"), ("red hat", "redhat"),
    ("rocky", "rocky"), ("almalinux", "almalinux"), ("oracle linux", "oracle"), ("amazon linux", "amzn"),
    ("opensuse", "opensuse"), ("suse", "suse"), ("sles", "suse"), ("mageia", "mageia"),
    ("openmandriva", "openmandriva"),
    ("alpine", "alpine"), ("arch", "arch"), ("manjaro", "manjaro"), ("endeavouros", "endeavouros"),
)
_NOT_A_DISTRO = {"", "linux", "gnu/linux"}


class Purl(PackageURL):
    """A ``PackageURL`` naming the package as the inventory holds it.

    packageurl-python percent-encodes a name but leaves its ``/`` as it is, so
    ``AC/DC Tool`` would read back as namespace ``AC`` and name ``DC Tool``;
    the purl spec wants it escaped as ``%2F``. It also strips the whitespace
    around a name and a version, so versions ``\\t=1+1`` and ``\\r=1+1`` would
    be one package (one component listing both hosts): here it is kept,
    percent-encoded (``%09%3D1%2B1``)."""

    held: tuple[str, str | None]  # the name and version as the inventory holds them (``of``)

    @classmethod
    def of(cls, kind: str, namespace: str | None, name: str, version: str | None, qualifiers: dict) -> "Purl":
        purl = cls(type=kind, namespace=namespace, name=name, version=version, qualifiers=qualifiers)
        purl.held = (name, version)
        return purl

    def to_string(self, encode: bool | None = True) -> str:
        text = super().to_string(encode)
        name, version = getattr(self, "held", (self.name, self.version))
        if encode is not True or ("/" not in name and name == self.name and (version or None) == self.version):
            return text
        head = PackageURL(self.type, self.namespace, "_").to_string()[:-2]  # pkg:type[/namespace]
        tail = PackageURL(self.type, self.namespace, "_", None, self.qualifiers, self.subpath).to_string()
        at = f"@{quote(version)}" if version else ""
        return f"{head}/{quote(name).replace('/', '%2F')}{at}{tail[len(head) + 2:]}"


def distro_of(host: Host | None) -> str | None:
    """The purl namespace of ``host``'s distribution (``ubuntu``, ``redhat``...), or None when unknown."""
    name = " ".join((host.os_name or "").lower().split()) if host else ""
    if name in _NOT_A_DISTRO:
        return None
    for prefix, distro in _DISTRO_NAMES:
        if name.startswith(prefix):
            return distro
    word = re.sub(r"[^a-z0-9._-]", "", name.split()[0])  # an unlisted distribution: its first word
    return word or None


def _distro_qualifier(distro: str | None, host: Host | None) -> str | None:
    """``distro=ubuntu-24.04``, as the purl spec suggests for deb and rpm packages."""
    version = (host.os_version or "").strip() if host else ""
    return f"{distro}-{version}" if distro and version else None


def _rpm_version(version: str | None) -> tuple[str | None, str | None]:
    """``1:2.3-4`` -> (``2.3-4``, ``1``): the purl rpm type puts the epoch in a qualifier."""
    if version and ":" in version:
        epoch, _, rest = version.partition(":")
        if epoch.isdigit() and rest:
            return rest, epoch
    return version, None


def purl_of(inst: Installation, host: Host | None, publisher: str | None) -> Purl:
    """The package URL of ``inst`` found on ``host``; ``publisher`` names a generic title's namespace."""
    kind = PURL_TYPES.get(inst.source, "generic")
    version, qualifiers = inst.version or None, {}
    if inst.arch:
        qualifiers["arch"] = inst.arch
    if kind in ("deb", "rpm", "apk", "alpm"):
        namespace = distro_of(host) or DEFAULT_DISTRO.get(kind)
        distro = _distro_qualifier(namespace, host)
        if distro:
            qualifiers["distro"] = distro
        if kind == "rpm":
            version, epoch = _rpm_version(version)
            if epoch:
                qualifiers["epoch"] = epoch
    elif kind == "brew":
        namespace = None
        if inst.source == "brew-cask":
            qualifiers["kind"] = "cask"  # a cask and a formula may share a name
    else:
        namespace = publisher or None
        qualifiers["source"] = inst.source  # windows, macos-app, swid, snap...: where the title was read
    return Purl.of(kind, namespace, inst.name, version, qualifiers)
