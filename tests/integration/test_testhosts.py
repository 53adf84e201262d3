"""The SSH test fleet itself: reachable, distinct, with the expected packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roots import TEST_RPMS

pytestmark = pytest.mark.integration

ANSIBLE = str(Path(sys.executable).parent / "ansible")


def test_each_host_answers_over_ssh_with_its_own_identity(fleet):
    assert set(fleet.hosts) == {"local", "debian", "rpm"}
    hostnames, machine_ids = {}, {}
    for name, host in fleet.hosts.items():
        res = fleet.ssh(host, "cat /etc/hostname; cat /etc/machine-id")
        assert res.returncode == 0, res.stderr
        hostnames[name], machine_ids[name] = res.stdout.split()
        assert hostnames[name] == host.hostname
        assert machine_ids[name] == host.machine_id
    assert len(set(hostnames.values())) == 3, hostnames
    assert len(set(machine_ids.values())) == 3, machine_ids
    assert len({(h.address, h.port) for h in fleet.hosts.values()}) == 3
    # the chroot hosts also have their own UTS hostname
    assert fleet.ssh("debian", "hostname").stdout.strip() == "fleet-debian"


def test_ansible_ping_reaches_all_hosts(fleet):
    res = subprocess.run(
        [ANSIBLE, "-i", str(fleet.inventory), "testfleet", "-m", "ansible.builtin.ping",
         "-o"],
        capture_output=True, text=True, env=fleet.ansible_env(callbacks=False), timeout=300,
        cwd=fleet.workdir)
    assert res.returncode == 0, res.stdout + res.stderr
    for name in fleet.hosts:
        assert f'{name} | SUCCESS' in res.stdout, res.stdout


def test_rpm_host_has_the_built_packages(fleet):
    root = fleet.hosts["rpm"].root
    qf = "%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{VENDOR}\n"
    for dbpath in (["--dbpath", "/var/lib/rpm"], []):  # explicit, and Debian's default ~/.rpmdb
        res = subprocess.run(["rpm", "-qa", "--root", str(root), *dbpath, "--qf", qf],
                             capture_output=True, text=True, check=True)
        got = set(res.stdout.splitlines())
        for pkg in TEST_RPMS:
            epoch = "(none)" if pkg.epoch is None else str(pkg.epoch)
            assert f"{pkg.name} {epoch} {pkg.version} {pkg.release} {pkg.arch} {pkg.vendor}" in got
    # and a plain `rpm -qa` on the host itself (over SSH) sees them too
    remote = fleet.ssh("rpm", "rpm -qa")
    assert remote.returncode == 0, remote.stderr
    assert {p.nevra.replace(f"{p.epoch}:", "") for p in TEST_RPMS} <= set(remote.stdout.split())


def test_debian_host_has_a_dpkg_database(fleet):
    root = fleet.hosts["debian"].root
    res = subprocess.run(["dpkg-query", "--admindir", f"{root}/var/lib/dpkg", "-W",
                          "-f", "${Package} ${db:Status-Status}\n"],
                         capture_output=True, text=True, check=True)
    installed = {line.split()[0] for line in res.stdout.splitlines()
                 if line.endswith(" installed")}
    assert {"python3", "openssh-server", "rpm", "dpkg"} <= installed
    remote = fleet.ssh("debian", "dpkg-query -W -f '${Package}\\n' python3")
    assert remote.stdout.strip() == "python3", remote.stderr


def test_stopped_host_is_unreachable_until_restarted(fleet):
    host = fleet.hosts["debian"]
    assert fleet.ssh(host, "true").returncode == 0
    host.stop()
    try:
        assert not host.is_running()
        assert not host.is_reachable()
        assert fleet.ssh(host, "true", timeout=30).returncode == 255
    finally:
        host.start()
    assert host.is_running() and host.is_reachable()
    assert fleet.ssh(host, "cat /etc/hostname").stdout.strip() == host.hostname
