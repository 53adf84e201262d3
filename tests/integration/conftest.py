"""Fixtures for the agentless integration tests: a fleet of real SSH hosts."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import testhosts

REQUIRED_TOOLS = ("sshd", "ssh", "ssh-keygen", "debootstrap", "rpmbuild", "unshare", "chroot")
_HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: needs root and real sshd test hosts (tests/integration)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    """Three running sshd test hosts (``local``, ``debian``, ``rpm``); see testhosts.Fleet."""
    problem = None
    if os.geteuid() != 0:
        problem = "the test fleet needs root (sshd, chroot, mount namespaces)"
    elif missing := [t for t in REQUIRED_TOOLS
                     if not shutil.which(t, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")]:
        problem = f"missing tools {missing}: run tests/integration/install-deps.sh"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    # SIGTERM would skip teardown: turn it into KeyboardInterrupt so pytest tears down
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    fleet = testhosts.start_fleet(tmp_path_factory.mktemp("fleet"))
    try:
        yield fleet
    finally:
        try:
            fleet.close()
        finally:
            if previous is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
