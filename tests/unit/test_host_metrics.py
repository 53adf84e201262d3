"""Host-level metrics over a FleetTopology: the vendor examples of the shared licensing reference that
need a VM's physical server (Oracle soft and hard partitioning, Windows Server per host with stacking,
SQL Server per host with Software Assurance, RHEL for Virtual Datacenters), each with its numbers."""

import datetime as dt

import pytest

from sam_engine.licensing.host_metrics import measure_partition
from sam_engine.licensing.metric_rules import default_rules
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.model import Entitlement, GuestVM, Hardware, Installation, PhysicalServer, Virtualization
from sam_engine.topology import FleetTopology, Placement

RULES = default_rules()
AS_OF = dt.date(2026, 6, 30)
XEON = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz")
INSTALL = (Installation("rpm", "product", "1.0", "x86_64", "Vendor", None, "rpm:product"),)


def server(name, sockets, cores, cluster=None, threads=None, platform="vmware"):
    return PhysicalServer(f"{platform}:{name}", name, platform, f"test topology of {name}", sockets, cores,
                          threads or cores * 2, *XEON, cluster=cluster)


def vm_hw(vcpus):
    return Hardware(vcpus, vcpus, vcpus, *XEON, Virtualization.VM, "vmware")


def topology(*placed, servers=()):
    """``placed``: (guest name, its server, servers it can reach, pinned CPUs)."""
    known = {s.key: s for s in servers}
    placements, guests = {}, {}
    for name, on, reach, pinned in placed:
        known.update({s.key: s for s in (on, *reach)})
        vm = GuestVM(f"uuid-{name}", f"vm-{name}", on.key, "test", 2, tuple(pinned))
        guests.setdefault(on.key, []).append(vm)
        placements[name] = Placement(name, vm, on, tuple(reach) or (on,))
    return FleetTopology(known, {k: tuple(v) for k, v in guests.items()}, placements)


def ctx(topo=None):
    return MetricContext(RULES.core_factors, topology=topo or FleetTopology(), as_of=AS_OF)


def vms(*names, vcpus=2):
    return [Deployment(n, vm_hw(vcpus), INSTALL) for n in names]


def params(product, edition, metric, publisher="Oracle"):
    return RULES.params(publisher, product, edition, metric)


EE = params("Oracle Database", "Enterprise Edition", "processor")
SE2 = params("Oracle Database", "Standard Edition 2", "processor")
WIN_STD = params("Windows Server", "Standard", "core", "Microsoft")
WIN_DC = params("Windows Server", "Datacenter", "core", "Microsoft")
SQL = params("SQL Server", "Enterprise", "core", "Microsoft")
RHEL = params("Red Hat Enterprise Linux", None, "processor", "Red Hat")


def licence(metric, licensing=None, maintenance_end=None):
    return Entitlement("E1", "Vendor", "Product", metric, 100, "licences/test.yml:3", licensing=licensing,
                       maintenance_end=maintenance_end)


# --- Oracle: soft partitioning counts every server of the cluster, each once ------------------------


ESX = [server(f"esx0{n}", 2, 32, cluster="vc01/prod") for n in (1, 2, 3)]  # 2 sockets × 16 cores each


def test_oracle_ee_in_a_vmware_vm_counts_every_server_of_its_cluster_48_not_its_own_vcpus():
    topo = topology(("db1", ESX[0], ESX, ()))
    before = measure("processor", vms("db1"), EE, ctx())
    assert before.quantity == 1  # today: 2 vCPU × 0.5, rounded up
    result = measure_partition("processor", vms("db1"), EE, ctx(topo))
    assert result.quantity == 48  # 3 servers × 32 cores × 0.5
    assert [line.text for line in result.lines] == [
        "esx01 → runs db1 → soft partitioning (cluster vc01/prod): 2 sockets × 16 cores = 32 cores × 0.5 "
        "(Intel x86) = 16",
        "esx02 → reachable by db1 → soft partitioning (cluster vc01/prod): 2 sockets × 16 cores = 32 cores × 0.5 "
        "(Intel x86) = 16",
        "esx03 → reachable by db1 → soft partitioning (cluster vc01/prod): 2 sockets × 16 cores = 32 cores × 0.5 "
        "(Intel x86) = 16",
        "total: 16 + 16 + 16 = 48",
    ]
    assert [(c.server.name, c.guests, c.running, c.quantity) for c in result.servers] == [
        ("esx01", ("db1",), ("db1",), 16), ("esx02", ("db1",), (), 16), ("esx03", ("db1",), (), 16)]
    assert result.unplaced == ()


def test_many_vms_in_one_cluster_count_each_server_once_even_across_coverage_partitions():
    topo = topology(("db1", ESX[0], ESX, ()), ("db2", ESX[0], ESX, ()), ("db3", ESX[2], ESX, ()))
    counted = {}
    first = measure_partition("processor", vms("db1", "db2"), EE, ctx(topo), counted=counted)
    second = measure_partition("processor", vms("db3"), EE, ctx(topo), counted=counted)
    assert (first.quantity, second.quantity) == (48, 0)
    assert second.lines[0].text.startswith("esx01 → reachable by db3 → already counted for this product = 0")
    assert next(c for c in first.servers if c.server.name == "esx01").running == ("db1", "db2")


def test_a_standalone_server_counts_alone_and_se2_counts_its_sockets():
    kvm = server("kvm01", 2, 16, platform="kvm")
    topo = topology(("db1", kvm, (), ()))
    ee = measure_partition("processor", vms("db1"), EE, ctx(topo))
    assert ee.quantity == 8 and "soft partitioning (standalone server)" in ee.lines[0].text
    se2 = measure_partition("processor", vms("db1"), SE2, ctx(topology(("db1", ESX[0], ESX[:2], ()))))
    assert se2.quantity == 4  # 2 servers × 2 sockets, each occupied socket one Processor
    assert se2.lines[0].text.endswith("2 sockets = 2")


def test_hard_partitioning_counts_the_pinned_cores_only():
    kvm = server("kvm01", 2, 32, platform="kvm")  # 64 threads: 2 per core
    topo = topology(("db1", kvm, (), (0, 1, 2, 3, 4, 5, 6, 7)))
    result = measure_partition("processor", vms("db1", vcpus=8), EE, ctx(topo))
    assert result.quantity == 2  # 8 pinned CPUs ÷ 2 threads per core = 4 cores × 0.5
    assert result.lines[0].text == ("kvm01 → runs db1 (pinned to CPUs 0-7) → hard partitioning: 8 pinned CPUs ÷ 2 "
                                    "threads per core = 4 cores × 0.5 (Intel x86) = 2")
    assert result.servers[0].rule == "hard partitioning"
    se2 = measure_partition("processor", vms("db1", vcpus=8), SE2, ctx(topo))
    assert se2.quantity == 1 and "= 1 socket (16 cores per socket) = 1" in se2.lines[0].text


def test_a_pinned_vm_on_a_server_already_counted_whole_adds_nothing():
    topo = topology(("db1", ESX[0], ESX, ()), ("db2", ESX[0], ESX, (0, 1)))
    result = measure_partition("processor", vms("db1", "db2"), EE, ctx(topo))
    assert result.quantity == 48
    assert "already counted (this product's soft partitioning) = 0" in result.lines[3].text


def test_pinned_cores_counted_in_one_partition_never_leave_a_whole_server_short_in_another():
    kvm = server("kvm01", 2, 32, platform="kvm")
    topo = topology(("db1", kvm, (), (0, 1)), ("db2", kvm, (), (0, 1)), ("db3", kvm, (), (2, 3)), ("db4", kvm, (), ()))
    counted = {}
    results = [measure_partition("processor", vms(n), EE, ctx(topo), counted=counted).quantity
               for n in ("db1", "db2", "db3", "db4")]
    assert results == [1, 0, 1, 16]  # the same pinned CPUs once; other CPUs and the whole server again


def test_a_vm_with_no_known_host_keeps_todays_count_and_is_listed_for_the_finding():
    topo = topology(("db1", ESX[0], ESX, ()))
    result = measure_partition("processor", vms("db1", "db9", vcpus=4), EE, ctx(topo))
    assert result.quantity == 48 + 2  # db9: 4 vCPU × 0.5 as today
    assert result.unplaced == ("db9",)
    assert any("soft partitioning: host unknown for db9, count may be understated" in n for n in result.notes)
    without = measure_partition("processor", vms("db1", vcpus=4), EE, ctx())
    assert without.quantity == measure("processor", vms("db1", vcpus=4), EE, ctx()).quantity == 2
    assert without.unplaced == ("db1",)


def test_a_note_names_ten_vms_of_unknown_host_and_the_result_lists_them_all():
    names = [f"db{n:02}" for n in range(12)]
    result = measure_partition("processor", vms(*names), EE, ctx())
    assert len(result.unplaced) == 12
    assert any("host unknown for db00, db01, db02, db03, db04, db05, db06, db07, db08, db09 and 2 more," in n
               for n in result.notes)


def test_a_cloud_vm_keeps_the_authorised_cloud_rule_without_a_topology_finding():
    hw = Hardware(8, 4, 8, *XEON, Virtualization.VM, "kvm", cloud="AWS")
    result = measure_partition("processor", [Deployment("aws1", hw, INSTALL)], EE, ctx())
    assert result.quantity == 4 and result.unplaced == ()


def test_oracle_ignores_a_licensing_vm_choice_and_says_so():
    topo = topology(("db1", ESX[0], ESX, ()))
    result = measure_partition("processor", vms("db1"), EE, ctx(topo), [licence("processor", "vm")])
    assert result.quantity == 48
    assert any("licensing: vm is not an option" in n for n in result.notes)


# --- Windows Server: the host's cores with minimums; Standard 2 VMs per full licensing, stacked -----


HV = server("hv01", 1, 4, platform="hyperv")  # 1 socket × 4 cores: 16 core licences with the minimums


def test_windows_server_standard_on_three_vms_of_one_host_licenses_the_host_twice_32_not_24():
    names = ("w1", "w2", "w3")
    topo = topology(*((n, HV, (), ()) for n in names))
    assert measure("core", vms(*names, vcpus=4), WIN_STD, ctx()).quantity == 24  # today: 8 per VM
    result = measure_partition("core", vms(*names, vcpus=4), WIN_STD, ctx(topo))
    assert result.quantity == 32
    assert result.lines[0].text == (
        "hv01 → runs w1, w2, w3 → per host, 2 VMs per full licensing: 1 socket × 4 cores = 4 cores; min 8 per "
        "processor -> 8; min 16 per server -> 16; packs of 2 -> 16 = 16; 3 VMs ÷ 2 = 2 full licensings × 16 = 32")
    two = measure_partition("core", vms("w1", "w2"), WIN_STD, ctx(topo))
    assert two.quantity == 16


def test_windows_standard_vms_of_one_host_in_two_coverage_partitions_count_all_its_vms_32_not_16():
    # reference: Standard covers 2 VMs per fully licensed host, more by licensing all cores again: 4 VMs on
    # the 4-core host (16 with the minimums) need 2 full licensings = 32, whatever entitlements cover them
    topo = topology(*((n, HV, (), ()) for n in ("w1", "w2", "w3", "w4", "w5")))
    counted = {}
    first = measure_partition("core", vms("w3", "w4", vcpus=4), WIN_STD, ctx(topo), counted=counted)
    second = measure_partition("core", vms("w1", "w2", vcpus=4), WIN_STD, ctx(topo), counted=counted)
    assert (first.quantity, second.quantity) == (16, 16)
    assert second.lines[0].text == (
        "hv01 → runs w1, w2 → per host, 2 VMs per full licensing: 1 socket × 4 cores = 4 cores; min 8 per "
        "processor -> 8; min 16 per server -> 16; packs of 2 -> 16 = 16; 4 VMs (with w3, w4 counted above) ÷ 2 = "
        "2 full licensings − 1 counted above = 1 × 16 = 16")
    assert [(c.rule, c.running, c.quantity) for c in second.servers] == [("per host", ("w1", "w2"), 16)]
    # a third partition's fifth VM needs a third full licensing; a VM that fills the second adds nothing
    third = measure_partition("core", vms("w5", vcpus=4), WIN_STD, ctx(topo), counted=counted)
    assert third.quantity == 16 and "5 VMs (with w3, w4, w1, w2 counted above) ÷ 2 = 3 full licensings − 2" \
        in third.lines[0].text
    odd = {}
    measure_partition("core", vms("w1", vcpus=4), WIN_STD, ctx(topo), counted=odd)
    assert measure_partition("core", vms("w3", vcpus=4), WIN_STD, ctx(topo), counted=odd).quantity == 0


def test_windows_server_datacenter_covers_unlimited_vms_and_a_big_host_counts_its_cores():
    names = [f"w{n}" for n in range(7)]
    big = server("hv02", 2, 24, platform="hyperv")  # 2 sockets × 12 cores -> 24
    topo = topology(*((n, big, (), ()) for n in names))
    assert measure_partition("core", vms(*names), WIN_DC, ctx(topo)).quantity == 24
    assert measure_partition("core", vms(*names), WIN_STD, ctx(topo)).quantity == 24 * 4


def test_windows_server_per_vm_when_the_entitlement_says_licensing_vm():
    topo = topology(*((n, HV, (), ()) for n in ("w1", "w2", "w3")))
    result = measure_partition("core", vms("w1", "w2", "w3"), WIN_STD, ctx(topo), [licence("core", "vm")])
    assert result.quantity == 24 and result.servers == () and result.unplaced == ()


# --- SQL Server: per VM by default (4 cores minimum), the host's cores with SA when chosen -----------


def test_sql_server_two_vms_of_2_vcpu_need_8_per_vm_or_the_hosts_4_with_software_assurance():
    host = server("hv03", 1, 2, platform="hyperv")  # 2 cores: at least 4 per processor -> 4
    topo = topology(("sql1", host, (), ()), ("sql2", host, (), ()))
    assert measure_partition("core", vms("sql1", "sql2"), SQL, ctx(topo)).quantity == 8
    with_sa = [licence("core", "host", maintenance_end="2027-06-30")]
    result = measure_partition("core", vms("sql1", "sql2"), SQL, ctx(topo), with_sa)
    assert result.quantity == 4
    assert result.lines[0].text.endswith("2 cores; min 4 per processor -> 4; packs of 2 -> 4 = 4")
    lapsed = [licence("core", "host", maintenance_end="2026-01-31")]
    result = measure_partition("core", vms("sql1", "sql2"), SQL, ctx(topo), lapsed)
    assert result.quantity == 8 and any("needs active Software Assurance" in n for n in result.notes)


# --- RHEL: a subscription per 2 guests, or Virtual Datacenter per host socket pair --------------------


def test_rhel_virtual_datacenter_counts_host_socket_pairs_with_unlimited_guests():
    host = server("kvm02", 4, 32, platform="kvm")
    names = [f"r{n}" for n in range(5)]
    topo = topology(*((n, host, (), ()) for n in names))
    assert measure_partition("processor", vms(*names), RHEL, ctx(topo)).quantity == 3  # 5 guests ÷ 2
    vdc = measure_partition("processor", vms(*names), RHEL, ctx(topo), [licence("processor", "host")])
    assert vdc.quantity == 2  # 4 sockets ÷ 2 per subscription
    assert "4 sockets ÷ 2 per licence = 2 (one licence covers 2 sockets" in vdc.lines[0].text


@pytest.mark.parametrize("choices, expected", [((), 3), (("host",), 2), (("vm",), 3), (("host", "vm"), 3)])
def test_mixed_choices_fall_back_to_the_products_default(choices, expected):
    host = server("kvm02", 4, 32, platform="kvm")
    names = [f"r{n}" for n in range(5)]
    topo = topology(*((n, host, (), ()) for n in names))
    ents = [licence("processor", c) for c in choices]
    assert measure_partition("processor", vms(*names), RHEL, ctx(topo), ents).quantity == expected


def test_products_without_a_host_level_rule_count_as_today_whatever_the_topology():
    topo = topology(("pc1", HV, (), ()))
    office = RULES.params("Microsoft", "Office", None, "device")
    result = measure_partition("device", vms("pc1"), office, ctx(topo), [licence("device", "host")])
    assert result.quantity == 1 and result.servers == ()
