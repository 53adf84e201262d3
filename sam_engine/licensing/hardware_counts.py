"""What one server counts under a hardware metric: Processors, cores with minimums, PVUs.

Each function takes one ``Deployment`` (a product on one host) and returns a
``HostCount``: the number, the trace text an auditor can check and the notes
(assumptions, limits). ``licensing.metrics`` adds up the hosts; the named-user
minimums reuse ``processors`` (Oracle: at least 25 NUP per Processor).

Worked examples (the vendor's own, from ``licensing.md``):

* Oracle EE, 2 sockets × 16-core Xeon: ``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16``.
* Oracle EE in an authorised cloud, 8 vCPU: ``8 vCPU ÷ 2 per licence = 4``; SE2 ``8 ÷ 4 = 2``.
* Windows Server, 1 socket × 4 cores: ``4 cores; min 8 per processor -> 8; min 16 per server -> 16``.
* IBM PVU, POWER10 E1080 under AIX, 8 cores: ``8 cores × 120 PVU per core (POWER10 E1080) = 960``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, Sequence

from sam_engine.model import Hardware

if TYPE_CHECKING:  # only for annotations: metrics imports this module
    from sam_engine.licensing.metric_rules import CoreFactorTable, MetricParams
    from sam_engine.licensing.metrics import Deployment
    from sam_engine.licensing.pvu_table import PvuTable


class HostCount(NamedTuple):
    """One server's count: ``text`` starts with the host's label; ``quantity`` None when it cannot be counted;
    ``guesses`` the assumptions made for facts the scan did not have."""

    text: str
    quantity: int | None
    notes: tuple[str, ...] = ()
    guesses: tuple[str, ...] = ()

    @property
    def line(self) -> str:
        """The trace line: the arithmetic, then any assumption in brackets."""
        return self.text + (f" [{'; '.join(self.guesses)}]" if self.guesses else "")


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 core``, ``0 cores``, ``2 cores``; ``words`` for an irregular plural."""
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def some_of(names: Sequence[str], shown: int) -> str:
    """The first ``shown`` names, then how many more: ``pc1, pc2 and 3 more``."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def topology(hw: Hardware) -> tuple[int, int, list[str]]:
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


def vcpus(hw: Hardware) -> tuple[int, list[str]]:
    """A VM's virtual CPUs (its logical CPUs), with the assumption when the scan did not say."""
    count = hw.threads or hw.cores or hw.sockets or 1
    return count, [] if (hw.threads or hw.cores) else [f"vCPUs unknown, assumed {count}"]


def cores_per_socket(sockets: int, cores: int) -> str:
    """``2 sockets × 16 cores = 32 cores``; ``3 sockets, 10 cores`` when they do not divide evenly."""
    per, extra = divmod(cores, sockets)
    if extra:
        return f"{plural(sockets, 'socket')}, {cores} cores"
    return f"{plural(sockets, 'socket')} × {plural(per, 'core')} = {plural(cores, 'core')}"


def _rounded(exact: Decimal | int, quantity: int) -> str:
    return " (rounded up)" if quantity != exact else ""


def processors(d: Deployment, params: MetricParams, factors: CoreFactorTable) -> HostCount:
    """Oracle Processors of one server: cloud vCPUs ÷ N, cores × core factor, or occupied sockets ÷ N."""
    hw, notes = d.hardware, []
    sockets, cores, guesses = topology(hw)
    if params.cloud_vcpus_per_licence and hw.cloud:
        count, guesses = vcpus(hw)
        n = params.cloud_vcpus_per_licence
        quantity = math.ceil(count / n)
        text = (f"{d.label}: {hw.cloud} VM, {count} vCPU ÷ {n} per licence = {quantity}{_rounded(Decimal(count) / n, quantity)}"
                f" (authorised cloud rule, {params.origin}: no core factor)")
        if params.max_sockets and quantity > params.max_sockets:
            notes.append(f"{d.host}: {quantity} sockets by the cloud rule exceeds the product's limit of "
                         f"{params.max_sockets}")
        return HostCount(text, quantity, tuple(notes), tuple(guesses))
    if params.core_factor:
        row = factors.lookup(hw)
        exact = Decimal(cores) * row.factor
        quantity = math.ceil(exact)
        text = (f"{d.label}: {cores_per_socket(sockets, cores)} × {row.factor.normalize()} "
                f"({row.describe(hw)}) = {quantity}{_rounded(exact, quantity)}")
    else:
        quantity = math.ceil(sockets / params.sockets_per_licence)
        text = f"{d.label}: {plural(sockets, 'socket')}"
        n = params.sockets_per_licence
        text += (f" ÷ {n} per licence = {quantity}{_rounded(Decimal(sockets) / n, quantity)}"
                 f" (one licence covers {n} sockets, {params.origin})" if n > 1 else f" = {quantity}")
    if params.max_sockets and sockets > params.max_sockets:
        notes.append(f"{d.host}: {sockets} sockets exceeds the product's limit of {params.max_sockets}")
    if d.is_vm:
        notes.append(f"{d.host} is a VM: counted from its virtual hardware; soft partitioning may require "
                     f"licensing every physical host it can run on (not known from the scan)")
    return HostCount(text, quantity, tuple(notes), tuple(guesses))


def cores_with_minimums(d: Deployment, params: MetricParams, factors: CoreFactorTable) -> HostCount:
    """Physical cores (virtual cores on a VM) with the per-processor, per-server and per-VM minimums and packs."""
    hw, steps = d.hardware, []
    if d.is_vm:
        count, guesses = vcpus(hw)
        text = f"{d.label}: VM, {count} vCPU"
        if params.min_per_vm and count < params.min_per_vm:
            count = params.min_per_vm
            steps.append(f"min {params.min_per_vm} per VM -> {count}")
    else:
        sockets, cores, guesses = topology(hw)
        text = f"{d.label}: {cores_per_socket(sockets, cores)}"
        per, extra = divmod(cores, sockets)
        socket_cores = [per + 1] * extra + [per] * (sockets - extra)
        count = cores
        if params.min_per_processor:
            count = sum(max(c, params.min_per_processor) for c in socket_cores)
            steps.append(f"min {params.min_per_processor} per processor -> {count}")
        if params.core_factor:
            row = factors.lookup(hw)
            count = math.ceil(Decimal(count) * row.factor)
            steps.append(f"× {row.factor.normalize()} ({row.describe(hw)}) -> {count}")
        if params.min_per_server:
            count = max(count, params.min_per_server)
            steps.append(f"min {params.min_per_server} per server -> {count}")
    if params.pack > 1:
        count = math.ceil(count / params.pack) * params.pack
        steps.append(f"packs of {params.pack} -> {count}")
    return HostCount(text + "".join(f"; {s}" for s in steps) + f" = {count}", count, (), tuple(guesses))


def nup_minimum(d: Deployment, params: MetricParams, factors: CoreFactorTable) -> HostCount:
    """The Named User Plus minimum of one server: N per Processor (counted as ``processors`` does, with the
    product's processor parameters where it has them), or N per server.

    Example: Oracle EE (25 per Processor) on 2 sockets × 16-core Xeon ->
    ``db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16 Processors × 25 NUP minimum per Processor = 400``.
    """
    if not params.min_per_processor:
        found, tail = nup_floor(0, params)
        return HostCount(f"{d.label}: {tail}", found)
    count = processors(d, params.minimum_basis or params, factors)
    found, tail = nup_floor(count.quantity, params)
    return HostCount(f"{count.text} {tail}", found, count.notes, count.guesses)


def nup_floor(count: int, params: MetricParams) -> tuple[int, str]:
    """The NUP minimum of a server of ``count`` Processors, and its arithmetic after the Processor count:
    16 -> ``Processors × 25 NUP minimum per Processor = 400``; without a minimum per Processor (SE2)
    ``10 NUP minimum per server = 10``."""
    found, tail = 0, ""
    if params.min_per_processor:
        found = count * params.min_per_processor
        tail = (f"{'Processor' if count == 1 else 'Processors'} × {params.min_per_processor} NUP minimum per "
                f"Processor = {found}")
    if params.min_per_server and params.min_per_server > found:
        tail = (f"{tail}; at least {params.min_per_server} NUP per server -> {params.min_per_server}" if found
                else f"{params.min_per_server} NUP minimum per server = {params.min_per_server}")
        found = params.min_per_server
    return found, tail


def pvus(d: Deployment, table: PvuTable) -> HostCount:
    """IBM PVUs of one server: activated cores × the PVU-per-core of the first matching table row.

    A VM counts its virtual cores (IBM's sub-capacity counting, valid only with ILMT
    reports; full capacity would count the physical server, which the scan does not see).
    No matching row: not counted (``quantity`` None), never guessed.
    """
    hw = d.hardware
    row = table.lookup(hw, d.os_name)
    if d.is_vm:
        cores, guesses = vcpus(hw)
        what = f"VM, {plural(cores, 'virtual core')}"
        notes = (f"{d.host} is a VM: its virtual cores are counted (IBM sub-capacity, which needs ILMT reports; "
                 f"full capacity counts the physical server's cores, not known from the scan)",)
    else:
        sockets, cores, guesses = topology(hw)
        what, notes = cores_per_socket(sockets, cores), ()
    if row is None:
        cpu = " ".join(x for x in (hw.cpu_vendor, hw.cpu_model, hw.system_model, hw.cpu_id) if x) or "unknown CPU"
        return HostCount(f"{d.label}: {what}, {cpu}: no row of the PVU table matches: not counted (add a row for "
                         f"this processor to pvu_table.yml)", None, notes, tuple(guesses))
    quantity = cores * row.pvu
    text = f"{d.label}: {what} × {row.pvu} PVU per core ({row.describe(hw, d.os_name)}, {row.origin}) = {quantity}"
    return HostCount(text, quantity, notes, tuple(guesses))
