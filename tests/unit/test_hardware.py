"""Hardware and identity derivation on captured and synthetic raw facts."""

import subprocess
from pathlib import Path

import pytest

from sam_engine.platforms import hardware
from sam_engine.model import Virtualization

XEON_2S = "# Socket,Core,CPU\n" + "".join(f"{cpu // 24 % 2},{cpu % 24},{cpu}\n" for cpu in range(48))


def cpuinfo(sockets, cores, threads_per_core=1, hypervisor=False):
    blocks, n = [], 0
    for s in range(sockets):
        for c in range(cores):
            for _ in range(threads_per_core):
                blocks.append(f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6130\n"
                              f"physical id\t: {s}\ncore id\t: {c}\ncpu cores\t: {cores}\n")
                n += 1
    text = "\n".join(blocks)
    return text + ("\nhypervisor\t: yes\n" if hypervisor else "")


def test_lscpu_two_sockets_hyperthreaded():
    text = "# Socket,Core,CPU\n" + "".join(f"{s},{c},{s * 24 + c + t * 48}\n" for t in range(2) for s in range(2) for c in range(24))
    assert hardware.parse_lscpu(text) == (2, 48, 96)


def test_lscpu_cores_are_total_not_per_socket():
    # Ansible's processor_cores would say 24 here; licences count 48 physical cores.
    assert hardware.parse_lscpu(XEON_2S) == (2, 48, 48)


def test_cpuinfo_topology_counts_distinct_physical_and_core_ids():
    got = hardware.parse_cpuinfo(cpuinfo(2, 12, threads_per_core=2))
    assert (got["sockets"], got["cores"], got["threads"]) == (2, 24, 48)
    assert got["vendor"] == "GenuineIntel"
    assert got["model"].startswith("Intel(R) Xeon(R)")


def test_cpuinfo_without_topology_counts_threads_as_cores():
    raw = {"cpuinfo": "processor\t: 0\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nCPU implementer\t: 0x41\n"}
    hw = hardware.derive_hardware(raw)
    assert (hw.sockets, hw.cores, hw.threads) == (1, 2, 2)


def test_lscpu_wins_over_cpuinfo():
    hw = hardware.derive_hardware({"lscpu": XEON_2S, "cpuinfo": cpuinfo(1, 2)})
    assert (hw.sockets, hw.cores, hw.threads) == (2, 48, 48)


@pytest.mark.parametrize("raw, expected", [
    ({"detect_virt": "kvm"}, (Virtualization.VM, "kvm")),
    ({"detect_virt": "docker"}, (Virtualization.CONTAINER, "docker")),
    ({"detect_virt": "none", "dmi": {"sys_vendor": "Dell Inc."}}, (Virtualization.PHYSICAL, None)),
    ({"container_markers": ["/run/.containerenv"]}, (Virtualization.CONTAINER, "podman")),
    ({"dmi": {"sys_vendor": "VMware, Inc.", "product_name": "VMware Virtual Platform"}}, (Virtualization.VM, "VMware")),
    ({"dmi": {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}}, (Virtualization.VM, "Hyper-V")),
    ({"dmi": {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}}, (Virtualization.VM, "QEMU")),
    ({"dmi": {"sys_vendor": "Lenovo", "product_name": "ThinkPad T14"}}, (Virtualization.PHYSICAL, None)),
    ({}, (Virtualization.UNKNOWN, None)),
])
def test_virtualization(raw, expected):
    assert hardware.detect_virtualization(raw, hypervisor_flag=False) == expected


def test_hypervisor_flag_alone_means_vm():
    assert hardware.derive_hardware({"cpuinfo": cpuinfo(1, 2, hypervisor=True)}).virtualization is Virtualization.VM


def test_identity_prefers_machine_id_then_dmi_then_serial():
    dmi = {"product_uuid": "4C4C4544-004A-3510-804B-B4C04F4E3332", "product_serial": "ABC123"}
    assert hardware.host_identity({"machine_id": "0123abcd", "dmi": dmi}, "web1") == ("machine-id:0123abcd", "machine-id")
    assert hardware.host_identity({"dmi": dmi}, "web1") == ("dmi-uuid:4c4c4544-004a-3510-804b-b4c04f4e3332", "dmi-uuid")
    assert hardware.host_identity({"dmi": {"product_serial": "ABC123"}}, "web1") == ("serial:abc123", "serial")


def test_identity_ignores_firmware_placeholders():
    raw = {"dmi": {"product_uuid": "03000200-0400-0500-0006-000700080009", "product_serial": "To Be Filled By O.E.M."}}
    assert hardware.host_identity(raw, "web1") == ("inventory:web1", "inventory")


def test_identity_survives_rename():
    raw = {"machine_id": "f00dfeed"}
    assert hardware.derive_host(raw, "old-name").host_id == hardware.derive_host(raw, "new-name").host_id


def test_os_release_parsing():
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n# c\n'
    host = hardware.derive_host({"os_release": text, "system": "Linux"}, "h")
    assert (host.os_name, host.os_version, host.os_family) == ("Debian GNU/Linux", "12", "Linux")


def test_this_machine_matches_lscpu_summary():
    """The derived topology of this machine equals what lscpu's own summary says."""
    parse = subprocess.run(["lscpu", "--parse=SOCKET,CORE,CPU"], capture_output=True, text=True, check=True).stdout
    summary = dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in
                                               subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines())
    )
    sockets, cores, threads = hardware.parse_lscpu(parse)
    assert threads == int(summary["CPU(s)"])
    assert cores == int(summary["Core(s) per socket"]) * int(summary.get("Socket(s)", "1"))
    real = hardware.parse_cpuinfo(Path("/proc/cpuinfo").read_text())
    assert real["threads"] == threads
