"""Figure 2: a fleet scan over SSH against package_facts alone, on the same hosts.

50 sshd test hosts (QUICK: 4) on 127.0.1.1-50, port 23022 (or the next free one:
another session may be running this benchmark), each serving this
machine's root from its own mount and UTS namespace, where a bind mount gives it
its own /etc/machine-id and hostname (so the engine sees 50 distinct hosts).
Every sshd is started by this script and stopped by its pid (with its session
processes, found through /proc parent links), never by name; they also die with
this script (PR_SET_PDEATHSIG). The hosts use other addresses and ports than
the integration test fleet (127.0.0.2-4:22022-22024).

    fleet  wall(playbooks/scan.yml with the callback: scan, store, reconcile, report)
           / wall(a playbook running only ansible.builtin.package_facts)   target 1.2
    fleet_scan_command  wall(fleetsam scan: the same through ansible-runner, with progress lines)
           / wall(playbooks/scan.yml with the callback)                     target 1.15

forks 25 (ansible.cfg); pipelining on; after a warm-up run, both playbooks run
three times alternately, the median of the rounds' ratios counts (QUICK: once each without a warm-up, the
scan first, so the cold start counts against the scan).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, REPO, VENV_BIN, ansible_env, emit, emit_rounds, median, note, quick, run  # noqa: E402

PORT = int(os.environ.get("FLEETSAM_BENCH_SSH_PORT", "23022"))  # the first port tried; a busy one is skipped
SSHD = "/usr/sbin/sshd"
CONFIG = """\
Port {port}
ListenAddress {address}
HostKey {key}
PidFile none
AuthorizedKeysFile {auth}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 200
MaxSessions 100
LogLevel ERROR
Subsystem sftp internal-sftp
"""


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(entry))
    return out


def _stop(pid: int) -> None:
    """SIGTERM ``pid``'s descendants, deepest first, then ``pid`` (all started by this script)."""
    for child in _children(pid):
        _stop(child)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _free_port(addresses: list[str], first: int) -> int:
    """A port no process listens on at any of ``addresses`` (another session may run this benchmark)."""
    for port in range(first, first + 900, 9):
        try:
            for address in addresses:
                with socket.socket() as probe:
                    probe.bind((address, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free port from {first} on {addresses[0]}..{addresses[-1]}")


class Fleet:
    def __init__(self, hosts: int, work: Path):
        self.work, self.procs = work, []
        self.addresses = [f"127.0.1.{n}" for n in range(1, hosts + 1)]
        self.port = _free_port(self.addresses, PORT)

    def start(self) -> None:
        if not shutil.which("unshare") or not Path(SSHD).exists() or os.geteuid() != 0:
            raise RuntimeError("the fleet benchmark needs root, sshd and unshare (tests/integration/install-deps.sh)")
        key, client = self.work / "host_key", self.work / "client_key"
        for path, comment in ((key, "bench-host"), (client, "bench-client")):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                           check=True, stdin=subprocess.DEVNULL)
        (self.work / "authorized_keys").write_text(Path(f"{client}.pub").read_text())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        host_pub = " ".join(Path(f"{key}.pub").read_text().split()[:2])
        (self.work / "known_hosts").write_text("".join(f"[{a}]:{self.port} {host_pub}\n" for a in self.addresses))
        for n, address in enumerate(self.addresses):
            name = f"bench-ssh{n:02d}"
            mid = self.work / f"{name}.machine-id"
            mid.write_text(secrets.token_hex(16) + "\n")
            config = self.work / f"{name}.sshd_config"
            config.write_text(CONFIG.format(port=self.port, address=address, key=key,
                                            auth=self.work / "authorized_keys"))
            script = f"mount --bind {mid} /etc/machine-id && hostname {name} && exec {SSHD} -D -e -f {config}"
            log = open(self.work / f"{name}.log", "ab")
            self.procs.append(subprocess.Popen(
                ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", script],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                preexec_fn=_die_with_parent))
        deadline = time.monotonic() + 20
        for address, proc in zip(self.addresses, self.procs):
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:  # ours must be the listener
                    raise RuntimeError(f"sshd on {address}:{self.port} did not start; see {self.work}")
                try:
                    socket.create_connection((address, self.port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
        opts = (f"-F /dev/null -o UserKnownHostsFile={self.work / 'known_hosts'} -o GlobalKnownHostsFile=/dev/null "
                f"-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o IdentityAgent=none")
        lines = ["all:", "  vars:", "    ansible_user: root", f"    ansible_port: {self.port}",
                 f"    ansible_ssh_private_key_file: {client}", "    ansible_python_interpreter: /usr/bin/python3",
                 f"    ansible_ssh_common_args: '{opts}'", "  hosts:"]
        lines += [f"    bench-ssh{n:02d}:\n      ansible_host: {a}" for n, a in enumerate(self.addresses)]
        (self.work / "inventory.yml").write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                _stop(proc.pid)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_fleet(hosts: int, name: str):
    """``hosts`` sshd hosts serving from a temporary folder of their own (its ``inventory.yml``
    names them); stopped, and the folder removed, afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"fleetsam-bench-{name}-") as tmp:
        fleet = Fleet(hosts, Path(tmp))
        try:
            fleet.start()
            yield fleet
        finally:
            fleet.stop()


def main() -> int:
    hosts, reps = (4, 1) if quick() else (50, 3)
    with running_fleet(hosts, "fleet") as fleet:
        tmp = fleet.work
        inv = tmp / "inventory.yml"
        base_env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.minimal",
                               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp / "cp"))
        pf_argv = [VENV_BIN / "ansible-playbook", "-i", inv, BENCH / "playbooks" / "package_facts.yml"]
        scan_argv = [VENV_BIN / "ansible-playbook", "-i", inv, REPO / "playbooks" / "scan.yml"]
        if not quick():  # warm-up: first connections, module caches (QUICK: none; the scan runs first, cold)
            run(pf_argv, env=base_env)
        pf, scan = [], []
        for k in range(reps):
            scan_env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="fleetsam.sam.collector",
                                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp / "cp"),
                                   FLEETSAM_STORE=str(tmp / f"store{k}.json"),
                                   FLEETSAM_REPORT_DIR=str(tmp / f"reports{k}"),
                                   FLEETSAM_SPOOL_DIR=str(tmp / "spool"),
                                   FLEETSAM_LICENCES=str(REPO / "examples" / "licences"))
            scan.append(run(scan_argv, env=scan_env, log=tmp / f"scan{k}.log"))
            pf.append(run(pf_argv, env=base_env))
        summary = [ln for ln in (tmp / "scan0.log").read_text().splitlines() if ln.startswith("fleetsam:")]
        reports = (tmp / "reports0" / "index.html").exists()
        cmd_env = ansible_env(ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp / "cp"), FLEETSAM_STORE=str(tmp / "cmd.json"),
                              FLEETSAM_REPORT_DIR=str(tmp / "cmd-reports"), FLEETSAM_SPOOL_DIR=str(tmp / "spool"),
                              FLEETSAM_LICENCES=str(REPO / "examples" / "licences"))
        command = run([VENV_BIN / "fleetsam", "scan", "-i", inv, "--progress", "lines"], cwd=tmp, env=cmd_env)
        progress = [ln for ln in command["output"].splitlines() if ln.startswith("scan: ")]
    s, p = median([r["wall"] for r in scan]), median([r["wall"] for r in pf])
    emit_rounds("fleet", [r["wall"] for r in scan], [r["wall"] for r in pf], 1.2, hosts=hosts, scan_s=s,
                package_facts_s=p, report_written=reports, rss_mb=round(max(r["rss_mb"] for r in scan)))
    for line in summary[:3]:
        note(line)
    # fleetsam scan: the same scan through ansible-runner with its progress lines, once, after the others
    emit("fleet_scan_command", command["wall"], s, 1.15, hosts=hosts, fleetsam_scan_s=command["wall"],
         ansible_playbook_scan_s=s, progress_lines=len(progress))
    for line in progress[-3:]:
        note(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
