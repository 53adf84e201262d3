"""Licence metrics: one small rule function per metric.

Every rule has the same shape, ``rule(deployments, params, ctx) -> MetricResult``:
``deployments`` are the hosts a product is installed on (one ``Deployment`` per
host, its installations already grouped), ``params`` the product's parameters
from ``catalogue/metrics/metric_rules.yml`` and ``ctx`` what is not per host (the core
factor table, the organisation's headcount). The result is the number of
licences consumed and a trace an auditor can follow back to each host, e.g.
``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16``.

The rules count what the inventory can see. Rules that need facts a scan does
not have (metered users) say so in the trace instead of guessing silently.
Where a product counts at the VM's physical server (soft partitioning, per-host
licensing), ``licensing.host_metrics`` counts the servers of ``ctx.topology``
and hands the VMs it cannot place back to these rules.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

from sam_engine.licensing.metric_rules import CoreFactorTable, MetricParams
from sam_engine.model import Hardware, Installation, Virtualization
from sam_engine.topology import FleetTopology
from sam_engine.vocabulary import METRICS, Metric


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One step of an arithmetic an auditor can check, with the hosts and entitlements behind it."""

    text: str
    hosts: tuple[str, ...] = ()
    entitlements: tuple[str, ...] = ()
    quantity: int | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Deployment:
    """One product on one host: the installations found there, counted as one unit."""

    host: str  # inventory name
    hardware: Hardware
    installations: tuple[Installation, ...]
    host_id: str | None = None
    scan_id: str | None = None  # the scan whose inventory this is
    stale: bool = False
    users: tuple[str, ...] = ()  # named users known to use it (no collector reports them yet)

    @property
    def is_vm(self) -> bool:
        return self.hardware.virtualization is Virtualization.VM

    @property
    def label(self) -> str:
        return f"{self.host} (stale: inventory of scan {self.scan_id})" if self.stale else self.host


@dataclass(frozen=True, slots=True)
class MetricContext:
    """Inputs that do not come from the hosts: the core factor table, the headcount, the VM -> server
    topology (host-level rules, ``licensing.host_metrics``) and the as-of date (maintenance they need)."""

    core_factors: CoreFactorTable
    headcount: int | None = None
    topology: FleetTopology = field(default_factory=FleetTopology)
    as_of: dt.date | None = None


@dataclass(frozen=True, slots=True)
class MetricResult:
    """Licences consumed, with one trace line per host (or pool) and a closing total."""

    metric: str
    quantity: int
    lines: tuple[TraceLine, ...]
    notes: tuple[str, ...] = ()
    missing: str | None = None  # the input the count needs and does not have (``quantity`` is then 0)
    servers: tuple = ()  # host_metrics.ServerCharge: the physical servers counted for the VMs
    unplaced: tuple[str, ...] = ()  # VMs under a host-level rule whose server is unknown (counted per VM)


def _total(metric: str, lines: list[TraceLine], notes: Sequence[str] = ()) -> MetricResult:
    quantity = sum(line.quantity or 0 for line in lines)
    if len(lines) > 1:
        hosts = tuple(h for line in lines for h in line.hosts)
        summed = " + ".join(str(line.quantity or 0) for line in lines)
        lines = [*lines, TraceLine(f"total: {summed} = {quantity}", hosts, quantity=quantity)]
    return MetricResult(metric, quantity, tuple(lines), tuple(notes))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def per_installation(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Each installation counts one, versions and architectures included.

    Example: web1 has Acrobat 2017 and Acrobat 2020, web2 has Acrobat 2020 ->
    ``web1: 2 installations = 2``, ``web2: 1 installation = 1``, total 3.
    """
    lines = [TraceLine(f"{d.label}: {_plural(len(d.installations), 'installation')} = {len(d.installations)}",
                       (d.host,), quantity=len(d.installations)) for d in deployments]
    return _total(Metric.INSTALLATION, lines)


def per_device(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Each host with at least one installation counts one, however many versions it has.

    Example: pc1 has Office 2016 and Office 2019 (32- and 64-bit), pc2 has Office 2019 ->
    ``pc1: 2 installations on one device = 1``, ``pc2: ... = 1``, total 2.
    """
    lines = [TraceLine(f"{d.label}: {_plural(len(d.installations), 'installation')} on one device = 1",
                       (d.host,), quantity=1) for d in deployments]
    return _total(Metric.DEVICE, lines)


def per_named_user(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Distinct users where the inventory knows them; per device where it does not (said in the trace).

    Example: pc1 used by alice and bob, pc2 by alice -> 2 named users (alice, bob).
    No collector reports users yet, so today every host falls back to one per device.
    """
    known = [d for d in deployments if d.users]
    unknown = [d for d in deployments if not d.users]
    lines, notes = [], []
    if known:
        users = sorted({u for d in known for u in d.users})
        lines.append(TraceLine(f"distinct users on {', '.join(d.label for d in known)}: {', '.join(users)} = "
                               f"{len(users)}", tuple(d.host for d in known), quantity=len(users)))
    if unknown:
        notes.append("named users are not known from the inventory: counted per device instead")
        lines += [TraceLine(f"{d.label}: no user data, counted per device = 1", (d.host,), quantity=1)
                  for d in unknown]
    return _total(Metric.NAMED_USER, lines, notes)


def _topology(hw: Hardware) -> tuple[int, int, list[str]]:
    """(sockets, total physical cores) with any assumption spelt out."""
    notes = []
    sockets = hw.sockets
    if not sockets:
        sockets = 1
        notes.append("sockets unknown, assumed 1")
    cores = hw.cores
    if not cores:
        cores = hw.threads or sockets
        notes.append(f"cores unknown, assumed {cores}" + (" (logical CPUs)" if hw.threads else " (1 per socket)"))
    return sockets, cores, notes


def _cores_per_socket(sockets: int, cores: int) -> str:
    """``2 sockets × 16 cores = 32 cores``; ``3 sockets, 10 cores`` when they do not divide evenly."""
    per, extra = divmod(cores, sockets)
    if extra:
        return f"{_plural(sockets, 'socket')}, {cores} cores"
    return f"{_plural(sockets, 'socket')} × {_plural(per, 'core')} = {cores} cores"


def _assumed(notes: list[str]) -> str:
    return f" [{'; '.join(notes)}]" if notes else ""


def _vm_pool(vms: Sequence[Deployment], per_licence: int, what: str) -> TraceLine:
    quantity = math.ceil(len(vms) / per_licence)
    names = ", ".join(d.label for d in vms)
    return TraceLine(f"VMs {names}: {_plural(len(vms), 'guest')} ÷ {per_licence} per {what} = {quantity} "
                     f"(rounded up)", tuple(d.host for d in vms), quantity=quantity)


def _cloud_vcpus(d: Deployment, params: MetricParams) -> tuple[TraceLine, int]:
    """Oracle's authorised-cloud rule: vCPUs ÷ N, no core factor, rounded up (``cloud_vcpus_per_licence``)."""
    hw = d.hardware
    vcpus = hw.threads or hw.cores or hw.sockets or 1
    assumed = [] if (hw.threads or hw.cores) else [f"vCPUs unknown, assumed {vcpus}"]
    n = params.cloud_vcpus_per_licence
    quantity = math.ceil(vcpus / n)
    text = (f"{d.label}: {hw.cloud} VM, {vcpus} vCPU ÷ {n} per licence = {quantity}"
            + (" (rounded up)" if quantity * n != vcpus else "")
            + f" (authorised cloud rule, {params.origin}: no core factor)")
    return TraceLine(text + _assumed(assumed), (d.host,), quantity=quantity), quantity


def processor_count(hw: Hardware, sockets: int, cores: int, params: MetricParams, ctx: MetricContext
                    ) -> tuple[int, str]:
    """Processor licences of one server: cores × core factor rounded up, or sockets ÷ sockets per licence.

    Example: 2 sockets × 16-core Xeon, ``core_factor`` -> ``(16, "2 sockets × 16 cores = 32 cores × 0.5
    (Intel x86) = 16")``; 4 sockets, ``sockets_per_licence: 2`` -> ``(2, "4 sockets ÷ 2 per licence = 2")``.
    """
    if params.core_factor:
        row = ctx.core_factors.lookup(hw)
        quantity = math.ceil(Decimal(cores) * row.factor)
        return quantity, (f"{_cores_per_socket(sockets, cores)} × {row.factor.normalize()} ({row.describe(hw)}) "
                          f"= {quantity}" + (" (rounded up)" if quantity != Decimal(cores) * row.factor else ""))
    quantity = math.ceil(sockets / params.sockets_per_licence)
    per = f" ÷ {params.sockets_per_licence} per licence" if params.sockets_per_licence > 1 else ""
    return quantity, f"{_plural(sockets, 'socket')}{per} = {quantity}"


def physical_cores(hw: Hardware, params: MetricParams, ctx: MetricContext) -> tuple[int, str, list[str]]:
    """Core licences of one physical server, before the ``= N``: every core, the minimums, the core factor
    and packs; and the assumptions made.

    Example (Windows Server): 1 socket × 4 cores -> ``(16, "1 socket × 4 cores = 4 cores; min 8 per
    processor -> 8; min 16 per server -> 16", [])``.
    """
    sockets, cores, assumed = _topology(hw)
    steps = []
    per, extra = divmod(cores, sockets)
    socket_cores = [per + 1] * extra + [per] * (sockets - extra)
    count = cores
    if params.min_per_processor:
        count = sum(max(c, params.min_per_processor) for c in socket_cores)
        steps.append(f"min {params.min_per_processor} per processor -> {count}")
    if params.core_factor:
        row = ctx.core_factors.lookup(hw)
        count = math.ceil(Decimal(count) * row.factor)
        steps.append(f"× {row.factor.normalize()} ({row.describe(hw)}) -> {count}")
    if params.min_per_server:
        count = max(count, params.min_per_server)
        steps.append(f"min {params.min_per_server} per server -> {count}")
    if params.pack > 1:
        count = math.ceil(count / params.pack) * params.pack
        steps.append(f"packs of {params.pack} -> {count}")
    return count, _cores_per_socket(sockets, cores) + "".join(f"; {s}" for s in steps), assumed


def per_processor(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Occupied sockets, or physical cores × core factor rounded up per server.

    Examples: Oracle EE (``core_factor: true``) on 2 sockets × 16-core Xeon ->
    ``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16``; Oracle SE2
    on the same server -> ``db1: 2 sockets = 2``; RHEL (``sockets_per_licence: 2``,
    ``vms_per_licence: 2``) on 4 sockets -> 2, and three guests -> 2. In an authorised
    cloud (``cloud_vcpus_per_licence``) an EE VM with 8 vCPU -> 8 ÷ 2 = 4, SE2 -> 8 ÷ 4 = 2.
    """
    lines, notes = [], []
    vms = [d for d in deployments if d.is_vm] if params.vms_per_licence else []
    for d in deployments:
        if params.vms_per_licence and d.is_vm:
            continue
        sockets, cores, assumed = _topology(d.hardware)
        if params.cloud_vcpus_per_licence and d.hardware.cloud:
            line, quantity = _cloud_vcpus(d, params)
            if params.max_sockets and quantity > params.max_sockets:
                notes.append(f"{d.host}: {quantity} sockets by the cloud rule exceeds the product's limit of "
                             f"{params.max_sockets}")
            lines.append(line)
            continue
        quantity, text = processor_count(d.hardware, sockets, cores, params, ctx)
        text = f"{d.label}: {text}"
        if params.max_sockets and sockets > params.max_sockets:
            notes.append(f"{d.host}: {sockets} sockets exceeds the product's limit of {params.max_sockets}")
        if d.is_vm:
            notes.append(f"{d.host} is a VM: counted from its virtual hardware; soft partitioning may require "
                         f"licensing every physical host it can run on (not known from the scan)")
        lines.append(TraceLine(text + _assumed(assumed), (d.host,), quantity=quantity))
    if vms:
        lines.append(_vm_pool(vms, params.vms_per_licence, "licence"))
    return _total(Metric.PROCESSOR, lines, notes)


def per_core(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Physical cores (virtual cores on a VM), with minimums, rounded up to packs.

    Examples: Windows Server (min 8 per processor, 16 per server, packs of 2),
    1 socket × 4 cores -> ``4 cores; min 8 per processor -> 8; min 16 per server -> 16``;
    2 sockets × 12 cores -> 24. SQL Server on a VM with 2 vCPU (min 4 per VM,
    packs of 2) -> 4; two such VMs -> 8.
    """
    lines = []
    for d in deployments:
        hw = d.hardware
        if not d.is_vm:
            count, text, assumed = physical_cores(hw, params, ctx)
            lines.append(TraceLine(f"{d.label}: {text} = {count}{_assumed(assumed)}", (d.host,), quantity=count))
            continue
        vcpus = hw.threads or hw.cores or hw.sockets or 1
        assumed = [] if (hw.threads or hw.cores) else ["virtual cores unknown, assumed " + str(vcpus)]
        count, steps = vcpus, []
        if params.min_per_vm and count < params.min_per_vm:
            count = params.min_per_vm
            steps.append(f"min {params.min_per_vm} per VM -> {count}")
        if params.pack > 1:
            count = math.ceil(count / params.pack) * params.pack
            steps.append(f"packs of {params.pack} -> {count}")
        text = f"{d.label}: VM, {vcpus} vCPU" + "".join(f"; {s}" for s in steps) + f" = {count}"
        lines.append(TraceLine(text + _assumed(assumed), (d.host,), quantity=count))
    return _total(Metric.CORE, lines)


def per_vm(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Each operating system environment (VM, container or physical host) counts one.

    Example: app1 and app2 are VMs, db1 is physical -> 3; with ``vms_per_licence: 2``
    the two VMs share one licence -> ``db1 = 1`` + ``VMs app1, app2: 2 guests ÷ 2 = 1`` = 2.
    Licensing a physical host to cover its VMs needs the VM -> host map, which
    the scan does not have.
    """
    vms = [d for d in deployments if d.is_vm] if params.vms_per_licence else []
    lines = [TraceLine(f"{d.label}: one {d.hardware.virtualization.value} OSE = 1", (d.host,), quantity=1)
             for d in deployments if not (params.vms_per_licence and d.is_vm)]
    if vms:
        lines.append(_vm_pool(vms, params.vms_per_licence, "licence"))
    return _total(Metric.VM, lines)


def per_site(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Nothing to count: a site licence covers every host. The hosts are still listed.

    Example: 7-Zip on pc1 and pc2 under a site licence -> consumption 0, both hosts listed.
    """
    hosts = tuple(d.host for d in deployments)
    text = f"site licence: nothing counted; installed on {', '.join(d.label for d in deployments) or 'no host'}"
    return MetricResult(Metric.SITE, 0, (TraceLine(text, hosts, quantity=0),))


def per_employee(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """The organisation's headcount, whatever is installed (Oracle Java SE Universal Subscription).

    Example: headcount 250, Java on 3 hosts -> 250. Without a configured headcount
    the consumption is unknown, not guessed from the hosts: quantity 0 with
    ``missing="headcount"``, which the position shows as needing data.
    """
    hosts = tuple(d.host for d in deployments)
    if ctx.headcount is None:
        where = ", ".join(d.label for d in deployments) or "no host"
        text = f"headcount not configured: employee count unknown (installed on {where})"
        note = "per-employee licence: set the organisation's headcount (--headcount or FLEETSAM_HEADCOUNT) to count it"
        return MetricResult(Metric.EMPLOYEE, 0, (TraceLine(text, hosts, quantity=0),), (note,), missing="headcount")
    text = f"headcount {ctx.headcount} (whatever is installed; found on {_plural(len(hosts), 'host')})"
    return MetricResult(Metric.EMPLOYEE, ctx.headcount, (TraceLine(text, hosts, quantity=ctx.headcount),))


Rule = Callable[[Sequence[Deployment], MetricParams, MetricContext], MetricResult]

RULES: dict[str, Rule] = {
    Metric.INSTALLATION: per_installation,
    Metric.DEVICE: per_device,
    Metric.NAMED_USER: per_named_user,
    Metric.PROCESSOR: per_processor,
    Metric.CORE: per_core,
    Metric.VM: per_vm,
    Metric.SITE: per_site,
    Metric.EMPLOYEE: per_employee,
}


def measure(metric: str, deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Consumption of ``deployments`` under ``metric`` (one of ``vocabulary.METRICS``)."""
    try:
        rule = RULES[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r} (expected one of {', '.join(METRICS)})") from None
    return rule(deployments, params, ctx)
