"""When a fleet host is stale, and on which day an inventory's age is measured: defined once for the
report (stale tile, host data), ``fleetsam hosts``, the stale-host findings and ``fleetsam check``'s
warning, so none of them says otherwise.

A host is stale for either of two reasons (it may have both):

- not reached: the last run that targeted it got no inventory (unreachable, or failed), so its last
  one is carried over, or it never had one (``HostScan.stale``, which the position's notes name);
- out of date: its newest inventory is ``stale_days`` or more old on the day the fleet is aged on.

That day (``aged_on``) is the as-of day, never after today: a date to come counts that day's licence
terms against today's fleet (``store.interface.load_fleet``), so an inventory is no older than it is
today. A stale-host finding is raised for an out-of-date host, and for one never inventoried.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from collections.abc import Iterable

from sam_engine.model import HostScan, utc_time


def never_inventoried(hs: HostScan) -> bool:
    """A host no run ever took an inventory of (tried, never reached)."""
    return hs.stale and not hs.collected_at


def aged_on(day: dt.date) -> dt.date:
    """The day a fleet is aged on for ``day``: ``day`` itself, or today when ``day`` is still to come."""
    return min(day, dt.date.today())


def inventory_age(collected_at: str | None, day: dt.date) -> int | None:
    """Whole days (UTC) from an inventory collected at ``collected_at`` to ``day`` (None: no inventory,
    or no readable time)."""
    when = utc_time(collected_at) if collected_at else None
    return (day - dt.date.fromisoformat(when[:10])).days if when else None


@dataclass(frozen=True, slots=True)
class Staleness:
    """Which hosts are stale, and why, on ``day`` (already ``aged_on``) under ``stale_days``."""

    day: dt.date
    stale_days: int

    @classmethod
    def on(cls, day: dt.date, stale_days: int) -> Staleness:
        return cls(aged_on(day), stale_days)

    def age(self, hs: HostScan) -> int | None:
        return inventory_age(hs.collected_at, self.day)

    def out_of_date(self, hs: HostScan) -> bool:
        age = self.age(hs)
        return age is not None and age >= self.stale_days

    def stale(self, hs: HostScan) -> bool:
        return hs.stale or self.out_of_date(hs)

    def reasons(self, hs: HostScan) -> list[str]:
        """What its status does not say of why the host is stale, for one line (``fleetsam hosts``): never
        inventoried, and how old an out-of-date inventory is (an unreachable host's kept one may be fresh)."""
        out = ["never inventoried"] if never_inventoried(hs) else []
        return out + ([f"{self.age(hs)} d old"] if self.out_of_date(hs) else [])

    def counted(self, hosts: Iterable[HostScan]) -> str:
        """How many of ``hosts`` are stale for each reason (the report's tile, ``check``'s warning)."""
        hosts = list(hosts)
        kept = sum(1 for h in hosts if h.stale and h.collected_at)
        never = sum(1 for h in hosts if never_inventoried(h))
        old = sum(1 for h in hosts if self.out_of_date(h))
        parts = [f"{kept:,} not reached when last targeted (last inventory kept)" if kept else "",
                 f"{never:,} never inventoried" if never else "",
                 f"{old:,} last inventoried {self.stale_days} days or more before {self.day}" if old else ""]
        return ", ".join(p for p in parts if p) or (f"none not reached when last targeted or last inventoried "
                                                    f"{self.stale_days} days or more before {self.day}")
