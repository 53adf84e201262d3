"""The audit evidence pack: one publisher's licence position and everything behind it, in one zip.

``create(store, publisher, out)`` reconciles the fleet (now, right after a
given scan, or as of a date) as every report does and writes ``out`` (a zip)
with the files of ``auditpack.content`` plus ``README.txt`` and
``manifest.json``. ``verify(path)`` checks a pack.

The manifest lists every other member with its SHA-256 and size, the tool
version, the scan ids (the scan reported and the older scans whose inventories
stale hosts carried over), the publisher, the as-of date and the creation
time, and ends with ``digest``: the SHA-256 of the manifest's own canonical
JSON without that field. A pack is written canonically (members stored
uncompressed, in name order, ``manifest.json`` last, fixed timestamps and
attributes), so ``verify`` can hold the whole file to account:

1. the zip reads, with every member's CRC;
2. ``manifest.json`` is present, canonical (byte for byte what fleetsam
   writes for its content) and its ``digest`` matches;
3. every listed file is present with its size and SHA-256, and nothing else is;
4. rebuilding the pack from its members gives the same bytes as the file.

Members are read with a size bound (see ``verify``): a zip bomb fails
verification without being inflated. So changing any single byte of a pack (a member, the manifest, a zip header or
the directory) fails verification. The checks prove integrity, not origin:
whoever can rewrite the pack can recompute the manifest, so record the SHA-256
of the pack (printed by ``fleetsam audit-pack``) with the audit correspondence.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sam_engine import __version__
from sam_engine.report import render
from sam_engine.report import model as report
from sam_engine.auditpack.content import (ENTITLEMENT_COLUMNS, INSTALLATION_COLUMNS, catalogue_entries, catalogue_version,
                                csv_bytes, entitlement_rows, installation_rows, json_bytes, metric_rules, pack_view,
                                publisher_products, sha256)
from sam_engine.licensing.context import LicenceSettings, load_context, position_of
from sam_engine.report.formats import POSITION_COLUMNS
from sam_engine.findings.policy import policy_path, retire_days
from sam_engine.store.interface import load_fleet
from sam_engine.store import open_store
from sam_engine.store.recognition_cache import RecognitionCache

PACK_FORMAT = "fleetsam-audit-pack"
PACK_VERSION = 1
MANIFEST = "manifest.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: members carry no real timestamp
_MODE = 0o100644 << 16
MANIFEST_LIMIT = 4 << 20  # bytes; a manifest lists nine files in a few kilobytes
CHUNK = 1 << 20  # bytes read from a member at a time
MAX_INFLATE = 100  # a compressed member (never canonical) is read to at most 100 times its compressed size

README = """\
fleetsam audit evidence pack
============================

Publisher: {publisher}
Scan: {scan_id} (finished {finished}); licence position as of {as_of}
Created: {created} by fleetsam {version}

position.html       the licence position of the publisher's products, with the
                    arithmetic of every figure, host by host (open in a browser,
                    print to PDF)
position.csv        the same position, one row per product
installations.csv   per product every installation: host, version, install path
                    (location), collector source, package id and the scan that
                    saw it (stale hosts: an older scan, marked stale)
entitlements.csv    the entitlement records with purchase data (keys masked)
entitlements.json   the same, as JSON
catalogue.json      catalogue version (SHA-256 of every catalogue and rule file)
                    and the catalogue entries applied to these products
metric_rules.json   the metric rules applied, with their lines verbatim
manifest.json       SHA-256 and size of every file above, tool version, scan ids

Check the pack: fleetsam audit-pack --verify THIS_FILE.zip
"""


class PackError(Exception):
    """The pack cannot be made or read (no such publisher, an unreadable or missing file): bad input."""


@dataclass
class Verification:
    """The outcome of ``verify``: ``ok`` only when ``problems`` is empty."""

    path: Path
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def canonical_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest as fleetsam writes it, with ``digest`` computed over everything else."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    digest = sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return json_bytes({**body, "digest": digest})


def pack_bytes(files: dict[str, bytes]) -> bytes:
    """The canonical zip of ``files`` (``manifest.json`` last, the rest in name order)."""
    names = sorted(n for n in files if n != MANIFEST) + ([MANIFEST] if MANIFEST in files else [])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = _MODE
            zf.writestr(info, files[name])
    return buffer.getvalue()


def build_files(model: dict[str, Any], scan, ctx, publisher: str, created: str) -> dict[str, bytes]:
    """Every member of the pack of ``publisher``, manifest included."""
    products = publisher_products(model, publisher)
    ents = entitlement_rows(publisher, ctx.entitlements, products)
    if not products and not ents:
        known = sorted({r["publisher"] for r in (model["position"] or {}).get("licensable", []) if r["publisher"]})
        raise PackError(f"no licensable product or entitlement of publisher {publisher!r} "
                        f"(publishers in this position: {', '.join(known[:20]) or 'none'})")
    name = products[0]["publisher"] if products else next(e["publisher"] for e in ents)
    installs = installation_rows(products, scan)
    rules_used = {i["catalogue_rule"] for i in installs if i["catalogue_rule"]}
    catalogue = {"version": catalogue_version(ctx), "entries": catalogue_entries(ctx.catalogue, name, rules_used)}
    rules = metric_rules(products)
    view = pack_view(model, name, products, ents, catalogue, rules)
    html = render.environment().get_template("audit_position.html.j2").render(pack=view)
    files = {
        "README.txt": README.format(publisher=name, scan_id=scan.scan_id, finished=scan.finished,
                                    as_of=view["as_of"], created=created, version=__version__).encode("utf-8"),
        "position.html": html.encode("utf-8"),
        "position.csv": csv_bytes(POSITION_COLUMNS, (dict(r, scan_id=scan.scan_id) for r in products)),
        "installations.csv": csv_bytes(INSTALLATION_COLUMNS, installs),
        "entitlements.csv": csv_bytes(ENTITLEMENT_COLUMNS, ents),
        "entitlements.json": json_bytes(ents),
        "catalogue.json": json_bytes(catalogue),
        "metric_rules.json": json_bytes(rules),
    }
    scans = sorted({i["seen_in_scan"] for i in installs} - {scan.scan_id})
    manifest = {
        "format": PACK_FORMAT,
        "format_version": PACK_VERSION,
        "tool_version": __version__,
        "created": created,
        "publisher": name,
        "as_of": view["as_of"],
        "scan_id": scan.scan_id,
        "scan_ids": [scan.scan_id, *scans],
        "catalogue_sha256": catalogue["version"]["sha256"],
        "files": {n: {"sha256": sha256(data), "size": len(data)} for n, data in sorted(files.items())},
    }
    files[MANIFEST] = canonical_manifest(manifest)
    return files


def create(store: str, publisher: str, out: str | Path, *, settings: LicenceSettings | None = None,
           as_of: dt.date | None = None, scan_id: str | None = None) -> tuple[Path, dict[str, Any], str]:
    """Write the pack of ``publisher``; return its path, its manifest and the SHA-256 of the zip."""
    with open_store(store, create=False, readonly=True) as st:  # the fleet, after ``scan_id`` or on ``as_of``
        scan = load_fleet(st, store, scan_id, as_of if scan_id is None else None, retire_days(policy_path()))
        history = st.scans()
        stored = st.entitlements()
    ctx = load_context(settings or LicenceSettings.from_env(), as_of or dt.date.today(), stored,
                       memory=RecognitionCache.beside(store))  # the readings a run saved; never written here
    if ctx.has_errors:  # a pack without a licence the customer owns must not reach an auditor
        raise PackError("the licence data has errors, no pack written: "
                        + "; ".join(str(p) for p in ctx.problems if p.severity == "error"))
    position = position_of(scan.hosts, ctx)
    model = report.build(scan, history, position, ctx.problems, entitlements=ctx.entitlements)
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = build_files(model, scan, ctx, publisher, created)
    data = pack_bytes(files)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path, json.loads(files[MANIFEST]), sha256(data)


def _check_manifest(raw: bytes, result: Verification) -> dict[str, Any] | None:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.problems.append(f"{MANIFEST}: not valid JSON ({exc})")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT or not isinstance(
            manifest.get("files"), dict):
        result.problems.append(f"{MANIFEST}: not a {PACK_FORMAT} manifest")
        return None
    if canonical_manifest(manifest) != raw:
        result.problems.append(f"{MANIFEST}: changed (its digest or its bytes do not match its content)")
    return manifest


def _bounded(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    """Member ``name`` read in chunks, or None as soon as it holds more than ``limit`` bytes (whatever its
    header declares): a zip bomb is never inflated past what the pack may hold."""
    chunks, size = [], 0
    with zf.open(name) as handle:
        while chunk := handle.read(min(CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
    return b"".join(chunks)


def _listed_size(entry: Any) -> int:
    size = entry.get("size") if isinstance(entry, dict) else None
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0


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
            if MANIFEST not in names:
                result.problems.append(f"{MANIFEST} is missing")
                return result
            raw = _bounded(zf, MANIFEST, min(MANIFEST_LIMIT, len(data)))
            if raw is None:
                result.problems.append(f"{MANIFEST}: larger than any fleetsam manifest (not read further)")
                return result
            manifest = result.manifest = _check_manifest(raw, result)
            if manifest is None:
                return result
            members[MANIFEST] = raw
            listed = manifest["files"]
            for name in sorted(set(listed) & set(names)):
                info = zf.getinfo(name)
                stored = info.compress_type == zipfile.ZIP_STORED
                limit = min(_listed_size(listed[name]), len(data) if stored else info.compress_size * MAX_INFLATE)
                content = _bounded(zf, name, limit)
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
        if not isinstance(want, dict) or want.get("sha256") != sha256(data_) or want.get("size") != len(data_):
            result.problems.append(f"{name}: SHA-256 or size differs from the manifest")
    if not result.problems and pack_bytes(members) != data:
        result.problems.append("the zip container differs from the canonical pack (headers, order, comment or "
                               "padding changed)")
    return result
