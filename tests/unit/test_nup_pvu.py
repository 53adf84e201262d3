"""Oracle Named User Plus minimums and IBM PVUs: licensing.md's worked examples with the vendor's numbers,
the shipped rule data behind them, and the position and licence files that use them."""

import datetime as dt

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.host_raw import filter_cpuinfo
from test_host_metrics import server, topology, vm_hw

from sam_engine.entitlements.files import load_licence_files
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.host_metrics import measure_partition
from sam_engine.licensing.metric_rules import RULES_DIR, default_rules, load_rules
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.licensing.position import build_position, position_to_rows
from sam_engine.licensing.pvu_table import load_pvu_table
from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, HostUser, Installation,
                              LicenceNeed, Recognition, Virtualization)
from sam_engine.platforms.hardware import derive_hardware
from sam_engine.vocabulary import Status

RULES = default_rules()
AS_OF = dt.date(2026, 12, 1)
CTX = MetricContext(RULES.core_factors, pvu=RULES.pvu, as_of=AS_OF)
LOGIN = int(dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc).timestamp())  # within the 90-day window
XEON = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz")
EE, SE2 = ("Oracle", "Oracle Database", "Enterprise Edition"), ("Oracle", "Oracle Database", "Standard Edition 2")


def xeon(sockets, cores):
    return Hardware(sockets, cores, cores * 2, *XEON, Virtualization.PHYSICAL)


def power(generation, system, cores=8):
    return Hardware(1, cores, cores * 8, None, f"POWER{generation} (architected), altivec supported",
                    Virtualization.PHYSICAL, system_model=system)


def dep(host, hardware, users=(), os_name=None):
    """``users``: account names that logged in lately; None: the host reported no user data."""
    inst = Installation("rpm", "pkg", "1.0", "x86_64", None, None, f"{host}:pkg")
    known = None if users is None else tuple(HostUser(u, "human", LOGIN, "wtmp") for u in users)
    return Deployment(host, hardware, (inst,), users=known, os_name=os_name)


def text(result, prefix):
    return next(line.text for line in result.lines if line.text.startswith(prefix))


def nup(edition, deployments):
    return measure("named_user", deployments, RULES.params(*edition[:2], edition[2], "named_user"), CTX)


# --- Oracle Named User Plus minimums ------------------------------------------------------------


def test_ee_nup_minimum_is_25_per_processor_2_sockets_16_core_xeon_needs_400():
    result = nup(EE, [dep("db1", xeon(2, 32), users=("alice", "bob", "carol"))])
    assert result.quantity == 400
    texts = [line.text for line in result.lines]
    assert text(result, "users: ").startswith("users: named user: 3 distinct people on 1 host")
    assert text(result, "minimum: ") == ("minimum: db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16 Processors × 25 NUP "
                        "minimum per Processor = 400")
    assert texts[-1].startswith("required: max(3 users, 400 minimum) = 400: the greater of the users and the "
                                "product's Named User Plus minimum (catalogue/metrics/metric_rules.yml:")


def test_ee_nup_more_users_than_the_minimum_counts_the_users():
    users = [f"user{n:03}" for n in range(450)]
    assert nup(EE, [dep("db1", xeon(2, 32), users=users)]).quantity == 450


def test_ee_nup_minimum_in_an_authorised_cloud_counts_processors_by_the_vcpu_rule():
    aws = Hardware(1, 4, 8, *XEON, Virtualization.VM, "kvm", cloud="AWS")
    result = nup(EE, [dep("db9", aws)])
    assert result.quantity == 100  # 8 vCPU ÷ 2 = 4 Processors × 25
    assert "AWS VM, 8 vCPU ÷ 2 per licence = 4" in text(result, "minimum: ")


def test_se2_nup_minimum_is_10_per_server():
    one = nup(SE2, [dep("db2", xeon(2, 16), users=("alice", "bob"))])
    assert one.quantity == 10
    assert text(one, "minimum: ") == "minimum: db2: 10 NUP minimum per server = 10"
    two = nup(SE2, [dep("db2", xeon(2, 16), users=("alice",)), dep("db3", xeon(1, 8), users=("bob",))])
    assert two.quantity == 20
    assert two.lines[-2].text == "minimum: 10 + 10 = 20"
    many = nup(SE2, [dep("db2", xeon(2, 16), users=[f"u{n}" for n in range(25)])])
    assert many.quantity == 25


def test_nup_without_user_data_needs_the_user_data_instead_of_inventing_a_count():
    result = nup(EE, [dep("db1", xeon(2, 32), users=None)])
    assert (result.quantity, result.missing) == (0, "user data")
    assert result.lines[0].text.startswith("named user: no user data from db1")


def test_named_user_without_a_minimum_still_counts_distinct_users():
    p = RULES.params("Microsoft", "Microsoft 365 Apps", None, "named_user")
    result = measure("named_user", [dep("pc1", xeon(1, 4), ("alice", "bob")), dep("pc2", xeon(1, 4), ("alice",))],
                     p, CTX)
    assert result.quantity == 2


# --- Named User Plus minimums at a VM's physical servers (soft partitioning) ----------------------------------
# licensing.md: "at least 25 NUP per Processor" (EE), "at least 10 NUP per server" (SE2) and "soft partitioning
# (VMware): every host a VM can move to must be licensed": the minimum counts the servers the Processor metric counts.


CLUSTER = [server(f"esx0{n}", 2, 32, cluster="vc01/prod") for n in (1, 2, 3)]  # each 2 sockets × 16-core Xeon
ALONE = server("esx09", 2, 32)  # a standalone 2 × 16-core Xeon server


def nup_at_servers(edition, deployments, topo, counted=None):
    ctx = MetricContext(RULES.core_factors, pvu=RULES.pvu, as_of=AS_OF, topology=topo)
    return measure_partition("named_user", deployments, RULES.params(*edition[:2], edition[2], "named_user"), ctx,
                             counted=counted)


def minimum_lines(result):
    return [line.text for line in result.lines if line.text.startswith("minimum: ")]


def test_ee_nup_minimum_of_a_vm_on_a_three_server_cluster_is_48_processors_x_25_1200_not_25():
    topo = topology(("db1", CLUSTER[0], CLUSTER, ()))
    result = nup_at_servers(EE, [dep("db1", vm_hw(2), users=("alice",))], topo)
    assert result.quantity == 1200  # 3 × (32 cores × 0.5 = 16 Processors) × 25
    arithmetic = "2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16 → 16 Processors × 25 NUP minimum per Processor = 400"
    assert minimum_lines(result) == [
        f"minimum: esx01 → runs db1 → soft partitioning (cluster vc01/prod): {arithmetic}",
        f"minimum: esx02 → reachable by db1 → soft partitioning (cluster vc01/prod): {arithmetic}",
        f"minimum: esx03 → reachable by db1 → soft partitioning (cluster vc01/prod): {arithmetic}",
        "minimum: 400 + 400 + 400 = 1200"]
    assert result.lines[-1].text.startswith("required: max(1 user, 1200 minimum) = 1200: ")
    assert [(c.server.name, c.quantity, c.line.text) for c in result.servers] == [
        (name, 400, text) for name, text in zip(("esx01", "esx02", "esx03"), minimum_lines(result))]
    assert not any("not known from the scan" in note for note in result.notes)


def test_se2_two_vms_on_one_server_need_its_10_nup_once_not_20():
    topo = topology(("v1", ALONE, (ALONE,), ()), ("v2", ALONE, (ALONE,), ()))
    result = nup_at_servers(SE2, [dep("v1", vm_hw(2), users=("alice",)), dep("v2", vm_hw(2), users=("bob",))], topo)
    assert result.quantity == 10
    assert minimum_lines(result) == ["minimum: esx09 → runs v1, v2 → soft partitioning (standalone server): 2 sockets = 2 "
                                     "→ 10 NUP minimum per server = 10"]
    assert result.lines[-1].text.startswith("required: max(2 users, 10 minimum) = 10: ")


def test_se2_two_vms_on_a_three_server_cluster_need_10_nup_per_server_30():
    topo = topology(("v1", CLUSTER[0], CLUSTER, ()), ("v2", CLUSTER[0], CLUSTER, ()))
    result = nup_at_servers(SE2, [dep("v1", vm_hw(2), users=("alice",)), dep("v2", vm_hw(2), users=("bob",))], topo)
    assert result.quantity == 30
    assert minimum_lines(result)[1:] == [
        "minimum: esx02 → reachable by v1, v2 → soft partitioning (cluster vc01/prod): 2 sockets = 2 → 10 NUP minimum "
        "per server = 10",
        "minimum: esx03 → reachable by v1, v2 → soft partitioning (cluster vc01/prod): 2 sockets = 2 → 10 NUP minimum "
        "per server = 10",
        "minimum: 10 + 10 + 10 = 30"]


def test_a_server_counts_its_nup_minimum_once_across_coverage_partitions():
    topo = topology(("v1", CLUSTER[0], CLUSTER, ()), ("v2", CLUSTER[1], CLUSTER, ()))
    counted = {}
    first = nup_at_servers(SE2, [dep("v1", vm_hw(2), users=("alice",))], topo, counted)
    second = nup_at_servers(SE2, [dep("v2", vm_hw(2), users=("bob",))], topo, counted)
    assert (first.quantity, second.quantity) == (30, 1)  # the second partition: its 1 user, no minimum again
    assert minimum_lines(second)[0] == "minimum: esx01 → reachable by v2 → already counted for this product = 0"


def test_a_vm_of_unknown_server_keeps_its_own_nup_minimum_and_note():
    topo = topology(("db1", CLUSTER[0], CLUSTER, ()))
    result = nup_at_servers(EE, [dep("db1", vm_hw(2), users=("alice",)), dep("db9", vm_hw(2), users=("bob",))], topo)
    assert result.quantity == 1200 + 25
    assert minimum_lines(result)[0] == ("minimum: db9: 2 sockets × 1 core = 2 cores × 0.5 (Intel x86) = 1 Processor × "
                                        "25 NUP minimum per Processor = 25")
    assert result.unplaced == ("db9",)
    assert any(note.startswith("db9 is a VM: counted from its virtual hardware; soft partitioning may require")
               for note in result.notes)
    alone = nup_at_servers(EE, [dep("db9", vm_hw(2), users=("bob",))], topo)  # no server known: today's figure
    assert (alone.quantity, minimum_lines(alone)) == (25, minimum_lines(result)[:1])


# --- IBM PVU -------------------------------------------------------------------------------------


@pytest.mark.parametrize("generation, system, expected, label", [
    (10, "IBM,9080-HEX", 120, "POWER10 E1080"),
    (10, "IBM,9043-MRX", 100, "POWER10 E1050"),
    (10, "IBM,9105-22A", 70, "POWER10 S10xx / L10xx"),
    (10, "Power L1024", 70, "POWER10 S10xx / L10xx"),
    (9, "IBM,9080-M9S", 120, "POWER9 E980"),
    (9, "IBM,9040-MR9", 100, "POWER9 E950"),
    (9, "IBM,9009-22A", 70, "POWER9 S9xx / H9xx"),
    (9, "Power H924", 70, "POWER9 S9xx / H9xx"),
])
def test_pvu_per_core_by_power_family_and_server_model(generation, system, expected, label):
    result = measure("pvu", [dep("aix1", power(generation, system), os_name="AIX")], RULES.params("IBM", "Db2", None, "pvu"),
                     CTX)
    assert result.quantity == 8 * expected
    assert result.lines[0].text.startswith(f"aix1: 1 socket × 8 cores = 8 cores × {expected} PVU per core ({label}: "
                                           f"server {system}, catalogue/metrics/pvu_table.yml:")
    assert result.missing is None


def test_any_power_core_running_linux_is_70():
    result = measure("pvu", [dep("lpar1", power(10, "IBM,9080-HEX"), os_name="Red Hat Enterprise Linux")],
                     RULES.params("IBM", "Db2", None, "pvu"), CTX)
    assert result.quantity == 8 * 70
    assert "70 PVU per core (POWER, Linux: OS Red Hat Enterprise Linux" in result.lines[0].text


def test_x86_two_socket_is_70_and_a_four_socket_server_is_not_guessed():
    p = RULES.params("IBM", "Db2", None, "pvu")
    two = measure("pvu", [dep("x1", xeon(2, 32), os_name="Ubuntu")], p, CTX)
    assert two.quantity == 32 * 70
    four = measure("pvu", [dep("x1", xeon(2, 32)), dep("x4", xeon(4, 64))], p, CTX)
    assert four.missing == "PVU table row for a processor"
    assert four.quantity == 32 * 70  # the hosts that could be counted
    assert "no row of the PVU table matches: not counted" in four.lines[1].text
    assert any("no PVU table row for the processor of x4" in n for n in four.notes)


def test_the_server_model_comes_from_power_cpuinfo_as_collected_or_dmi():
    cpuinfo = ("processor\t: 0\ncpu\t\t: POWER10 (architected), altivec supported\nrevision\t: 2.0 (pvr 0080 0200)\n\n"
               "timebase\t: 512000000\nplatform\t: pSeries\nmodel\t\t: IBM,9080-HEX\nmachine\t\t: CHRP IBM,9080-HEX\n"
               "MMU\t\t: Radix\n")
    hw = derive_hardware({"cpuinfo": filter_cpuinfo(cpuinfo)})
    assert (hw.cpu_model, hw.system_model) == ("POWER10 (architected), altivec supported", "IBM,9080-HEX")
    assert derive_hardware({"cpuinfo": "processor\t: 0\nmodel\t\t: 85\n",
                            "dmi": {"product_name": "PowerEdge R750"}}).system_model == "PowerEdge R750"


def test_a_pvu_table_mistake_is_located(tmp_path):
    bad = tmp_path / "pvu_table.yml"
    bad.write_text("rows:\n  - label: POWER10\n    pvu: seventy\n    match: ['power10']\n  - label: nothing\n    pvu: 70\n")
    table, problems = load_pvu_table(bad)
    assert table is None
    assert [f"{p.source}: {p.message}" for p in problems] == [
        f'{bad}:3:10: rows[0].pvu: expected a whole number >= 1, got "seventy"',
        f"{bad}:5:5: rows[1]: expected match or cpu_id: which processors the row is for",
    ]


def test_a_rule_directory_without_a_pvu_table_uses_the_shipped_one(tmp_path):
    for name in ("core_factors.yml", "metric_rules.yml"):
        (tmp_path / name).write_bytes((RULES_DIR / name).read_bytes())
    rules, problems = load_rules(tmp_path)
    assert problems == []
    assert rules.pvu == RULES.pvu


# --- through the position and a licence file --------------------------------------------------------


def _scan(name, hardware, title, os_name="AIX"):
    host = Host(f"machine-id:{name}", name, "machine-id", os_name=os_name, hardware=hardware, users=())
    inst = Installation("rpm", title, "11.5", "ppc64", None, None, f"{name}:{title}")
    return HostScan("s1", name, HostStatus.OK, host, (inst,), inventory_scan_id="s1")


def _recognise(inst):
    if inst.name == "db2":
        return Recognition("IBM", "Db2", None, "11.5", LicenceNeed.REQUIRED, "test:db2")
    return Recognition("Oracle", "Oracle Database", "Enterprise Edition", "19c", LicenceNeed.REQUIRED, "test:ee")


def test_pvu_and_nup_positions_against_entitlements(tmp_path):
    scans = [_scan("aix1", power(10, "IBM,9080-HEX"), "db2"), _scan("db1", xeon(2, 32), "oracle", "Oracle Linux")]
    ents = [Entitlement("E-PVU", "IBM", "Db2", "pvu", 1000, "licences/ibm.yml:3"),
            Entitlement("E-NUP", "Oracle", "Oracle Database", "named_user", 100, "licences/oracle.yml:3",
                        edition="Enterprise Edition")]
    pos = build_position(scans, _recognise, ents, dt.date(2026, 6, 30))
    db2 = next(p for p in pos.products if p.product == "Db2")
    assert (db2.consumption.metric, db2.consumption.quantity, db2.status) == ("pvu", 960, Status.COMPLIANT)
    oracle = next(p for p in pos.products if p.product == "Oracle Database")
    assert (oracle.consumption.quantity, oracle.shortfall, oracle.status) == (400, 300, Status.UNDER_LICENSED)


def test_nup_position_of_a_vm_on_a_cluster_names_the_servers_in_its_row():
    topo = topology(("db1", CLUSTER[0], CLUSTER, ()))
    ent = Entitlement("E-NUP", "Oracle", "Oracle Database", "named_user", 25, "licences/oracle.yml:3",
                      edition="Enterprise Edition")
    pos = build_position([_scan("db1", vm_hw(2), "oracle", "Oracle Linux")], _recognise, [ent], dt.date(2026, 6, 30),
                         topology=topo)
    oracle = next(p for p in pos.products if p.product == "Oracle Database")
    assert (oracle.consumption.quantity, oracle.shortfall, oracle.status) == (1200, 1175, Status.UNDER_LICENSED)
    (row,) = [r for r in position_to_rows(pos, detail=True) if r["product"] == "Oracle Database"]
    assert [(s["server"], s["quantity"], s["guests"]) for s in row["servers"]] == [
        ("esx01", 400, ["db1"]), ("esx02", 400, ["db1"]), ("esx03", 400, ["db1"])]
    assert row["topology_unknown"] == []


def test_a_licence_file_may_use_the_pvu_metric(tmp_path):
    (tmp_path / "ibm.yml").write_text("entitlements:\n  - publisher: Oracle\n    product: Oracle Database\n"
                                      "    edition: Enterprise Edition\n    metric: pvu\n    quantity: 1000\n")
    catalogue, _ = load_catalogue()
    ents, problems = load_licence_files([tmp_path], catalogue)
    assert problems == []
    assert ents[0].metric == "pvu"


def test_a_processor_missing_from_the_pvu_table_makes_the_position_need_data():
    scans = [_scan("aix1", power(10, "IBM,9080-HEX"), "db2"), _scan("x4", xeon(4, 64), "db2", "Ubuntu")]
    pos = build_position(scans, _recognise, [Entitlement("E-PVU", "IBM", "Db2", "pvu", 5000, "licences/ibm.yml:3")],
                         dt.date(2026, 6, 30))
    db2 = next(p for p in pos.products if p.product == "Db2")
    assert (db2.status, db2.balance, db2.consumption.missing) == (Status.NEEDS_DATA, None, "PVU table row for a processor")
    assert any("no PVU table row for the processor of x4" in n for n in db2.notes)


def test_every_shipped_pvu_row_says_where_its_values_come_from_and_which_machine_types_are_unverified():
    import yaml
    rows = yaml.safe_load((RULES_DIR / "pvu_table.yml").read_text(encoding="utf-8"))["rows"]
    assert all("IBM PVU table" in row["source"] for row in rows)
    for row in rows:
        types = [s for s in row.get("system", ()) if "-" in s]  # "9080-HEX": a machine type, not a model name
        assert all(t.rstrip("-") in row["source"] for t in types), row["label"]
        if types:
            assert ("checked (IBM Redpaper" if types == ["9043-MRX"] else "unverified") in row["source"], row["label"]
