"""A hypervisor that is itself scanned with the product counts its cores once, for itself and its guests;
a fleet without hypervisors keeps, figure for figure, the position it had before the topology existed;
and the topology-unknown finding is one per product, naming each VM once, whatever the entitlements."""

import datetime as dt

import pytest
from synthetic_fleet import ENTITLEMENTS, synthetic_scans
from test_host_metrics import EE, HV, RHEL, WIN_STD, XEON, ctx, licence, server, topology, vms
from test_position import ent, fleet, position, scanned
from test_topology_position import ORACLE_EE, guest, oracle_fleet

from sam_engine.findings.detect import compute_findings, topology_findings
from sam_engine.findings.policy import Policy
from sam_engine.licensing import measure as measuring
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.host_metrics import measure_partition
from sam_engine.licensing.metrics import Deployment, measure
from sam_engine.licensing.position import build_position, position_to_rows
from sam_engine.model import Hardware, Host, Scan, Virtualization
from sam_engine.report.position import host_rows
from sam_engine.topology import FleetTopology

AS_OF = dt.date(2026, 6, 30)
KVM = server("kvm01", 2, 32, cluster="libvirt-cluster:lab", platform="libvirt")  # 2 × 16-core Xeon
KVM2 = server("kvm02", 2, 32, cluster="libvirt-cluster:lab", platform="libvirt")


def with_host(topo: FleetTopology, name: str, key: str) -> FleetTopology:
    return FleetTopology(topo.servers, topo.guests, topo.placements, {name: key})


def host_itself(name="kvm01"):
    """The KVM host's own scan: a physical 2 × 16-core Xeon."""
    return Deployment(name, Hardware(2, 32, 64, *XEON, Virtualization.PHYSICAL), vms("x")[0].installations)


# --- a scanned hypervisor with the product is counted once ---------------------------------------


def test_oracle_on_a_kvm_host_and_its_guest_counts_the_hosts_cores_once():
    topo = with_host(topology(("db1", KVM, (KVM,), ())), "kvm01", KVM.key)
    before = measure("processor", [host_itself(), *vms("db1")], EE, ctx())
    assert before.quantity == 16 + 1  # the host's own cores, then the guest's vCPUs: the host counted twice
    result = measure_partition("processor", [host_itself(), *vms("db1")], EE, ctx(topo))
    assert result.quantity == 16  # 32 cores × 0.5, once
    assert [line.text for line in result.lines] == [
        "kvm01 → installed on the server itself (kvm01); runs db1 → soft partitioning (cluster "
        "libvirt-cluster:lab): 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16"]
    (charge,) = result.servers
    assert (charge.guests, charge.running, charge.quantity) == (("kvm01", "db1"), ("db1",), 16)
    assert result.unplaced == ()


def test_the_host_itself_counts_only_its_own_server_and_a_guest_pulls_in_the_cluster():
    alone = with_host(topology(servers=(KVM, KVM2)), "kvm01", KVM.key)
    own = measure_partition("processor", [host_itself()], EE, ctx(alone))
    assert own.quantity == 16 and own.servers[0].rule == "per host" and own.servers[0].itself == ("kvm01",)
    assert own.lines[0].text == ("kvm01 → installed on the server itself (kvm01) → its own cores: 2 sockets × 16 "
                                 "cores = 32 cores × 0.5 (Intel x86) = 16")
    both = with_host(topology(("db2", KVM2, (KVM, KVM2), ())), "kvm01", KVM.key)
    result = measure_partition("processor", [host_itself(), *vms("db2")], EE, ctx(both))
    assert result.quantity == 32  # kvm01 once (itself, reachable by db2) + kvm02
    assert result.lines[0].text.startswith("kvm01 → installed on the server itself (kvm01); reachable by db2 → ")


def test_a_pinned_guest_on_a_host_that_runs_the_product_itself_adds_nothing():
    topo = with_host(topology(("db1", KVM, (KVM,), (0, 1, 2, 3))), "kvm01", KVM.key)
    result = measure_partition("processor", [host_itself(), *vms("db1", vcpus=4)], EE, ctx(topo))
    assert result.quantity == 16
    assert result.lines[1].text == "kvm01 → runs db1 → already counted (this product's soft partitioning) = 0"
    pinned_only = measure_partition("processor", vms("db1", vcpus=4), EE, ctx(topo))
    assert pinned_only.quantity == 1  # 4 CPUs ÷ 2 threads per core = 2 cores × 0.5


def test_across_coverage_partitions_the_host_and_its_guest_share_one_count():
    topo = with_host(topology(("db1", KVM, (KVM,), ())), "kvm01", KVM.key)
    counted = {}
    first = measure_partition("processor", [host_itself()], EE, ctx(topo), counted=counted)
    second = measure_partition("processor", vms("db1"), EE, ctx(topo), counted=counted)
    assert (first.quantity, second.quantity) == (16, 0)


def test_windows_standard_on_the_host_itself_then_three_vms_in_another_partition_adds_one_full_licensing():
    # Standard: 2 VMs per full licensing; the host's own scan pays the first one (16 with the minimums)
    topo = with_host(topology(*((n, HV, (), ()) for n in ("w1", "w2", "w3"))), "hv01", HV.key)
    own = Deployment("hv01", Hardware(1, 4, 8, *XEON, Virtualization.PHYSICAL), vms("x")[0].installations)
    counted = {}
    first = measure_partition("core", [own], WIN_STD, ctx(topo), counted=counted)
    second = measure_partition("core", vms("w1", "w2", "w3", vcpus=4), WIN_STD, ctx(topo), counted=counted)
    assert (first.quantity, second.quantity) == (16, 16)  # 2 full licensings for 3 VMs, as in one partition
    assert first.lines[0].text.endswith("; 0 VMs ÷ 2 = 0 -> at least 1 full licensing × 16 = 16")
    assert second.lines[0].text.endswith("; 3 VMs ÷ 2 = 2 full licensings − 1 counted above = 1 × 16 = 16")


def test_rhel_per_vm_still_counts_the_host_by_its_own_scan():
    """No host-level choice (RHEL counted per 2 guests by default): the host and the guest count as before."""
    topo = with_host(topology(("db1", KVM, (KVM,), ())), "kvm01", KVM.key)
    host = host_itself()
    default = measure_partition("processor", [host, *vms("db1")], RHEL, ctx(topo))
    assert default.quantity == measure("processor", [host, *vms("db1")], RHEL, ctx()).quantity
    vdc = measure_partition("processor", [host, *vms("db1")], RHEL, ctx(topo), [licence("processor", "host")])
    assert vdc.quantity == 1  # one socket pair, for the host and all its guests


# --- a fleet without hypervisors: figures as before the topology ----------------------------------


def per_host_only(metric, deployments, params, ctx, ents=(), counted=None):
    """What measure_group counted before the topology existed: every host by its own hardware."""
    return measure(metric, deployments, params, ctx)


def figures(pos):
    rows = position_to_rows(pos, detail=True)
    return [{k: v for k, v in row.items() if k not in ("notes", "topology_unknown")} for row in rows]


def vm_fleet():
    return [*fleet(), *oracle_fleet(), *(guest(f"w{n}", "Microsoft Windows Server 2022 Standard", vcpus=4)
                                         for n in (1, 2, 3))]


@pytest.mark.parametrize("name", ["hand-computed fleet with VMs", "synthetic fleet, real catalogue"])
def test_a_fleet_without_hypervisors_has_exactly_the_figures_it_had_before_the_topology(name, monkeypatch):
    if name.startswith("synthetic"):
        catalogue, _ = load_catalogue(today=AS_OF)
        scans, ents = synthetic_scans(300)[1].hosts, ENTITLEMENTS

        def run(**kw):
            return build_position(scans, catalogue.recognise, ents, AS_OF, metric_hint=catalogue.metric_hint, **kw)
    else:
        scans = vm_fleet()
        ents = [ent("E-ORA", "Oracle", "Oracle Database", "processor", 16, "Enterprise Edition"),
                ent("E-WIN", "Microsoft", "Windows Server", "core", 24, "Standard")]

        def run(**kw):
            return position(scans, ents, **kw)
    now, empty = run(), run(topology=FleetTopology())
    monkeypatch.setattr(measuring, "measure_partition", per_host_only)
    before = run()
    assert figures(now) == figures(before) == figures(empty)
    assert sum(p.consumption.quantity for p in now.products) > 0
    assert all(p.consumption.servers == () for p in now.products)


# --- topology-unknown: one finding per product ----------------------------------------------------


def test_topology_unknown_is_one_finding_per_product_naming_each_vm_once_whatever_the_entitlements():
    scans = [*oracle_fleet(), guest("db4", ORACLE_EE), guest("w1", "Microsoft Windows Server 2022 Standard")]
    scans.append(scanned("db0", Host("machine-id:db0", "db0", "machine-id",
                                     hardware=Hardware(2, 32, 64, *XEON, Virtualization.PHYSICAL)), ORACLE_EE))
    # three Oracle entitlements (one expired) and a Windows one: still one finding per product
    ents = [ent("E1", "Oracle", "Oracle Database", "processor", 2, "Enterprise Edition"),
            ent("E2", "Oracle", "Oracle Database", "processor", 2, "Enterprise Edition", version_range=">=19"),
            ent("E3", "Oracle", "Oracle Database", "processor", 40, "Enterprise Edition", term_end="2025-12-31"),
            ent("E4", "Microsoft", "Windows Server", "core", 16, "Standard")]
    pos = position(scans, ents)
    oracle = next(p for p in pos.products if p.product == "Oracle Database")
    assert [eid for eid, _ in oracle.ownership.entitlements] == ["E1", "E2"]
    found = compute_findings(Scan("s2", "2026-06-30T01:00:00Z", "2026-06-30T01:05:00Z", "test", None, tuple(scans)),
                             pos, ents, Policy(), AS_OF)
    unknown = sorted((f for f in found if f.type == "topology-unknown"), key=lambda f: f.title, reverse=True)
    assert [f.title for f in unknown] == [
        "Oracle Database Enterprise Edition: soft partitioning: host unknown, count may be understated",
        "Microsoft Windows Server Standard: per-host licensing: host unknown, count may be understated"]
    assert unknown[0].hosts == ("db1", "db2", "db4", "db9") and unknown[0].magnitude == 4  # db0 is physical
    assert unknown[1].hosts == ("w1",)
    assert unknown[0].entitlements == ("E1", "E2", "E3")  # named in one finding, not one finding each
    assert sorted(f.finding_id for f in topology_findings(pos)) == sorted(f.finding_id for f in unknown)


def test_the_position_rows_and_the_report_say_the_hypervisor_is_counted_once_with_its_guest():
    kvm_host = scanned("kvm01", Host("machine-id:kvm01", "kvm01", "machine-id",
                                     hardware=Hardware(2, 32, 64, *XEON, Virtualization.PHYSICAL)), ORACLE_EE)
    topo = with_host(topology(("db1", KVM, (KVM,), ())), "kvm01", KVM.key)
    pos = position([kvm_host, guest("db1", ORACLE_EE)], [], topology=topo)
    (row,) = position_to_rows(pos, detail=True)
    assert row["consumption"] == 16 and row["topology_unknown"] == []
    assert [(s["server"], s["quantity"], s["guests"], s["running"]) for s in row["servers"]] == [
        ("kvm01", 16, ["kvm01", "db1"], ["db1"])]
    rows = {r["host"]: r for r in host_rows(pos.products[0])}
    assert rows["kvm01"]["trace"] == ["the physical server itself: counted once for it and its VMs: kvm01"]
    assert rows["db1"]["trace"][-1].startswith("a VM: counted through the physical servers")
