"""The audit evidence pack: one publisher's licence position and everything behind it, in one zip.

``create(store, publisher, out)`` reconciles the fleet (now, right after a
given scan, or as of a date) as every report does and writes ``out`` (a zip)
with the files of ``auditpack.content`` plus ``README.txt`` and
``manifest.json``; ``auditpack.verify`` checks a pack.

The manifest lists every other member with its SHA-256 and size, the tool
version, the scan ids (the scan reported and the older scans whose inventories
stale hosts carried over), the publisher, the as-of date and the creation
time (``SOURCE_DATE_EPOCH`` when set: the same store gives the same pack byte
for byte), and ends with ``digest``: the SHA-256 of the manifest's own
canonical JSON without that field. A pack is written canonically (members
stored uncompressed, in name order, ``manifest.json`` last, fixed timestamps
and attributes), so that changing any single byte of it (a member, the
manifest, a zip header or the directory) fails verification.

``out`` is written under a temporary name beside it and renamed over it, and
never over the store, a folder or a file that is not an audit pack.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from sam_engine import __version__
from sam_engine.atomic_file import temp_prefix
from sam_engine.plain_text import one_line
from sam_engine.report import render
from sam_engine.report import model as report
from sam_engine.auditpack.content import (ENTITLEMENT_COLUMNS, INSTALLATION_COLUMNS, catalogue_entries, catalogue_version,
                                csv_bytes, entitlement_rows, installation_rows, json_bytes, metric_rules, pack_view,
                                publisher_products, sha256)
from sam_engine.licensing.context import LicenceSettings, load_context, position_of
from sam_engine.report.formats import POSITION_COLUMNS
from sam_engine.findings.policy import policy_or_default, policy_path
from sam_engine.staleness import Staleness
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
# the members of a pack of format version PACK_VERSION, manifest.json aside: verify accepts no other
MEMBERS = ("README.txt", "catalogue.json", "entitlements.csv", "entitlements.json", "installations.csv",
           "metric_rules.json", "position.csv", "position.html")
# every manifest field and the types its value may have (``digest``: see ``canonical_manifest``)
MANIFEST_FIELDS = {"format": (str,), "format_version": (int,), "tool_version": (str,), "created": (str,),
                   "publisher": (str,), "as_of": (str, type(None)), "scan_id": (str,), "scan_ids": (list,),
                   "catalogue_sha256": (str,), "files": (dict,), "digest": (str,)}

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
    view = pack_view(model, name, products, ents, catalogue, rules, created)
    html = render.environment().get_template("audit_position.html.j2").render(pack=view)
    files = {
        "README.txt": README.format(**{k: one_line(v) for k, v in (  # no value can forge a line of it
            ("publisher", name), ("scan_id", scan.scan_id), ("finished", scan.finished), ("as_of", view["as_of"]),
            ("created", created), ("version", __version__))}).encode("utf-8"),
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


def creation_time() -> str:
    """Now, or ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds convention) when set:
    two packs of one store made with the same value are byte for byte the same."""
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        when = dt.datetime.fromtimestamp(int(text), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise PackError(f"SOURCE_DATE_EPOCH {text!r}: expected a whole number of seconds since "
                        "1970-01-01T00:00:00Z") from None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_pack(path: Path) -> bool:
    """Whether ``path`` is a zip whose manifest says it is a fleetsam audit pack (of any version)."""
    try:
        with zipfile.ZipFile(path) as zf:
            raw = bounded(zf, MANIFEST, MANIFEST_LIMIT)
        return raw is not None and json.loads(raw.decode("utf-8")).get("format") == PACK_FORMAT
    except Exception:  # noqa: BLE001 - whatever a file that is no zip, or a damaged one, raises: not a pack
        return False


def _target(store: str, out: str | Path) -> Path:
    """``out``, once it is known that writing it loses nothing: never the store (whatever the path or
    link that names it), a folder, or a file that is not an audit pack an earlier run wrote."""
    path = Path(out)
    where = f"--out {out}"
    if path.is_dir():
        raise PackError(f"{where}: is a directory; name the zip file to write")
    if path.exists():
        if os.path.exists(store) and os.path.samefile(store, path):
            raise PackError(f"{where}: is the store itself; nothing was written (name another file)")
        if not is_pack(path):
            raise PackError(f"{where}: exists and is not a fleetsam audit pack; nothing was written "
                            "(remove it or name another file)")
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise PackError(f"{where}: {folder} is not a directory; nothing was written")
    return path


def _write(path: Path, data: bytes) -> None:
    """``data`` written beside ``path`` under a temporary name and renamed over it; on any failure
    the temporary file is removed and ``PackError`` names --out and the reason."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PackError(f"--out {path}: cannot write there: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise PackError(f"--out {path}: cannot write: {exc.strerror or exc}; nothing was written") from None
        raise


def create(store: str, publisher: str, out: str | Path, *, settings: LicenceSettings | None = None,
           as_of: dt.date | None = None, scan_id: str | None = None) -> tuple[Path, dict[str, Any], str]:
    """Write the pack of ``publisher``; return its path, its manifest and the SHA-256 of the zip.

    The licence terms are those of ``as_of``, else of the day scan ``scan_id`` finished (UTC), else
    of today: a past fleet is counted under the terms it stood under."""
    path = _target(store, out)
    created, policy = creation_time(), policy_or_default(policy_path())
    with open_store(store, create=False, readonly=True) as st:  # the fleet, after ``scan_id`` or on ``as_of``
        scan = load_fleet(st, store, scan_id, as_of if scan_id is None else None, policy.retire_days)
        history = st.scans()
        stored = st.entitlements()
    terms = as_of or (scan.finished_day if scan_id is not None else dt.date.today())
    ctx = load_context(settings or LicenceSettings.from_env(), terms, stored,
                       memory=RecognitionCache.beside(store))  # the readings a run saved; never written here
    if ctx.has_errors:  # a pack without a licence the customer owns must not reach an auditor
        raise PackError("the licence data has errors, no pack written: "
                        + "; ".join(str(p) for p in ctx.problems if p.severity == "error"))
    position = position_of(scan.hosts, ctx)
    model = report.build(scan, history, position, ctx.problems, entitlements=ctx.entitlements,
                         staleness=Staleness.on(terms, policy.stale_days))
    files = build_files(model, scan, ctx, publisher, created)
    data = pack_bytes(files)
    _write(path, data)
    return path, json.loads(files[MANIFEST]), sha256(data)


def bounded(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
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
