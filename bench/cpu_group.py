"""One command's own CPU time, counted in a cgroup of its own (the fleet-rate benchmark's meter).

The command's whole process tree joins the group at its start, including what
outlives it: ssh's ControlPersist masters fork away from ansible and are
re-parented to init, so ``RUSAGE_CHILDREN`` would miss them, but they stay in
the group. Processes started before (the test hosts' sshd and their sessions,
forked by those sshd) are not in it, so the hosts sharing this machine's cores
are not counted. cgroup v1 ``cpuacct`` or cgroup v2 ``cpu.stat``; root only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

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
