"""Host-level licences end to end: `ansible-playbook playbooks/scan.yml` over real SSH, then
`fleetsam position --format json`, with the vendor numbers of the shared licensing reference.

The fleet: two libvirt hypervisors of one cluster (`lab`), each reading a test-driver node of 2 sockets
× 16 cores (2 threads per core) with `virsh -r`: `local` (this machine) and `rpm` (a chroot given a copy
of this machine's virsh and its libraries); the `debian` chroot is a guest of `local`'s node (its DMI
UUID is the domain's). Oracle Database EE is installed on the guest and on the `rpm` hypervisor itself,
Red Hat Enterprise Linux (its `redhat-release` package) on the guest, both as real RPMs built here. The
hosts' CPUs are this machine's (the test driver reports no CPU vendor: the hypervisors' own scans lend
theirs), an x86 whose Oracle core factor is 0.5.

1. no hypervisors in the inventory: each VM counted by its own vCPUs, topology-unknown for the guests
   (the chroot hosts' scans see this machine's virtual CPUs: VMs);
2. the hypervisors scanned: Oracle EE counts every physical core of the cluster's two servers × 0.5
   = 16 + 16 (the `rpm` hypervisor's own installation counted once with the guest), RHEL for Virtual
   Datacenters one subscription per host socket pair of each server;
3. the guest's vCPUs pinned to host CPUs 0-3: hard partitioning counts only those cores.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import roots
import testhosts

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARCH = platform.machine()
# the hosts' CPU is this machine's: its vendor picks the core factor row (both x86 rows are 0.5)
FACTOR = "0.5 (AMD x86)" if "AuthenticAMD" in Path("/proc/cpuinfo").read_text() else "0.5 (Intel x86)"
RPMS = (
    roots.RpmPackage("oracle-database-ee-19c", "1.0", "2", ARCH, "Oracle Corporation", "Proprietary",
                     "Oracle Database 19c Enterprise Edition, a fleetsam test stand-in"),
    roots.RpmPackage("redhat-release", "9.4", "0.5.el9", ARCH, "Red Hat, Inc.", "GPLv2",
                     "Red Hat Enterprise Linux release, a fleetsam test stand-in"),
)
NODE = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><nodes>2</nodes><sockets>1</sockets><cores>16</cores>
    <threads>2</threads><active>64</active><total>64</total></cpu>
  <memory>134217728</memory>
  <domain type='test'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory>4194304</memory>
    {vcpu}
    <os><type arch='x86_64'>hvm</type></os>
  </domain>
</node>
"""
UNPINNED = "<vcpu>2</vcpu>"
PINNED = ("<vcpu placement='static'>4</vcpu><cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='1' cpuset='1'/>"
          "<vcpupin vcpu='2' cpuset='2'/><vcpupin vcpu='3' cpuset='3'/></cputune>")
LICENCES = """\
entitlements:
  - {publisher: Oracle, product: Oracle Database, edition: Enterprise Edition, metric: processor, quantity: 20}
  - {publisher: Red Hat, product: Red Hat Enterprise Linux, metric: processor, quantity: 2, licensing: host}
"""


class Chroots:
    """What the test adds to the session's chroot hosts, removed again at the end (the fleet is shared)."""

    def __init__(self, fleet) -> None:
        self.fleet, self.created, self.installed = fleet, [], []

    def add(self, root: Path, relative: str) -> Path:
        path = root / relative
        if not os.path.lexists(path):
            self.created.append(path)
        return path

    def install(self, name: str, rpms: list[Path], packages: tuple[roots.RpmPackage, ...]) -> None:
        """Install ``rpms`` (built from ``packages``) into host ``name``'s rpm database at /var/lib/rpm."""
        root = self.fleet[name].root
        for relative in ("var/lib/rpm", "etc/rpm/macros.dbpath", "root/.rpmdb", "tmp/fleetsam-virt"):
            self.add(root, relative)
        (root / "etc/rpm").mkdir(parents=True, exist_ok=True)
        (root / "etc/rpm/macros.dbpath").write_text("%_dbpath /var/lib/rpm\n")
        if not os.path.lexists(root / "root/.rpmdb"):
            (root / "root/.rpmdb").symlink_to("../var/lib/rpm")
        (root / "tmp/fleetsam-virt").mkdir(exist_ok=True)
        for rpm in rpms:
            shutil.copyfile(rpm, root / "tmp/fleetsam-virt" / rpm.name)
        self.run(name, ["rpm", "-i", "--nodeps", "--force-debian", "--dbpath", "/var/lib/rpm",
                        *[f"/tmp/fleetsam-virt/{r.name}" for r in rpms]])
        self.installed.append((name, [p.name for p in packages]))

    def add_virsh(self, name: str) -> None:
        """This machine's virsh and the libraries the chroot lacks, at their merged-/usr paths."""
        root = self.fleet[name].root
        ldd = subprocess.run(["ldd", "/usr/bin/virsh"], capture_output=True, text=True, check=True).stdout
        wanted = ["/usr/bin/virsh"] + [part for line in ldd.splitlines() for part in line.split()
                                       if part.startswith("/") and "=>" in line]
        for path in wanted:
            usr = path if path.startswith("/usr/") else "/usr" + path  # bookworm: /lib is usr/lib
            real = os.path.realpath(path)
            link = self.add(root, usr.lstrip("/"))
            if os.path.lexists(link):
                continue
            target = self.add(root, real.lstrip("/"))
            if not os.path.lexists(target):
                shutil.copy2(real, target)
            if target != link:
                link.symlink_to(os.path.basename(real))

    def run(self, name: str, argv: list[str]) -> None:
        proc = subprocess.run(roots.in_root_argv(self.fleet[name].root, f"fleet-{name}-setup", argv),
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def remove(self) -> None:
        for name, packages in self.installed:
            self.run(name, ["rpm", "-e", "--nodeps", "--dbpath", "/var/lib/rpm", *packages])
        for path in reversed(self.created):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif os.path.lexists(path):
                path.unlink()


@pytest.fixture
def chroots(fleet):
    added = Chroots(fleet)
    try:
        yield added
    finally:
        added.remove()


def write_nodes(fleet, tmp_path: Path, vcpu: str) -> tuple[str, str]:
    """The libvirt URIs of `local`'s node (the guest's domain) and `rpm`'s (a domain no scan reports)."""
    local = tmp_path / "node-local.xml"
    local.write_text(NODE.format(name="debian-guest", uuid=testhosts.DMI_UUIDS["debian"], vcpu=vcpu))
    (fleet["rpm"].root / "tmp/fleetsam-virt/node.xml").write_text(
        NODE.format(name="app02", uuid="0f7c9a52-3b1d-4e6f-8a2b-6c5d4e3f2a10", vcpu=UNPINNED))
    return f"test://{local}", "test:///tmp/fleetsam-virt/node.xml"


def inventory(fleet, path: Path, uris: tuple[str, str] | None) -> Path:
    doc = yaml.safe_load(fleet.inventory.read_text())
    if uris:
        doc["all"]["children"]["hypervisors"] = {
            "hosts": {"local": {"software_inventory_libvirt_uri": uris[0]},
                      "rpm": {"software_inventory_libvirt_uri": uris[1]}},
            "vars": {"software_inventory_hypervisor_cluster": "lab"}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def env(fleet, tmp_path: Path) -> dict[str, str]:
    return fleet.ansible_env(FLEETSAM_STORE=str(tmp_path / "store.json"), FLEETSAM_LICENCES=str(tmp_path / "licences"),
                             FLEETSAM_REPORT_DIR=str(tmp_path / "reports"), FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"))


def scan_and_position(fleet, tmp_path: Path, inventory_file: Path) -> dict[str, dict]:
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory_file), str(REPO / "playbooks/scan.yml")],
                         cwd=tmp_path, env=env(fleet, tmp_path), capture_output=True, text=True, timeout=900)
    assert "hosts ok=3 unreachable=0 failed=0" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    position = subprocess.run([str(BIN / "fleetsam"), "position", "--format", "json"], cwd=tmp_path,
                              env=env(fleet, tmp_path), capture_output=True, text=True, timeout=300)
    assert position.returncode == 0, position.stderr
    rows = json.loads(position.stdout)["products"]
    return {row["product"]: row for row in rows if row["product"] in ("Oracle Database", "Red Hat Enterprise Linux")}


def test_guests_and_their_hypervisors_give_the_per_host_figures(fleet, chroots, tmp_path):
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    rpms = roots.ensure_test_rpms(RPMS, folder="rpms-virtualisation")
    chroots.install("debian", rpms, RPMS)
    chroots.install("rpm", rpms[:1], RPMS[:1])  # Oracle on the hypervisor itself too
    chroots.add_virsh("rpm")
    (tmp_path / "licences").mkdir()
    (tmp_path / "licences" / "virtualisation.yml").write_text(LICENCES)
    uris = write_nodes(fleet, tmp_path, UNPINNED)
    assert "CPU socket(s):       1" in fleet.ssh("rpm", f"virsh -r -c {uris[1]} nodeinfo").stdout

    # 1. no hypervisor scanned: per VM, and the finding says the count may be understated
    before = scan_and_position(fleet, tmp_path, inventory(fleet, tmp_path / "plain.yml", None))
    oracle, rhel = before["Oracle Database"], before["Red Hat Enterprise Linux"]
    assert oracle["servers"] == [] and rhel["servers"] == []
    assert (oracle["consumption"], rhel["consumption"]) == (1 + 1, 1)  # 2 vCPUs × 0.5 each; 2 guests per RHEL
    assert sorted(oracle["topology_unknown"]) == ["debian", "rpm"] and rhel["topology_unknown"] == ["debian"]
    findings = json.loads((tmp_path / "reports" / "report.json").read_text())["findings"]
    unknown = [f for f in findings if f["type"] == "topology-unknown"]
    assert sorted(f["title"] for f in unknown) == [
        "Oracle Database Enterprise Edition: soft partitioning: host unknown, count may be understated",
        "Red Hat Enterprise Linux: soft partitioning: host unknown, count may be understated"]

    # 2. both hypervisors scanned: soft partitioning over the cluster, the rpm hypervisor counted once
    hypervisors = inventory(fleet, tmp_path / "hypervisors.yml", uris)
    after = scan_and_position(fleet, tmp_path, hypervisors)
    oracle, rhel = after["Oracle Database"], after["Red Hat Enterprise Linux"]
    local_name = next(s["server"] for s in oracle["servers"] if s["key"] != "libvirt:fleet-rpm")
    assert (oracle["consumption"], oracle["owned"], oracle["shortfall"], oracle["status"]) == (
        32, 20, 12, "under-licensed")
    servers = {s["key"]: s for s in oracle["servers"]}
    assert set(servers) == {f"libvirt:{local_name}", "libvirt:fleet-rpm"}
    assert {k: (s["quantity"], s["rule"], s["guests"], s["running"]) for k, s in servers.items()} == {
        f"libvirt:{local_name}": (16, "soft partitioning", ["debian"], ["debian"]),
        "libvirt:fleet-rpm": (16, "soft partitioning", ["rpm", "debian"], [])}
    lines = oracle["trace"]["consumption"]
    assert sorted(lines[:2]) == sorted([  # one line per server, in the order of their names
        f"{local_name} → runs debian → soft partitioning (cluster libvirt-cluster:lab): 2 sockets × 16 cores = "
        f"32 cores × {FACTOR} = 16",
        f"fleet-rpm → installed on the server itself (rpm); reachable by debian → soft partitioning (cluster "
        f"libvirt-cluster:lab): 2 sockets × 16 cores = 32 cores × {FACTOR} = 16"]) and lines[2:] == ["total: 16 + 16 = 32"]
    assert oracle["topology_unknown"] == [] and rhel["topology_unknown"] == []
    assert (rhel["consumption"], rhel["owned"], rhel["status"]) == (2, 2, "compliant")
    assert sorted((s["server"], s["quantity"], s["guests"]) for s in rhel["servers"]) == sorted([
        (local_name, 1, ["debian"]), ("fleet-rpm", 1, ["debian"])])
    assert sorted(s["trace"].split(": ")[0] for s in rhel["servers"]) == sorted([
        f"{local_name} → runs debian → soft partitioning (cluster libvirt-cluster:lab)",
        "fleet-rpm → reachable by debian → soft partitioning (cluster libvirt-cluster:lab)"])
    assert all(re.search(r": 2 sockets ÷ 2 per licence = 1 \(one licence covers 2 sockets, "
                         r"catalogue/metrics/metric_rules\.yml:\d+\)$", s["trace"]) for s in rhel["servers"])
    findings = json.loads((tmp_path / "reports" / "report.json").read_text())["findings"]
    resolved = [f for f in findings if f["type"] == "topology-unknown"]
    assert sorted(f["id"] for f in resolved) == sorted(f["id"] for f in unknown)
    assert {f["state"] for f in resolved} == {"resolved"}  # the hypervisors' scan settled them

    # 3. the guest pinned to host CPUs 0-3: hard partitioning counts 2 cores; the rpm hypervisor its own
    write_nodes(fleet, tmp_path, PINNED)
    pinned = scan_and_position(fleet, tmp_path, hypervisors)["Oracle Database"]
    assert pinned["consumption"] == 1 + 16 and pinned["status"] == "compliant"
    assert pinned["trace"]["consumption"] == [
        f"fleet-rpm → installed on the server itself (rpm) → its own cores: 2 sockets × 16 cores = 32 cores × "
        f"{FACTOR} = 16",
        f"{local_name} → runs debian (pinned to CPUs 0-3) → hard partitioning: 4 pinned CPUs ÷ 2 threads per core "
        f"= 2 cores × {FACTOR} = 1",
        "total: 16 + 1 = 17"]
