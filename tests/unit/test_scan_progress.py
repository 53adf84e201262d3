"""``fleetsam scan``'s pure parts: hosts counted from ansible-runner job events, the progress text,
the terminal bar and plain lines, the hosts to scan and the extra vars kept off command lines."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest

from sam_engine.cli.exit_codes import BadInput
from sam_engine.cli.scan_progress import Counts, Display, HostTally, bar_text, duration, summary_text
from sam_engine.cli.scan import extra_vars_args


def targets(*hosts: str) -> dict:
    """The collector callback's event naming a scanning play's targets (``job.display_event`` under awx_display)."""
    return {"event": "verbose", "stdout": f"fleetsam: {len(hosts)} hosts to scan",
            "event_data": {"fleetsam": {"targets": list(hosts)}}}


def event(kind: str, host: str, action: str = "fleetsam.sam.software_facts", **data) -> dict:
    """A job event as ansible-runner's awx_display hands it to an event_handler (the fields used)."""
    return {"event": kind, "stdout": "", "event_data": {"host": host, "task_action": action,
                                                        "resolved_action": action, **data}}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_host_is_done_at_its_collector_result_or_when_it_drops_out():
    clock = Clock()
    tally = HostTally(clock)
    assert tally.counts().total is None
    tally.event(targets("web1", "db1", "gone"))
    assert tally.event(event("runner_on_ok", "web1", "ansible.builtin.include_tasks")) is False  # not written
    assert tally.counts().done == 0, "an include is not the collector"
    tally.event(event("runner_on_ok", "web1"))
    tally.event(event("runner_on_unreachable", "gone", "ansible.builtin.include_tasks"))
    tally.event(event("runner_on_failed", "db1", "ansible.builtin.include_tasks", ignore_errors=True))
    assert tally.counts().done == 2, "an ignored failure does not take a host out"
    tally.event(event("runner_on_failed", "db1"))
    tally.event(event("runner_on_ok", "web1"))  # a host counts once
    clock.now = 130.0
    c = tally.counts()
    assert (c.done, c.unreachable, c.failed, c.total, c.elapsed) == (3, 1, 1, 3, 30.0)
    assert c.rate == 6.0 and c.left == 0.0


def test_the_roles_collect_task_is_the_collector():
    tally = HostTally(Clock())
    tally.event(event("runner_on_ok", "web1", "fleetsam.sam.collect"))
    tally.event(event("runner_on_failed", "db1", "fleetsam.sam.collect", ignore_errors=True))
    assert (tally.counts().done, tally.counts().failed) == (2, 1)


def test_warnings_are_kept_for_the_display_once():
    tally = HostTally()
    tally.event({"event": "warning", "stdout": "[WARNING]: Could not match supplied host pattern", "event_data": {}})
    tally.event({"event": "verbose", "stdout": "PLAY RECAP", "event_data": {}})
    assert tally.messages() == ["[WARNING]: Could not match supplied host pattern"] and tally.messages() == []


def test_the_text_says_done_total_unreachable_failed_rate_and_time_left():
    c = Counts(done=30, unreachable=2, failed=1, total=50, elapsed=120.0)
    assert summary_text(c) == "30/50 hosts, 2 unreachable, 1 failed, 15.0 hosts/min, 2m00s elapsed, about 1m20s left"
    assert summary_text(Counts(0, 0, 0, None, 3.0)) == "0/? hosts, 0 unreachable, 0 failed, - hosts/min, 3s elapsed"
    assert duration(3725) == "1h02m" and duration(59.6) == "1m00s"


def test_the_bar_fits_the_terminal_and_fills_with_the_share_done():
    line = bar_text(Counts(25, 0, 0, 50, 60.0), 100)
    assert len(line) <= 99 and line.startswith("[") and "25/50 hosts" in line
    inside = line[1:line.index("]")]
    assert inside.count("#") == len(inside) // 2
    assert len(bar_text(Counts(25, 0, 0, 50, 60.0), 30)) <= 29


def test_a_terminal_gets_one_line_redrawn_and_messages_above_it():
    out = io.StringIO()
    display = Display(out, bar=True, width=80)
    display.show(Counts(1, 0, 0, 4, 5.0))
    display.show(Counts(2, 0, 0, 4, 6.0), ["[WARNING]: something"])
    display.finish(Counts(4, 1, 0, 4, 9.0))
    text = out.getvalue()
    assert text.count("\n") == 2 and text.endswith("\x1b[K\n")
    assert "\r\x1b[K[WARNING]: something\n\r[" in text


def test_plain_lines_come_at_most_every_interval_and_always_at_the_end():
    clock, out = Clock(), io.StringIO()
    display = Display(out, bar=False, interval=10.0, clock=clock)
    display.show(Counts(0, 0, 0, None, 0.0))  # nothing known yet: no line
    display.show(Counts(0, 0, 0, 4, 1.0))  # the total is known: first line
    clock.now += 5
    display.show(Counts(1, 0, 0, 4, 6.0))  # too soon
    clock.now += 6
    display.show(Counts(2, 0, 0, 4, 12.0))
    display.show(Counts(2, 0, 0, 4, 12.0))  # nothing changed
    display.finish(Counts(2, 0, 0, 4, 12.0))
    lines = out.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines] == ["scan: 0/4 hosts", "scan: 2/4 hosts", "scan: 2/4 hosts"]
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_extra_vars_go_to_private_files(tmp_path):
    args = extra_vars_args(["token=s3cr3t region='eu west'", '{"a": [1, 2]}', "@/etc/vars.yml"], tmp_path)
    assert args[4:] == ["-e", "@/etc/vars.yml"] and "s3cr3t" not in " ".join(args)
    first, second = (p.removeprefix("@") for p in (args[1], args[3]))
    assert json.loads(open(first).read()) == {"token": "s3cr3t", "region": "eu west"}
    assert open(second).read() == '{"a": [1, 2]}'
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o600
    with pytest.raises(BadInput, match="expected key=value pairs"):
        extra_vars_args(["just-a-word"], tmp_path)


def test_the_hosts_to_scan_are_those_every_scanning_play_targets():
    tally = HostTally(Clock())
    tally.event(targets("web1", "db1"))
    tally.event(targets("db1", "gone"))  # a second scanning play
    tally.event({"event": "verbose", "event_data": {"fleetsam": {"scan_id": "x"}}})  # a summary is no target list
    assert tally.counts().total == 3
    tally.event(targets())
    assert tally.counts().total == 3


def test_the_checkout_s_collection_is_found_and_the_callback_only_spools(tmp_path, monkeypatch):
    from ansible import constants

    from sam_engine.cli.scan import find_playbook, runner_env

    playbook, collections = find_playbook()
    repo = Path(__file__).resolve().parents[2]
    assert playbook == (repo / "playbooks" / "scan.yml").resolve() and collections == repo / "collections"
    monkeypatch.delenv("MAX_EVENT_RES", raising=False)
    env = runner_env(collections, tmp_path)
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0] == str(collections)
    assert "fleetsam.sam.collector" in env["ANSIBLE_CALLBACKS_ENABLED"].split(",")
    assert (env["FLEETSAM_ENGINE"], env["FLEETSAM_SPOOL_DIR"]) == ("false", str(tmp_path))
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == str(bool(constants.HOST_KEY_CHECKING)), "as configured, not runner's"
    assert env["MAX_EVENT_RES"] == "16384"
