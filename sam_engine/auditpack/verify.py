"""Verification of an audit evidence pack (``fleetsam audit-pack --verify``).

A pack verifies only when it is exactly what fleetsam writes (``auditpack.pack``):

1. the zip reads, with every member's CRC, and no member name is absolute or
   climbs out of the folder it is unpacked into (``..``);
2. ``manifest.json`` is present, of format ``fleetsam-audit-pack`` and a format
   version this fleetsam knows, every field of the type that version writes,
   canonical (byte for byte what fleetsam writes for its content) and its
   ``digest`` matches;
3. the manifest lists exactly the members of that format version, and every one
   is present with its size and SHA-256, and nothing else is;
4. rebuilding the pack from its members gives the same bytes as the file.

Members are read with a size bound (see ``verify``): a zip bomb fails
verification without being inflated. Whoever can rewrite a pack can recompute a
manifest that passes these checks: they prove integrity, not origin, which the
pack's SHA-256 recorded with the audit correspondence does.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sam_engine.auditpack.content import sha256
from sam_engine.auditpack.pack import (MANIFEST, MANIFEST_FIELDS, MANIFEST_LIMIT, MEMBERS, PACK_FORMAT,
                                      PACK_VERSION, PackError, bounded, canonical_manifest, pack_bytes)

MAX_INFLATE = 100  # a compressed member (never canonical) is read to at most 100 times its compressed size
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Verification:
    """The outcome of ``verify``: ``ok`` only when ``problems`` is empty."""

    path: Path
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def unsafe_name(name: str) -> bool:
    """A member name that unpacks outside the folder it is unpacked into (absolute, a drive, ``..``)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return not parts or name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts


def _field_problems(manifest: dict[str, Any]) -> list[str]:
    """What in ``manifest`` is not what a fleetsam manifest of this format version holds."""
    problems = [f"{MANIFEST}: field {key!r} is not one a {PACK_FORMAT} manifest has"
                for key in sorted(set(manifest) - set(MANIFEST_FIELDS))]
    for key, types in MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if key not in manifest or isinstance(value, bool) or not isinstance(value, types):
            problems.append(f"{MANIFEST}: field {key!r} is missing or not a "
                            + " or ".join("null" if t is type(None) else t.__name__ for t in types))
    scan_ids = manifest.get("scan_ids")
    if isinstance(scan_ids, list) and (not scan_ids or not all(isinstance(s, str) for s in scan_ids)
                                       or scan_ids[0] != manifest.get("scan_id")):
        problems.append(f"{MANIFEST}: field 'scan_ids' is not a list of scan ids starting with 'scan_id'")
    for name, entry in sorted((manifest.get("files") or {}).items()) if isinstance(manifest.get("files"),
                                                                                    dict) else ():
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if (not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(digest, str)
                or not _SHA256.fullmatch(digest) or set(entry) != {"sha256", "size"}):
            problems.append(f"{MANIFEST}: the entry of {name!r} is not a size and a SHA-256")
    return problems


def _check_manifest(raw: bytes, result: Verification) -> dict[str, Any] | None:
    """The manifest, when it is one of this format version with every field of its type; else None
    and the problems in ``result``."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.problems.append(f"{MANIFEST}: not valid JSON ({exc})")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        result.problems.append(f"{MANIFEST}: not a {PACK_FORMAT} manifest")
        return None
    version = manifest.get("format_version")
    if version != PACK_VERSION or isinstance(version, bool):
        result.problems.append(f"{MANIFEST}: format version {version!r}, this fleetsam verifies version "
                               f"{PACK_VERSION}")
        return None
    problems = _field_problems(manifest)
    if problems:
        result.problems += problems
        return None
    if canonical_manifest(manifest) != raw:
        result.problems.append(f"{MANIFEST}: changed (its digest or its bytes do not match its content)")
    listed = set(manifest["files"])
    for name in sorted(set(MEMBERS) - listed):
        result.problems.append(f"{name}: a member of every {PACK_FORMAT} (version {PACK_VERSION}) that the "
                               "manifest does not list")
    for name in sorted(listed - set(MEMBERS)):
        result.problems.append(f"{name}: listed in the manifest but no member of a {PACK_FORMAT} "
                               f"(version {PACK_VERSION})")
    return manifest


def verify(path: str | Path) -> Verification:
    """Check a pack (see the module docstring); raises ``PackError`` only when it cannot be read at all.

    Members are read with a bound, so a zip bomb is never inflated: the manifest at most
    ``MANIFEST_LIMIT`` bytes, every other member at most the size the manifest lists for it and
    no more than the pack's own size (a canonical pack stores members uncompressed), or
    ``MAX_INFLATE`` times its compressed size when it is compressed (a re-zipped pack, still to
    be reported as such); a member the manifest does not list is not read at all.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackError(f"{path}: cannot read: {exc.strerror or exc}") from None
    result = Verification(path)
    members: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if len(set(names)) != len(names):
                result.problems.append("a member name occurs twice")
            result.problems += [f"{name}: a member name that unpacks outside its folder (absolute or with ..)"
                                for name in sorted(set(filter(unsafe_name, names)))]
            if MANIFEST not in names:
                result.problems.append(f"{MANIFEST} is missing")
                return result
            raw = bounded(zf, MANIFEST, min(MANIFEST_LIMIT, len(data)))
            if raw is None:
                result.problems.append(f"{MANIFEST}: larger than any fleetsam manifest (not read further)")
                return result
            manifest = _check_manifest(raw, result)
            if manifest is None:
                return result
            result.manifest = manifest
            members[MANIFEST] = raw
            listed = manifest["files"]
            for name in sorted(set(listed) & set(names)):
                info = zf.getinfo(name)
                stored = info.compress_type == zipfile.ZIP_STORED
                limit = min(listed[name]["size"], len(data) if stored else info.compress_size * MAX_INFLATE)
                content = bounded(zf, name, limit)
                if content is None:
                    result.problems.append(f"{name}: holds more than the {limit} bytes the manifest and the pack "
                                           "allow (not read further)")
                else:
                    members[name] = content
    except Exception as exc:  # noqa: BLE001 - whatever a damaged archive raises (bad CRC, encrypted, bad method)
        result.problems.append(f"not a readable zip archive, or a member is damaged: {exc}")
        return result
    for name in sorted(set(listed) - set(names)):
        result.problems.append(f"{name}: listed in the manifest but missing")
    for name in sorted(set(names) - set(listed) - {MANIFEST}):
        result.problems.append(f"{name}: in the pack but not in the manifest")
    for name in sorted(set(listed) & set(members)):
        want, data_ = listed[name], members[name]
        if want["sha256"] != sha256(data_) or want["size"] != len(data_):
            result.problems.append(f"{name}: SHA-256 or size differs from the manifest")
    if not result.problems and pack_bytes(members) != data:
        result.problems.append("the zip container differs from the canonical pack (headers, order, comment or "
                               "padding changed)")
    return result
