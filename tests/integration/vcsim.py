"""govmomi's vCenter simulator (vcsim) for the vcenter_facts tests: built once from Debian's Go packages,
started on 127.0.0.1 over plain HTTP, stopped by its PID.

The binary is built from ``vcsim/main.go`` with ``GO111MODULE=off GOPATH=/usr/share/gocode`` (the
``golang-go`` and ``golang-github-vmware-govmomi-dev`` packages, see install-deps.sh: no module download)
and cached under ``.cache/vcsim/<digest of main.go>/``, so a changed source is built again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SOURCE = HERE / "vcsim" / "main.go"
GOPATH = Path("/usr/share/gocode")


def binary() -> Path:
    """The simulator's executable, built when the cache has none for this source."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    target = REPO / ".cache" / "vcsim" / digest / "vcsim"
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/github.com/vmware/govmomi/simulator").is_dir():
        raise RuntimeError("vcsim needs golang-go and golang-github-vmware-govmomi-dev: run tests/integration/install-deps.sh")
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(REPO / ".cache" / "go-build")}
    partial = target.with_suffix(".partial")
    subprocess.run([go, "build", "-o", str(partial), "."], cwd=SOURCE.parent, env=env, check=True, timeout=900)
    partial.rename(target)
    return target


@dataclass
class Simulator:
    process: subprocess.Popen
    host: str
    port: int
    username: str
    password: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # our own child, by its handle
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


def start(username: str, password: str, *flags: str) -> Simulator:
    """A running simulator that accepts only ``username``/``password``; ``flags`` size its inventory."""
    proc = subprocess.Popen([str(binary()), "-user", username, "-password", password, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("http://"):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"vcsim did not start: {line!r}")
    url = urlsplit(line)
    assert url.hostname == "127.0.0.1", url
    return Simulator(proc, url.hostname, url.port, username, password)
