"""The store interface: what the engine needs from persistence, and nothing more.

The engine talks to a ``Store`` only; ``open_store`` picks the backend from the
location: a path (or ``tinydb://PATH``) is the embedded TinyDB store
(``store.tinydb_store``), a ``postgresql://`` (or ``postgres://``) URL the
shared PostgreSQL store (``store.postgres_store``) for ansible-runner / AWX
fleets. Both keep the same documents (``store.documents``).

A store session is a transaction: ``with open_store(path) as store: ...``
commits on a clean exit and discards every change when the block raises, so a
rejected import or a crashed scan leaves the store byte-identical.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

from sam_engine.store import masked
from sam_engine.staleness import aged_on
from sam_engine.store.fleet import Retired, Retirement, aged_out, instant
from sam_engine.model import (Entitlement, GuestVM, Hardware, Host, HostScan, HostStatus, HostUser, Installation,
                              PhysicalServer, Scan, Topology, Virtualization)
from sam_engine.vocabulary import Collector

@dataclass(frozen=True, slots=True)
class ScanInfo:
    """A scan's metadata without its inventories (for listings and history)."""

    scan_id: str
    started: str
    finished: str
    tool_version: str
    playbook: str | None
    hosts_ok: int
    hosts_unreachable: int
    hosts_failed: int
    installations: int
    group: str | None = None
    scope: tuple[str, ...] = ()


class StoreError(Exception):
    """The store cannot be opened or read (corrupt file, locked, wrong format)."""


class NoStore(StoreError):
    """A reading command named a store that does not exist (a typo, or nothing scanned yet)."""


class ScanNotFound(LookupError):
    """The store holds no scan, or none with the id asked for; the message says which."""


class HostNotFound(LookupError):
    """A host named on the command line is not in the fleet (or names more than one host)."""


class Store(abc.ABC):
    """Persistence for scans. Implementations must be transactional per session."""

    @abc.abstractmethod
    def save_scan(self, scan: Scan) -> None:
        """Persist one scan; inventories already stored (same digest) are not stored again."""

    @abc.abstractmethod
    def scans(self) -> list[ScanInfo]:
        """Every scan, oldest first."""

    @abc.abstractmethod
    def load_scan(self, scan_id: str | None = None, as_of: dt.date | None = None) -> Scan | None:
        """The fleet (``fleet.py``) with its inventories, as it stands now, right after run
        ``scan_id``, or at the end of the day ``as_of``; None when no run is stored (by then).
        Raises LookupError for an unknown ``scan_id``."""

    @abc.abstractmethod
    def load_run(self, scan_id: str) -> Scan | None:
        """One run alone: only the hosts it covered; None for an unknown ``scan_id``."""

    @abc.abstractmethod
    def last_inventory(self, inventory_name: str, as_collected: bool = False) -> HostScan | None:
        """The fleet's newest inventoried record of the machine ``inventory_name`` last stood for, or None;
        its inventory in canonical order, or ``as_collected`` (``ingest.inventory.inventory_from_doc``)."""

    @abc.abstractmethod
    def last_source(self, inventory_name: str) -> str | None:
        """The ``source_digest`` of that newest record (None when there is none): decides, without
        loading the inventory, whether a run can take it instead of reading its bulk."""

    @abc.abstractmethod
    def retire(self, names: Sequence[str], reason: str = "") -> list[Retired]:
        """Take hosts (by inventory name, host id or fleet key) out of the fleet now; their history
        stays. A host retired already (not inventoried since) keeps its retirement: nothing is
        recorded for it. Returns each host's ``Retired``, by inventory name; HostNotFound (nothing
        retired) for a name not in the fleet or naming several hosts."""

    @abc.abstractmethod
    def retirements(self) -> list[Retirement]:
        """Every retirement made, oldest first."""

    @abc.abstractmethod
    def entitlements(self) -> list[Entitlement]:
        """Every stored entitlement (imported or added by hand), in the order added."""

    @abc.abstractmethod
    def add_entitlements(self, items: Sequence[Entitlement]) -> int:
        """Store the entitlements whose id is new; return how many. Stored ones stay unchanged."""

    @abc.abstractmethod
    def remove_entitlement(self, entitlement_id: str) -> bool:
        """Remove one stored entitlement; False when there is none with that id."""

    # -- findings and notifications (see notify.py); plain JSON documents ------------------

    def finding_states(self) -> list[dict]:
        """Every finding's notification state (table ``findings_state``, one document per ``id``)."""
        raise NotImplementedError

    def save_finding_states(self, docs: Sequence[dict]) -> None:
        """Insert or replace finding states by ``id``."""
        raise NotImplementedError

    def deliveries(self) -> list[dict]:
        """Pending notification deliveries (table ``notify_outbox``), oldest first."""
        raise NotImplementedError

    def save_deliveries(self, docs: Sequence[dict]) -> None:
        """Insert or replace pending deliveries by ``delivery_id``."""
        raise NotImplementedError

    def remove_deliveries(self, delivery_ids: Iterable[str]) -> None:
        """Forget delivered (or dropped) deliveries."""
        raise NotImplementedError

    # -- per-scan position summaries, for the report's trend (see report.py) ---------------

    def scan_summaries(self) -> dict[str, dict]:
        """The recorded position counts of each scan, by scan id; empty when the backend keeps none."""
        return {}

    def save_scan_summary(self, doc: dict) -> None:
        """Insert or replace the position counts of one scan (``doc["scan_id"]``); a no-op by default."""

    # -- every stored document, for ``fleetsam store copy`` (see documents.TABLES) ----------

    @abc.abstractmethod
    def export_documents(self) -> dict[str, list[dict]]:
        """Every document of every table (``documents.TABLES``), in stored order."""

    @abc.abstractmethod
    def import_documents(self, tables: dict[str, list[dict]]) -> None:
        """Add the documents of ``export_documents`` as they are (into an empty store)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make this session's changes durable (atomically)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store; uncommitted changes are discarded."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()


LOCK_TIMEOUT = 300.0  # seconds a writer waits for another one (env FLEETSAM_LOCK_TIMEOUT)


def lock_timeout() -> float:
    """Seconds a writer waits for the store (``FLEETSAM_LOCK_TIMEOUT``), the same for every backend."""
    text = os.environ.get("FLEETSAM_LOCK_TIMEOUT", "")
    try:
        return max(0.0, float(text)) if text else LOCK_TIMEOUT
    except ValueError:
        raise StoreError(f"FLEETSAM_LOCK_TIMEOUT={text!r}: expected a number of seconds") from None


def require_scan(store: Store, location: str, scan_id: str | None = None, as_of: dt.date | None = None) -> Scan:
    """``store.load_scan(scan_id, as_of)`` (the fleet now when both are None), or ``ScanNotFound``
    naming what is missing."""
    ids = {i.scan_id for i in store.scans()}
    if not ids:
        raise ScanNotFound(f"{masked(location)}: no scan stored (run a scan or fleetsam ingest first)")
    if scan_id is not None and scan_id not in ids:
        raise ScanNotFound(f'{masked(location)}: no scan with id "{scan_id}"; fleetsam scans lists them')
    scan = store.load_scan(scan_id, as_of)
    if scan is None:
        raise ScanNotFound(f"{masked(location)}: no scan stored on or before {as_of}")
    return scan


def load_fleet(st: Store, location: str, scan_id: str | None = None, as_of: dt.date | None = None,
               retire_days: int = 0, day: dt.date | None = None) -> Scan:
    """The fleet of the store at ``location`` as it stands now, right after run ``scan_id`` or at the
    end of the day ``as_of``, without the hosts not inventoried for ``retire_days`` (0: none leave by
    age) on ``day`` (default: ``as_of``, else the day of run ``scan_id``, else today). Raises
    ``ScanNotFound`` when there is no such scan."""
    fleet = require_scan(st, location, scan_id, as_of)
    if retire_days <= 0:
        return fleet
    day = day or as_of or (dt.date.fromisoformat(instant(fleet.finished)[:10]) if scan_id else dt.date.today())
    # a later day than today (the licence terms of a date to come) ages nothing past today: no scan can
    # have been missed yet, and a fleet emptied by age would make a check on that date pass
    day = aged_on(day)
    # an inventory without its time (an optional spool field) ages from the end of the run that collected it;
    # a host never inventoried from the end of the newest run that tried it: one no run tries any more leaves
    # like the others, one still tried every night stays and keeps saying it is never reached
    runs = {i.scan_id: i.finished for i in st.scans()} if any(not h.collected_at for h in fleet.hosts) else {}

    def seen(h: HostScan) -> str | None:
        return h.collected_at or runs.get(h.inventory_scan_id or h.scan_id)

    return replace(fleet, hosts=tuple(h for h in fleet.hosts if not aged_out(seen(h), day, retire_days)))


# --- conversions at the store boundary, shared by every backend -------------------------


def host_to_doc(host: Host | None) -> dict | None:
    if host is None:
        return None
    hw = host.hardware
    doc = {f: getattr(host, f) for f in Host.__slots__ if f not in ("hardware", "users")}
    doc["hardware"] = {f: getattr(hw, f) for f in Hardware.__slots__}
    doc["hardware"]["virtualization"] = hw.virtualization.value
    if host.users is not None:  # absent: no user data, which is not "no users"
        doc["users"] = [[u.account, u.kind, u.last_login, u.source] for u in host.users]
    return doc


def host_from_doc(doc: dict | None) -> Host | None:
    if doc is None:
        return None
    hw = dict(doc.get("hardware") or {})
    hw["virtualization"] = Virtualization(hw.get("virtualization", "unknown"))
    fields = {k: v for k, v in doc.items() if k not in ("hardware", "users")}
    users = doc.get("users")
    return Host(hardware=Hardware(**hw), users=None if users is None else tuple(HostUser(*u) for u in users),
                **fields)


def host_scan_doc(hs: HostScan, digest: str | None) -> dict:
    return {
        "scan_id": hs.scan_id,
        "inventory_name": hs.inventory_name,
        "status": hs.status.value,
        "host": host_to_doc(hs.host),
        "collector": hs.collector,
        "inventory_scan_id": hs.inventory_scan_id,
        "inventory_digest": digest,
        "error": hs.error,
        "warnings": list(hs.warnings),
        "collected_at": hs.collected_at,
        "groups": list(hs.groups),
        "topology": topology_to_doc(hs.topology),
        "source_digest": hs.source_digest,
    }


_SCAN_TEXTS = ("scan_id", "started", "finished")  # what every stored scan record holds as text


def scan_info_from_doc(doc: Mapping, where: str) -> ScanInfo:
    """A stored scan record; a value not of its type (a store edited by hand) is a ``StoreError`` naming
    ``where``, the scan and the field, before any command works on it."""
    for name in _SCAN_TEXTS:
        if not isinstance(doc.get(name), str):
            raise StoreError(f"{where}: scan {doc.get('scan_id')!r}: {name}: expected text, got {doc.get(name)!r}")
    return ScanInfo(**{f: doc.get(f) for f in ScanInfo.__slots__ if f != "scope"},
                    scope=tuple(doc.get("scope") or ()))


def host_scan_from_doc(doc: dict, installations: tuple[Installation, ...], where: str = "the store") -> HostScan:
    try:
        status = HostStatus(doc["status"])
    except (KeyError, ValueError):
        raise StoreError(f"{where}: scan {doc.get('scan_id')!r}, host {doc.get('inventory_name')!r}: status: expected "
                         f"one of {', '.join(s.value for s in HostStatus)}, got {doc.get('status')!r}") from None
    return HostScan(
        scan_id=doc["scan_id"],
        inventory_name=doc["inventory_name"],
        status=status,
        host=host_from_doc(doc.get("host")),
        installations=installations,
        collector=doc["collector"] if "collector" in doc else Collector.LINUX.value,  # older documents
        inventory_scan_id=doc.get("inventory_scan_id"),
        inventory_digest=doc.get("inventory_digest"),
        error=doc.get("error"),
        warnings=tuple(doc.get("warnings") or ()),
        collected_at=doc.get("collected_at"),
        groups=tuple(doc.get("groups") or ()),
        topology=topology_from_doc(doc.get("topology")),
        source_digest=doc.get("source_digest"),
    )


def topology_to_doc(topology: Topology | None) -> dict | None:
    """A hypervisor collector's view as stored (None when the host reported none)."""
    if topology is None:
        return None
    return {"servers": [{f: getattr(s, f) for f in PhysicalServer.__slots__} for s in topology.servers],
            "guests": [{**{f: getattr(g, f) for f in GuestVM.__slots__}, "pinned_cpus": list(g.pinned_cpus)}
                       for g in topology.guests]}


def topology_from_doc(doc: dict | None) -> Topology | None:
    if doc is None:
        return None
    return Topology(tuple(PhysicalServer(**s) for s in doc.get("servers") or ()),
                    tuple(GuestVM(**{**g, "pinned_cpus": tuple(g.get("pinned_cpus") or ())})
                          for g in doc.get("guests") or ()))


def entitlement_to_doc(ent: Entitlement) -> dict:
    """A stored entitlement; licence keys are kept as given (the store is the secured place)."""
    doc = {f: getattr(ent, f) for f in Entitlement.__slots__}
    doc["suite_components"] = list(ent.suite_components)
    doc["keys"] = list(ent.keys)
    return doc


def entitlement_from_doc(doc: dict) -> Entitlement:
    fields = {f: doc[f] for f in Entitlement.__slots__ if f in doc}
    fields["suite_components"] = tuple(doc.get("suite_components") or ())
    fields["keys"] = tuple(doc.get("keys") or ())
    return Entitlement(**fields)


def chronological(infos: Iterable[ScanInfo]) -> list[ScanInfo]:
    """Stored runs in the order they finished, in UTC (by scan id where two finished at once).

    A run's spool may be ingested after a later run's (a run kept after a failure, a site's
    controller that reports late): the fleet, the history and ``diff`` follow when runs ended,
    never when they were stored, so the order of storing changes nothing."""
    return sorted(infos, key=lambda i: (instant(i.finished), i.scan_id))


def scan_info(scan: Scan) -> ScanInfo:
    return ScanInfo(
        scan_id=scan.scan_id,
        started=scan.started,
        finished=scan.finished,
        tool_version=scan.tool_version,
        playbook=scan.playbook,
        hosts_ok=scan.count(HostStatus.OK),
        hosts_unreachable=scan.count(HostStatus.UNREACHABLE),
        hosts_failed=scan.count(HostStatus.FAILED),
        installations=scan.installation_count,
        group=scan.group,
        scope=tuple(scan.scope),
    )
