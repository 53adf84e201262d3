"""The topology through the whole position: build_position and position_of place VMs on their servers,
the topology-unknown finding names VMs no hypervisor reports, and the ``licensing`` entitlement field
is parsed with its file, line and field."""

import datetime as dt

from test_host_metrics import ESX, HV, server, topology
from test_position import AS_OF, XEON, ent, position, recognise, scanned

from sam_engine.cli.main import main
from sam_engine.entitlements.files import load_licence_files
from sam_engine.findings.detect import compute_findings, topology_findings
from sam_engine.findings.policy import Policy
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.context import LicenceSettings, load_context, position_of
from sam_engine.licensing.position import build_position, position_to_rows
from sam_engine.model import Hardware, Host, Installation, LicenceNeed, Recognition, Scan, Virtualization
from sam_engine.report.position import entitlement_label
from sam_engine.topology import FleetTopology
from sam_engine.vocabulary import DEFAULT_SEVERITY, FindingType

ORACLE_EE = "Oracle Database 19c Enterprise Edition"
WINDOWS = "Microsoft Windows Server 2022 Standard"
CATALOGUE, _ = load_catalogue()


def guest(name, *titles, vcpus=2):
    hw = Hardware(vcpus, vcpus, vcpus, *XEON, Virtualization.VM, "vmware")
    return scanned(name, Host(f"machine-id:{name}", name, "machine-id", hardware=hw), *titles)


def oracle_fleet():
    return [guest("db1", ORACLE_EE), guest("db2", ORACLE_EE), guest("db9", ORACLE_EE, vcpus=4)]


def test_oracle_ee_position_counts_the_cluster_and_raises_topology_unknown_for_the_unplaced_vm():
    topo = topology(("db1", ESX[0], ESX, ()), ("db2", ESX[1], ESX, ()))
    ents = [ent("E1", "Oracle", "Oracle Database", "processor", 40, "Enterprise Edition")]
    pos = position(oracle_fleet(), ents, topology=topo)
    p = pos.products[0]
    assert (p.consumption.quantity, p.owned, p.shortfall, p.status.value) == (50, 40, 10, "under-licensed")
    assert [c.server.name for c in p.consumption.servers] == ["esx01", "esx02", "esx03"]
    assert p.consumption.unplaced == ("db9",)
    assert set(p.consumption.hosts) == {"db1", "db2", "db9"}
    (found,) = topology_findings(pos)
    assert found.type == "topology-unknown" and found.severity == DEFAULT_SEVERITY[FindingType.TOPOLOGY_UNKNOWN]
    assert found.title == "Oracle Database Enterprise Edition: soft partitioning: host unknown, count may be understated"
    assert found.hosts == ("db9",) and found.magnitude == 1
    assert "1 VM (db9) is counted by its own virtual hardware" in found.detail
    row = position_to_rows(pos, detail=True)[0]
    assert row["consumption"] == 50
    assert row["trace"]["consumption"][0] == "db9: 4 sockets × 1 core = 4 cores × 0.5 (Intel x86) = 2"


def test_a_fleet_without_topology_keeps_todays_figures_and_says_the_count_may_be_understated():
    ents = [ent("E1", "Oracle", "Oracle Database", "processor", 40, "Enterprise Edition")]
    today = position(oracle_fleet(), ents)
    empty = position(oracle_fleet(), ents, topology=FleetTopology())
    assert today.products[0].consumption.quantity == empty.products[0].consumption.quantity == 1 + 1 + 2
    assert today.products[0].consumption.unplaced == ("db1", "db2", "db9")
    assert today.products[0].consumption.servers == ()
    scan = Scan("s2", "2026-06-30T01:00:00Z", "2026-06-30T01:05:00Z", "test", None, tuple(oracle_fleet()))
    found = compute_findings(scan, today, ents, Policy(), dt.date(2026, 6, 30))
    unknown = [f for f in found if f.type == "topology-unknown"]
    assert len(unknown) == 1 and unknown[0].hosts == ("db1", "db2", "db9")


def test_physical_hosts_count_as_today_beside_placed_guests():
    physical = Host("machine-id:db0", "db0", "machine-id", hardware=Hardware(2, 32, 64, *XEON,
                                                                             Virtualization.PHYSICAL))
    fleet = [scanned("db0", physical, ORACLE_EE), guest("db1", ORACLE_EE)]
    pos = position(fleet, [], topology=topology(("db1", ESX[0], ESX, ())))
    assert pos.products[0].consumption.quantity == 16 + 48
    assert pos.products[0].consumption.unplaced == ()


def test_windows_standard_with_a_licensing_vm_entitlement_counts_per_vm_and_host_otherwise():
    fleet = [guest(n, WINDOWS, vcpus=4) for n in ("w1", "w2", "w3")]
    topo = topology(*((n, HV, (), ()) for n in ("w1", "w2", "w3")))
    host_ent = ent("E1", "Microsoft", "Windows Server", "core", 32, "Standard")
    vm_ent = ent("E1", "Microsoft", "Windows Server", "core", 32, "Standard", licensing="vm",
                 maintenance_end="2027-06-30")  # per VM only with Software Assurance
    assert position(fleet, [host_ent], topology=topo).products[0].consumption.quantity == 32
    per_vm = position(fleet, [vm_ent], topology=topo).products[0]
    assert (per_vm.consumption.quantity, per_vm.status.value) == (24, "over-licensed")
    assert per_vm.consumption.servers == ()


def recognise_2019(inst):
    """test_position's recogniser, with Windows Server 2019 Standard beside 2022."""
    if inst.name == "Microsoft Windows Server 2019 Standard":
        return Recognition("Microsoft", "Windows Server", "Standard", "2019", LicenceNeed.REQUIRED, "test:2019")
    return recognise(inst)


def test_windows_standard_vms_of_one_host_covered_by_entitlements_per_version_count_the_host_twice():
    # reference: Standard covers 2 VMs per fully licensed host, more by licensing all cores again: w1, w2 (2022)
    # and w3, w4 (2019) on the 4-core hv01 (16 core licences with the minimums) need 2 × 16 = 32
    fleet = [*(guest(n, WINDOWS, vcpus=4) for n in ("w1", "w2")),
             *(guest(n, "Microsoft Windows Server 2019 Standard", vcpus=4) for n in ("w3", "w4"))]
    topo = topology(*((n, HV, (), ()) for n in ("w1", "w2", "w3", "w4")))
    ents = [ent("E22", "Microsoft", "Windows Server", "core", 16, "Standard", version_range="==2022"),
            ent("E19", "Microsoft", "Windows Server", "core", 8, "Standard", version_range="==2019")]
    pos = build_position(fleet, recognise_2019, ents, AS_OF, topology=topo)
    p = pos.products[0]
    assert (p.consumption.quantity, p.owned, p.shortfall, p.status.value) == (32, 24, 8, "under-licensed")
    assert [(c.server.name, c.running, c.quantity) for c in p.consumption.servers] == [
        ("hv01", ("w3", "w4"), 16), ("hv01", ("w1", "w2"), 16)]
    trace = position_to_rows(pos, detail=True)[0]["trace"]["consumption"]
    assert trace == [
        "covered by E19:",
        "hv01 → runs w3, w4 → per host, 2 VMs per full licensing: 1 socket × 4 cores = 4 cores; min 8 per processor "
        "-> 8; min 16 per server -> 16; packs of 2 -> 16 = 16; 2 VMs ÷ 2 = 1 full licensing × 16 = 16",
        "covered by E22:",
        "hv01 → runs w1, w2 → per host, 2 VMs per full licensing: 1 socket × 4 cores = 4 cores; min 8 per processor "
        "-> 8; min 16 per server -> 16; packs of 2 -> 16 = 16; 4 VMs (with w3, w4 counted above) ÷ 2 = 2 full "
        "licensings − 1 counted above = 1 × 16 = 16",
        "consumption: 16 + 16 = 32",
    ]


def test_position_of_takes_the_topology_and_defaults_to_none(tmp_path):
    (tmp_path / "licences").mkdir()
    ctx = load_context(LicenceSettings(licences_dir=tmp_path / "licences"), dt.date(2026, 6, 30), [])
    inst = Installation("rpm", "oracle-database-ee-19c", "19.3-1", "x86_64", "Oracle Corporation", None, "r:1",
                        "/opt/oracle/product/19c/dbhome_1")
    rec = ctx.catalogue.recognise(inst)
    assert (rec.product, rec.edition) == ("Oracle Database", "Enterprise Edition"), rec
    hw = Hardware(2, 2, 2, *XEON, Virtualization.VM, "kvm")
    hs = scanned("db1", Host("machine-id:db1", "db1", "machine-id", hardware=hw))
    hs = type(hs)(hs.scan_id, "db1", hs.status, hs.host, (inst,), inventory_scan_id="s2")
    kvm = server("kvm01", 2, 32, platform="kvm")
    assert position_of([hs], ctx).products[0].consumption.quantity == 1
    assert position_of([hs], ctx, topology(("db1", kvm, (), ()))).products[0].consumption.quantity == 16


def write(tmp_path, body):
    path = tmp_path / "licences" / "hosts.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("entitlements:\n" + body)
    return path


def test_the_licensing_field_is_parsed_and_changes_the_id_only_when_given(tmp_path):
    base = ("  - publisher: Microsoft\n    product: SQL Server\n    edition: Standard\n    metric: core\n"
            "    quantity: 16\n")
    path = write(tmp_path, base + "    licensing: Host\n" + base.replace("16", "8") + base)
    ents, problems = load_licence_files([path.parent], CATALOGUE)
    assert problems == []
    assert [e.licensing for e in ents] == ["host", None, None]
    assert ents[0].entitlement_id != ents[2].entitlement_id


def test_licensing_mistakes_name_file_line_and_field(tmp_path):
    path = write(tmp_path, "  - publisher: Microsoft\n    product: SQL Server\n    edition: Standard\n    metric: core\n"
                           "    quantity: 16\n    licensing: cluster\n"
                           "  - publisher: Microsoft\n    product: Office\n    metric: device\n    quantity: 5\n"
                           "    licensing: host\n")
    ents, problems = load_licence_files([path.parent], CATALOGUE)
    assert ents == []
    assert [f"{p.source}: {p.message}" for p in problems if p.severity == "error"] == [
        f'{path}:7:5: licensing: expected host or vm (licence the VMs\' host, or each VM), got "cluster"',
        f"{path}:12:5: licensing: only a processor or core licence can choose between the VMs and their host, "
        f"not device",
    ]


def test_licence_validate_reports_a_bad_licensing_value_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, "  - publisher: Oracle\n    product: Oracle Database\n    edition: Enterprise Edition\n"
                           "    metric: processor\n    quantity: 16\n    licensing: [host]\n")
    code = main(["--store", str(tmp_path / "s.json"), "licence", "--licences", str(path.parent), "validate"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip() == f"{path}:7:5: licensing: expected host or vm, got a list"


def test_an_entitlements_label_says_its_licensing_choice():
    chosen = ent("E1", "Microsoft", "SQL Server", "core", 16, licensing="host")
    assert entitlement_label(chosen) == "Microsoft SQL Server · 16 core · licensing: host"
    assert entitlement_label(ent("E2", "Microsoft", "SQL Server", "core", 16)) == "Microsoft SQL Server · 16 core"
