"""The stored documents every backend keeps, and how a scan becomes them.

Both backends hold the same documents (``interface.host_scan_doc`` and the
compact inventories of ``ingest.inventory``) in the same tables; TinyDB keeps
them in one JSON file, PostgreSQL one row per document. What a run writes is
decided here once (``scan_documents``), so an inventory has one digest in
either store and ``fleetsam store copy`` can compare the two table by table.

PostgreSQL keeps a run's row per host (``host_scans``) small, since a fleet's
daily run repeats what the run before stored, and reads it back as the very
document written (``stored_row``, ``read_row``): the host's facts go to
``host_facts`` once per distinct content and the row names them by digest;
its users (``users``: accounts with their last login) are a document of their
own there, named by a second digest, so a new login adds that small list, not
the host's facts again;
``scan_id`` and ``inventory_name`` are its key columns; the other fields are a
JSON array in the order of ``ROW_FIELDS`` (``inventory_scan_id`` 0 when it is
the row's own run, ``collector`` 0 for the Linux collector's). A document with other fields stays an object, as every
row of schema 1 is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Container, Mapping, Sequence

from sam_engine.ingest.inventory import NO_TIME, Inventory, RowTable, SnapshotTable, compact_view, content_digest
from sam_engine.model import HostStatus, Scan
from sam_engine.store.fleet import Retired, Retirement, in_force
from sam_engine.store.interface import HostNotFound, ScanInfo, host_scan_doc, scan_info
from sam_engine.vocabulary import Collector

# Every table of a store, in the order a copy writes them (a document refers only to earlier tables).
TABLES = ("scans", "host_scans", "snapshots", "inventories", "entitlements", "findings_state",
          "notify_outbox", "scan_summaries", "retired")


@dataclass(frozen=True, slots=True)
class ScanDocuments:
    """What saving one scan adds: its run document, one document per host, and the inventories
    (with the snapshot holding their string table) not stored before."""

    scan: dict
    hosts: list[dict]
    inventories: list[dict]
    snapshot: dict | None


def scan_documents(scan: Scan, known: Container[str]) -> ScanDocuments:
    """The documents of ``scan``; an inventory whose digest is in ``known`` is referenced, not stored again."""
    snapshot, fallback = SnapshotTable(), RowTable()
    added: set[str] = set()
    inventories, hosts = [], []
    for hs in scan.hosts:
        digest = hs.inventory_digest
        if hs.status is not HostStatus.OK and (digest in known or digest in added):
            pass  # a stale host's carried-over inventory: stored already
        elif hs.status is HostStatus.OK or hs.installations:
            inv = hs.installations
            if isinstance(inv, Inventory):
                table, ids, times = inv.table, inv.ids, inv.times
            else:
                table, ids = compact_view(inv, fallback)
                times = [NO_TIME if i.install_time is None else i.install_time for i in inv]
            digest = getattr(inv, "digest", None) or content_digest(table, ids, times)
            if digest not in known and digest not in added:
                added.add(digest)
                sources = getattr(inv, "sources", None)  # known from ingest: kept for the reports
                inventories.append({"digest": digest, "scan_id": scan.scan_id,
                                    **snapshot.encode(table, ids, times),
                                    **({"sources": sources} if sources is not None else {})})
        hosts.append(host_scan_doc(hs, digest))
    info = scan_info(scan)
    doc = {f: getattr(info, f) for f in ScanInfo.__slots__}
    doc["scope"] = list(info.scope)
    return ScanDocuments(doc, hosts, inventories,
                         {"scan_id": scan.scan_id, **snapshot.doc()} if inventories else None)


def retirement_keys(fleet: Mapping, names: Sequence[str], where: str) -> dict[str, str]:
    """fleet key -> inventory name of each host ``names`` (inventory names, host ids or fleet keys)
    stand for in ``fleet`` (``fleet.fleet_index``). HostNotFound, naming ``where``, for a name that
    matches no host or several."""
    found, unknown = {}, []
    for name in names:
        keys = {k for k, d in fleet["hosts"].items()
                if name in (k, d["inventory_name"], (d.get("host") or {}).get("host_id"))}
        if fleet["names"].get(name) in fleet["hosts"]:
            keys.add(fleet["names"][name])
        if len(keys) > 1:  # e.g. a reinstalled machine (new machine-id) under its old name
            raise HostNotFound(f"{where}: {name!r} names {len(keys)} hosts ({', '.join(sorted(keys))}): "
                               f"retire one by its host id; nothing retired")
        if not keys:
            unknown.append(name)
        found.update((k, fleet["hosts"][k]["inventory_name"]) for k in keys)
    if unknown:
        raise HostNotFound(f"{where}: no host {', '.join(map(repr, unknown))} in the fleet "
                           f"(see 'fleetsam hosts'); nothing retired")
    return found


def retire_hosts(fleet: Mapping, names: Sequence[str], retired: Sequence[Retirement], reason: str,
                 where: str) -> list[Retired]:
    """What ``Store.retire`` does, by inventory name: a retirement made now for each host ``names``
    stand for in ``fleet`` (``retirement_keys``), but a host that ``retired`` (the store's
    retirements) keep out already keeps that one, so retiring twice records nothing new."""
    found = retirement_keys(fleet, names, where)
    before = in_force(fleet, found, retired)
    at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    done = [Retired(name, before[key], False) if key in before else Retired(name, Retirement(key, at, reason), True)
            for key, name in found.items()]
    return sorted(done, key=lambda d: (d.name, d.retirement.key))


def retirement_docs(done: Sequence[Retired]) -> list[dict]:
    """The ``retired`` table's documents of the retirements ``retire_hosts`` made (none for a host retired already)."""
    return [{"key": d.retirement.key, "at": d.retirement.at, "reason": d.retirement.reason} for d in done if d.new]


def table_digest(docs: Sequence[Mapping], canonical: Callable[[Mapping], Mapping] = dict) -> str:
    """SHA-256 over a table's documents in their stored order, each as sorted-key JSON."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(json.dumps(canonical(doc), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


# -- a host's row in PostgreSQL -------------------------------------------------------

KEY_COLUMNS = ("scan_id", "inventory_name")
# new fields go last: shorter rows still read
ROW_FIELDS = ("status", "collector", "inventory_scan_id", "inventory_digest", "error", "warnings", "collected_at",
              "groups", "host_digest", "topology", "users_digest", "source_digest")
HOST_DIGEST_AT = ROW_FIELDS.index("host_digest")  # where SQL finds it in an array row
USERS_DIGEST_AT = ROW_FIELDS.index("users_digest")
_OWN_RUN = 0  # never a scan id (a string or None)
_LINUX = Collector.LINUX.value  # the collector of most rows
_DEFAULT_COLLECTOR = 0  # never a collector name


def facts_digest(facts: Mapping[str, Any]) -> str:
    text = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_row(doc: Mapping[str, Any]) -> tuple[list | dict, list[tuple[str, Any]]]:
    """What the row's ``doc`` column holds for the host_scans document ``doc``, and the
    ``(digest, document)`` pairs to keep in ``host_facts``: the host's facts without its users,
    and its users when it reported any (none: the document has no facts)."""
    rest = {k: v for k, v in doc.items() if k not in KEY_COLUMNS}
    facts = []
    if isinstance(rest.get("host"), dict):
        host = dict(rest.pop("host"))
        users = host.pop("users", None)
        facts.append((facts_digest(host), host))
        rest["host_digest"] = facts[0][0]
        rest["users_digest"] = None  # None: no user data, as the document without "users" says
        if users is not None:
            facts.append((facts_digest({"users": users}), {"users": users}))
            rest["users_digest"] = facts[1][0]
    if set(rest) != set(ROW_FIELDS):
        return rest, facts
    values = [rest[f] for f in ROW_FIELDS]
    if values[1] == _LINUX:
        values[1] = _DEFAULT_COLLECTOR
    if values[2] == doc["scan_id"]:
        values[2] = _OWN_RUN
    return values, facts


def read_row(scan_id: str, inventory_name: str, stored: list | dict, facts: Mapping | None,
             users: Mapping | None = None) -> dict:
    """The host_scans document of a stored row (either form), its facts and users put back (a row
    written before users were kept apart has them inside its facts)."""
    if isinstance(stored, list):
        doc = dict(zip(ROW_FIELDS, stored))
        if doc["collector"] == _DEFAULT_COLLECTOR:
            doc["collector"] = _LINUX
        if doc["inventory_scan_id"] == _OWN_RUN:
            doc["inventory_scan_id"] = scan_id
    else:
        doc = dict(stored)
    doc = {"scan_id": scan_id, "inventory_name": inventory_name, **doc}
    if "host_digest" in doc:
        doc["host"] = facts
        del doc["host_digest"]
    if doc.pop("users_digest", None) is not None:
        doc["host"] = {**doc["host"], **users}
    return doc
