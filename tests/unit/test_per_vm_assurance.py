"""Per-VM licensing that needs Software Assurance or a subscription (shared reference, Microsoft section):
SQL Server licensed per VM (at least 4 core licences per VM) needs it from SQL Server 2022 on, 2019 did not;
Windows Server licensed per VM (at least 8 cores per VM) is allowed only with it (since October 2022). An
entitlement with neither (no maintenance_end and no term_end on or after the as-of date) does not cover such
a VM: the row shows the shortfall and a note says why. Titles are recognised by the shipped catalogue."""

import datetime as dt

from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing import host_metrics
from sam_engine.licensing.metric_rules import default_rules
from sam_engine.licensing.metrics import Deployment, MetricContext
from sam_engine.licensing.position import build_position, position_to_rows
from sam_engine.model import Entitlement, Hardware, Host, HostScan, HostStatus, Installation, Virtualization
from sam_engine.vocabulary import Status

CATALOGUE, _ = load_catalogue()
AS_OF = dt.date(2026, 6, 30)
XEON = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz")
SQL_2022 = ("Microsoft SQL Server 2022 (64-bit) Enterprise Edition: Core-based Licensing", "16.0.1000.6")
SQL_2019 = ("Microsoft SQL Server 2019 (64-bit) Enterprise Edition: Core-based Licensing", "15.0.2000.5")
WINDOWS_2022 = ("Microsoft Windows Server 2022 Standard", "10.0.20348")
NEEDS_SQL = "per-VM licensing of SQL Server 2022 needs Software Assurance or a subscription"
NEEDS_WINDOWS = "per-VM licensing of Windows Server 2022 needs Software Assurance or a subscription"


def scanned(name, title, vcpus=2, virt=Virtualization.VM):
    hw = (Hardware(vcpus, vcpus, vcpus, *XEON, virt, "vmware") if virt is Virtualization.VM
          else Hardware(1, vcpus, vcpus * 2, *XEON, virt))  # a physical server: one socket
    inst = Installation("msi", title[0], title[1], "x86_64", "Microsoft Corporation", None, f"{name}:{title[0]}")
    return HostScan("s1", name, HostStatus.OK, Host(f"machine-id:{name}", name, "machine-id", hardware=hw),
                    (inst,), inventory_scan_id="s1")


def sql(eid="E2", quantity=8, **kw):
    return Entitlement(eid, "Microsoft", "SQL Server", "core", quantity, f"licences/test.yml:{eid}",
                       edition="Enterprise", **kw)


def windows(eid="E1", quantity=8, **kw):
    return Entitlement(eid, "Microsoft", "Windows Server", "core", quantity, f"licences/test.yml:{eid}",
                       edition="Standard", **kw)


def row(scans, ents):
    (only,) = build_position(scans, CATALOGUE.recognise, ents, AS_OF).products
    return only


def figures(p):
    return p.consumption.quantity, p.owned, p.shortfall, p.status


def two_sql_2022_vms():
    return [scanned("vm1", SQL_2022), scanned("vm2", SQL_2022)]


# --- SQL Server 2022 and later -------------------------------------------------------------------


def test_sql_server_2022_per_vm_without_software_assurance_is_not_covered_and_says_why():
    p = row(two_sql_2022_vms(), [sql()])  # no maintenance_end, no term_end
    assert figures(p) == (8, 8, 8, Status.UNDER_LICENSED)  # 2 VMs × 4 cores minimum, none of it covered
    assert f"{NEEDS_SQL}; E2 has neither on 2026-06-30: it does not cover vm1, vm2" in p.notes
    trace = [line.text for line in p.consumption.trace]
    assert trace[:2] == [f"vm1: not covered by E2: {NEEDS_SQL}; E2 has neither on 2026-06-30",
                         f"vm2: not covered by E2: {NEEDS_SQL}; E2 has neither on 2026-06-30"]
    assert "vm1: VM, 2 vCPU; min 4 per VM -> 4; packs of 2 -> 4 = 4" in trace
    detail = position_to_rows(build_position(two_sql_2022_vms(), CATALOGUE.recognise, [sql()], AS_OF), True)[0]
    assert (detail["status"], detail["shortfall"]) == ("under-licensed", 8)


def test_sql_server_2022_per_vm_with_software_assurance_or_a_subscription_is_covered():
    assert row(two_sql_2022_vms(), [sql()]).status is Status.UNDER_LICENSED
    for assurance in ({"maintenance_end": "2027-06-30"}, {"maintenance_end": "2026-06-30"},
                      {"term_start": "2026-01-01", "term_end": "2026-12-31"}):
        p = row(two_sql_2022_vms(), [sql(**assurance)])
        assert figures(p) == (8, 8, 0, Status.COMPLIANT), assurance
        assert not any("Software Assurance" in n for n in p.notes)


def test_sql_server_2022_per_vm_with_expired_maintenance_is_not_covered():
    p = row(two_sql_2022_vms(), [sql(maintenance_end="2026-01-31")])
    assert figures(p) == (8, 8, 8, Status.UNDER_LICENSED)
    assert (f"{NEEDS_SQL}; E2 has neither on 2026-06-30 (maintenance ended on 2026-01-31): it does not cover "
            f"vm1, vm2") in p.notes


def test_sql_server_2019_per_vm_needs_no_software_assurance_beside_a_2022_vm_that_does():
    p = row([scanned("vm1", SQL_2019), scanned("vm2", SQL_2022)], [sql()])
    assert figures(p) == (8, 8, 4, Status.UNDER_LICENSED)  # vm1 (2019) covered, vm2 (2022) not
    assert f"{NEEDS_SQL}; E2 has neither on 2026-06-30: it does not cover vm2" in p.notes
    alone = row([scanned("vm1", SQL_2019), scanned("vm3", ("Microsoft SQL Server 2008 R2 Enterprise Edition", None))],
                [sql()])
    assert figures(alone) == (8, 8, 0, Status.COMPLIANT)


def test_a_covering_entitlement_with_assurance_takes_the_vm_the_other_cannot():
    p = row(two_sql_2022_vms(), [sql("E2", 4), sql("E3", 4, maintenance_end="2027-06-30")])
    assert figures(p) == (8, 8, 4, Status.UNDER_LICENSED)  # E3 covers 4 of the 8; E2 covers none
    assert dict(p.ownership.entitlements) == {"E2": 4, "E3": 4}


def test_a_physical_server_needs_no_assurance_a_vm_beside_it_does():
    physical = scanned("sql0", SQL_2022, vcpus=4, virt=Virtualization.PHYSICAL)
    p = row([physical, scanned("vm1", SQL_2022)], [sql(quantity=12)])
    assert figures(p) == (8, 12, 4, Status.UNDER_LICENSED)  # sql0: 4 cores covered; vm1: 4 not
    assert f"{NEEDS_SQL}; E2 has neither on 2026-06-30: it does not cover vm1" in p.notes


def test_sql_server_licensed_at_the_host_without_assurance_falls_back_to_a_per_vm_count_that_needs_it_too():
    p = row([scanned("vm1", SQL_2022)], [sql(licensing="host")])
    assert figures(p) == (4, 8, 4, Status.UNDER_LICENSED)
    assert any(n.startswith("licensing the host needs active Software Assurance") for n in p.notes)
    assert f"{NEEDS_SQL}; E2 has neither on 2026-06-30: it does not cover vm1" in p.notes


# --- Windows Server: every version per VM --------------------------------------------------------


def test_windows_server_2022_per_vm_without_software_assurance_is_not_covered():
    p = row([scanned("w1", WINDOWS_2022, vcpus=4)], [windows(licensing="vm")])
    assert figures(p) == (8, 8, 8, Status.UNDER_LICENSED)  # 4 vCPU, at least 8 per VM
    assert f"{NEEDS_WINDOWS}; E1 has neither on 2026-06-30: it does not cover w1" in p.notes


def test_windows_server_2022_per_vm_with_software_assurance_is_covered():
    assert row([scanned("w1", WINDOWS_2022, vcpus=4)], [windows(licensing="vm")]).shortfall == 8
    p = row([scanned("w1", WINDOWS_2022, vcpus=4)], [windows(licensing="vm", maintenance_end="2027-06-30")])
    assert figures(p) == (8, 8, 0, Status.COMPLIANT)
    assert not any("Software Assurance" in n for n in p.notes)


def test_windows_server_per_vm_with_expired_maintenance_is_not_covered_every_version_alike():
    old = ("Windows Server 2016 Standard", "10.0.14393")
    p = row([scanned("w1", WINDOWS_2022, vcpus=4), scanned("w2", old, vcpus=4)],
            [windows(quantity=16, licensing="vm", maintenance_end="2026-06-29")])
    assert figures(p) == (16, 16, 16, Status.UNDER_LICENSED)
    assert ("per-VM licensing of Windows Server 2016 needs Software Assurance or a subscription; E1 has neither "
            "on 2026-06-30 (maintenance ended on 2026-06-29): it does not cover w2") in p.notes


# --- the version test and the rule data ----------------------------------------------------------


def test_release_year_reads_the_recognised_version_and_nothing_else():
    versions = ("2022", "2008 r2", "2019 cu5", "16.0.1000.6", "v2022", None, "", "20221")
    assert [host_metrics.release_year(v) for v in versions] == [2022, 2008, 2019, None, 2022, None, None, None]


def test_a_vm_whose_sql_server_version_names_no_year_is_assumed_to_need_assurance():
    rules = default_rules()
    params = rules.params("Microsoft", "SQL Server", "Enterprise", "core")
    ctx = MetricContext(rules.core_factors, as_of=AS_OF)
    vm = Deployment("vm9", Hardware(2, 2, 2, *XEON, Virtualization.VM, "vmware"), ())
    check = host_metrics.per_vm_assurance
    kept, (refusal,) = check("SQL Server", vm, ["16.0.1000.6"], "core", params, [sql()], ctx)
    assert kept == () and refusal.needs == "SQL Server of unknown version"
    assert refusal.assumed == ("SQL Server on vm9: version '16.0.1000.6' names no release year: assumed 2022 or "
                               "later, whose per-VM licensing needs Software Assurance or a subscription")
    assert check("SQL Server", vm, ["2019", "2017"], "core", params, [sql()], ctx) == (("E2",), ())
    assert check("SQL Server", vm, [None], "core", params, [sql(maintenance_end="2027-01-01")], ctx) == (("E2",), ())


def test_the_shipped_rules_say_which_products_need_assurance_per_vm():
    rules = default_rules()
    sql_core = rules.params("Microsoft", "SQL Server", "Enterprise", "core")
    assert (sql_core.vm_needs_maintenance, sql_core.vm_needs_maintenance_from) == (True, 2022)
    for edition in ("Standard", "Datacenter", None):
        win = rules.params("Microsoft", "Windows Server", edition, "core")
        assert (win.vm_needs_maintenance, win.vm_needs_maintenance_from) == (True, None), edition
    assert not rules.params("Oracle", "Oracle Database", "Enterprise Edition", "processor").vm_needs_maintenance
