"""What a fleet's findings cannot be trusted for, worded once for ``fleetsam check`` and the reports.

A fleet without a host, or whose every host is stale, yields findings that pass: nothing
measured is short of licences. ``no_host`` says why there is no host (``fleetsam check``
exits 2 on it; a report shows it), ``all_stale`` notes a fleet judged on old or carried-over
inventories (every host stale, ``staleness``), or on none.
"""

from __future__ import annotations

import datetime as dt

from sam_engine.model import Scan
from sam_engine.plain_text import one_line
from sam_engine.staleness import Staleness, aged_on


def no_host(store, location: str, fleet: Scan, as_of: dt.date | None, retire_days: int,
            scan_id: str | None = None) -> str:
    """Why ``fleet`` (the store's fleet after run ``scan_id``, or at the end of ``as_of``, less the hosts
    aged out after ``retire_days``) has no host: every host aged out, or none."""
    from sam_engine.store.interface import load_fleet

    known = load_fleet(store, location, scan_id, as_of) if retire_days > 0 else fleet  # before ageing
    if not known.hosts:
        return (f"no host to check: the fleet after scan {one_line(fleet.scan_id)} has none (none scanned, or "
                "every one retired); run a scan")
    day = aged_on(as_of or (fleet.finished_day if scan_id else dt.date.today()))  # as load_fleet ages
    newest = max((h.collected_at[:10] for h in known.hosts if h.collected_at), default="never")
    return (f"no host to check on {day}: each of the fleet's {len(known.hosts)} hosts was last inventoried "
            f"{retire_days} days or more before (the policy's retire_days), the newest on {one_line(newest)}; "
            "run a scan, or check an earlier day with --as-of")


def all_stale(fleet: Scan, day: dt.date, stale_days: int) -> tuple[str, ...]:
    """A note when every host of the fleet is stale on ``day`` (``staleness``, worded as the report's
    stale tile words it): the findings judged inventories no run took lately, or none at all when no
    host was ever inventoried."""
    rule = Staleness.on(day, stale_days)
    if not fleet.hosts or not all(rule.stale(hs) for hs in fleet.hosts):
        return ()
    newest = max((hs.collected_at[:10] for hs in fleet.hosts if hs.collected_at), default=None)
    return (f"every host of the fleet ({len(fleet.hosts)}) is stale ({rule.counted(fleet.hosts)})"
            + (f", the newest inventory on {one_line(newest)}; the findings judged their last inventories"
               if newest else "; none was ever inventoried, so nothing was measured")
            + ": run a scan",)
