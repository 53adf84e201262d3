"""``fleetsam scan`` end to end on the real sshd fleet: ansible-runner runs the playbook, the
progress counts hosts done out of the hosts targeted (an unreachable one included), as plain
lines in a log and as a bar redrawn in place on a pseudo-terminal; extra vars stay private."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import socket
import struct
import subprocess
import termios
from pathlib import Path

import pytest
import yaml

from test_scan_fleet import BIN

SECRET = "tok-3f9a-never-printed"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.9", 0))
        return sock.getsockname()[1]  # closed again when this returns: connections are refused


def inventory_with_a_gone_host(fleet, path: Path) -> Path:
    """The fleet's inventory plus ``gone``, a host whose address refuses SSH (unreachable)."""
    inventory = yaml.safe_load(fleet.inventory.read_text())
    members = inventory["all"]["children"]["testfleet"]["hosts"]
    members["gone"] = {**members["local"], "ansible_host": "127.0.0.9", "ansible_port": _closed_port()}
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def scan_env(fleet, work: Path, **extra: str) -> dict[str, str]:
    env = fleet.ansible_env(FLEETSAM_STORE=str(work / "store.json"), FLEETSAM_REPORT_DIR=str(work / "reports"),
                            FLEETSAM_SPOOL_DIR=str(work / "spool"), **extra)
    for name in ("COLUMNS", "LINES", "FLEETSAM_POLICY", "FLEETSAM_NOTIFY", "FLEETSAM_KEEP_SPOOL"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def running(fleet):
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    return fleet


def test_plain_progress_lines_count_every_host_and_the_engine_stages(running, tmp_path):
    fleet = running
    inventory = inventory_with_a_gone_host(fleet, tmp_path / "inventory.yml")
    run = subprocess.run([str(BIN / "fleetsam"), "scan", "-i", str(inventory), "-e", f"api_token={SECRET}",
                          "-e", '{"fleetsam_targets": "testfleet"}'], cwd=tmp_path, env=scan_env(fleet, tmp_path),
                         capture_output=True, text=True, timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "\r" not in run.stdout and "\x1b" not in run.stdout, "no terminal: plain lines only"
    progress = [ln for ln in run.stdout.splitlines() if ln.startswith("scan: ")]
    assert progress and all(re.match(r"scan: \d+/(\?|4) hosts, ", ln) for ln in progress), progress
    assert progress[-1].startswith("scan: 4/4 hosts, 1 unreachable, 0 failed, "), progress
    assert re.search(r", \d+\.\d hosts/min, ", progress[-1])
    stages = [ln.split()[1] for ln in run.stdout.splitlines() if ln.startswith("engine: ")]
    assert stages[0] == "ingest+normalise" and "reconcile" in stages and stages[-1] == "render", stages
    assert re.search(r"^scan \d{8}T\d{6}Z-\w+: hosts ok=3 unreachable=1 failed=0", run.stdout, re.M), out
    assert f"reports (6 files): {tmp_path / 'reports'}" in run.stdout
    assert SECRET not in out
    hosts = json.loads(subprocess.run([str(BIN / "fleetsam"), "--store", str(tmp_path / "store.json"), "hosts",
                                       "--format", "json"], capture_output=True, text=True, check=True).stdout)
    by_name = {h["host"]: h for h in hosts}
    assert all(by_name[n]["status"] == "ok" and by_name[n]["packages"] > 0 for n in ("local", "debian", "rpm"))
    assert list((tmp_path / "spool").iterdir()) == [], "processed: the spool and the command's own folder are gone"


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_terminal_gets_one_bar_redrawn_in_place(running, tmp_path):
    fleet = running
    inventory = inventory_with_a_gone_host(fleet, tmp_path / "inventory.yml")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen([str(BIN / "fleetsam"), "scan", "-i", str(inventory), "--limit", "debian,gone"],
                            cwd=tmp_path, env={**scan_env(fleet, tmp_path), "TERM": "xterm"},
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        out = _read_all(master).decode("utf-8", "replace")
    finally:
        os.close(master)
    assert proc.wait(60) == 0, out
    frames = list(re.finditer(r"\r\[([#.]+)\] (\d+)/(\d+|\?) hosts, (\d+) unreachable, (\d+) failed, ", out))
    assert frames, out
    assert all(len(f.group(0)) <= 120 for f in frames)
    assert {f.group(3) for f in frames} <= {"2", "?"} and frames[-1].group(3) == "2", "--limit: 2 hosts targeted"
    last = frames[-1]
    assert last.group(2) == "2" and last.group(4) == "1" and set(last.group(1)) == {"#"}, last.group(0)
    first, end = frames[0].start(), out.index("\n", last.end())
    assert "\n" not in out[first:last.start()], "every frame overwrites the last one on the same line"
    assert out[last.end():end].rstrip("\r").endswith("\x1b[K"), "each frame clears what the longer one left"
    assert re.search(r"\rengine: render done in \d+\.\d s", out)
    assert "hosts ok=1 unreachable=1 failed=0" in out
