"""Figure 2b: the fleet rate, the controller's own CPU per host, against ``ansible -m ping``.

50 sshd test hosts (QUICK: 16) of ``bench/fleet.py`` (127.0.1.x, namespaced, this
machine's root). Each command runs in a cgroup of its own (``CpuGroup``):
its CPU is the controller's process tree (ansible, its workers, ssh clients and
their ControlPersist masters), never the test hosts' sshd and Python, which share
the two cores. Every run starts with cold connections, as a nightly scan does.

    fleet_rate  cpu(playbooks/scan.yml with the callback spooling) / cpu(ansible all -m ping)   target 1.2

The callback spools only (``FLEETSAM_ENGINE=false``, as ``fleetsam scan`` runs it): the
engine's CPU is the engine's figures. Where the difference goes, from runs in the same
loop: the module alone in a one-task playbook (module transfer, result, parsing), the
role without the callback (its tasks), the callback's spool write; then the task
executions per host, the AnsiballZ payload sizes and the spooled bytes per host.
The sustained rate is 2 cores x 60 s / CPU per host (the controller's CPU is the limit
when the hosts are remote). Alternating rounds (QUICK: 1): the figure is the median of the rounds' ratios, the
absolute figures the medians of each side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, REPO, VENV_BIN, ansible_env, emit_rounds, median, note, quick  # noqa: E402
from fleet import running_fleet  # noqa: E402

CORES = 2  # the controller the README's rate is stated for

# One command's own CPU, counted in a cgroup of its own: the command's whole process tree joins it at
# its start, including what outlives it (ssh's ControlPersist masters fork away from ansible and are
# re-parented to init, so RUSAGE_CHILDREN would miss them, but they stay in the group). The test hosts'
# sshd, started before and forking their sessions themselves, are not in it. cgroup v1 cpuacct or v2.
V1 = Path("/sys/fs/cgroup/cpuacct")
V2_CANDIDATES = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def _hierarchy() -> tuple[Path, str]:
    if (V1 / "cpuacct.usage").exists():
        return V1, "v1"
    for root in V2_CANDIDATES:
        if (root / "cgroup.procs").exists() and (root / "cgroup.subtree_control").exists():
            return root, "v2"
    raise RuntimeError("no writable cgroup hierarchy with CPU accounting (cpuacct v1 or v2)")


class CpuGroup:
    """A fresh cgroup; ``run`` puts a command in it and returns its wall and CPU seconds."""

    def __init__(self, name: str):
        root, self.kind = _hierarchy()
        self.path = root / f"fleetsam-bench-{name}-{os.getpid()}"
        self.path.mkdir()

    def _enter(self) -> None:  # in the child, before exec
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def members(self) -> list[int]:
        return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]

    def cpu(self) -> tuple[float, float]:
        """(user, system) seconds of every process that ever ran in the group."""
        if self.kind == "v1":
            return (int((self.path / "cpuacct.usage_user").read_text()) / 1e9,
                    int((self.path / "cpuacct.usage_sys").read_text()) / 1e9)
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return int(stat["user_usec"]) / 1e6, int(stat["system_usec"]) / 1e6

    def run(self, argv: list, env: dict, cwd: Path, log: Path) -> dict:
        """Run ``argv`` in the group; afterwards stop what it left running (its ssh masters,
        by pid: only this command's descendants are members) so their CPU is counted too."""
        t0 = time.perf_counter()
        with open(log, "wb") as out:
            rc = subprocess.call([str(a) for a in argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, preexec_fn=self._enter)
        wall = time.perf_counter() - t0
        left = self.members()
        for pid in left:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.05)
        user, system = self.cpu()
        return {"rc": rc, "wall": wall, "user": user, "system": system, "cpu": user + system, "left": len(left)}

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:  # the last member is still being reaped
                time.sleep(0.05)


def payload_sizes(tmp: Path) -> dict:
    """Bytes of the AnsiballZ file ansible sends for each module (kept on a local run without pipelining)."""
    sizes = {}
    for module, args in (("ansible.builtin.ping", ""), ("fleetsam.sam.software_facts", "software_format=json")):
        remote = tmp / f"remote-{module}"
        env = ansible_env(ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="0", ANSIBLE_REMOTE_TMP=str(remote))
        subprocess.run([VENV_BIN / "ansible", "localhost", "-c", "local", "-m", module, "-a", args,
                        "-e", "ansible_python_interpreter=/usr/bin/python3"], cwd=REPO, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        sizes[module] = sum(p.stat().st_size for p in remote.rglob("AnsiballZ_*.py"))
    return sizes


def task_counts(argv: list, env: dict, tmp: Path, hosts: int) -> tuple[float, list[str]]:
    """Task executions per host (includes and skipped tasks count: each is a worker run per host)."""
    times = tmp / "times.jsonl"
    env = dict(env, ANSIBLE_CALLBACK_PLUGINS=str(BENCH / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED=env["ANSIBLE_CALLBACKS_ENABLED"] + ",bench_timer",
               FLEETSAM_BENCH_TIMES=str(times))
    group = CpuGroup("tasks")
    try:
        group.run(argv, env, REPO, tmp / "tasks.log")
    finally:
        group.remove()
    rows = [json.loads(line) for line in times.read_text().splitlines()]
    return sum(len(r["hosts"]) for r in rows) / hosts, [f"{r['action']}:{len(r['hosts'])}" for r in rows]


def main() -> int:
    hosts, reps = (16, 1) if quick() else (50, 3)
    with running_fleet(hosts, "rate") as fleet:
        tmp = fleet.work
        inv = tmp / "inventory.yml"
        spool = tmp / "spool"

        def env(callbacks: str, k: int, **extra) -> dict:
            return ansible_env(ANSIBLE_CALLBACKS_ENABLED=callbacks, ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp / f"cp{k}"),
                               FLEETSAM_SPOOL_DIR=str(spool), FLEETSAM_ENGINE="false", **extra)

        playbook = [VENV_BIN / "ansible-playbook", "-i", inv]
        kinds = {
            "ping": ([VENV_BIN / "ansible", "all", "-i", inv, "-m", "ansible.builtin.ping"], "ansible.builtin.minimal"),
            "module": (playbook + [BENCH / "playbooks" / "software_facts.yml"], "ansible.builtin.minimal"),
            "role": (playbook + [REPO / "playbooks" / "scan.yml"], "ansible.builtin.minimal"),
            "scan": (playbook + [REPO / "playbooks" / "scan.yml"], "fleetsam.sam.collector"),
        }
        measured = {kind: [] for kind in kinds}
        for rep in range(reps):
            for n, (kind, (argv, callbacks)) in enumerate(kinds.items()):
                group = CpuGroup(kind)
                try:
                    extra = {"FLEETSAM_KEEP_SPOOL": "true"} if kind == "scan" else {}
                    result = group.run(argv, env(callbacks, rep * 10 + n, **extra), REPO, tmp / f"{kind}.log")
                finally:
                    group.remove()
                if result["rc"] != 0:
                    raise RuntimeError(f"{kind} exited {result['rc']}:\n{(tmp / f'{kind}.log').read_text()[-3000:]}")
                measured[kind].append(result)
        per_host, breakdown = task_counts(kinds["scan"][0], env("fleetsam.sam.collector", 99), tmp, hosts)
        spooled = sorted(spool.glob("*/hosts/*"))
        spool_bytes = sum(p.stat().st_size for p in spooled) / max(len(spooled), 1)
        sizes = payload_sizes(tmp)
    ms = {kind: 1000 * median([r["cpu"] for r in runs]) / hosts for kind, runs in measured.items()}
    ranges = {kind: "-".join(f"{1000 * f([r['cpu'] for r in runs]) / hosts:.0f}" for f in (min, max))
              for kind, runs in measured.items()}
    rate = CORES * 60 * 1000 / ms["scan"]
    emit_rounds("fleet_rate", [r["cpu"] for r in measured["scan"]], [r["cpu"] for r in measured["ping"]], 1.2,
                hosts=hosts, scan_ms_per_host=ms["scan"], ping_ms_per_host=ms["ping"], hosts_per_min=round(rate),
                scan_wall_s=median([r["wall"] for r in measured["scan"]]),
                ping_wall_s=median([r["wall"] for r in measured["ping"]]))
    for kind in kinds:
        user = median([r["user"] for r in measured[kind]]) * 1000 / hosts
        note(f"{kind}: {ms[kind]:.0f} ms CPU/host (range {ranges[kind]}; user {user:.0f}), "
             f"wall {median([r['wall'] for r in measured[kind]]):.1f} s")
    note(f"where the rest goes: module vs ping {ms['module'] - ms['ping']:+.0f} ms/host (transfer, result), "
         f"role vs module {ms['role'] - ms['module']:+.0f} ms/host (its tasks), "
         f"callback's spool {ms['scan'] - ms['role']:+.0f} ms/host")
    note(f"task executions per host in scan.yml: {per_host:g} ({', '.join(breakdown)})")
    note(f"AnsiballZ payload: ping {sizes['ansible.builtin.ping']} B, software_facts "
         f"{sizes['fleetsam.sam.software_facts']} B; spooled per host {spool_bytes / 1024:.0f} KiB")
    note(f"sustained rate of one {CORES}-core controller: {rate:.0f} hosts/min ({ms['scan']:.0f} ms CPU per host)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
