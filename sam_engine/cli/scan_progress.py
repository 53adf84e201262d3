"""``fleetsam scan``'s progress: hosts counted from ansible-runner's job events, shown as a bar
redrawn in place on a terminal or as plain periodic lines in a log, then the engine's stages.

A host is done when its collector task has a result (ok or failed): the role's one
task, ``fleetsam.sam.collect``, or a collector module run directly (a skipped one is
another platform's), or when it is unreachable or fails at any task without ``ignore_errors``:
Ansible leaves such a host out of the rest of the play. As in the collector callback's
summary, a collect task that failed only at its hypervisor step (``hypervisor_error``, the
software read) is an ok host, and once the scanning plays' targets are named only they count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TextIO

from sam_engine.vocabulary import COLLECTORS as COLLECTOR_MODULES

ROLE_TASK = "fleetsam.sam.collect"  # the software_inventory role's task: runs the host's platform's collector
COLLECTORS = frozenset(COLLECTOR_MODULES) | {ROLE_TASK}
_RESULT_EVENTS = ("runner_on_ok", "runner_on_failed")
_SHOWN_EVENTS = ("warning", "error", "deprecated")  # printed as they come (the rest of Ansible's output is not)


@dataclass(frozen=True)
class Counts:
    """The run's progress at one moment."""

    done: int
    unreachable: int
    failed: int
    total: int | None  # None until the collector callback named the hosts its plays target
    elapsed: float  # seconds since the run started

    @property
    def rate(self) -> float | None:
        """Hosts done per minute, None before the first."""
        return self.done * 60 / self.elapsed if self.done and self.elapsed > 0 else None

    @property
    def left(self) -> float | None:
        """Seconds to go at the current rate, None when unknown."""
        if self.rate is None or self.total is None:
            return None
        return max(self.total - self.done, 0) * 60 / self.rate


class HostTally:
    """Counts hosts from ansible-runner job events (``event``, called on the runner's thread)."""

    def __init__(self, clock=time.monotonic):
        self._clock, self._started = clock, clock()
        self._lock = threading.Lock()
        self._state: dict[str, str] = {}  # host -> ok / failed / unreachable, once done
        self._targets: set[str] | None = None  # None until the collector callback named them
        self._messages: list[str] = []

    def event(self, event: dict) -> bool:
        """Take one job event; False: ansible-runner need not write it into its artifacts."""
        kind, data = event.get("event"), event.get("event_data") or {}
        host = data.get("host")
        targets = (data.get("fleetsam") or {}).get("targets") if isinstance(data.get("fleetsam"), dict) else None
        with self._lock:
            if isinstance(targets, list):  # a scanning play's hosts (after --limit), from the collector callback
                self._targets = (self._targets or set()) | {str(t) for t in targets}
            elif kind in _SHOWN_EVENTS and (text := (event.get("stdout") or "").strip()):
                self._messages.append(text)
            elif kind == "runner_on_unreachable" and host:
                self._state.setdefault(host, "unreachable")
            elif kind in _RESULT_EVENTS and host and host not in self._state:
                if data.get("resolved_action") in COLLECTORS or data.get("task_action") in COLLECTORS:
                    self._state[host] = "failed" if kind == "runner_on_failed" and not _software_kept(data) else "ok"
                elif kind == "runner_on_failed" and not data.get("ignore_errors"):
                    self._state[host] = "failed"
        return False

    def counts(self) -> Counts:
        with self._lock:  # a host no scanning play targets (a failure in another play) is not the scan's
            states = [s for h, s in self._state.items() if self._targets is None or h in self._targets]
            return Counts(len(states), states.count("unreachable"), states.count("failed"),
                          None if self._targets is None else len(self._targets), self._clock() - self._started)

    def messages(self) -> list[str]:
        """Warnings and errors received since the last call."""
        with self._lock:
            out, self._messages = self._messages, []
        return out


def _software_kept(data: dict) -> bool:
    """A failed collect result that still carries the software: only its hypervisor step failed."""
    res = data.get("res")
    return isinstance(res, dict) and res.get("hypervisor_error") is not None


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s``, ``42s``."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def summary_text(c: Counts) -> str:
    """The figures both displays show: hosts done / total, unreachable, failed, rate, time left."""
    total = "?" if c.total is None else str(c.total)
    rate = "-" if c.rate is None else f"{c.rate:.1f}"
    left = "" if c.left is None or c.done == c.total else f", about {duration(c.left)} left"
    return (f"{c.done}/{total} hosts, {c.unreachable} unreachable, {c.failed} failed, "
            f"{rate} hosts/min, {duration(c.elapsed)} elapsed{left}")


def bar_text(c: Counts, width: int) -> str:
    """One terminal line of at most ``width`` characters: a bar, then ``summary_text``."""
    text = summary_text(c)
    size = max(10, min(40, width - len(text) - 4))
    share = c.done / c.total if c.total else 0.0
    filled = min(size, int(share * size))
    return f"[{'#' * filled}{'.' * (size - filled)}] {text}"[:max(width - 1, 1)]


class Display:
    """Where the scan's progress goes: ``bar`` redraws one line in place (a terminal), otherwise a
    plain line every ``interval`` seconds when something changed, and one at the end."""

    def __init__(self, out: TextIO, bar: bool, width: int = 80, interval: float = 10.0, clock=time.monotonic):
        self.out, self.bar, self.width, self.interval = out, bar, width, interval
        self._clock, self._last_time, self._last_shown = clock, None, None
        self._clock_started = clock()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def show(self, counts: Counts, messages: list[str] = ()) -> None:
        for text in messages:  # above the bar, which is drawn again below them
            self._write(("\r\x1b[K" if self.bar else "") + text + "\n")
        if self.bar:
            self._write("\r" + bar_text(counts, self.width) + "\x1b[K")
            return
        key = (counts.done, counts.unreachable, counts.failed, counts.total)
        now = self._clock()
        due = now - (self._last_time if self._last_time is not None else self._clock_started) >= self.interval
        if key != self._last_shown and (due or (self._last_time is None and counts.total is not None)):
            self._write(f"scan: {summary_text(counts)}\n")
            self._last_time, self._last_shown = now, key

    def finish(self, counts: Counts, messages: list[str] = ()) -> None:
        """The run is over: its last figures, always shown."""
        self._last_time, self._last_shown = self._clock() - self.interval, None  # due now, whatever changed
        self.show(counts, messages)
        if self.bar:
            self._write("\n")

    def stage(self, name: str, seconds: float | None) -> None:
        """An engine stage starts (``seconds`` None; shown on a terminal only) or ends."""
        if seconds is None:
            if self.bar:
                self._write(f"\rengine: {name} ...\x1b[K")
            return
        self._write(("\r" if self.bar else "") + f"engine: {name} done in {seconds:.1f} s" +
                    ("\x1b[K" if self.bar else "") + "\n")
