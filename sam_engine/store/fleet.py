"""The fleet: every known host with the latest inventory any run collected for it.

A run (one playbook, one ``fleetsam ingest``) stores only the hosts it
targeted. The position, the findings, the reports, ``check``, ``diff`` and the
audit pack read the *fleet* instead: for each host, its newest inventory over
all runs with its newest run's status (``_machines``), so a ``--limit``ed run, a
WinRM job of its own or one slice of an AWX job never empties the rest of the
fleet. A host outside a run's scope keeps its record (inventory, status, last
seen) untouched. Only what each run itself saw counts: a stale record's copy of
the inventory it carried over is the store as it stood when that run was
ingested, so the fleet does not depend on the order runs were stored in.

Functions here are pure and work on the stored host documents
(``interface.host_scan_doc``), shared by every backend; the backend turns the
chosen documents into ``HostScan`` records with their inventories.

Identity (``Keyer``) is the stable ``host_id`` of the platform code:
``machine-id:…``, ``dmi-uuid:…``, ``serial:…``, ``platform-uuid:…``; one
machine scanned under two inventory names is one host. A machine-id seen on
two boards (different DMI UUIDs or serials: an image cloned with its
machine-id) is two hosts, keyed by machine-id and board.
A host never reached at all has no facts; it is known by its inventory name
until a run reaches it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from sam_engine.model import utc_time


@dataclass(frozen=True, slots=True)
class RunRef:
    """A stored run's place in history: its end time (ISO, UTC), which orders the runs
    (``interface.chronological``) and bounds when its inventories were collected."""

    scan_id: str
    finished: str


@dataclass(frozen=True, slots=True)
class Retirement:
    """A host taken out of the fleet by hand (``fleetsam hosts retire``): its key and when."""

    key: str
    at: str  # ISO timestamp, UTC
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Retired:
    """A host ``Store.retire`` was asked to retire: its inventory name and the retirement keeping it
    out of the fleet, made by that call (``new``) or earlier (then nothing was recorded)."""

    name: str
    retirement: Retirement
    new: bool


def holds_out(r: Retirement, doc: Mapping, finished: Mapping[str, str], cutoff: str | None = None) -> bool:
    """Whether the retirement ``r`` keeps the host whose newest document is ``doc`` out of the fleet:
    made by ``cutoff`` (None: any time) and after the host was last inventoried (``finished``: each
    run's end, for a document without its collection time), since a later inventory brings it back.
    Times are compared as instants, whatever offset a store written before times were made UTC holds."""
    at = instant(r.at)
    return (cutoff is None or at <= cutoff) and instant(doc.get("collected_at") or finished[doc["scan_id"]]) <= at


def instant(text: str) -> str:
    """A stored time as comparable text, UTC ``...Z`` (``model.utc_time``; the spool reader stores that
    form, so only older stores pay the parse); as written when it is no time."""
    if len(text) == 20 and text[19] == "Z":
        return text
    return utc_time(text) or text


def in_force(fleet: Mapping, keys: Iterable[str], retired: Iterable[Retirement]) -> dict[str, Retirement]:
    """fleet key -> the earliest of ``retired`` keeping that host out of the fleet now, for each of
    ``keys`` (hosts of the ``fleet_index`` ``fleet``) already retired."""
    keys, found = set(keys), {}
    for r in sorted(retired, key=lambda r: r.at):
        if r.key in keys and r.key not in found and holds_out(r, fleet["hosts"][r.key], fleet["finished"]):
            found[r.key] = r
    return found


def fleet_keys(docs: Iterable[Mapping]) -> "Keyer":
    """The identity each of ``docs`` counts under in the fleet (see ``Keyer``)."""
    boards: dict[str, set[str]] = {}
    for doc in docs:
        host = doc.get("host") or {}
        if host.get("host_id") and host.get("board_id"):
            boards.setdefault(host["host_id"], set()).add(host["board_id"])
    return Keyer({h for h, b in boards.items() if len(b) > 1})


@dataclass(frozen=True, slots=True)
class Keyer:
    """Fleet keys: the ``host_id``; for a machine-id seen on more than one board (``cloned``: an
    image copied with its machine-id), the machine-id and the board's DMI UUID or serial. A record
    without a board id (older stores, no DMI access) stays under the plain machine-id."""

    cloned: frozenset | set = frozenset()

    def __call__(self, doc: Mapping) -> str:
        host = doc.get("host")
        if not host or not host.get("host_id"):
            return f"inventory:{doc['inventory_name']}"
        if host["host_id"] in self.cloned and host.get("board_id"):
            return f"{host['host_id']}+board:{host['board_id']}"
        return host["host_id"]


def runs_until(runs: Sequence[RunRef], scan_id: str | None = None, as_of: dt.date | None = None) -> list[RunRef]:
    """The runs the fleet is built from: all of them, those up to and including ``scan_id``, or
    those that finished on or before the day ``as_of``. Raises LookupError for an unknown ``scan_id``."""
    chosen = list(runs)
    if scan_id is not None:
        ids = [r.scan_id for r in chosen]
        if scan_id not in ids:
            raise LookupError(f"no scan {scan_id} stored")
        chosen = chosen[: ids.index(scan_id) + 1]
    if as_of is not None:
        chosen = [r for r in chosen if instant(r.finished)[:10] <= as_of.isoformat()]
    return chosen


def fleet_runs(infos: Sequence, scan_id: str | None = None, as_of: dt.date | None = None):
    """What a backend needs to build the fleet from its stored runs ``infos`` (oldest first, each
    with ``scan_id`` and ``finished``): the last chosen run's info, the runs (``runs_until``) and
    the cutoff for retirements (none for the fleet now, the end of the day ``as_of``, or the end of
    run ``scan_id``); None when no run is stored (by then)."""
    runs = runs_until([RunRef(i.scan_id, i.finished) for i in infos], scan_id, as_of)
    if not runs:
        return None
    last = next(i for i in infos if i.scan_id == runs[-1].scan_id)
    if as_of is not None:
        cutoff = f"{as_of.isoformat()}T23:59:59Z"
    else:
        cutoff = None if scan_id is None else instant(last.finished)
    return last, runs, cutoff


# what a host document holds of the inventory it shows; the rest (run, status, error, groups) is its run's
INVENTORY_FIELDS = ("host", "collector", "inventory_scan_id", "inventory_digest", "collected_at", "topology",
                    "source_digest")


def _genuine(doc: Mapping) -> bool:
    """Whether ``doc``'s inventory was collected by its own run, not carried over (stale) from the store
    as it stood when the run was ingested, which depends on the order runs were ingested in."""
    return doc["status"] == "ok" and doc.get("inventory_scan_id") in (None, doc["scan_id"])


def _machines(runs: Sequence[RunRef], docs: Sequence[Mapping]) -> tuple[dict[str, dict], dict[str, str]]:
    """Each host's record over ``runs`` (fleet key -> document, retirements not applied) and, for each
    inventory name, the fleet key of the machine it last stood for; ``docs`` are those of ``runs``.

    A host's inventory is its newest genuine one, ranked by when it was collected (its ``collected_at``,
    never later than its run's end, else that end), so overlapping runs and runs ingested in any order
    give one fleet. Its status (ok, unreachable, failed) is its newest run's, under the name of that
    inventory: a record under a name the machine no longer carries (inventoried under a newer name
    since) changes nothing. A record without an inventory of its own counts for the machine its name
    last stood for, else for the name alone (a host never inventoried by these runs).
    """
    order = {r.scan_id: n for n, r in enumerate(runs)}
    finished = {r.scan_id: instant(r.finished) for r in runs}
    genuine, carried = [], []
    for doc in docs:
        (genuine if _genuine(doc) else carried).append(doc)
    key_of = fleet_keys(genuine)
    inventory: dict[str, dict] = {}
    ranks: dict[str, tuple] = {}  # fleet key -> rank of its inventory
    named: dict[str, tuple] = {}  # inventory name -> (rank, fleet key)
    latest: dict[str, tuple] = {}  # fleet key -> (rank, document) of its newest run
    for doc in genuine:
        scan_id, name, key = doc["scan_id"], doc["inventory_name"], key_of(doc)
        end, at = finished[scan_id], doc.get("collected_at")
        rank = (min(instant(at), end) if at else end, order[scan_id], name)
        held = ranks.get(key)
        if held is None or rank > held:
            ranks[key], inventory[key] = rank, doc
        held = named.get(name)
        if held is None or rank > held[0]:
            named[name] = rank, key
        # within one run a machine seen under two names: the successful record wins, else the later name
        held = latest.get(key)
        if held is None or rank[1:] > held[0]:
            latest[key] = rank[1:], doc
    names = {name: key for name, (_, key) in named.items()}
    for doc in carried:
        name = doc["inventory_name"]
        key = names.get(name, f"inventory:{name}")
        if key in inventory and name != inventory[key]["inventory_name"]:
            continue
        rank = (order[doc["scan_id"]] - 0.5, name)  # below a successful record of the same run
        held = latest.get(key)
        if held is None or rank > held[0]:
            latest[key] = rank, doc
    records = {}
    for key, (_, doc) in latest.items():
        inv = inventory.get(key)
        if inv is None:  # what a record carried is from a run not counted here (a later one, --as-of)
            records[key] = {**doc, **dict.fromkeys(INVENTORY_FIELDS)} if doc.get("inventory_scan_id") else dict(doc)
        elif doc["status"] == "ok":
            records[key] = dict(inv)
        else:  # not reached this time: its newest inventory, stale
            records[key] = {**doc, **{f: inv.get(f) for f in INVENTORY_FIELDS}, "inventory_scan_id": inv["scan_id"],
                            "groups": doc.get("groups") or inv.get("groups") or []}
    return records, names


def fleet_docs(runs: Sequence[RunRef], docs: Iterable[Mapping], retired: Iterable[Retirement] = (),
               cutoff: str | None = None) -> list[dict]:
    """Each host's record over ``runs`` (oldest first; ``_machines``), without retired hosts; each
    returned document gets its ``fleet_key``. The result is the same whatever order the runs were
    stored in.

    ``docs`` are host documents of any runs; those of runs not in ``runs`` are
    ignored. A retirement made at or before ``cutoff`` (UTC ``...Z``; None: any) removes a
    host whose inventory was collected before it; a run that inventories the
    host again after its retirement brings it back.
    """
    chosen = {r.scan_id for r in runs}
    records, _ = _machines(runs, [d for d in docs if d["scan_id"] in chosen])
    finished = {r.scan_id: r.finished for r in runs}
    for r in retired:
        doc = records.get(r.key)
        if doc is not None and holds_out(r, doc, finished, cutoff):
            del records[r.key]
    for key, doc in records.items():
        doc["fleet_key"] = key
    return sorted(records.values(), key=lambda d: (d["inventory_name"], d["fleet_key"]))


def fleet_index(runs: Sequence[RunRef], docs: Sequence[Mapping]) -> dict:
    """``{"hosts": fleet key -> newest document, "names": inventory name -> the key it last stood
    for, "finished": scan id -> its end}``, retirements left out: what a new run's unreachable hosts
    carry their inventory from, and what tells a retirement still in force (``in_force``)."""
    chosen = {r.scan_id for r in runs}
    records, names = _machines(runs, [d for d in docs if d["scan_id"] in chosen])
    for key, doc in records.items():
        doc["fleet_key"] = key
    return {"hosts": records, "names": names, "finished": {r.scan_id: r.finished for r in runs}}


def newest_doc(fleet: Mapping, inventory_name: str) -> Mapping | None:
    """The ``fleet_index`` document of the machine ``inventory_name`` last stood for, or None."""
    key = fleet["names"].get(inventory_name)
    return fleet["hosts"].get(key) if key else None


def newest_source(fleet: Mapping, inventory_name: str) -> tuple[str, str] | None:
    """(inventory digest, bulk key) of that newest document, when it has both (``Store.last_source``)."""
    doc = newest_doc(fleet, inventory_name)
    if doc is None or not doc.get("inventory_digest") or doc.get("source_digest") is None:
        return None
    return doc["inventory_digest"], doc["source_digest"]


def aged_out(collected_at: str | None, as_of: dt.date, retire_days: int) -> bool:
    """Whether a host last inventoried (or, never inventoried, last tried) at ``collected_at`` has left
    the fleet by age on ``as_of`` (``retire_days`` 0: never)."""
    if retire_days <= 0 or not collected_at:
        return False
    try:
        seen = dt.date.fromisoformat(instant(collected_at)[:10])
    except ValueError:
        return False
    return (as_of - seen).days >= retire_days
