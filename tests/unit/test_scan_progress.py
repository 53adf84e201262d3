"""``fleetsam scan``'s pure parts: hosts counted from ansible-runner job events, the progress text,
the terminal bar and plain lines, the hosts to scan and the extra vars kept off command lines; and a
real scan stopped by SIGTERM or Ctrl-C, which stops ansible-playbook and its workers before it ends."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
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


def test_a_collect_task_that_failed_only_at_its_hypervisor_step_is_an_ok_host():
    """As the collector callback counts it: the software was read and is stored."""
    tally = HostTally(Clock())
    tally.event(event("runner_on_failed", "kvm01", "fleetsam.sam.collect",
                      res={"failed": True, "msg": "hypervisor_facts: virsh", "hypervisor_error": "virsh"}))
    tally.event(event("runner_on_failed", "kvm02", "fleetsam.sam.collect", res={"failed": True, "msg": "no rpm"}))
    tally.event(event("runner_on_failed", "kvm03", "fleetsam.sam.collect", res={}))  # left out of the event
    assert (tally.counts().done, tally.counts().failed) == (3, 2)


def test_a_host_no_scanning_play_targets_is_not_counted():
    tally = HostTally(Clock())
    tally.event(event("runner_on_failed", "outside", "ansible.builtin.fail"))  # an earlier play, on all hosts
    tally.event(event("runner_on_unreachable", "gone", "ansible.builtin.ping"))
    tally.event(targets("web1", "gone"))  # then the scanning play targets web1 and gone
    tally.event(event("runner_on_ok", "web1"))
    c = tally.counts()
    assert (c.done, c.unreachable, c.failed, c.total) == (2, 1, 0, 2)


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


# -- stopped by SIGTERM or Ctrl-C ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def live_tree(root: int) -> dict[int, str]:
    """``root`` and its descendants still running (a zombie has ended), with their command lines, from /proc."""
    table = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            text = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), cmdline)
    found, level = {}, [root] if root in table else []
    while level:
        found.update((pid, table[pid][1]) for pid in level)
        level = [pid for pid, (parent, _) in table.items() if parent in level and pid not in found]
    return found


@pytest.fixture
def silent_host():
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: an ssh host that hangs.
    ``connected`` is set once ansible-playbook's ssh reaches it (the play has started)."""
    server = socket.create_server(("127.0.0.1", 0))
    connected, held = threading.Event(), []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], connected
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_scan_stopped_by_a_signal_stops_ansible_playbook_and_cleans_up(tmp_path, silent_host, signum):
    port, connected = silent_host
    (tmp_path / "tmp").mkdir()
    (tmp_path / "hosts.ini").write_text(
        f"quiet ansible_host=127.0.0.1 ansible_port={port} ansible_connection=ssh ansible_timeout=120 "
        "ansible_ssh_common_args='-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path / "tmp"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    scan = subprocess.Popen(  # SIGINT as a terminal's foreground job gets it, whatever this process ignores
        [str(Path(sys.executable).parent / "fleetsam"), "--store", str(tmp_path / "db.json"), "scan", "-i", "hosts.ini",
         "--progress", "lines", "-e", "vault_token=S3CRET-TOKEN"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    tree = {}
    try:
        assert connected.wait(120), "the play never reached the silent host"
        tree = live_tree(scan.pid)
        playbooks = [pid for pid, cmd in tree.items() if "ansible-playbook" in cmd]
        assert len(playbooks) >= 2, tree  # ansible-playbook and its worker (a session of its own)
        assert list((tmp_path / "tmp").glob("fleetsam-runner-*/extra-vars-0.yml"))
        time.sleep(1)
        scan.send_signal(signum)
        out, err = scan.communicate(timeout=60)
        assert scan.returncode == 2, out + err
        assert f"fleetsam: error: interrupted by {signal.Signals(signum).name}: the scan was stopped, ansible-playbook " \
               "with it; nothing stored, its partial spool and private files removed" in err
        assert [pid for pid in playbooks if pid in live_tree(pid)] == []
        assert list((tmp_path / "tmp").glob("fleetsam-runner-*")) == []  # the private folder, with the token
        assert list((tmp_path / ".fleetsam" / "spool").iterdir()) == []  # no hidden partial spool
        assert "S3CRET-TOKEN" not in out + err and not (tmp_path / "db.json").exists()
    finally:
        scan.kill()
        scan.wait()
        for pid in tree:  # whatever a failed run left behind
            if live_tree(pid):
                os.kill(pid, signal.SIGKILL)


STUBBORN_PLAYBOOK = """
import os, signal, sys, time
worker = os.fork()
if worker == 0:  # an ansible worker that went its own session and ignores SIGTERM
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)
print(worker, flush=True)
time.sleep(300)
"""


def test_a_worker_that_outlives_sigterm_is_killed_before_the_stop_returns(monkeypatch):
    from sam_engine.cli import playbook_stop

    monkeypatch.setattr(playbook_stop, "GRACE_SECONDS", 0.5)
    playbook = subprocess.Popen([sys.executable, "-c", STUBBORN_PLAYBOOK], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)  # as ansible-runner's pty
    worker = int(playbook.stdout.readline())
    runner_thread = threading.Thread(target=playbook.wait)
    runner_thread.start()
    cancel = threading.Event()
    try:
        playbook_stop.stop_playbook(lambda: playbook.pid, runner_thread, cancel)
        assert live_tree(worker) == {} and live_tree(playbook.pid) == {}
        assert cancel.is_set() and not runner_thread.is_alive()
    finally:
        for pid in (worker, playbook.pid):
            if live_tree(pid):
                os.kill(pid, signal.SIGKILL)
        runner_thread.join()


def _running_with(marker: str) -> list[str]:
    """The command lines of the running processes that hold ``marker``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(cmd)
    return found


def test_a_scan_stopped_before_ansible_playbook_said_its_pid_leaves_no_worker(tmp_path):
    """SIGTERM while ansible-playbook still loads its inventory (no job event yet, so no pid from one): it is
    found among fleetsam's children and stopped then, so no worker it would start later outlives the scan."""
    marker = "61.734"  # the sleep of a worker's slow interpreter: what an orphaned worker would still run
    slowpy = tmp_path / "slowpy"
    slowpy.write_text(f"#!/bin/sh\nsleep {marker}\nexec {sys.executable} \"$@\"\n")
    slowpy.chmod(0o755)
    inventory = tmp_path / "inv.sh"
    inventory.write_text("#!/bin/sh\nsleep 4\necho '" + json.dumps(
        {"all": {"hosts": ["slow"], "vars": {"ansible_connection": "local", "ansible_python_interpreter": str(slowpy)}},
         "_meta": {"hostvars": {}}}) + "'\n")
    inventory.chmod(0o755)
    (tmp_path / "tmp").mkdir()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path / "tmp"),
           "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    scan = subprocess.Popen([str(Path(sys.executable).parent / "fleetsam"), "--store", str(tmp_path / "db.json"), "scan",
                             "-i", str(inventory), "--progress", "lines"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        scan.send_signal(signal.SIGTERM)
        out, err = scan.communicate(timeout=60)
        assert scan.returncode == 2 and "interrupted by SIGTERM" in err, out + err
        time.sleep(6)  # past the inventory's sleep: a playbook left running would have started its worker by now
        assert _running_with(marker) == [] and _running_with(str(inventory)) == []
        assert list((tmp_path / "tmp").glob("fleetsam-runner-*")) == []
    finally:
        scan.kill()
        scan.wait()
        subprocess.run(["pkill", "-KILL", "-f", marker], check=False)
