"""Progress of the engine's long stages (ingest, reconcile, report) as plain lines.

At 10,000 hosts the engine works for about 100 s after the play recap; a line
every ``every`` seconds (ten in the callback) says which stage runs and how far it is. Small runs stay
quiet: nothing is printed for a stage until it has run ``quiet_for`` seconds;
a stage that took longer ends with a line of its count and time. A stage counts what it can
(hosts read, report files written) with ``advance``; a watcher thread prints,
so a stage without a count still shows its time.

The same object carries the finer hook ``on_step``: told when each timed step of
the engine (``ingest+normalise``, ``store``, ``reconcile``, ``render``, ...) starts and
ends (``fleetsam scan`` shows these). ``NO_PROGRESS`` prints nothing and hears no
step (the default of every engine function).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator


def progress_line(stage: str, elapsed: float, done: int, total: int | None, unit: str,
                  finished: bool = False, estimate: bool = True) -> str:
    """One line: ``ingest: 4,000/10,000 hosts (40%), 12 s, about 18 s left`` while a stage runs
    (the time left only with ``estimate``: items of about equal cost), ``ingest: 10,000 hosts in
    41 s`` when it is over."""
    if finished:
        return f"{stage}: {done:,} {unit} in {elapsed:.0f} s" if done else f"{stage}: done in {elapsed:.0f} s"
    count = ""
    done = min(done, total) if total else done
    if total:
        count = f" {done:,}/{total:,} {unit} ({100 * done // total}%),"
    elif done:
        count = f" {done:,} {unit},"
    line = f"{stage}:{count} {elapsed:.0f} s"
    if estimate and total and done and done < total:
        line += f", about {elapsed * (total - done) / done:.0f} s left"
    return line


class Stage:
    """The running stage's counters, read by the watcher thread."""

    def __init__(self, name: str, total: int | None, unit: str, estimate: bool = True):
        self.name, self.total, self.unit, self.estimate = name, total, unit, estimate
        self.done = 0
        self.detail = ""  # what the stage is on (a report file's name)
        self.started = time.monotonic()
        self.printed = False

    def advance(self, n: int = 1) -> None:
        self.done += n  # an int under the GIL: the watcher reads a whole value

    def step(self, detail: str) -> None:
        """Moves on to the next item, named ``detail``: the one before it is done."""
        if self.detail:
            self.done += 1
        self.detail = detail

    def finish(self) -> None:
        """The last item ``step`` named is done."""
        self.step("")


class StageProgress:
    """Prints ``progress_line``s through ``emit`` for a stage once it has lasted ``quiet_for``
    seconds, then every ``every`` seconds, and a closing line for a stage that lasted that long;
    ``on_step(step, None)`` hears a timed step start and ``on_step(step, seconds)`` its end."""

    def __init__(self, emit: Callable[[str], None] | None, *, quiet_for: float = 2.0, every: float = 10.0,
                 on_step: Callable[[str, float | None], None] | None = None):
        self.emit, self.quiet_for, self.every, self.on_step = emit, quiet_for, every, on_step

    @contextmanager
    def stage(self, name: str, total: int | None = None, unit: str = "hosts",
              estimate: bool = True) -> Iterator[Stage]:
        current = Stage(name, total, unit, estimate)
        if self.emit is None:
            yield current
            return
        stop = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(current, stop), name=f"fleetsam-{name}", daemon=True)
        watcher.start()
        try:
            yield current
        finally:
            stop.set()
            watcher.join()
            elapsed = time.monotonic() - current.started
            if current.printed or elapsed >= self.quiet_for:
                self.emit(progress_line(name, elapsed, current.done, current.total, current.unit, finished=True))

    def _watch(self, current: Stage, stop: threading.Event) -> None:
        wait = self.quiet_for
        while not stop.wait(wait):
            line = progress_line(current.name, time.monotonic() - current.started, current.done, current.total,
                                 current.unit, estimate=current.estimate)
            self.emit(line + (f" ({current.detail})" if current.detail else ""))
            current.printed = True
            wait = self.every


NO_PROGRESS = StageProgress(None)
