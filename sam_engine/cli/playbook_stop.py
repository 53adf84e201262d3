"""Stopping ``fleetsam scan``'s ansible-playbook when fleetsam is asked to stop: SIGTERM (a CI
timeout, ``timeout``, systemd) or SIGINT (Ctrl-C).

ansible-runner starts ansible-playbook in a session of its own (a pty), so neither signal reaches
it, and ansible-runner's cancel (SIGKILL to that process group) misses the workers: each worker
calls setsid, and would go on with its ssh as an orphan. ansible-playbook passes SIGTERM on to its
workers itself, so it is asked first; whatever of its process tree outlives a grace period is
killed, group by group, and fleetsam waits until all of it is gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable

GRACE_SECONDS = 10.0  # for ansible-playbook and its workers to end on SIGTERM
GONE_SECONDS = 5.0  # for the killed processes to be gone
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ScanStopped(Exception):
    """fleetsam was asked to stop while ansible-playbook ran; it has been stopped."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


class StopSignals:
    """While in use (``with``), SIGTERM and SIGINT are only noted in ``signal_name`` (a later one, or
    a second Ctrl-C while stopping, is ignored): the waiting loop stops ansible-playbook itself, so
    that fleetsam never exits before it. Installed from the main thread only (Python's rule), and not
    over a signal fleetsam was started ignoring (SIGINT in a script's background job)."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def _note(self, signum, frame) -> None:
        self.signal_name = self.signal_name or signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _stat(pid: int) -> tuple[int, int, str] | None:
    """``(parent pid, start time, state)`` of a process from /proc, or None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold anything
    return int(fields[1]), int(fields[19]), fields[0]


def process_tree(root: int) -> dict[int, int]:
    """``root`` and its descendants, each with its start time (to tell it from a later process with
    the same pid); empty without /proc (not Linux), where only ansible-playbook's own relay is relied on."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        if (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    tree: dict[int, int] = {}
    level = [root] if root in table else []
    while level:
        tree.update((pid, table[pid][1]) for pid in level)
        level = [pid for pid, (parent, _, _) in table.items() if parent in level and pid not in tree]
    return tree


def running(tree: dict[int, int]) -> list[int]:
    """The processes of ``tree`` still running (a zombie has ended: it only waits to be reaped)."""
    return [pid for pid, start in tree.items() if (stat := _stat(pid)) and stat[1] == start and stat[2] != "Z"]


def spawned_playbook() -> int | None:
    """The ansible-playbook this process spawned (ansible-runner's child), found in /proc: the stop does not
    wait for its first job event, which a signal during the inventory's loading comes before."""
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] == me:
            try:
                if b"ansible-playbook" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def stop_playbook(pid_of: Callable[[], int | None], runner_thread: threading.Thread, cancel: threading.Event) -> None:
    """Stop ansible-playbook (``pid_of()``: its pid once its first job event said it, else None) and everything
    it started, and return once ansible-runner (``runner_thread``, cancelled through ``cancel``) has reaped it.
    Its process tree is read again while it stops, so a worker it starts meanwhile is known too."""
    tree: dict[int, int] = {}
    signalled = False
    grace = time.monotonic() + GRACE_SECONDS
    while runner_thread.is_alive() and time.monotonic() < grace:
        pid = pid_of() or spawned_playbook()
        if pid:
            tree.update(process_tree(pid))
            if not signalled:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                signalled = True
        runner_thread.join(0.1)
    if (pid := pid_of() or spawned_playbook()) is not None:
        tree.update(process_tree(pid))
    cancel.set()  # ansible-runner SIGKILLs ansible-playbook's process group if it is still there
    own_group = os.getpgid(0)
    for left in running(tree):  # a worker that ignored SIGTERM: its process group (its ssh) with it
        try:
            group = os.getpgid(left)
            if group == own_group:
                os.kill(left, signal.SIGKILL)
            else:
                os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    runner_thread.join()
    deadline = time.monotonic() + GONE_SECONDS
    while running(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
