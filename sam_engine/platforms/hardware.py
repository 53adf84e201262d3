"""Derive host identity and licence-relevant hardware facts from raw collector data.

Ansible's own facts get these wrong for licensing (``ansible_processor_cores``
is cores per socket; VM detection trusts a loaded kvm module), so the collector
ships raw ``lscpu --parse`` output, filtered ``/proc/cpuinfo``, DMI strings and
virtualisation markers, and these pure functions derive the numbers.

Worked example: a 2-socket host whose ``lscpu --parse=SOCKET,CORE,CPU`` lists
CPUs 0-47 over sockets 0-1 and cores 0-23 has sockets=2, cores=24, threads=48.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from sam_engine.model import Hardware, Host, Virtualization
from sam_engine.topology import cloud, uuids

# DMI sys_vendor / product_name fragments that mean "this is a virtual machine".
VM_DMI_MARKERS = (
    ("vmware", "VMware"),
    ("virtualbox", "VirtualBox"),
    ("innotek", "VirtualBox"),
    ("qemu", "QEMU"),
    ("kvm", "KVM"),
    ("bochs", "Bochs"),
    ("xen", "Xen"),
    ("virtual machine", "Hyper-V"),  # Microsoft Corporation / Virtual Machine
    ("amazon ec2", "Amazon EC2"),
    ("google compute engine", "Google Compute Engine"),
    ("openstack", "OpenStack"),
    ("parallels", "Parallels"),
)

# Azure stamps this chassis asset tag on its VMs; an on-premises Hyper-V VM has the same
# "Microsoft Corporation / Virtual Machine" strings but not this tag.
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"

# ARM CPUs name themselves by MIDR fields in /proc/cpuinfo, not by a model string:
# implementer code -> company, and (implementer, part) -> core design.
ARM_IMPLEMENTERS = {"0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
                    "0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x61": "Apple", "0xc0": "Ampere"}
ARM_PARTS = {
    ("0x41", "0xd0c"): "Neoverse N1", ("0x41", "0xd40"): "Neoverse V1", ("0x41", "0xd49"): "Neoverse N2",
    ("0x41", "0xd4f"): "Neoverse V2", ("0x41", "0xd8e"): "Neoverse N3", ("0x41", "0xd84"): "Neoverse V3",
    ("0x41", "0xd08"): "Cortex-A72", ("0x41", "0xd0b"): "Cortex-A76",
    ("0xc0", "0xac3"): "AmpereOne", ("0xc0", "0xac4"): "AmpereOne AC04",
}

CONTAINER_KINDS = {"docker", "podman", "lxc", "lxc-libvirt", "systemd-nspawn", "openvz", "wsl", "rkt", "container-other"}

# Values DMI firmware uses for "not filled in"; such a UUID or serial is no identity.
_PLACEHOLDERS = {
    "", "none", "not specified", "to be filled by o.e.m.", "default string", "system serial number",
    "0", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "03000200-0400-0500-0006-000700080009",
}


def parse_lscpu(text: str | None) -> tuple[int, int, int] | None:
    """(sockets, cores, threads) from ``lscpu --parse=SOCKET,CORE,CPU`` output.

    >>> parse_lscpu("# comment\\n0,0,0\\n0,0,1\\n0,1,2\\n0,1,3\\n")
    (1, 2, 4)
    """
    if not text:
        return None
    sockets, cores, cpus = set(), set(), set()
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        sock, core, cpu = parts[0] or "0", parts[1], parts[2]
        sockets.add(sock)
        cores.add((sock, core if core else cpu))
        cpus.add(cpu)
    if not cpus:
        return None
    return len(sockets), len(cores), len(cpus)


def parse_cpuinfo(text: str | None) -> dict[str, Any]:
    """Topology and CPU identity from (filtered) ``/proc/cpuinfo`` text.

    Sockets are distinct ``physical id``s and cores distinct ``(physical id,
    core id)`` pairs. Where the kernel omits them (many ARM and some VM
    kernels) only ``threads`` is known and sockets/cores are None.
    """
    out: dict[str, Any] = {"threads": 0, "sockets": None, "cores": None, "vendor": None, "model": None,
                           "cpu_id": None, "hypervisor_flag": False, "system": None}
    if not text:
        return out
    physical: set[str] = set()
    cores: set[tuple[str, str]] = set()
    phys = core = None
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if fields.get("hypervisor") == "yes":
            out["hypervisor_flag"] = True
        if "processor" not in fields or not fields["processor"].isdigit():
            # POWER ends with a machine block: "model : IBM,9080-HEX" names the server, not the CPU
            machine = fields.get("model") if "machine" in fields or "platform" in fields else None
            out["system"] = out["system"] or (machine if machine and not machine.isdigit() else None)
            if "cpu" in fields:  # sparc64: one block for the machine, no "processor" lines, "cpu : UltraSparc T4"
                out["model"] = out["model"] or fields["cpu"]
            continue
        out["threads"] += 1
        out["vendor"] = out["vendor"] or fields.get("vendor_id") or fields.get("CPU implementer")
        # PA-RISC: "cpu : PA8800 (Mako)" is the chip; an older kernel's "model name" is the system board
        chip = fields.get("cpu") if fields.get("cpu family", "").startswith("PA-RISC") else None
        out["model"] = out["model"] or chip or fields.get("model name") or fields.get("cpu")
        if fields.get("CPU implementer") and not out.get("cpu_id"):
            out["cpu_id"] = arm_cpu_id(fields["CPU implementer"], fields.get("CPU part"))
        phys, core = fields.get("physical id"), fields.get("core id")
        if phys is not None:
            physical.add(phys)
            if core is not None:
                cores.add((phys, core))
    if physical:
        out["sockets"] = len(physical)
    if cores:
        out["cores"] = len(cores)
    return out


def arm_cpu_id(implementer: str, part: str | None) -> str:
    """``implementer:part`` in lower-case hex, the form core factor rows match on.

    >>> arm_cpu_id("0x41", "0xD0C")
    '0x41:0xd0c'
    """
    implementer = implementer.strip().lower()
    return f"{implementer}:{part.strip().lower()}" if part and part.strip() else implementer


def arm_cpu_name(cpu_id: str | None) -> tuple[str | None, str | None]:
    """(vendor, model) named from an ARM ``cpu_id``; None for what the tables do not know.

    >>> arm_cpu_name("0x41:0xd0c")
    ('ARM', 'Neoverse N1')
    """
    if not cpu_id:
        return None, None
    implementer, _, part = cpu_id.partition(":")
    return ARM_IMPLEMENTERS.get(implementer), ARM_PARTS.get((implementer, part))


def detect_cloud(vendor: Any, product: Any, asset_tag: Any = None, bios_version: Any = None) -> str | None:
    """The public cloud a machine runs in, from its DMI system strings; None when none says so.

    AWS: vendor ``Amazon EC2`` (Nitro and bare metal) or a Xen BIOS version ending ``.amazon``;
    Google: product ``Google Compute Engine``; Azure: ``Microsoft Corporation`` / ``Virtual Machine``
    with Azure's chassis asset tag (without it, an on-premises Hyper-V VM).

    >>> detect_cloud("Microsoft Corporation", "Virtual Machine", "7783-7084-3265-9085-8269-3286-77")
    'Azure'
    """
    def text(value: Any) -> str:
        return str(value or "").strip().lower()

    vendor, product = text(vendor), text(product)
    if vendor == "amazon ec2" or text(bios_version).endswith(".amazon"):
        return "AWS"
    if product == "google compute engine" or vendor == "google" and "compute engine" in product:
        return "Google Cloud"
    if vendor == "microsoft corporation" and product == "virtual machine" and text(asset_tag) == AZURE_ASSET_TAG:
        return "Azure"
    return None


def detect_virtualization(raw: Mapping[str, Any], hypervisor_flag: bool) -> tuple[Virtualization, str | None]:
    """VM, container or physical, and the hypervisor or container kind.

    Order of trust: ``systemd-detect-virt`` (it knows containers too), container
    marker files, DMI vendor strings, then the CPU ``hypervisor`` flag.
    """
    virt = (raw.get("detect_virt") or "").strip().lower()
    if virt and virt != "none":
        if virt in CONTAINER_KINDS:
            return Virtualization.CONTAINER, virt
        return Virtualization.VM, virt
    markers = raw.get("container_markers") or []
    if markers:
        return Virtualization.CONTAINER, "podman" if any("containerenv" in m for m in markers) else "docker"
    dmi = raw.get("dmi") or {}
    text = " ".join(str(dmi.get(k) or "") for k in ("sys_vendor", "product_name", "board_vendor", "bios_vendor")).lower()
    for marker, name in VM_DMI_MARKERS:
        if marker in text:
            return Virtualization.VM, name
    if hypervisor_flag:
        return Virtualization.VM, None
    if virt == "none" or dmi.get("sys_vendor"):
        return Virtualization.PHYSICAL, None
    return Virtualization.UNKNOWN, None


def derive_hardware(raw: Mapping[str, Any]) -> Hardware:
    """Hardware from the collector's raw ``host`` facts (Linux shape)."""
    cpu = parse_cpuinfo(raw.get("cpuinfo"))
    topo = parse_lscpu(raw.get("lscpu"))
    if topo:
        sockets, cores, threads = topo
    else:
        sockets, cores, threads = cpu["sockets"], cpu["cores"], cpu["threads"] or None
        if threads and sockets is None:
            sockets, cores = 1, threads  # no topology published: count each thread as a core
    virt, hypervisor = detect_virtualization(raw, cpu["hypervisor_flag"])
    mem = raw.get("memtotal_kb")
    dmi = raw.get("dmi") or {}
    arm_vendor, arm_model = arm_cpu_name(cpu["cpu_id"])
    instance_type, dedicated_host = cloud.instance_facts(raw.get("cloud_metadata"))
    return Hardware(
        sockets=sockets,
        cores=cores,
        threads=threads,
        cpu_vendor=arm_vendor or cpu["vendor"],
        cpu_model=cpu["model"] or arm_model,
        virtualization=virt,
        hypervisor=hypervisor,
        memory_mb=int(mem) // 1024 if isinstance(mem, int) else None,
        cpu_id=cpu["cpu_id"],
        cloud=detect_cloud(dmi.get("sys_vendor"), dmi.get("product_name"), dmi.get("chassis_asset_tag"),
                           dmi.get("bios_version")),
        system_model=cpu["system"] or _usable(dmi.get("product_name")),
        instance_type=instance_type,
        dedicated_host=dedicated_host,
    )


def parse_os_release(text: str | None) -> dict[str, str]:
    """KEY=value pairs of an os-release file, quotes removed."""
    values: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip('"').strip("'")
    return values


def _usable(value: Any) -> str | None:
    """A UUID or serial number stripped, or None when it is not text or is a firmware placeholder."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return None if value.lower() in _PLACEHOLDERS else value


def identity(candidates: Iterable[tuple[str, Any]], inventory_name: str) -> tuple[str, str]:
    """(host_id, source) of the first usable ``(source, value)`` candidate, lower-cased, else the
    inventory name. Every platform derives its host id here, naming its own candidates in order of trust.

    >>> identity([("dmi-uuid", "Not Specified"), ("serial", " ABC1 ")], "web1")
    ('serial:abc1', 'serial')
    """
    for source, value in candidates:
        value = _usable(value)
        if value:
            return f"{source}:{value.lower()}", source
    return f"inventory:{inventory_name}", "inventory"


def host_identity(raw: Mapping[str, Any], inventory_name: str) -> tuple[str, str]:
    """(host_id, source) of a Linux host, surviving renames.

    machine-id first (distinct per OS install, even for containers and chroots
    sharing one board), then DMI product UUID, then DMI serial, and the
    inventory name only as a last resort.
    """
    dmi = raw.get("dmi") or {}
    return identity((("machine-id", raw.get("machine_id")), ("dmi-uuid", dmi.get("product_uuid")),
                     ("serial", dmi.get("product_serial"))), inventory_name)


def derive_host(raw: Mapping[str, Any], inventory_name: str) -> Host:
    """A model ``Host`` from the collector's raw ``host`` facts."""
    host_id, source = host_identity(raw, inventory_name)
    dmi = raw.get("dmi") or {}
    board = _usable(dmi.get("product_uuid")) or _usable(dmi.get("product_serial"))
    osr = parse_os_release(raw.get("os_release"))
    return Host(
        host_id=host_id,
        inventory_name=inventory_name,
        identity_source=source,
        hostname=raw.get("hostname"),
        fqdn=raw.get("fqdn"),
        os_family=raw.get("system"),
        os_name=osr.get("NAME") or raw.get("system"),
        os_version=osr.get("VERSION_ID") or osr.get("VERSION"),
        kernel=raw.get("kernel"),
        hardware=derive_hardware(raw),
        board_id=board.lower() if board and source == "machine-id" else None,
        bios_uuid=uuids.canonical(dmi.get("product_uuid")),
    )
