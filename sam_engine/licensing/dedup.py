"""Duplicate records of one installation on one host, merged the way a licence auditor counts them.

Input: the ``(Installation, Recognition)`` pairs of ONE product on ONE host
(``reconcile.group_per_host``). Output: a list of ``Counted`` items in order of
first appearance, each with the raw installations it stands for
(``stands_for``), so every count can be traced back to registry keys, packages
or apps. Each host-based metric counts the host once whatever this returns;
the per-installation metric counts the items.

``dedup_per_installation``: one item per product identity (publisher, product,
edition, compared case-insensitively; unrecognised software keeps its raw
name), normalised version and install location. The item shown is the copy
that needs the most (licence required, then unknown, then free), then the
highest version (in dpkg's or rpm's own order when both copies come from it).
Distinct locations are distinct installations; exact duplicates count once:
  - the same version with the same location, where locations are compared
    case-insensitively, with ``/`` and ``\\`` alike, without a trailing
    separator, and ``Program Files (x86)`` read as ``Program Files`` (the
    WOW6432Node copy of a 64-bit install, and an x86/x64 pair of the same
    version, are one installation);
  - the same version where one record has no location (an MSI GUID key and a
    named key of one product seldom both fill InstallLocation): the record
    without a location joins the first copy of that version;
  - a SWID tag's location is the tag file, not the install directory, so it is
    ignored (the tag and the package it describes are one installation).
  Different versions always count separately.

Suites (a suite entitlement covering its component products) are not handled
here: that is the position's job, with ``Catalogue.suite_components``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from sam_engine.model import Installation, LicenceNeed, Recognition
from sam_engine.licensing.versions import PACKAGE_ORDERS, package_version_key, version_key

_NEED_RANK = {LicenceNeed.FREE: 0, LicenceNeed.UNKNOWN: 1, LicenceNeed.REQUIRED: 2}


@dataclass(frozen=True, slots=True)
class Counted:
    """One counted item: the representative pair and every raw installation it stands for."""

    installation: Installation
    recognition: Recognition
    stands_for: tuple[Installation, ...]


def product_identity(rec: Recognition) -> tuple[str, str, str]:
    return ((rec.publisher or "").casefold(), rec.product.casefold(), (rec.edition or "").casefold())


def location_key(inst: Installation) -> str | None:
    """The install location as compared for duplicates (see the module docstring), or None."""
    if inst.source == "swid" or not inst.location or not inst.location.strip():
        return None
    loc = inst.location.strip().replace("\\", "/").lower()
    loc = re.sub(r"/+", "/", loc).rstrip("/")
    return re.sub(r"/program files \(x86\)(?=/|$)", "/program files", loc) or "/"


def _better(a: tuple[Installation, Recognition], b: tuple[Installation, Recognition]) -> bool:
    """Whether ``b`` should represent a group instead of ``a``."""
    rank_a, rank_b = _NEED_RANK[a[1].licence], _NEED_RANK[b[1].licence]
    if rank_a != rank_b:
        return rank_b > rank_a
    if a[0].source == b[0].source in PACKAGE_ORDERS and a[0].version and b[0].version:  # the manager's own order
        return package_version_key(b[0].version, b[0].source) > package_version_key(a[0].version, a[0].source)
    return version_key(b[1].version) > version_key(a[1].version)


def dedup_per_installation(pairs: Sequence[tuple[Installation, Recognition]]) -> list[Counted]:
    """One item per product identity, version and location (rules in the module docstring)."""
    clusters: dict[tuple, list[list]] = {}  # identity+version -> [[location, pair, raws], ...]
    order: list[list] = []
    for inst, rec in pairs:
        found = clusters.setdefault(product_identity(rec) + (version_key(rec.version),), [])
        loc = location_key(inst)
        target = found[0] if loc is None and found else None
        if loc is not None:
            target = next((c for c in found if c[0] == loc), None) or next((c for c in found if c[0] is None), None)
            if target is not None:
                target[0] = loc
        if target is None:
            target = [loc, (inst, rec), []]
            found.append(target)
            order.append(target)
        elif _better(target[1], (inst, rec)):
            target[1] = (inst, rec)
        target[2].append(inst)
    return [Counted(pair[0], pair[1], tuple(raws)) for _, pair, raws in order]
