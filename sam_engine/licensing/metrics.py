"""Licence metrics: one small rule function per metric.

Every rule has the same shape, ``rule(deployments, params, ctx) -> MetricResult``:
``deployments`` are the hosts a product is installed on (one ``Deployment`` per
host, its installations already grouped), ``params`` the product's parameters
from ``catalogue/metrics/metric_rules.yml`` and ``ctx`` what is not per host (the core
factor and PVU tables, the organisation's headcount). The result is the number of
licences consumed and a trace an auditor can follow back to each host, e.g.
``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16``. What one server
counts under a hardware metric is worked out in ``hardware_counts``.

The rules count what the inventory can see. Rules that need facts a scan does
not have (metered users) say so in the trace instead of guessing silently.
Where a product counts at the VM's physical server (soft partitioning, per-host
licensing), ``licensing.host_metrics`` counts the servers of ``ctx.topology``
and hands the VMs it cannot place back to these rules.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from sam_engine.licensing.hardware_counts import cores_with_minimums, nup_floor, nup_minimum, plural, processors, pvus
from sam_engine.licensing.metric_rules import CoreFactorTable, MetricParams
from sam_engine.licensing.named_users import NO_USER_DATA, People, count_people
from sam_engine.licensing.pvu_table import PvuTable
from sam_engine.model import Hardware, HostUser, Installation, Virtualization
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
    users: tuple[HostUser, ...] | None = None  # the host's users; None: its collector reported none
    os_name: str | None = None  # the host's operating system (PVU rows may depend on it)

    @property
    def is_vm(self) -> bool:
        return self.hardware.virtualization is Virtualization.VM

    @property
    def label(self) -> str:
        return f"{self.host} (stale: inventory of scan {self.scan_id})" if self.stale else self.host


@dataclass(frozen=True, slots=True)
class MetricContext:
    """Inputs that do not come from the hosts: the core factor and PVU tables, the headcount, the
    users file, the VM -> server topology (host-level rules, ``licensing.host_metrics``) and the
    as-of date (named users count logins up to it; host-level rules check maintenance)."""

    core_factors: CoreFactorTable
    headcount: int | None = None
    pvu: PvuTable = PvuTable(())
    people: People | None = None
    as_of: dt.date | None = None
    topology: FleetTopology = field(default_factory=FleetTopology)


@dataclass(frozen=True, slots=True)
class MetricResult:
    """Licences consumed, with one trace line per host (or pool) and a closing total."""

    metric: str
    quantity: int
    lines: tuple[TraceLine, ...]
    notes: tuple[str, ...] = ()
    missing: str | None = None  # the input the count needs and does not have (``quantity`` then leaves it out)
    servers: tuple = ()  # host_metrics.ServerCharge: the physical servers counted for the VMs
    unplaced: tuple[str, ...] = ()  # VMs under a host-level rule whose server is unknown (counted per VM)
    host_rule: str | None = None  # that rule: "soft partitioning" (the VM's cluster) or "per-host licensing"


def _total(metric: str, lines: list[TraceLine], notes: Sequence[str] = ()) -> MetricResult:
    quantity = sum(line.quantity or 0 for line in lines)
    if len(lines) > 1:
        hosts = tuple(h for line in lines for h in line.hosts)
        summed = " + ".join(str(line.quantity or 0) for line in lines)
        lines = [*lines, TraceLine(f"total: {summed} = {quantity}", hosts, quantity=quantity)]
    return MetricResult(metric, quantity, tuple(lines), tuple(notes))


def per_installation(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Each installation counts one, versions and architectures included.

    Example: web1 has Acrobat 2017 and Acrobat 2020, web2 has Acrobat 2020 ->
    ``web1: 2 installations = 2``, ``web2: 1 installation = 1``, total 3.
    """
    lines = [TraceLine(f"{d.label}: {plural(len(d.installations), 'installation')} = {len(d.installations)}",
                       (d.host,), quantity=len(d.installations)) for d in deployments]
    return _total(Metric.INSTALLATION, lines)


def per_device(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Each host with at least one installation counts one, however many versions it has.

    Example: pc1 has Office 2016 and Office 2019 (32- and 64-bit), pc2 has Office 2019 ->
    ``pc1: 2 installations on one device = 1``, ``pc2: ... = 1``, total 2.
    """
    lines = [TraceLine(f"{d.label}: {plural(len(d.installations), 'installation')} on one device = 1",
                       (d.host,), quantity=1) for d in deployments]
    return _total(Metric.DEVICE, lines)


def per_named_user(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext,
                   servers: MetricResult | None = None) -> MetricResult:
    """Distinct people across every host the product is on, aliases merged (``named_users``), and at
    least the product's minimum (``hardware_counts.nup_minimum``) when it has one.

    Example (Microsoft 365): ``CORP\\jdoe`` on pc1, pc2 and pc3 -> ``named user: 1 distinct person on
    3 hosts`` = 1. Oracle Database EE (at least 25 NUP per Processor) on 2 sockets × 16-core Xeon
    with 3 users -> ``required: max(3 users, 400 minimum) = 400``; SE2 (at least 10 per server) on
    two servers with 12 users -> ``max(12, 20) = 20``. A host whose collector reported no users
    makes the count unknown (``missing="user data"``), which the position shows as needing data:
    never one per device. ``servers``: the processor metric's count of the same hosts at their physical
    servers (``host_metrics.measure_partition``): each server it charges has the minimum of its Processors
    (a VM on a cluster of three 2 × 16-core Xeon servers: 48 Processors × 25 = 1200; SE2, 10 per server
    of the cluster), once per product; the hosts it charges no server for count their own.
    """
    hosts = tuple(d.host for d in deployments)
    unknown = [d for d in deployments if d.users is None]
    people = ctx.people or People()
    known = count_people([d.users for d in deployments if d.users is not None], people, ctx.as_of or dt.date.today())
    if unknown:
        text = known.unknown_rule([d.label for d in unknown], len(deployments) - len(unknown))
        return MetricResult(Metric.NAMED_USER, 0, (TraceLine(text, hosts, quantity=0),), (NO_USER_DATA,),
                            missing="user data")
    users = len(known.people)
    lines = [TraceLine(f"{d.label}: users {', '.join(u.account for u in d.users) or 'none'}", (d.host,))
             for d in deployments]
    if not (params.min_per_processor or params.min_per_server):
        lines.append(TraceLine(known.rule(people, len(deployments)), hosts, quantity=users))
        return MetricResult(Metric.NAMED_USER, users, tuple(lines))
    lines.append(TraceLine(f"users: {known.rule(people, len(deployments))}", hosts))
    notes, minimums = list(servers.notes if servers else ()), []
    charged = {g for c in servers.servers for g in c.guests} if servers else set()
    for d in deployments:
        if d.host in charged:
            continue
        count = nup_minimum(d, params, ctx.core_factors)
        notes += count.notes
        minimums.append(TraceLine(f"minimum: {count.line}", (d.host,), quantity=count.quantity))
    charges = [_server_minimum(c, params) for c in servers.servers] if servers else []
    minimums += [c.line for c in charges]
    floor = sum(line.quantity or 0 for line in minimums)
    if len(minimums) > 1:
        minimums.append(TraceLine(f"minimum: {' + '.join(str(line.quantity) for line in minimums)} = {floor}"))
    quantity = max(users, floor)
    rule = f"the greater of the users and the product's Named User Plus minimum ({params.origin})"
    total = TraceLine(f"required: max({plural(users, 'user')}, {floor} minimum) = {quantity}: {rule}",
                      hosts, quantity=quantity)
    unplaced, host_rule = (servers.unplaced, servers.host_rule) if servers else ((), None)
    return MetricResult(Metric.NAMED_USER, quantity, (*lines, *minimums, total), tuple(dict.fromkeys(notes)),
                        servers=tuple(charges), unplaced=unplaced, host_rule=host_rule)


def _server_minimum(charge, params: MetricParams):
    """A ``host_metrics.ServerCharge`` of Processors as the NUP minimum of that server (0 where an earlier
    coverage partition of the product counted it: it had 0 Processors here)."""
    if not charge.quantity:
        return replace(charge, line=replace(charge.line, text=f"minimum: {charge.line.text}"))
    found, tail = nup_floor(charge.quantity, params)
    text = f"minimum: {charge.line.text} → {f'{charge.quantity} ' if params.min_per_processor else ''}{tail}"
    return replace(charge, quantity=found, line=replace(charge.line, text=text, quantity=found))


def _vm_pool(vms: Sequence[Deployment], params: MetricParams) -> TraceLine:
    per_licence = params.vms_per_licence
    quantity = math.ceil(len(vms) / per_licence)
    names = ", ".join(d.label for d in vms)
    return TraceLine(f"VMs {names}: {plural(len(vms), 'guest')} ÷ {per_licence} per licence = {quantity} "
                     f"(rounded up; one licence covers {per_licence} guests, {params.origin})",
                     tuple(d.host for d in vms), quantity=quantity)


def per_processor(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Occupied sockets, or physical cores × core factor rounded up per server (``hardware_counts.processors``).

    Examples: Oracle EE (``core_factor: true``) on 2 sockets × 16-core Xeon ->
    ``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16``; Oracle SE2
    on the same server -> ``db1: 2 sockets = 2``; RHEL (``sockets_per_licence: 2``,
    ``vms_per_licence: 2``) on 4 sockets -> 2, and three guests -> 2. In an authorised
    cloud (``cloud_vcpus_per_licence``) an EE VM with 8 vCPU -> 8 ÷ 2 = 4, SE2 -> 8 ÷ 4 = 2.
    """
    lines, notes = [], []
    pooled = bool(params.vms_per_licence)
    for d in deployments:
        if pooled and d.is_vm:
            continue
        count = processors(d, params, ctx.core_factors)
        notes += count.notes
        lines.append(TraceLine(count.line, (d.host,), quantity=count.quantity))
    vms = [d for d in deployments if d.is_vm] if pooled else []
    if vms:
        lines.append(_vm_pool(vms, params))
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
        count = cores_with_minimums(d, params, ctx.core_factors)
        lines.append(TraceLine(count.line, (d.host,), quantity=count.quantity))
    return _total(Metric.CORE, lines)


def per_pvu(deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """IBM Processor Value Units: each server's cores × the PVUs per core of its processor's table row.

    Example: a POWER10 E1080 under AIX with 8 activated cores -> ``8 cores × 120 PVU per core = 960``;
    a 2-socket Xeon server with 2 × 16 cores -> ``32 cores × 70 = 2240``. A processor the table does
    not list is not counted: the result says which host and ``missing`` says what is lacking, so the
    position needs data instead of showing a guessed number.
    """
    lines, notes, unknown = [], [], []
    for d in deployments:
        count = pvus(d, ctx.pvu)
        notes += count.notes
        lines.append(TraceLine(count.line, (d.host,), quantity=count.quantity))
        if count.quantity is None:
            unknown.append(d.host)
    result = _total(Metric.PVU, lines, notes)
    if not unknown:
        return result
    note = (f"no PVU table row for the processor of {', '.join(unknown)}: the count is incomplete "
            f"(add the rows to pvu_table.yml)")
    return replace(result, notes=(*result.notes, note), missing="PVU table row for a processor")


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
        lines.append(_vm_pool(vms, params))
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
    text = f"headcount {ctx.headcount} (whatever is installed; found on {plural(len(hosts), 'host')})"
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
    Metric.PVU: per_pvu,
}


def measure(metric: str, deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext) -> MetricResult:
    """Consumption of ``deployments`` under ``metric`` (one of ``vocabulary.METRICS``)."""
    try:
        rule = RULES[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r} (expected one of {', '.join(METRICS)})") from None
    return rule(deployments, params, ctx)
