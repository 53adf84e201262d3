"""The outbox (table ``notify_outbox``): deliveries queued, claimed, sent and settled.

A *delivery* is one event for one channel::

    delivery_id, channel, event, at, finding      what to send
    attempts, last_error, last_attempt            failed tries (the error masked)
    to                                            e-mail only: the recipients still owed it (default all)
    claimed_by, claimed_until                     the run sending it now, and until when that holds
    dead_at                                       given up: kept for the operator, never sent again

Two runs may end at once (AWX slices): each claims what it sends in its own
store session, under the store's write lock (``claim``), so the other skips a
delivery while the claim holds and takes it over once it has lapsed (the run
died). A claim holds for the time the sending may take: each message's
timeout bounds its whole exchange (``deadline``), plus a margin.

A server that refuses a message for good (``DeliveryFailed.permanent``), or a
delivery that failed ``MAX_ATTEMPTS`` times, is given up (``dead_at``): it
leaves the channel's queue, so new events go in a message of their own, and
the run's lines say so. A recipient an SMTP server refuses with a 4xx is
retried alone (``to``); one refused with a 5xx is reported and dropped, while
the others keep the message they got.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Sequence

from sam_engine.findings.notify_config import NotifyConfig
from sam_engine.store import open_store

MAX_ATTEMPTS = 10  # runs; a channel down longer than that is a problem for its operator, not a queue
CLAIM_MARGIN = dt.timedelta(seconds=60)  # from the store's commit to the first message, on a loaded machine


def stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue(events: Sequence[dict], config: NotifyConfig) -> list[dict]:
    """One delivery per event and channel that wants it."""
    docs = []
    for event in events:
        f = event["finding"]
        for channel in config.channels:
            if channel.wants(f["type"], f["severity"]):
                docs.append({"delivery_id": f"{channel.name}:{f['id']}:{event['event']}:{event['at']}",
                             "channel": channel.name, **event, "attempts": 0, "last_error": None})
    return docs


def _groups(docs: Sequence[dict]) -> dict[tuple[str, tuple[str, ...]], list[dict]]:
    """Deliveries by channel and recipients owed: one message each."""
    out: dict[tuple[str, tuple[str, ...]], list[dict]] = {}
    for d in docs:
        out.setdefault((d["channel"], tuple(d.get("to") or ())), []).append(d)
    return out


def claim(st, config: NotifyConfig, now: dt.datetime, run_id: str) -> list[dict]:
    """In the run's store session (under its write lock): the deliveries this run sends, marked as its
    own. Given up ones and those another run's claim still holds are left alone."""
    timeouts = {c.name: c.timeout for c in config.channels if c.type != "terminal"}
    free = [d for d in st.deliveries() if not d.get("dead_at")
            and not (d.get("claimed_by") and (d.get("claimed_until") or "") > stamp(now))]
    seconds = sum(timeouts.get(channel, 0) for channel, _ in _groups(free))
    until = stamp(now + dt.timedelta(seconds=seconds) + CLAIM_MARGIN)
    mine = [{**d, "claimed_by": run_id, "claimed_until": until} for d in free]
    st.save_deliveries(mine)
    return mine


def _retry(d: dict, error: str, now: str, permanent: bool = False, **changes) -> dict:
    doc = {**d, "claimed_by": None, "claimed_until": None}  # None: the stores merge a saved document in
    doc.update(changes, attempts=d.get("attempts", 0) + 1, last_error=error, last_attempt=now)
    if permanent or doc["attempts"] >= MAX_ATTEMPTS:
        doc["dead_at"] = now
    return doc


def dispatch(config: NotifyConfig, claimed: list[dict], now: str, outcome) -> tuple[list[str], list[dict]]:
    """Send each channel its claimed deliveries; (delivered ids, failed docs to keep)."""
    # only a run with notifications to send pays for SMTP, HTTP and TLS (a tenth of the engine's import)
    from sam_engine.findings.channels import DeliveryFailed, RecipientsRefused, deliver

    by_name = {c.name: c for c in config.channels}
    delivered: list[str] = []
    failed: list[dict] = []
    for (name, to), docs in _groups(claimed).items():
        channel = by_name[name]
        try:
            outcome.terminal += deliver(channel, docs, now, to or None)
        except RecipientsRefused as exc:  # the others got it: only the 4xx recipients are owed it still
            outcome.failed[channel.display] = str(exc)
            if exc.accepted:
                outcome.sent[channel.display] = outcome.sent.get(channel.display, 0) + len(docs)
            if exc.retry:
                failed += [_retry(d, str(exc), now, to=list(exc.retry)) for d in docs]
            elif exc.accepted:
                delivered += [d["delivery_id"] for d in docs]
            else:
                failed += [_retry(d, str(exc), now, permanent=True) for d in docs]
            continue
        except DeliveryFailed as exc:
            outcome.failed[channel.display] = str(exc)
            failed += [_retry(d, str(exc), now, exc.permanent) for d in docs]
            continue
        except Exception as exc:  # a bug in one channel must not cost the others or the scan
            outcome.failed[channel.display] = message = channel.mask(f"{exc.__class__.__name__}: {exc}")
            failed += [_retry(d, message, now) for d in docs]
            continue
        if channel.type != "terminal":
            outcome.sent[channel.display] = outcome.sent.get(channel.display, 0) + len(docs)
        delivered += [d["delivery_id"] for d in docs]
    for d in failed:
        if d.get("dead_at"):
            shown = by_name[d["channel"]].display
            outcome.dead[shown] = outcome.dead.get(shown, 0) + 1
    return delivered, failed


def count_pending(st, config: NotifyConfig, outcome) -> None:
    """The deliveries still waiting (given up ones are not), in all and per channel, into ``outcome``."""
    waiting = Counter(d["channel"] for d in st.deliveries() if not d.get("dead_at"))
    outcome.pending = sum(waiting.values())
    outcome.pending_by = {c.display: waiting[c.name] for c in config.channels}


def settle(store: str, config: NotifyConfig, run_id: str, delivered: list[str], failed: list[dict], outcome) -> None:
    """Keep what ``dispatch`` did: delivered ones leave the outbox, failed ones stay (or are given up).
    A delivery whose claim another run took over (this one's lapsed) is that run's to settle."""
    with open_store(store) as st:
        ours = {d["delivery_id"] for d in st.deliveries() if d.get("claimed_by") == run_id}
        st.remove_deliveries(delivered)
        st.save_deliveries([d for d in failed if d["delivery_id"] in ours])
        count_pending(st, config, outcome)
