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
    """A ``PackageURL`` whose name may hold a ``/``.

    packageurl-python percent-encodes a name but leaves its ``/`` as it is, so
    ``AC/DC Tool`` would read back as namespace ``AC`` and name ``DC Tool``;
    the purl spec wants it escaped as ``%2F``."""

    def to_string(self, encode: bool | None = True) -> str:
        text = super().to_string(encode)
        if encode is not True or "/" not in (self.name or ""):
            return text
        head = PackageURL(self.type, self.namespace, "_").to_string()[:-2]  # pkg:type[/namespace]
        tail = PackageURL(self.type, self.namespace, "_", self.version, self.qualifiers, self.subpath).to_string()
        return f"{head}/{quote(self.name).replace('/', '%2F')}{tail[len(head) + 2:]}"


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
    return Purl(type=kind, namespace=namespace, name=inst.name, version=version, qualifiers=qualifiers)
