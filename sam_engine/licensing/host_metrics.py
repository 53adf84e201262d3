"""Host-level licence metrics: a VM licensed through the physical servers it runs on or can move to.

A guest's scan sees only its virtual hardware. For products whose vendor
counts the host, ``measure_partition`` counts the servers of the fleet's
topology (``MetricContext.topology``) instead, each with its trace
(server -> guests -> rule)::

    esx01 → runs db1 → soft partitioning (cluster vc01/prod): 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16

Which products, and how, is data (``metric_rules.yml``): ``host_level``
(``always``: Oracle soft partitioning; ``default``: the host unless an
entitlement says ``licensing: vm``; ``optional``: each VM unless an entitlement
says ``licensing: host``), ``host_scope`` (every server of the VM's cluster, or
only its own), ``hard_partitioning`` (pinned vCPUs count only the pinned
cores), ``vms_per_host_licence`` (Windows Server Standard: two VMs per full
licensing of the host, stacked) and ``host_needs_maintenance`` (SQL Server:
licensing the host needs Software Assurance). The other way round,
``vm_needs_maintenance`` (``per_vm_assurance``) says which VMs counted per VM an
entitlement may cover only with Software Assurance or a subscription (SQL Server
from 2022, Windows Server). A server is counted once per
product, however many of its VMs run the product, and also when the
hypervisor host itself is scanned with the product (``FleetTopology.hypervisors``:
``kvm01 → installed on the server itself (kvm01); runs db1 → ...``). A VM whose server is not
known keeps today's per-VM count and is listed in ``MetricResult.unplaced``,
which raises the ``topology-unknown`` finding. Under ``vms_per_host_licence`` a
server's full licensings come from all the product's VMs on it, whatever
entitlements cover them: a later coverage partition is charged only the full
licensings its VMs add (``hv01 → runs w1, w2 → ... 4 VMs (with w3, w4 counted
above) ÷ 2 = 2 full licensings − 1 counted above = 1 × 16 = 16``), so the
partitions' charges add up to the server's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Sequence

from sam_engine.licensing.metric_rules import MetricParams
from sam_engine.licensing.hardware_counts import cores_with_minimums, plural, processors, some_of, topology
from sam_engine.licensing.metrics import (Deployment, MetricContext, MetricResult, TraceLine, _total, measure,
                                       per_named_user)
from sam_engine.licensing.versions import normalise_version
from sam_engine.model import Entitlement, Hardware, PhysicalServer, Virtualization
from sam_engine.topology import Placement
from sam_engine.vocabulary import HostLevel, Licensing, Metric

HOST_METRICS = (Metric.PROCESSOR, Metric.CORE)  # the metrics a physical server can be counted under
NAMED_VMS = 10  # VMs of unknown host named in a note (``MetricResult.unplaced`` holds them all)


@dataclass(frozen=True, slots=True)
class ServerCharge:
    """One physical server counted for a product: the scanned guests that pull it in, and how."""

    server: PhysicalServer
    guests: tuple[str, ...]  # inventory names of the scanned hosts that pull it in: guests, or the server itself
    running: tuple[str, ...]  # those of them that run on it
    rule: str  # "soft partitioning", "hard partitioning", "per host", "already counted"
    quantity: int
    line: TraceLine
    itself: tuple[str, ...] = ()  # scanned hosts that are this server (the product installed on the hypervisor)


def server_hardware(server: PhysicalServer) -> Hardware:
    """The server as the metric rules and the core factor table read a host."""
    return Hardware(server.sockets, server.cores, server.threads, server.cpu_vendor, server.cpu_model,
                    Virtualization.PHYSICAL)


def host_choice(params: MetricParams, ents: Sequence[Entitlement], ctx: MetricContext) -> tuple[bool, list[str]]:
    """Whether hosts covered by ``ents`` count at host level, and why when an entitlement's choice is not
    followed. ``ents`` choose with ``licensing`` (None: the rule's default); several choices: the default."""
    chosen = sorted({e.licensing for e in ents if e.licensing})
    notes = []
    if params.host_level == HostLevel.ALWAYS:
        if Licensing.VM in chosen:
            notes.append("licensing: vm is not an option for this product: the vendor counts every physical server "
                         "the VM can run on")
        host = True
    elif len(chosen) == 1:
        host = chosen[0] == Licensing.HOST
    else:
        host = params.host_level == HostLevel.DEFAULT
        if chosen:
            notes.append(f"entitlements choose both licensing: host and vm: counted "
                         f"{'per host' if host else 'per VM'}, the product's default")
    if host and params.host_needs_maintenance:
        if not any(maintenance_active(e, ctx) for e in ents if e.licensing == Licensing.HOST):
            notes.append("licensing the host needs active Software Assurance (maintenance_end) on an entitlement "
                         "with licensing: host: counted per VM")
            host = False
    return host, notes


def maintenance_active(ent: Entitlement, ctx: MetricContext) -> bool:
    """Software Assurance on the as-of date: a ``maintenance_end`` on or after it (none without an as-of date)."""
    today = ctx.as_of.isoformat() if ctx.as_of else None
    return bool(ent.maintenance_end and today and ent.maintenance_end >= today)


def assured(ent: Entitlement, ctx: MetricContext) -> bool:
    """Software Assurance or a subscription on the as-of date: ``maintenance_active``, or a ``term_end`` on or
    after it (a subscription; an entitlement without ``term_end`` is perpetual)."""
    today = ctx.as_of.isoformat() if ctx.as_of else None
    return maintenance_active(ent, ctx) or bool(ent.term_end and today and ent.term_end >= today)


def counted_per_vm(metric: str, params: MetricParams, ents: Sequence[Entitlement], ctx: MetricContext) -> bool:
    """Whether ``measure_partition`` counts the VMs covered by ``ents`` each by its own virtual hardware (per VM
    licensing): no host-level rule for the product under ``metric``, or ``host_choice`` says per VM. A VM of
    unknown server under a host-level rule is counted per VM too, but stands in for its server: not this."""
    if metric not in HOST_METRICS or not params.host_level:
        return True
    return not host_choice(params, ents, ctx)[0]


_YEAR = re.compile(r"((?:19|20)\d\d)(?!\d)")


def release_year(version: str | None) -> int | None:
    """The release year a recognised version starts with (``2022``, ``2008 r2`` -> 2008); None when it names
    none (``16.0.1000.6``, unknown)."""
    found = _YEAR.match(normalise_version(version) or "")
    return int(found.group(1)) if found else None


@dataclass(frozen=True, slots=True)
class AssuranceRefusal:
    """An entitlement that covers a VM's installation but not its per-VM licensing: no Software Assurance
    or subscription where the product's rule needs one (``per_vm_assurance``)."""

    entitlement_id: str
    needs: str  # what needs it: "SQL Server 2022", "Windows Server 2022", "SQL Server of unknown version"
    why: str  # "E2 has neither on 2026-06-30 (maintenance ended on 2026-01-31)"
    assumed: str | None = None  # the version that names no release year, assumed recent enough to need it


def per_vm_assurance(product: str, deployment: Deployment, versions: Sequence[str | None], metric: str,
                     params: MetricParams, ents: Sequence[Entitlement], ctx: MetricContext
                     ) -> tuple[tuple[str, ...], tuple[AssuranceRefusal, ...]]:
    """The ids of ``ents`` (the entitlements covering ``deployment``'s installations, of recognised
    ``versions``) that may cover it, and a refusal for each of the others.

    Per-VM licensing, where the product's rule says ``vm_needs_maintenance``, needs Software Assurance or a
    subscription (``assured``) on the entitlement: SQL Server licensed per virtual machine (every virtual core,
    at least 4 per VM) needs it from SQL Server 2022 on (``vm_needs_maintenance_from: 2022``), SQL Server 2019
    and earlier did not; Windows Server licensed per VM (at least 8 cores per VM) is allowed only with it, for
    every version (since October 2022). Only a VM counted per VM (``counted_per_vm``) is checked: a physical
    host, or a VM licensed through its host, is not. The version decides by its release year
    (``release_year``); one that names none (unknown, a build number) cannot be shown to be earlier and needs
    it too, said in ``assumed``. A host with several versions needs it when any of them does.

    Example, as of 2026-06-30: a 2-vCPU VMware VM with SQL Server 2022 Enterprise and ``E2`` (core, 8,
    no maintenance_end, no term_end) -> ``()`` and ``AssuranceRefusal("E2", "SQL Server 2022",
    "E2 has neither on 2026-06-30")``; with SQL Server 2019, or with ``maintenance_end: 2027-06-30`` -> ``("E2",)``.
    """
    ids = tuple(e.entitlement_id for e in ents)
    if not params.vm_needs_maintenance or not deployment.is_vm or not ents or not counted_per_vm(
            metric, params, ents, ctx):
        return ids, ()
    since = params.vm_needs_maintenance_from
    needing: list[tuple[int, str, str | None]] = []  # (release year or 0, what needs it, the assumption)
    for version in dict.fromkeys(versions):
        year = release_year(version)
        if since is None:
            needing.append((year or 0, f"{product} {version}" if version else product, None))
        elif year is None:
            assumed = (f"{product} on {deployment.host}: version {version!r} names no release year" if version
                       else f"{product} on {deployment.host}: version unknown")
            needing.append((0, f"{product} of unknown version",
                            f"{assumed}: assumed {since} or later, whose per-VM licensing needs Software Assurance "
                            f"or a subscription"))
        elif year >= since:
            needing.append((year, f"{product} {version}", None))
    if not needing:
        return ids, ()
    _, needs, assumed = max(needing, key=lambda n: n[0])  # the latest version names it; unknown only alone
    day = ctx.as_of.isoformat() if ctx.as_of else "the as-of date (none given)"
    refusals = []
    for ent in ents:
        if assured(ent, ctx):
            continue
        lapsed = [f"maintenance ended on {ent.maintenance_end}"] if ent.maintenance_end else []
        lapsed += [f"subscription ended on {ent.term_end}"] if ent.term_end else []
        why = f"{ent.entitlement_id} has neither on {day}" + (f" ({'; '.join(lapsed)})" if lapsed else "")
        refusals.append(AssuranceRefusal(ent.entitlement_id, needs, why, assumed))
    refused = {r.entitlement_id for r in refusals}
    return tuple(i for i in ids if i not in refused), tuple(refusals)


def assurance_text(needs: str) -> str:
    """``per-VM licensing of SQL Server 2022 needs Software Assurance or a subscription``."""
    return f"per-VM licensing of {needs} needs Software Assurance or a subscription"


def measure_partition(metric: str, deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext,
                      ents: Sequence[Entitlement] = (), counted: dict | None = None) -> MetricResult:
    """Consumption of hosts covered by ``ents``: per host where the product's rule and the entitlements'
    choice say so, else ``metrics.measure``. ``counted`` holds the servers counted by earlier partitions
    of the same product, each with the VMs that ran the product there (server key -> inventory names):
    they count 0 here, or under ``vms_per_host_licence`` only the full licensings this partition's VMs add.
    A Named User Plus minimum counts the servers the processor metric charges for the same hosts."""
    minimum = params.min_per_processor or params.min_per_server
    if metric == Metric.NAMED_USER and minimum and params.minimum_basis and params.minimum_basis.host_level:
        servers = measure_partition(Metric.PROCESSOR, deployments, params.minimum_basis, ctx, ents, counted)
        return per_named_user(deployments, params, ctx, servers)
    if metric not in HOST_METRICS or not params.host_level:
        result = measure(metric, deployments, params, ctx)
        if any(e.licensing == Licensing.HOST for e in ents):
            result = replace(result, notes=(*result.notes, f"licensing: host has no host-level rule for this "
                                                           f"product under {metric}: counted as usual"))
        return result
    host, notes = host_choice(params, ents, ctx)
    if not host:
        result = measure(metric, deployments, params, ctx)
        return replace(result, notes=(*result.notes, *notes))
    return measure_hosts(metric, deployments, params, ctx, {} if counted is None else counted, notes)


def measure_hosts(metric: str, deployments: Sequence[Deployment], params: MetricParams, ctx: MetricContext,
                  counted: dict, notes: Sequence[str] = ()) -> MetricResult:
    """Placed guests count their servers, and a scanned host that is itself a server (the product on a KVM
    host and in its guests) counts that server in the same charge, once; the other deployments count as
    ``metrics.measure`` counts them, and when no deployment is on a known server the result is its own."""
    placed = {d.host: ctx.topology.placement(d.host) for d in deployments}
    itself = {d.host: ctx.topology.server_itself(d.host) for d in deployments if placed[d.host] is None}
    rest = [d for d in deployments if placed[d.host] is None and itself[d.host] is None]
    unplaced = tuple(d.host for d in rest if d.is_vm and not d.hardware.cloud)
    rule = "soft partitioning" if params.host_scope == "cluster" else "per-host licensing"
    notes = list(notes)
    if unplaced:
        notes.append(f"{rule}: host unknown for {some_of(unplaced, NAMED_VMS)}, count may be understated: "
                     "counted per VM; scan their hypervisors to count the physical servers")
    if len(rest) == len(deployments):  # nothing on a known server: exactly the per-host count
        result = measure(metric, rest, params, ctx)
        return replace(result, notes=(*result.notes, *notes), unplaced=unplaced, host_rule=rule)
    lines = []
    if rest:
        result = measure(metric, rest, params, ctx)
        lines += result.lines[:-1] if len(result.lines) > 1 else result.lines  # its total: ours replaces it
        notes += result.notes
    charges = _charges([(d, placed[d.host]) for d in deployments if placed[d.host] is not None],
                       [(d, server) for d in deployments if (server := itself.get(d.host)) is not None],
                       metric, params, ctx, counted)
    lines += [c.line for c in charges]
    result = _total(metric, lines, notes)
    return replace(result, servers=tuple(charges), unplaced=unplaced, host_rule=rule)


def _charges(placed: Sequence[tuple[Deployment, Placement]], own: Sequence[tuple[Deployment, PhysicalServer]],
             metric: str, params: MetricParams, ctx: MetricContext, counted: dict) -> list[ServerCharge]:
    """One charge per server: ``placed`` guests pull in their server (and its cluster under soft
    partitioning), ``own`` hosts the server they are; a server is charged once, whoever pulls it in."""
    whole: dict[str, tuple[PhysicalServer, list[str], list[str]]] = {}  # key -> (server, guests, running)
    pinned: dict[str, tuple[PhysicalServer, list[str], set[int]]] = {}  # key -> (server, guests, host CPUs)
    for d, server in own:
        whole.setdefault(server.key, (server, [], []))[1].append(d.host)
    for d, p in placed:
        if params.hard_partitioning and p.hard_partitioned:
            entry = pinned.setdefault(p.server.key, (p.server, [], set()))
            entry[1].append(d.host)
            entry[2].update(p.vm.pinned_cpus)
            continue
        scope = p.reachable if params.host_scope == "cluster" else ()
        for server in (p.server, *(s for s in scope if s.key != p.server.key)):
            entry = whole.setdefault(server.key, (server, [], []))
            entry[1].append(d.host)
            if server.key == p.server.key:
                entry[2].append(d.host)
    hosts = {d.host for d, _ in own}
    out = []
    for server, guests, running in sorted(whole.values(), key=lambda e: (e[0].name, e[0].key)):
        out.append(_whole_server(server, tuple(guests), tuple(running), metric, params, ctx, counted,
                                 tuple(g for g in guests if g in hosts)))
    for server, guests, cpus in sorted(pinned.values(), key=lambda e: (e[0].name, e[0].key)):
        out.append(_pinned(server, tuple(guests), tuple(sorted(cpus)), metric, params, ctx, counted, whole))
    return out


def _via(server: PhysicalServer, guests: tuple[str, ...], running: tuple[str, ...],
         itself: tuple[str, ...] = ()) -> str:
    """``installed on the server itself (kvm01)`` / ``runs db1, db2`` / ``reachable by db3``: how the
    scanned hosts pull the server in."""
    parts = [f"installed on the server itself ({', '.join(itself)})"] if itself else []
    if running:
        parts.append(f"runs {', '.join(running)}")
    moving = [g for g in guests if g not in running and g not in itself]
    if moving:
        parts.append(f"reachable by {', '.join(moving)}")
    return "; ".join(parts)


def _charge(server, guests, running, rule, quantity, text, itself=()) -> ServerCharge:
    return ServerCharge(server, guests, running, rule, quantity, TraceLine(text, guests, quantity=quantity), itself)


def _whole_server(server: PhysicalServer, guests: tuple[str, ...], running: tuple[str, ...], metric: str,
                  params: MetricParams, ctx: MetricContext, counted: dict, itself: tuple[str, ...] = ()
                  ) -> ServerCharge:
    via = _via(server, guests, running, itself)
    stacked = metric == Metric.CORE and bool(params.vms_per_host_licence)
    earlier = counted.get(server.key)  # the VMs an earlier partition counted it for; None: not counted yet
    if earlier is not None and not stacked:
        return _charge(server, guests, running, "already counted", 0,
                       f"{server.name} → {via} → already counted for this product = 0", itself)
    counted[server.key] = (*(earlier or ()), *running)
    hw = server_hardware(server)
    if set(guests) <= set(itself):  # no VM pulls it in: the product runs on the server's own OS
        rule, where = "per host", "its own cores"
    elif params.host_scope == "cluster":
        rule = "soft partitioning"
        where = f"{rule} (cluster {server.cluster})" if server.cluster else f"{rule} (standalone server)"
    else:
        rule = where = "per host"
    server_as_host = Deployment("", hw, ())  # hardware_counts reads a host; its label prefix ": " is dropped
    if metric == Metric.PROCESSOR:
        sockets = topology(hw)[0]
        count = processors(server_as_host, params, ctx.core_factors)
        quantity, text, assumed = count.quantity, count.text.removeprefix(": "), list(count.guesses)
        if params.max_sockets and sockets > params.max_sockets:
            assumed.append(f"{sockets} sockets exceeds the product's limit of {params.max_sockets}")
    else:
        count = cores_with_minimums(server_as_host, params, ctx.core_factors)
        once, text, assumed = count.quantity, count.text.removeprefix(": ").rsplit(" = ", 1)[0], list(count.guesses)
        quantity = once
        if stacked:  # full licensings of all the product's VMs on it; an earlier partition paid for some
            per, every = params.vms_per_host_licence, counted[server.key]
            times = max(1, math.ceil(len(every) / per))
            where = f"per host, {per} VMs per full licensing"
            text += f" = {once}; {plural(len(every), 'VM')}"
            if earlier:
                text += f" (with {', '.join(earlier)} counted above)"
            text += f" ÷ {per} = {'0 -> at least ' if not every else ''}{plural(times, 'full licensing')}"
            if earlier is not None:
                before = max(1, math.ceil(len(earlier) / per))
                text += f" − {before} counted above = {times - before}"
                times -= before
            quantity = once * times
            text += f" × {once}"
        text += f" = {quantity}"
    return _charge(server, guests, running, rule, quantity, f"{server.name} → {via} → {where}: {text}"
                   + _assumed(assumed), itself)


def _pinned(server: PhysicalServer, guests: tuple[str, ...], cpus: tuple[int, ...], metric: str,
            params: MetricParams, ctx: MetricContext, counted: dict, whole: dict) -> ServerCharge:
    """Hard partitioning: the cores of the pinned host CPUs (threads ÷ threads per core, rounded up)."""
    via = _via(server, guests, guests)
    pinned_key = f"{server.key}#pinned:{_cpu_ranges(cpus)}"
    if server.key in counted or pinned_key in counted:
        counted_by = "this product's soft partitioning" if server.key in whole else "an earlier partition"
        return _charge(server, guests, guests, "already counted", 0,
                       f"{server.name} → {via} → already counted ({counted_by}) = 0")
    # other pinned CPUs, or the whole server, in a later partition are counted again: cores pinned twice
    # may count twice, never too few
    counted[pinned_key] = guests
    hw = server_hardware(server)
    sockets, cores, assumed = topology(hw)
    per_core = hw.threads // cores if hw.threads and hw.threads >= cores else 1
    pinned_cores = min(math.ceil(len(cpus) / per_core), cores)
    text = f"{plural(len(cpus), 'pinned CPU')}" + (f" ÷ {per_core} threads per core" if per_core > 1 else "")
    text += f" = {plural(pinned_cores, 'core')}"
    if metric == Metric.PROCESSOR and params.core_factor:
        row = ctx.core_factors.lookup(hw)
        quantity = math.ceil(Decimal(pinned_cores) * row.factor)
        text += f" × {row.factor.normalize()} ({row.describe(hw)}) = {quantity}"
    elif metric == Metric.PROCESSOR:  # the sockets the pinned cores fill at least
        used = math.ceil(pinned_cores / max(1, cores // sockets))
        quantity = math.ceil(used / params.sockets_per_licence)
        text += f" = {plural(used, 'socket')} ({cores // sockets or 1} cores per socket) = {quantity}"
    else:
        quantity = pinned_cores
        text += f" = {quantity}"
    return _charge(server, guests, guests, "hard partitioning", quantity,
                   f"{server.name} → {via} (pinned to CPUs {_cpu_ranges(cpus)}) → hard partitioning: {text}"
                   + _assumed(assumed))


def _assumed(notes: list[str]) -> str:
    return f" [{'; '.join(notes)}]" if notes else ""


def _cpu_ranges(cpus: Sequence[int]) -> str:
    """``0-3,8``: the pinned CPUs as virsh writes a cpuset."""
    out: list[list[int]] = []
    for cpu in cpus:
        if out and cpu == out[-1][1] + 1:
            out[-1][1] = cpu
        else:
            out.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in out)
