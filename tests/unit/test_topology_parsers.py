"""topology.libvirt and topology.proxmox on collector results: libvirt's test driver captured here
(tests/fixtures/real/libvirt), Proxmox outputs recorded from the documented formats (tests/fixtures/recorded)."""

from __future__ import annotations

import json
from pathlib import Path

from sam_engine.model import GuestVM, PhysicalServer
from sam_engine.topology.collected import cpuset, read_topology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(path: str) -> dict:
    return json.loads((FIXTURES / path).read_text())


def test_libvirt_node_gives_the_host_sockets_cores_and_pinned_vms():
    topology, problems = read_topology(load("real/libvirt/node.hypervisor.json"), "spool/kvm01.json", "kvm01")
    assert problems == []
    (server,) = topology.servers
    # nodeinfo: 2 NUMA cells x 1 socket per cell, 8 cores per socket, 32 CPUs
    assert server == PhysicalServer(key="libvirt:vm", name="vm", platform="kvm", source="libvirt on kvm01",
                                    sockets=2, cores=16, threads=32)
    by_name = {g.name: g for g in topology.guests}
    assert by_name["db01"] == GuestVM("8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f", "db01", "libvirt:vm",
                                      "libvirt on kvm01", 4, (0, 1, 2, 3), "running")
    # upper-case in the node XML, canonical here; no pinning
    assert by_name["web01"].bios_uuid == "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0"
    assert by_name["web01"].pinned_cpus == () and by_name["web01"].vcpus == 2
    # <vcpu cpuset='8-11,^10'> (libvirt prints it as 8-9,11) and shut off
    assert by_name["batch01"].pinned_cpus == (8, 9, 11) and by_name["batch01"].state == "shut off"


def test_libvirt_default_test_node():
    topology, problems = read_topology(load("real/libvirt/default.hypervisor.json"), "spool/h.json", "h")
    assert problems == []
    (server,) = topology.servers
    assert (server.sockets, server.cores, server.threads) == (4, 8, 16)
    (guest,) = topology.guests
    assert guest.bios_uuid == "6695eb01-f6a4-8304-79aa-97f2502e193f" and guest.vcpus == 2 and not guest.pinned_cpus


def test_libvirt_capabilities_give_the_host_uuid_and_cpu_model():
    raw = load("real/libvirt/node.hypervisor.json")
    # the <host> part as the module keeps it from a real host's capabilities (libvirt's documented layout)
    raw["capabilities"] = ("<host><uuid>4C4C4544-0042-3510-8051-B4C04F4A4D32</uuid><cpu><arch>x86_64</arch>"
                           "<model>Cascadelake-Server</model><vendor>Intel</vendor>"
                           "<topology sockets='1' dies='1' cores='8' threads='2'/></cpu></host>")
    raw["cluster"] = "prod"
    topology, _ = read_topology(raw, "spool/kvm01.json", "kvm01")
    (server,) = topology.servers
    assert server.uuid == "4c4c4544-0042-3510-8051-b4c04f4a4d32"
    assert (server.cpu_model, server.cpu_vendor, server.cluster) == ("Cascadelake-Server", "Intel",
                                                                     "libvirt-cluster:prod")


def test_libvirt_unreadable_parts_are_problems_not_exceptions():
    raw = load("real/libvirt/node.hypervisor.json")
    raw["nodeinfo"] = "garbage"
    raw["capabilities"] = "<host><uuid>"
    raw["domains"][0]["xml"] = "<domain><name>db01</name><uuid>not-a-uuid</uuid></domain>"
    raw["domains"][0]["dominfo"] = "Name: db01\nUUID: Not Settable"
    raw["domains"][1]["xml"] = "<domain><uuid>1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0</uuid>" \
                               "<vcpu cpuset='a-b'>2</vcpu></domain>"
    raw["domains"].append("oops")
    raw["errors"] = [{"command": "virsh -r -c qemu:///system dumpxml x", "rc": 1, "stderr": "error: access\ndenied"}]
    topology, problems = read_topology(raw, "spool/kvm01.json", "kvm01")
    text = "\n".join(map(str, problems))
    assert "spool/kvm01.json: hypervisor: virsh -r -c qemu:///system dumpxml x: warning: failed (rc 1): error: " \
           "access denied" in text
    assert "hypervisor.nodeinfo: warning: expected 'NUMA cell(s)'" in text
    assert "hypervisor.capabilities: warning: unreadable XML" in text
    assert "hypervisor.domains[0]: warning: VM 'db01': expected a UUID" in text
    assert "hypervisor.domains[1].xml: warning: cpuset: expected CPU numbers" in text
    assert "hypervisor.domains[3]: error: expected a mapping, got str" in text
    assert topology.servers[0].sockets is None
    assert [g.name for g in topology.guests] == ["web01", "batch01"]  # the name from dominfo


def test_no_hypervisor_part_is_no_topology_and_a_bad_one_a_problem():
    assert read_topology(None, "f", "h") == (None, [])
    topology, (problem,) = read_topology({"platform": "esx"}, "f", "h")
    assert topology is None and "hypervisor.platform" in problem.source and "libvirt, proxmox" in problem.message
    topology, (problem,) = read_topology(["x"], "f", "h")
    assert topology is None and "expected a mapping" in problem.message


def test_proxmox_cluster_node():
    topology, problems = read_topology(load("recorded/proxmox/pve1.hypervisor.json"), "spool/pve1.json", "pve1")
    (server,) = topology.servers
    assert server == PhysicalServer(key="proxmox:prod-pve/pve1", name="pve1", platform="proxmox",
                                    source="proxmox on pve1", sockets=2, cores=32, threads=64,
                                    cpu_model="Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                                    cluster="proxmox-cluster:prod-pve")
    by_name = {g.name: g for g in topology.guests}
    # vcpus wins over sockets x cores; affinity pins
    assert by_name["ora-db01"] == GuestVM("5e7a1c2b-3d4f-4a6b-8c9d-0e1f2a3b4c5d", "ora-db01", server.key,
                                          "proxmox on pve1", 8, tuple(range(8)), "running")
    assert by_name["win-app01"].bios_uuid == "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
    assert by_name["win-app01"].vcpus == 2 and by_name["win-app01"].state == "stopped"
    # legacy01 has no smbios1: cannot be linked, said so
    assert "legacy01" not in by_name
    (problem,) = problems
    assert problem.source == "spool/pve1.json: hypervisor.vms[2]" and "VM 102: smbios1 has no usable uuid" in \
        problem.message


def test_proxmox_standalone_node_without_total_cores():
    topology, problems = read_topology(load("recorded/proxmox/pve-lab.hypervisor.json"), "spool/l.json", "lab")
    (server,) = topology.servers
    assert (server.key, server.cluster, server.sockets, server.cores, server.threads) == \
        ("proxmox:pve-lab", None, 1, None, 8)
    (guest,) = topology.guests
    assert guest.vcpus == 2 and guest.state == "running"
    messages = [p.message for p in problems]
    assert any("Configuration file" in m for m in messages)
    assert any("sockets and cores are unknown" in m for m in messages)


def test_cpuset_syntax():
    assert cpuset("0-3,^2,8") == (0, 1, 3, 8)
    assert cpuset(" 4 ") == (4,)
    for bad in ("", "a", "3-1", "0-99999", "1,,2", "1\x002"):
        assert cpuset(bad) is None


def test_hostile_names_stay_data():
    raw = load("real/libvirt/node.hypervisor.json")
    raw["hostname"] = "<script>alert(1)</script>"
    raw["domains"][1]["xml"] = ("<domain><name>=HYPERLINK(\"x\")&lt;img src=x&gt;\u2028two</name>"
                                "<uuid>1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0</uuid><vcpu>2</vcpu></domain>")
    raw["domains"][2]["xml"] = None
    raw["domains"][2]["dominfo"] = "Name:           nul\x00and\ud800surrogate\nUUID: c0ffee00-1234-4abc-8def-001122334455"
    topology, problems = read_topology(raw, "spool/kvm01.json", "kvm01")
    assert problems == []
    assert topology.servers[0].key == "libvirt:<script>alert(1)</script>"
    names = [g.name for g in topology.guests]
    assert names[1] == "=HYPERLINK(\"x\")<img src=x>\u2028two" and names[2] == "nul\x00and\ud800surrogate"
