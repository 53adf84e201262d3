"""The scan on every supported ansible-core older than the one in .venv (2.16 to 2.18).

Each version gets a venv of its own under .cache/ansible-core/ (or FLEETSAM_TEST_CACHE_DIR)
with fleetsam installed editable from this checkout and that ansible-core pinned (pip,
from PyPI; reused while its stamp matches). The real playbook then scans the real sshd fleet through that
version's ansible-playbook: the ``collect`` action plugin, the hand-over to the
callback and the engine must work the same on each. The current version (.venv) is
covered by test_scan_fleet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_scan_fleet import Scanner, by_name, dpkg_installed, packages

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("FLEETSAM_TEST_CACHE_DIR", REPO / ".cache")) / "ansible-core"
VERSIONS = ("2.16", "2.17", "2.18")


def core_venv(version: str) -> Path:
    """The bin directory of a venv with ansible-core ``version``.* and this checkout (editable)."""
    venv = VENVS / version
    stamp = venv / ".fleetsam-installed"
    wanted = f"ansible-core=={version}.*"
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        wanted, "-e", str(REPO)], check=True, timeout=900)
        stamp.write_text(wanted)
    return venv / "bin"


class CoreScanner(Scanner):
    """A Scanner whose ansible-playbook is another ansible-core's."""

    def __init__(self, fleet, workdir: Path, bin_dir: Path):
        super().__init__(fleet, workdir)
        self.bin_dir = bin_dir

    def scan(self, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin_dir / "ansible-playbook"), "-i", str(self.fleet.inventory),
                               str(REPO / "playbooks" / "scan.yml"), *extra],
                              cwd=self.workdir, env=self.env(), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("version", VERSIONS)
def test_scan_on_older_ansible_core(version, fleet, tmp_path):
    bin_dir = core_venv(version)
    shown = subprocess.run([str(bin_dir / "ansible-playbook"), "--version"], capture_output=True, text=True, check=True)
    assert f"[core {version}." in shown.stdout, shown.stdout
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    scanner = CoreScanner(fleet, tmp_path, bin_dir)
    run = scanner.scan()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "fleetsam: hosts ok=3 unreachable=0 failed=0" in run.stdout
    report = scanner.report()
    hosts = by_name(report)
    assert set(hosts) == set(fleet.hosts)
    assert packages(hosts["local"], "dpkg") == dpkg_installed()
    assert packages(hosts["debian"], "dpkg") == dpkg_installed(str(fleet["debian"].root / "var/lib/dpkg"))
    assert [h["status"] for h in hosts.values()] == ["ok"] * 3
    assert json.loads(scanner.fleetsam("hosts", "--format", "json")), "the engine stored the fleet"
