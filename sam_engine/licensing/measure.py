"""Measuring one product: its deployments, its metric, its coverage partitions and the consumption of each.

``group_per_host`` makes one ``Deployment`` per host of the product;
``choose_metric`` picks the metric (the active entitlements', else the product
rule's default, else the catalogue's hint, else per device); ``measure_group``
splits the product's hosts into *coverage partitions* (hosts covered by the
same set of entitlements) and measures each, through
``host_metrics.measure_partition`` so that a product counted at the VM's
physical server (Oracle soft partitioning, Windows Server per host) counts
each server once for the whole product. A VM counted per VM whose product's
rule needs Software Assurance or a subscription for that
(``host_metrics.per_vm_assurance``: SQL Server 2022 and later, Windows Server)
is covered only by the entitlements that have it: the others are left out of
its partition, and a note says why. A named-user product whose rule caps the devices
one user licence covers (``devices_per_user``: Microsoft 365 Apps, 5 PCs or Macs) gets a
note per person over the cap, across all its hosts: a breach of the terms, not a licence more.

A named user counts once per product, in one coverage partition (``one_group_per_person``): under the
entitlements covering every host the person uses it on (the intersection of their partitions'), when there
are any: in the partition of theirs that has exactly those, else in one added for them (copies of their hosts,
only their accounts, no Named User Plus minimum: their hosts' own partitions count that). Else (no one
entitlement covers all of their hosts, or one host is covered by none) once in each partition of their hosts:
a licence from each, which the allocation can hand out from those partitions' entitlements and never fewer
than the person needs. Example: jdoe uses Tool 5 on h1 (covered by E5, EALL) and Tool 6 on h2 (EALL), bob
Tool 5 on h3 -> partition "E5, EALL": bob = 1; "EALL": jdoe = 1; consumption 2, not 3. When that leaves
more short than counting every such person once in each partition of their hosts, that way is taken
(``_named_partitions``), and a note gives both shortfalls: with EALL x1, E5 x1, E6 x1, jdoe on Tool 5 and 6
and bob on Tool 7, EALL alone cannot cover both, while E5 + E6 cover jdoe: consumption 3, owned 3, short 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from sam_engine.licensing.allocation import least_shortfall
from sam_engine.licensing.coverage import TermState, covers
from sam_engine.licensing.dedup import dedup_per_installation
from sam_engine.licensing.editions import NO_LINES, EditionLines, every_edition
from sam_engine.licensing.hardware_counts import some_of
from sam_engine.licensing.host_metrics import assurance_text, measure_partition, per_vm_assurance
from sam_engine.licensing.metric_rules import MetricParams, MetricRules
from sam_engine.licensing.metrics import Deployment, MetricContext, MetricResult, TraceLine
from sam_engine.licensing.named_users import PEOPLE_SHOWN, People, hosts_per_person
from sam_engine.licensing.reconcile import ProductGroup, count_text
from sam_engine.model import Entitlement, Hardware, HostScan, Installation, Recognition
from sam_engine.platforms.users import HUMAN
from sam_engine.vocabulary import METRICS, Metric, units

NAMED_HOSTS = 10  # hosts named in the line of a title that needs no licence


@dataclass(frozen=True, slots=True)
class Partition:
    """Hosts of one product covered by the same entitlements, and their consumption."""

    covering: tuple[str, ...]  # entitlement ids
    result: MetricResult


def group_per_host(items: Sequence[tuple[HostScan, Installation, Recognition]]
                   ) -> list[tuple[Deployment, tuple[Recognition, ...]]]:
    """One ``Deployment`` per host (by host id, else inventory name), with the recognitions of
    every installation there (coverage must hold for each of them).

    Several versions, or 32- and 64-bit copies, on one host become one deployment,
    which the per-device metrics count once. Its ``installations`` are those
    ``dedup.dedup_per_installation`` keeps (an MSI GUID key and a named key of one
    install are one installation; distinct versions or locations stay distinct),
    which is what the per-installation metric counts.
    """
    by_host: dict[str, list[tuple[HostScan, Installation, Recognition]]] = {}
    for item in items:
        by_host.setdefault(item[0].host_id or item[0].inventory_name, []).append(item)
    out = []
    for entries in by_host.values():
        hs = entries[0][0]
        kept = dedup_per_installation([(inst, rec) for _, inst, rec in entries])
        deployment = Deployment(hs.inventory_name, hs.host.hardware if hs.host else Hardware(),
                                tuple(c.installation for c in kept), hs.host_id, hs.inventory_scan_id or hs.scan_id,
                                hs.stale, hs.host.users if hs.host else None,
                                os_name=hs.host and (hs.host.os_name or hs.host.os_family))
        out.append((deployment, tuple(r for _, _, r in entries)))
    return sorted(out, key=lambda d: d[0].host)


def choose_metric(group: ProductGroup, states: dict[str, TermState], rules: MetricRules,
                  hint: Callable[[str, str], str | None] | None = None) -> tuple[str, str, list[str]]:
    """(metric, rule origin, notes): the active entitlements' metric, else the rule's default, else
    the catalogue's ``metric_hint`` (``hint(publisher, product)``), else per device.

    In an edition's row its own entitlements decide: an ``edition: any`` entitlement (a candidate of every
    edition's row) gives the metric only to an edition that has none of its own, so 20 Named User Plus for
    Standard Edition 2 beside an every-edition Processor licence still count SE2 per named user."""
    notes = []
    rule = rules.rule_for(group.publisher, group.product, group.edition)
    for ent in group.candidates:
        if ent.metric not in METRICS:
            notes.append(f"{ent.entitlement_id}: unknown metric {ent.metric!r}: not counted")
    countable = [e for e in group.candidates if e.metric in METRICS and e.metric != Metric.SITE]
    active = [e for e in countable if states[e.entitlement_id].active]
    pools = [active, countable]  # an expired entitlement still says how the product is sold
    if group.edition:  # an edition's own entitlements first: an `edition: any` one decides only where there are none
        pools = [own for pool in pools for own in ([e for e in pool if not every_edition(e)], pool)]
    live = next((sorted({e.metric for e in pool}) for pool in pools if pool), [])
    default = rule.default_metric if rule and rule.default_metric else None
    if len(live) == 1:
        metric = live[0]
    elif live:
        metric = default if default in live else live[0]
        notes.append(f"entitlements use several metrics ({', '.join(live)}): counted under {metric}; "
                     f"the others are not counted here")
    else:
        hinted = hint(group.publisher or "", group.product) if hint and not default else None
        metric = default or (hinted if hinted in METRICS else None) or Metric.DEVICE
        if hinted in METRICS and metric == hinted:
            return metric, "catalogue metric_hint", notes
    notes += [f"{e.entitlement_id} covers every edition but counts {e.metric}; this edition's own entitlements count "
              f"{metric}: not counted here" for e in active if e.metric not in live]
    if rule and metric in rule.params:
        origin = rule.params[metric].origin
    else:
        origin = rule.origin if rule else "default"
    return metric, origin, notes


def _named_hosts(hosts: Sequence[str]) -> str:
    """A few host names, then how many more: the line's ``hosts`` hold them all. Every free title of a
    10,000-host fleet has such a line, so naming every host would cost hundreds of MB of text."""
    shown = ", ".join(hosts[:NAMED_HOSTS])
    return shown + (f" and {len(hosts) - NAMED_HOSTS:,} more" if len(hosts) > NAMED_HOSTS else "")


def free_line(group: ProductGroup, free: int) -> TraceLine:
    """Nothing to count: the line naming where the title is (``free``: its installations that need no licence)."""
    hosts = group.hosts
    on = _named_hosts(hosts)
    text = f"no licence needed: {count_text(group.count)} on {on}"
    if group.folded and not free:
        text = (f"{count_text(group.count)} on {on}: counted under the "
                f"{' / '.join(group.folded_into)} edition on the same host; nothing more to count here")
    return TraceLine(text, hosts, quantity=0)


def device_cap_notes(product: str, deployments: Sequence[Deployment], params: MetricParams,
                     ctx: MetricContext) -> list[str]:
    """One note per person who uses ``product`` on more of ``deployments`` than a user licence covers
    (``params.devices_per_user``), people as the named-user count finds them; a host without user
    data names nobody. Example: ``jdoe uses Microsoft 365 Apps on 6 devices (pc1, ..., pc6); a user
    licence covers 5 (catalogue/metrics/metric_rules.yml:94)``. The count stays as it is."""
    cap = params.devices_per_user
    if not cap:
        return []
    on = hosts_per_person([(d.host, d.users) for d in deployments if d.users is not None], ctx.people or People(),
                          ctx.as_of or dt.date.today())
    return [f"{who} uses {product} on {len(hosts)} devices ({_named_hosts(hosts)}); a user licence covers {cap} "
            f"({params.origin})" for who, hosts in on.items() if len(hosts) > cap]


def measure_group(group: ProductGroup, states: dict[str, TermState], rules: MetricRules, ctx: MetricContext,
                  hint: Callable[[str, str], str | None] | None = None, lines: EditionLines = NO_LINES) -> None:
    """Fill in the group's metric, usable entitlements, coverage partitions and consumption. A
    ``ProductGroup.free`` group (most of a fleet's titles) is not measured: its row needs no metric,
    rule or count, only the line ``free_line`` (``position._free_product``)."""
    group.metric, group.rule_origin, notes = choose_metric(group, states, rules, hint)
    group.notes += notes
    group.usable = [e for e in group.candidates
                    if states[e.entitlement_id].active and e.metric in (group.metric, Metric.SITE)]
    required = group.required_items()
    free = group.count - len(required) - group.folded
    if free and required:
        group.notes.append(f"{count_text(free)} need no licence (by version): not counted")
    if required:  # what decided each version's licence, where the catalogue decides by version bands
        bands = dict.fromkeys((rec.version, rec.why) for _, _, rec in group.items if rec.why)
        group.notes += [f"version {version}: {why}" for version, why in bands]
    if not required and not group.usable:
        group.result = MetricResult(group.metric, 0, (free_line(group, free),))
        return
    params = rules.params(group.publisher, group.product, group.edition, group.metric)
    hosts = group_per_host(required)
    usable = {e.entitlement_id: e for e in group.usable}
    # (the entitlements covering the hosts, those whose licensing choice decides how they are counted) -> hosts;
    # the two differ only where per-VM licensing needs Software Assurance an entitlement lacks
    by_cover: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Deployment]] = {}
    refused: dict[tuple[str, str, str], list[str]] = {}  # (what needs it, entitlement id, why) -> hosts
    for deployment, recs in hosts:
        if group.metric == Metric.EMPLOYEE:
            cover = tuple(e.entitlement_id for e in group.usable)
        else:
            cover = tuple(e.entitlement_id for e in group.usable
                          if all(covers(e, group.key, rec, lines)[0] for rec in recs))
        if group.usable and not cover:
            why = "; ".join(f"{e.entitlement_id}: {reason}" for e in group.usable for rec in recs
                            for ok, reason in [covers(e, group.key, rec, lines)] if not ok)
            group.coverage_lines.append(TraceLine(f"{deployment.label}: not covered ({why})", (deployment.host,),
                                                  tuple(e.entitlement_id for e in group.usable)))
        kept, refusals = per_vm_assurance(group.product, deployment, [rec.version for rec in recs], group.metric,
                                          params, [usable[e] for e in cover], ctx)
        for r in refusals:
            group.coverage_lines.append(TraceLine(
                f"{deployment.label}: not covered by {r.entitlement_id}: {assurance_text(r.needs)}; {r.why}",
                (deployment.host,), (r.entitlement_id,)))
            refused.setdefault((r.needs, r.entitlement_id, r.why), []).append(deployment.host)
            if r.assumed and r.assumed not in group.notes:
                group.notes.append(r.assumed)
        by_cover.setdefault((kept, cover), []).append(deployment)
    group.notes += [f"{assurance_text(needs)}; {why}: it does not cover {_named_hosts(on)}"
                    for (needs, eid, why), on in refused.items()]
    if group.metric == Metric.NAMED_USER:  # over all the product's hosts, whatever covers them
        group.notes += device_cap_notes(group.product, [d for d, _ in hosts], params, ctx)
    if group.metric == Metric.EMPLOYEE or not by_cover:
        every = tuple(e.entitlement_id for e in group.usable)
        by_cover = {(every, every): [d for d, _ in hosts]}
    parts = [(key, ds, (), params) for key, ds in sorted(by_cover.items(), key=lambda kv: (not kv[0][0], kv[0]))]
    if group.metric == Metric.NAMED_USER and len(parts) > 1:  # a person counts once, in one group
        group.partitions += _named_partitions([(key, ds) for key, ds, _, _ in parts], params, ctx, usable, group.notes)
    else:
        group.partitions += _measured(group.metric, parts, ctx, usable)
    group.result = _combine(group.metric, group.partitions)


def _measured(metric: str, parts: Sequence[Part], ctx: MetricContext, usable: dict[str, Entitlement]
              ) -> list[Partition]:
    counted: dict = {}  # servers counted at host level for this product (-> their VMs): once, whatever the partition
    out = []
    for (cover, chosen), deployments, why, part_params in parts:
        # counted as the entitlements covering the installations choose (a VM left uncovered for want of
        # Software Assurance is still counted per VM), owned only from those that cover it
        result = measure_partition(metric, deployments, part_params, ctx, [usable[e] for e in chosen], counted)
        out.append(Partition(cover, replace(result, lines=(*why, *result.lines))))
    return out


def _named_partitions(parts: Sequence[tuple[Cover, list[Deployment]]], params: MetricParams, ctx: MetricContext,
                      usable: dict[str, Entitlement], notes: list[str]) -> list[Partition]:
    """The partitions measured with each person counted once under the entitlements covering all their hosts, or,
    when that leaves more short than a licence from each group of theirs would, that way (``one_group_per_person``
    ``each``): scarce shared licences beside per-version ones that could cover the person. Figures, not ids, decide
    (the least shortfall of each way, ``allocation.least_shortfall``), so the choice is the same whatever the ids."""
    def short(measured: list[Partition]) -> int:
        return least_shortfall([(p.covering, p.result.quantity) for p in measured], list(usable.values()))

    shared = _measured(Metric.NAMED_USER, one_group_per_person(parts, params, ctx), ctx, usable)
    if not (fall := short(shared)):
        return shared
    each = _measured(Metric.NAMED_USER, one_group_per_person(parts, params, ctx, each=True), ctx, usable)
    if (fewer := short(each)) >= fall:
        return shared
    notes.append(f"people counted once in each coverage group of their hosts (a licence from each): "
                 f"{units(fewer, Metric.NAMED_USER)} short that way, {units(fall, Metric.NAMED_USER)} counting each "
                 f"once under the entitlements that cover every host they use it on")
    return each


def _combine(metric: str, partitions: list[Partition]) -> MetricResult:
    if len(partitions) == 1:
        return partitions[0].result
    lines, notes = [], []
    for p in partitions:
        head = f"covered by {', '.join(p.covering)}:" if p.covering else "covered by no entitlement:"
        lines.append(TraceLine(head, entitlements=p.covering))
        lines += p.result.lines
        notes += p.result.notes
    total = sum(p.result.quantity for p in partitions)
    summed = " + ".join(str(p.result.quantity) for p in partitions)
    hosts = tuple(h for p in partitions for ln in p.result.lines for h in ln.hosts)
    lines.append(TraceLine(f"consumption: {summed} = {total}", tuple(dict.fromkeys(hosts)), quantity=total))
    missing = next((p.result.missing for p in partitions if p.result.missing), None)
    servers = tuple(s for p in partitions for s in p.result.servers)
    unplaced = tuple(dict.fromkeys(h for p in partitions for h in p.result.unplaced))
    rule = next((p.result.host_rule for p in partitions if p.result.host_rule), None)
    return MetricResult(metric, total, tuple(lines), tuple(dict.fromkeys(notes)), missing, servers, unplaced, rule)


Cover = tuple[tuple[str, ...], tuple[str, ...]]  # (entitlements covering, those whose licensing choice counts)
Part = tuple[Cover, list[Deployment], tuple[TraceLine, ...], MetricParams]

ONCE_HERE = "counted once, here: these entitlements cover every host they use it on, in other coverage groups too"
ONCE_ADDED = "counted once, here: these entitlements cover every host they use it on, hosts of other coverage groups"
ONCE_EACH = ("no one entitlement covers every host they use it on: counted once in each coverage group of their "
        "hosts (a licence from each)")
EACH_NOT = ("counted once in each coverage group of their hosts (a licence from each): fewer licences fall short than "
            "counting them once under {}, which covers every host they use it on")


def _without(d: Deployment, folded: set[str], people: People, keep: bool) -> Deployment:
    """``d`` with only (``keep``) or without the human accounts of the ``folded`` people."""
    users = tuple(u for u in d.users or ()
                  if (u.kind == HUMAN and people.person(u.account).casefold() in folded) == keep)
    return replace(d, users=users) if d.users is not None else d


def one_group_per_person(parts: Sequence[tuple[Cover, list[Deployment]]], params: MetricParams,
                         ctx: MetricContext, each: bool = False) -> list[Part]:
    """The coverage partitions ``parts`` (cover -> hosts) with each person counted in one of them (the rule is in
    the module's docstring), or (``each``) every person counted once in each partition of their hosts: per
    partition its hosts (people counted in another taken off), the lines saying who counts where, and its
    parameters (an added partition's have no Named User Plus minimum)."""
    people, as_of = ctx.people or People(), ctx.as_of or dt.date.today()
    group_of = {d.host: key for key, ds in parts for d in ds}
    by_name = {d.host: d for _, ds in parts for d in ds}
    on = hosts_per_person([(d.host, d.users) for _, ds in parts for d in ds if d.users is not None], people, as_of)
    gone: dict[Cover, set[str]] = {}  # partition -> folded people counted in another one
    said: dict[tuple[Cover, str], list[str]] = {}  # (partition, why) -> people
    added: dict[Cover, dict[str, set[str]]] = {}  # partition of none of its people's hosts -> host -> folded people
    for who, hosts in on.items():
        keys = list(dict.fromkeys(group_of[h] for h in hosts))
        if len(keys) == 1:
            continue
        common = tuple(e for e in keys[0][0] if all(e in k[0] for k in keys[1:]))
        if not common or each:
            for k in keys:
                said.setdefault((k, EACH_NOT.format(", ".join(common)) if common else ONCE_EACH), []).append(who)
            continue
        home = (common, tuple(e for e in keys[0][1] if all(e in k[1] for k in keys[1:])))
        away = f"counted once, under {', '.join(common)}, which covers every host they use it on: not here"
        for k in keys:
            if k != home:
                gone.setdefault(k, set()).add(who.casefold())
                said.setdefault((k, away), []).append(who)
        if home in keys:
            said.setdefault((home, ONCE_HERE), []).append(who)
        else:
            for h in hosts:
                added.setdefault(home, {}).setdefault(h, set()).add(who.casefold())
            said.setdefault((home, ONCE_ADDED), []).append(who)

    def why(key: Cover, own: bool) -> tuple[TraceLine, ...]:
        return tuple(TraceLine(f"{some_of(names, PEOPLE_SHOWN)}: {text}",
                               tuple(dict.fromkeys(h for n in names for h in on[n])))
                     for (k, text), names in said.items() if k == key and (text == ONCE_ADDED) != own)

    out: list[Part] = [(key, [_without(d, gone[key], people, False) for d in ds] if key in gone else ds,
                        why(key, True), params) for key, ds in parts]
    alone = replace(params, min_per_processor=0, min_per_server=0)  # the hosts' own partitions count the minimum
    out += [(key, [_without(by_name[h], folded, people, True) for h, folded in hosts.items()], why(key, False), alone)
            for key, hosts in sorted(added.items())]
    return out
