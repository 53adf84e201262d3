"""The engine on standby: a process that gets ready while the hosts are scanned and runs the
engine once, when the collector callback hands the run over at the end of the playbook.

A small scan's results all arrive within a few milliseconds, so the engine's fixed cost
(its import, the catalogue read and its patterns compiled, the report templates compiled:
about a second on two busy cores) used to come after the last host, on Ansible's own
thread. The callback (``plugins/plugin_utils/engine.py``) starts this module with
``subprocess`` as ``python -m sam_engine.standby`` when a play starts to scan (Ansible's
process is never forked, and no thread of it holds a lock across the forks of its
workers); it warms up beside the scan and waits. The hand-over is still one call with the
same arguments as ``pipeline.process_spool``, and its result the same summary; when the
standby is not ready (its warm-up failed, it is gone) the callback runs the engine itself.

The protocol is one JSON document per line (text that UTF-8 cannot hold travels escaped):

- callback -> standby: ``{"store": LOCATION, "secrets": {"PGPASSWORD": ...}}``, what to prepare for
  (the secrets only when the callback has a PostgreSQL store's password of its own);
- standby -> callback: ``{"ready": true}``, or ``{"ready": false, "error": TEXT}``;
- callback -> standby, the hand-over: ``{"spool", "store", "report_dir", "policy", "notify",
  "secrets", "installations"}`` (the secrets through the pipe, never on a command line);
- standby -> callback: ``{"progress": LINE}`` for each progress line of a long stage, then
  ``{"summary": {"lines": [...], "data": {...}}}`` (``RunSummary.lines`` and ``as_dict``) or
  ``{"failed": TEXT}`` (the engine raised: the callback keeps the spool, as before).

The end of its input before the hand-over (a run in check mode, a playbook that scanned
nothing, a callback that went away) ends the standby having written nothing.

``fleetsam scan`` runs the engine in its own process, which only waits while the playbook
runs: it does the same warm-up on a thread (``WarmUpThread``), started once ansible-playbook
is, so the engine is imported there and never before the playbook starts.

The engine is imported by ``warm_up`` (and ``run``), not with this module.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from typing import IO, TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from sam_engine.licensing.context import PreparedCatalogue


def warm_up(store: str) -> PreparedCatalogue | None:
    """Do, ahead of a run into ``store``, the work of the run that depends on no store session: the
    engine imported, the report templates compiled (kept by ``render.environment``) and the
    catalogue prepared with the store's recognition cache, a file beside it or a PostgreSQL store's
    table (returned, for ``process_spool``'s ``catalogue``). None when reading that cache gave a
    warning (a database that refused, a corrupt cache): the run reads it again itself and reports
    what it finds then."""
    from sam_engine import pipeline  # noqa: F401 - imported for the run, while the hosts are scanned
    from sam_engine.licensing.context import LicenceSettings, prepare_catalogue
    from sam_engine.report import render
    from sam_engine.store.recognition_cache import RecognitionCache

    render.compile_templates()
    prepared = prepare_catalogue(LicenceSettings.from_env(), dt.date.today(), RecognitionCache.beside(store))
    return None if prepared.recalled else prepared


def take_password(secrets: dict[str, Any]) -> None:
    """A PostgreSQL store's password sent by the callback, where libpq reads it (never in the store URL)."""
    if secrets.get("PGPASSWORD"):
        os.environ["PGPASSWORD"] = secrets["PGPASSWORD"]


class WarmUpThread:
    """``warm_up`` on a thread of its own, for a process that only waits while a playbook runs
    (``fleetsam scan``: ansible-playbook is another program there, started with fork and exec).
    ``start`` it as ansible-playbook starts: before, the import would hold the GIL against
    ansible-runner's preparations. ``result`` waits for it: the prepared catalogue, or None when
    the warm-up failed or never started (the run then prepares its own and reports its problems,
    as without a warm-up)."""

    def __init__(self, store: str):
        self.store = store
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._catalogue: PreparedCatalogue | None = None

    def _work(self) -> None:
        try:
            self._catalogue = warm_up(self.store)
        except Exception:  # noqa: BLE001 - see above: the run reads the catalogue itself
            self._catalogue = None

    def start(self) -> None:
        """Start the warm-up; a second call does nothing."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="fleetsam-warm-up", daemon=True)
                self._thread.start()

    def result(self) -> PreparedCatalogue | None:
        with self._lock:
            thread = self._thread
        if thread is None:
            return None
        thread.join()
        return self._catalogue


def run(handover: dict[str, Any], catalogue: PreparedCatalogue | None,
        show: Callable[[str], None]) -> dict[str, Any]:
    """The engine on a handed-over run, as the callback ran it in its own process: the reply that
    ends the exchange, ``{"summary": ...}`` or ``{"failed": TEXT}``."""
    secrets = handover.get("secrets") or {}
    take_password(secrets)
    try:
        from sam_engine.findings.notify import AlertSettings  # loaded by the warm-up, unless it failed
        from sam_engine.pipeline import process_spool
        from sam_engine.progress import StageProgress

        alerts = AlertSettings.from_env(policy=handover.get("policy"), notify=handover.get("notify"), secrets=secrets)
        summary = process_spool(handover["spool"], store=handover["store"], report_dir=handover["report_dir"],
                                alerts=alerts, installations=bool(handover.get("installations", True)),
                                progress=StageProgress(show), catalogue=catalogue)
    except Exception as exc:  # noqa: BLE001 - the callback keeps the spool and says why
        return {"failed": str(exc)}
    return {"summary": {"lines": summary.lines(), "data": summary.as_dict()}}


class Replies:
    """The standby's side of the pipe to the callback: one JSON document per line, whole lines only
    (the progress watcher thread writes beside the main thread)."""

    def __init__(self, handle: IO[str]):
        self.handle, self.lock = handle, threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message) + "\n"  # ASCII: a lone surrogate travels as its escape
        with self.lock:
            self.handle.write(line)
            self.handle.flush()


def read_request(requests: IO[str]) -> dict[str, Any] | None:
    """The callback's next request; None at the end of the input."""
    line = requests.readline()
    return json.loads(line) if line.strip() else None


def serve(requests: IO[str], replies: Replies) -> int:
    """Warm up for the store the first request names, say so, then run the engine on the hand-over."""
    start = read_request(requests)
    if start is None:
        return 0
    try:
        take_password(start.get("secrets") or {})
        catalogue = warm_up(start["store"])
    except Exception as exc:  # noqa: BLE001 - the callback then runs the engine itself
        replies.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return 0
    replies.send({"ready": True})
    handover = read_request(requests)
    if handover is None:
        return 0
    replies.send(run(handover, catalogue, lambda line: replies.send({"progress": line})))
    return 0


def main() -> int:
    # the replies get the pipe the callback reads; anything else printed goes nowhere (the callback
    # gives standard error /dev/null too: Ansible's own may be closed)
    replies = Replies(os.fdopen(os.dup(1), "w", encoding="ascii"))
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return serve(sys.stdin, replies)


if __name__ == "__main__":
    sys.exit(main())
