"""The fleetsam data model: one frozen dataclass per kind of record.

Every record knows where it came from: installations carry their source
(``dpkg``, ``windows``, ``swid``...) and package id, and the ``HostScan`` that
holds them names the host, the scan and the collector; problems carry the
source they point at (``file:line:column``, ``host/collector``). Records are
converted to plain dicts only at the store boundary (``store.interface``) and
in report models.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from sam_engine.plain_text import one_line
from sam_engine.vocabulary import Collector


class HostStatus(str, enum.Enum):
    """What happened to one inventory host during one scan."""

    OK = "ok"  # the collector ran and returned an inventory
    UNREACHABLE = "unreachable"  # no connection: the previous inventory is kept, stale
    FAILED = "failed"  # connected, but the collector failed: previous inventory kept, stale


class Virtualization(str, enum.Enum):
    PHYSICAL = "physical"
    VM = "vm"
    CONTAINER = "container"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Problem:
    """An error or warning as a value, pointing at its source.

    ``source`` is where to look: ``licences/acme.yml:12:5``, ``host web1/dpkg``,
    ``spool/hosts/web1.json``. ``severity`` is ``error`` or ``warning``.
    """

    source: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:  # one line whatever the source or message quote from a host (``plain_text``)
        return f"{one_line(self.source)}: {self.severity}: {one_line(self.message)}"


@dataclass(frozen=True, slots=True)
class Hardware:
    """The hardware facts that licence metrics count, derived in ``hardware``.

    ``cores`` is the total number of physical cores over all sockets (not cores
    per socket as ``ansible_processor_cores``); ``threads`` the logical CPUs.
    """

    sockets: int | None = None
    cores: int | None = None
    threads: int | None = None
    cpu_vendor: str | None = None
    cpu_model: str | None = None
    virtualization: Virtualization = Virtualization.UNKNOWN
    hypervisor: str | None = None
    memory_mb: int | None = None
    cpu_id: str | None = None  # ARM MIDR "implementer:part", e.g. "0x41:0xd0c" (Neoverse N1)
    cloud: str | None = None  # public cloud the VM runs in, from DMI: "AWS", "Azure", "Google Cloud"
    system_model: str | None = None  # the server model: DMI product name, or POWER's "IBM,9080-HEX" (PVU rows)
    instance_type: str | None = None  # the cloud's instance type or VM size ("m5.2xlarge"), from its metadata service
    dedicated_host: str | None = None  # the cloud's dedicated host id when the VM runs on one ("h-0123...")


@dataclass(frozen=True, slots=True)
class HostUser:
    """One account that uses a host, read from the host's own records.

    ``kind`` is ``human`` or ``service`` (``platforms.users`` decides, from the
    UID range, shell and home on Linux, the UID and ``_`` prefix on macOS, the SID
    on Windows). ``last_login`` is epoch seconds of the newest login or profile
    use the host recorded, None when it recorded none. ``source`` names the record
    it came from: ``passwd``, ``wtmp``, ``lastlog``, ``profilelist``, ``dscl``, ``last``.
    """

    account: str
    kind: str
    last_login: int | None
    source: str


@dataclass(frozen=True, slots=True)
class Host:
    """One scanned machine, identified by ``host_id`` which survives renames.

    ``identity_source`` says which fact gave the identity: ``machine-id``,
    ``dmi-uuid``, ``serial`` or ``inventory`` (the last resort: the inventory
    name, which does not survive a rename).
    """

    host_id: str
    inventory_name: str
    identity_source: str
    hostname: str | None = None
    fqdn: str | None = None
    os_family: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    kernel: str | None = None
    hardware: Hardware = field(default_factory=Hardware)
    board_id: str | None = None  # DMI product UUID (else serial) beside a machine-id: tells cloned images apart
    users: tuple[HostUser, ...] | None = None  # None: the collector reported no user data (not "nobody")
    bios_uuid: str | None = None  # SMBIOS system UUID, canonical (topology.uuids): links a VM guest to its hypervisor


@dataclass(frozen=True, slots=True)
class Installation:
    """One package found on one host by one collector source.

    ``version`` is the raw version as the source reports it (epoch and release
    kept). ``install_time`` is epoch seconds where the source records it.
    ``origin`` is where the package came from, as the collector saw it (the apt
    archive, rpm signing key, apk or pacman repository), in the one-line form
    of ``platforms.records.origin_line``; None when unknown.
    """

    source: str
    name: str
    version: str | None
    arch: str | None
    vendor: str | None
    install_time: int | None
    package_id: str
    location: str | None = None
    origin: str | None = None


# --- virtualisation topology (hypervisor collectors) -------------------------------------


@dataclass(frozen=True, slots=True)
class PhysicalServer:
    """A hypervisor host as its manager reports it: the hardware its VMs draw host-level licences from.

    ``key`` is unique across the fleet (``"libvirt:kvm01"``, ``"vcenter:vc01/host-12"``);
    ``cluster`` is the key of the cluster whose hosts a VM can move between
    (None: a standalone host); ``uuid`` is the host's own hardware UUID when
    known, so a hypervisor that is also scanned as a host is recognised.
    """

    key: str
    name: str
    platform: str  # "kvm", "vmware", "hyperv", "proxmox"
    source: str  # the collector and inventory host that reported it, e.g. "libvirt on kvm01"
    sockets: int | None = None
    cores: int | None = None  # physical cores in total
    threads: int | None = None
    cpu_vendor: str | None = None
    cpu_model: str | None = None
    cluster: str | None = None
    uuid: str | None = None


@dataclass(frozen=True, slots=True)
class GuestVM:
    """A VM as its hypervisor reports it.

    ``bios_uuid`` is lower-case and in the byte order the guest's own DMI
    ``product_uuid`` shows (the linking key); ``pinned_cpus`` are the host CPUs
    the VM is pinned to (hard partitioning), empty when it may run on any.
    """

    bios_uuid: str
    name: str
    server: str  # PhysicalServer.key
    source: str
    vcpus: int | None = None
    pinned_cpus: tuple[int, ...] = ()
    state: str | None = None  # "running", "shut off", ...


@dataclass(frozen=True, slots=True)
class Topology:
    """What one hypervisor collector on one inventory host saw: servers and the VMs registered on them."""

    servers: tuple[PhysicalServer, ...] = ()
    guests: tuple[GuestVM, ...] = ()


def utc_time(text: object) -> str | None:
    """The ISO 8601 time ``text`` in the one form records hold, UTC ``YYYY-MM-DDTHH:MM:SSZ`` (the
    callback's), so that times compare as text and their first ten characters are the UTC day; a time
    without a zone is read as UTC (the spool reader warns of it). None when ``text`` is no such time."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is not None:
            when = when.astimezone(dt.timezone.utc)
    except (ValueError, OverflowError):
        return None
    return when.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class HostScan:
    """One inventory host in one scan.

    ``inventory_scan_id`` is the scan whose collector actually produced
    ``installations``; it differs from ``scan_id`` when the host was not
    reached this time and its last inventory was carried over (``stale``).
    ``collector`` is that collector module, named by the platform that read
    its result (``platforms.registry``).
    """

    scan_id: str
    inventory_name: str
    status: HostStatus
    host: Host | None
    installations: tuple[Installation, ...]
    collector: str | None = Collector.LINUX.value  # None: never reached, so no collector ran
    inventory_scan_id: str | None = None
    inventory_digest: str | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    collected_at: str | None = None
    groups: tuple[str, ...] = ()  # the host's inventory groups in this run (policy exceptions)
    topology: Topology | None = None  # a hypervisor collector's view (servers and their VMs), else None
    # the reading key of the bulk (package list, raw Windows or macOS inventory) the inventory was read
    # from (``ingest.bulk.source_key``): a later run with the same key takes the stored inventory
    source_digest: str | None = None

    @property
    def stale(self) -> bool:
        return self.status is not HostStatus.OK

    @property
    def host_id(self) -> str | None:
        return self.host.host_id if self.host else None


@dataclass(frozen=True, slots=True)
class Scan:
    """One run of the scan playbook, or the fleet as it stood after one (``Store.load_scan``).

    A run holds the hosts it covered; the fleet holds every known host, each
    with its newest record (``HostScan.scan_id`` is the run that last covered
    it), under the metadata of the last run it includes.
    """

    scan_id: str
    started: str
    finished: str
    tool_version: str
    playbook: str | None
    hosts: tuple[HostScan, ...]
    scope: tuple[str, ...] = ()  # the inventory names the run targeted (empty: not recorded)
    group: str | None = None  # runs that belong together (slices of one AWX job, a --limit series)

    def count(self, status: HostStatus) -> int:
        return sum(1 for h in self.hosts if h.status is status)

    @property
    def installation_count(self) -> int:
        return sum(len(h.installations) for h in self.hosts if h.status is HostStatus.OK)

    @property
    def finished_day(self) -> dt.date:
        """The UTC date the run finished: the day whose licence terms a past fleet is counted under."""
        return dt.date.fromisoformat((utc_time(self.finished) or self.finished)[:10])


# --- licence data (catalogue, entitlements, position) ------------------------------------


class LicenceNeed(str, enum.Enum):
    """What the catalogue says about a product's licensing."""

    REQUIRED = "required"  # commercial: an entitlement is needed
    FREE = "free"  # free or open-source: no licence needed
    UNKNOWN = "unknown"  # unrecognised software: kept and reported, never dropped


@dataclass(frozen=True, slots=True)
class Recognition:
    """The catalogue's reading of one raw title: who makes it and what it is.

    ``version`` is the comparable normalised version (``6.4beta`` for
    ``6.4Beta``); the raw version stays on the ``Installation``. ``rule`` names
    the catalogue entry that matched (``catalogue/microsoft.yml:sql-server``),
    or None for unrecognised software. ``why`` says which ``licence_when`` band
    of that entry decided the licence (Java SE's version bands), None when the
    entry has none.
    """

    publisher: str | None
    product: str
    edition: str | None
    version: str | None
    licence: LicenceNeed
    rule: str | None
    why: str | None = None


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What was bought: one licence record, from YAML, a procurement import or the CLI.

    ``quantity`` None means unlimited (site licences). ``term_end`` None means
    perpetual. ``keys`` are licence keys, shown masked everywhere. ``origin``
    points at the record's source (``licences/acme.yml:14``, ``po.csv:233``,
    ``cli``).
    """

    entitlement_id: str
    publisher: str
    product: str
    metric: str
    quantity: int | None
    origin: str
    edition: str | None = None
    version_range: str | None = None
    term_start: str | None = None  # ISO dates
    term_end: str | None = None
    maintenance_end: str | None = None
    downgrade_rights: bool = False
    suite_components: tuple[str, ...] = ()
    vendor: str | None = None
    po_number: str | None = None
    invoice: str | None = None
    purchase_date: str | None = None
    unit_cost: str | None = None  # decimal as text, never float: the price of one metric unit, or of one pack
    currency: str | None = None
    keys: tuple[str, ...] = ()
    pack_size: int | None = None  # metric units per pack when ``unit_cost`` is a pack's price
    licensing: str | None = None  # vocabulary.Licensing: licence the VMs or their host (None: the product's rule)
