"""Oracle Named User Plus minimums and IBM PVUs: licensing.md's worked examples with the vendor's numbers,
the shipped rule data behind them, and the position and licence files that use them."""

import datetime as dt

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.host_raw import filter_cpuinfo

from sam_engine.entitlements.files import load_licence_files
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.metric_rules import RULES_DIR, default_rules, load_rules
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.licensing.position import build_position
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
