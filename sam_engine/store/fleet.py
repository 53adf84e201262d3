"""The fleet: every known host with the latest inventory any run collected for it.

A run (one playbook, one ``fleetsam ingest``) stores only the hosts it
targeted. The position, the findings, the reports, ``check``, ``diff`` and the
audit pack read the *fleet* instead: for each host, its newest record over all
runs, so a ``--limit``ed run, a WinRM job of its own or one slice of an AWX job
never empties the rest of the fleet. A host outside a run's scope keeps its
record (inventory, status, last seen) untouched.

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


@dataclass(frozen=True, slots=True)
class RunRef:
    """A stored run's place in history: its end time (ISO, UTC), which orders the runs
    (``interface.chronological``)."""

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
    run's end, for a document without its collection time), since a later inventory brings it back."""
    return (cutoff is None or r.at <= cutoff) and (doc.get("collected_at") or finished[doc["scan_id"]]) <= r.at


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
        chosen = [r for r in chosen if r.finished[:10] <= as_of.isoformat()]
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
        cutoff = (as_of + dt.timedelta(days=1)).isoformat()
    else:
        cutoff = None if scan_id is None else last.finished
    return last, runs, cutoff


def _better(new: Mapping, old: Mapping) -> bool:
    """Within one run a machine seen under two names: the successful record wins, else the later name."""
    return (new["status"] == "ok", new["inventory_name"]) >= (old["status"] == "ok", old["inventory_name"])


def fleet_docs(runs: Sequence[RunRef], docs: Iterable[Mapping], retired: Iterable[Retirement] = (),
               cutoff: str | None = None) -> list[dict]:
    """Each host's newest document over ``runs`` (oldest first), without retired hosts; each
    returned document gets its ``fleet_key``.

    ``docs`` are host documents of any runs; those of runs not in ``runs`` are
    ignored. A retirement made at or before ``cutoff`` (None: any) removes a
    host whose inventory was collected before it; a run that inventories the
    host again after its retirement brings it back.
    """
    order = {r.scan_id: n for n, r in enumerate(runs)}
    finished = {r.scan_id: r.finished for r in runs}
    docs = [d for d in docs if d["scan_id"] in order]
    key_of = fleet_keys(docs)
    latest: dict[str, dict] = {}
    for doc in docs:
        n = order[doc["scan_id"]]
        key = key_of(doc)
        held = latest.get(key)
        if held is None or n > order[held["scan_id"]] or (n == order[held["scan_id"]] and _better(doc, held)):
            latest[key] = dict(doc)
    # a name met unreachable (no facts, keyed by name) and reached in another run counts once, as its machine
    # (the newest of those under that name); when the unreachable record is the newer (its run finished later
    # but was stored first), the machine's record takes its run, status and error: that machine's last
    # inventory, now stale, as a run that knew the machine would have recorded it
    machines: dict[str, str] = {}
    for key, doc in latest.items():
        name = doc["inventory_name"]
        if not key.startswith("inventory:") and (
                name not in machines or order[doc["scan_id"]] > order[latest[machines[name]]["scan_id"]]):
            machines[name] = key
    for key in [k for k, d in latest.items() if k.startswith("inventory:") and d["inventory_name"] in machines]:
        unreached = latest.pop(key)
        held = latest[machines[unreached["inventory_name"]]]
        if order[unreached["scan_id"]] > order[held["scan_id"]]:
            held.update(scan_id=unreached["scan_id"], status=unreached["status"], error=unreached.get("error"),
                        groups=unreached.get("groups") or held.get("groups") or [],
                        inventory_scan_id=held.get("inventory_scan_id") or held["scan_id"])
    for r in retired:
        doc = latest.get(r.key)
        if doc is not None and holds_out(r, doc, finished, cutoff):
            del latest[r.key]
    for key, doc in latest.items():
        doc["fleet_key"] = key
    return sorted(latest.values(), key=lambda d: (d["inventory_name"], d["fleet_key"]))


def fleet_index(runs: Sequence[RunRef], docs: Sequence[Mapping]) -> dict:
    """``{"hosts": fleet key -> newest document, "names": inventory name -> the key it last stood
    for, "finished": scan id -> its end}``, retirements left out: what a new run's unreachable hosts
    carry their inventory from, and what tells a retirement still in force (``in_force``)."""
    key_of, names = fleet_keys(docs), {}
    order = {r.scan_id: n for n, r in enumerate(runs)}
    for doc in sorted(docs, key=lambda d: order.get(d["scan_id"], -1)):
        if doc.get("host"):
            names[doc["inventory_name"]] = key_of(doc)
    return {"hosts": {d["fleet_key"]: d for d in fleet_docs(runs, docs)}, "names": names,
            "finished": {r.scan_id: r.finished for r in runs}}


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
    """Whether a host last inventoried at ``collected_at`` has left the position by age on ``as_of``
    (``retire_days`` 0: never). A host never inventoried has nothing in the position to age."""
    if retire_days <= 0 or not collected_at:
        return False
    try:
        seen = dt.date.fromisoformat(collected_at[:10])
    except ValueError:
        return False
    return (as_of - seen).days >= retire_days
