"""Metric rule functions: the vendor worked examples, each docstring example, and the rule data files."""

from datetime import date
from decimal import Decimal

import pytest

from sam_engine.licensing import metrics
from sam_engine.licensing.context import LicenceSettings, load_context
from sam_engine.licensing.metric_rules import (MetricParams, default_rules, load_core_factors, load_product_rules,
                                     load_rules)
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.licensing.named_users import People
from sam_engine.model import Hardware, HostUser, Installation, Virtualization

RULES = default_rules()
CTX = MetricContext(RULES.core_factors)
XEON = ("GenuineIntel", "Intel(R) Xeon(R) Gold 6346 CPU @ 3.10GHz")


def physical(sockets, cores, cpu=XEON):
    return Hardware(sockets, cores, cores * 2, *cpu, Virtualization.PHYSICAL)


def vm(vcpus):
    return Hardware(vcpus, vcpus, vcpus, *XEON, Virtualization.VM, "vmware")


def inst(name="pkg", version="1.0", arch="x86_64"):
    return Installation("rpm", name, version, arch, "Vendor", None, f"rpm:{name}:{version}:{arch}")


def dep(host, hardware=None, n=1, users=None):
    installs = tuple(inst(version=f"{i + 1}.0") for i in range(n))
    people = None if users is None else tuple(HostUser(u, "human", None, "passwd") for u in users)
    return Deployment(host, hardware or physical(1, 4), installs, users=people)


def params(publisher, product, edition, metric):
    return RULES.params(publisher, product, edition, metric)


# --- the vendor examples (licensing.md) -------------------------------------------------------


def test_oracle_processor_2_sockets_16_core_xeon_is_16():
    p = params("Oracle", "Oracle Database", "Enterprise Edition", "processor")
    result = measure("processor", [dep("db1", physical(2, 32))], p, CTX)
    assert result.quantity == 16
    assert result.lines[0].text == "db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16"
    assert result.lines[0].hosts == ("db1",)


def test_sql_server_vm_2_vcpu_needs_4_and_two_such_vms_need_8():
    p = params("Microsoft", "SQL Server", "Standard", "core")
    assert measure("core", [dep("sql1", vm(2))], p, CTX).quantity == 4
    two = measure("core", [dep("sql1", vm(2)), dep("sql2", vm(2))], p, CTX)
    assert two.quantity == 8
    assert two.lines[0].text == "sql1: VM, 2 vCPU; min 4 per VM -> 4; packs of 2 -> 4 = 4"
    assert two.lines[-1].text == "total: 4 + 4 = 8"


@pytest.mark.parametrize("sockets, cores, expected", [(1, 4, 16), (2, 24, 24)])
def test_windows_server_per_core_minimums(sockets, cores, expected):
    p = params("Microsoft", "Windows Server", "Datacenter", "core")
    result = measure("core", [dep("ws1", physical(sockets, cores))], p, CTX)
    assert result.quantity == expected


def test_windows_server_trace_shows_each_minimum():
    p = params("Microsoft", "Windows Server", None, "core")
    (line,) = measure("core", [dep("ws1", physical(1, 4))], p, CTX).lines
    assert line.text == ("ws1: 1 socket × 4 cores = 4 cores; min 8 per processor -> 8; "
                         "min 16 per server -> 16; packs of 2 -> 16 = 16")


def test_oracle_se2_counts_occupied_sockets_and_warns_above_two():
    p = params("Oracle", "Oracle Database", "Standard Edition 2", "processor")
    assert measure("processor", [dep("db1", physical(2, 32))], p, CTX).quantity == 2
    big = measure("processor", [dep("db9", physical(4, 64))], p, CTX)
    assert big.quantity == 4 and "exceeds the product's limit of 2" in big.notes[0]


def test_rhel_socket_pairs_and_two_guests_per_subscription():
    p = params("Red Hat", "Red Hat Enterprise Linux", "Server", "processor")
    result = measure("processor", [dep("h1", physical(4, 32)), dep("h2", physical(1, 8)),
                                   dep("g1", vm(2)), dep("g2", vm(4)), dep("g3", vm(1))], p, CTX)
    # h1: 4 sockets / 2 = 2; h2: 1 socket / 2 = 1 (rounded up); 3 guests / 2 = 2 -> 5
    assert result.quantity == 5
    assert any(ln.text.startswith("VMs g1, g2, g3: 3 guests ÷ 2 per licence = 2 (rounded up") for ln in result.lines)


# --- each rule's docstring example --------------------------------------------------------------


def test_per_installation_docstring():
    result = metrics.per_installation([dep("web1", n=2), dep("web2", n=1)], MetricParams(), CTX)
    assert result.quantity == 3
    assert result.lines[0].text == "web1: 2 installations = 2"


def test_per_device_counts_versions_and_bitness_once():
    pc1 = Deployment("pc1", physical(1, 4), (inst("Office", "2016"), inst("Office", "2019", "x86"),
                                             inst("Office", "2019", "x64")))
    result = metrics.per_device([pc1, dep("pc2")], MetricParams(), CTX)
    assert result.quantity == 2
    assert result.lines[0].text == "pc1: 3 installations on one device = 1"


def test_per_named_user_counts_distinct_users():
    every_account = MetricContext(RULES.core_factors, people=People(window_days=0))
    result = metrics.per_named_user([dep("pc1", users=("alice", "bob")), dep("pc2", users=("alice",))],
                                    MetricParams(), every_account)
    assert result.quantity == 2 and not result.notes and not result.missing


def test_per_named_user_without_user_data_needs_data_and_says_so():
    result = metrics.per_named_user([dep("pc1", users=("alice",)), dep("pc2")], MetricParams(), CTX)
    assert result.quantity == 0 and result.missing == "user data"
    assert "no user data from pc2" in result.lines[0].text and "scan these hosts again" in result.notes[0]


def test_per_processor_rounds_up_per_server():
    power5 = physical(1, 3, cpu=(None, "POWER5+"))
    result = metrics.per_processor([dep("p5", power5)], MetricParams(core_factor=True), CTX)
    assert result.quantity == 3  # 3 cores × 0.75 = 2.25 -> 3
    assert result.lines[0].text.endswith("(rounded up)")


def test_per_processor_unlisted_cpu_uses_the_default_factor():
    arm = physical(1, 8, cpu=("0x41", "Neoverse-N1"))
    result = metrics.per_processor([dep("arm1", arm)], MetricParams(core_factor=True), CTX)
    assert result.quantity == 8 and "unlisted processor" in result.lines[0].text


def test_per_processor_on_a_vm_warns_about_soft_partitioning():
    result = metrics.per_processor([dep("vm1", vm(4))], MetricParams(core_factor=True), CTX)
    assert result.quantity == 2
    assert "soft partitioning" in result.notes[0]


def test_per_core_unknown_topology_is_spelt_out():
    result = metrics.per_core([dep("x", Hardware(None, None, 6))], MetricParams(), CTX)
    assert result.quantity == 6
    assert "sockets unknown, assumed 1" in result.lines[0].text


def test_per_vm_docstring():
    deployments = [dep("app1", vm(2)), dep("app2", vm(2)), dep("db1", physical(2, 16))]
    assert metrics.per_vm(deployments, MetricParams(), CTX).quantity == 3
    assert metrics.per_vm(deployments, MetricParams(vms_per_licence=2), CTX).quantity == 2


def test_per_site_counts_nothing_but_lists_hosts():
    result = metrics.per_site([dep("pc1"), dep("pc2")], MetricParams(), CTX)
    assert result.quantity == 0 and result.lines[0].hosts == ("pc1", "pc2")


def test_per_employee_is_the_headcount_whatever_is_installed():
    ctx = MetricContext(RULES.core_factors, headcount=250)
    assert metrics.per_employee([dep("a"), dep("b"), dep("c")], MetricParams(), ctx).quantity == 250


def test_per_employee_without_headcount_is_unknown_not_guessed_from_the_hosts():
    result = metrics.per_employee([dep("a"), dep("b")], MetricParams(), CTX)
    assert (result.quantity, result.missing) == (0, "headcount")
    assert result.lines[0].text == "headcount not configured: employee count unknown (installed on a, b)"
    assert "--headcount" in result.notes[0]


def test_stale_host_is_flagged_in_the_trace():
    stale = Deployment("pc9", physical(1, 4), (inst(),), scan_id="s1", stale=True)
    assert "pc9 (stale: inventory of scan s1)" in metrics.per_device([stale], MetricParams(), CTX).lines[0].text


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        measure("concurrent", [], MetricParams(), CTX)


# --- the rule data files --------------------------------------------------------------------


def test_shipped_core_factors_match_the_oracle_table():
    table = RULES.core_factors
    assert table.lookup(physical(2, 32)).factor == Decimal("0.5")
    assert table.lookup(physical(1, 64, ("AuthenticAMD", "AMD EPYC 7763"))).label == "AMD x86"
    assert table.lookup(physical(2, 40, (None, "POWER9 (raw), altivec supported"))).factor == Decimal("1")
    assert table.lookup(physical(1, 8, (None, "UltraSPARC T2+"))).factor == Decimal("0.5")
    assert table.lookup(physical(1, 8, (None, "SPARC T2"))).factor == Decimal("0.75")
    assert table.lookup(physical(1, 1)).label == "single-core chip"
    assert table.default.factor == Decimal("1")


def test_rule_lookup_prefers_the_edition_entry():
    assert RULES.rule_for("oracle", "ORACLE DATABASE", "standard  edition 2").params["processor"].max_sockets == 2
    assert RULES.rule_for("Microsoft", "SQL Server", "Enterprise").default_metric == "core"
    assert RULES.rule_for("Acme", "Widget", None) is None


def located(problems):
    return [f"{p.source}: {p.message}" for p in problems]


def test_metric_rules_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "metric_rules.yml"
    bad.write_text("products:\n"
                   "  - publisher: Microsoft\n"
                   "    product: SQL Server\n"
                   "    default_metric: cores\n"
                   "    metrics:\n"
                   "      core: {pack: two, minimum: 4}\n"
                   "  - product: Orphan\n")
    rules, problems = load_product_rules(bad)
    assert rules == ()
    assert located(problems) == [
        f'{bad}:4:21: products[0].default_metric: expected one of installation, device, named_user, processor, '
        'core, vm, site, employee, pvu, got "cores"',
        f'{bad}:6:20: products[0].metrics.core.pack: expected a whole number >= 1, got "two"',
        f"{bad}:6:25: products[0].metrics.core.minimum: unknown field; expected one of pack, min_per_processor, "
        "min_per_server, min_per_vm, core_factor, sockets_per_licence, vms_per_licence, max_sockets, "
            "cloud_vcpus_per_licence, host_level, host_scope, hard_partitioning, vms_per_host_licence, "
            "host_needs_maintenance, vm_needs_maintenance, vm_needs_maintenance_from, devices_per_user",
        f"{bad}:7:5: products[1].publisher: expected a text, got nothing",
    ]


def test_core_factor_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "core_factors.yml"
    bad.write_text("default: {label: unlisted, factor: 1}\n"
                   "factors:\n"
                   "  - label: x86\n"
                   "    factor: half\n"
                   "    match: ['(']\n")
    table, problems = load_core_factors(bad)
    assert table is None
    assert located(problems)[0] == f'{bad}:4:13: factors[0].factor: expected a number > 0, got "half"'
    assert located(problems)[1].startswith(f'{bad}:5:13: factors[0].match[0]: expected a regular expression, got "("')


def test_duplicate_keys_are_located(tmp_path):
    bad = tmp_path / "metric_rules.yml"
    bad.write_text("products:\n  - publisher: A\n    product: B\n    product: C\n")
    assert located(load_product_rules(bad)[1]) == [
        f"{bad}:4:5: products[0].product: given twice (first at {bad}:3:5)"]


@pytest.mark.parametrize("name, text, expected", [
    ("metric_rules.yml", "products: [\n", ":2:1: not valid YAML: "),
    ("metric_rules.yml", "- just a list\n", ':1:1: (top level): expected a mapping with a products list, got a list'),
    ("metric_rules.yml", "products:\n  - {publisher: A, product: B, metrics: [core]}\n",
     ":2:41: products[0].metrics: expected a mapping of metric -> parameters, got a list"),
    ("core_factors.yml", "factors:\n  - {label: x86, factor: 0.5}\n",
     ":2:5: factors[0]: expected match, cpu_id or cores_per_socket"),
    ("core_factors.yml", "factors:\n  - {label: x86, factor: 0.5, cores_per_socket: true}\n",
     ':2:49: factors[0].cores_per_socket: expected a whole number >= 1, got "true"'),
])
def test_a_broken_rule_file_is_a_located_problem(tmp_path, name, text, expected):
    (tmp_path / "core_factors.yml").write_text("factors: []\n")
    (tmp_path / "metric_rules.yml").write_text("products: []\n")
    (tmp_path / name).write_text(text)
    rules, problems = load_rules(tmp_path)
    assert rules is None and len(problems) == 1
    assert located(problems)[0].startswith(f"{tmp_path / name}{expected}"), located(problems)


def test_a_rejected_rule_directory_leaves_the_shipped_rules_in_force(tmp_path):
    (tmp_path / "core_factors.yml").write_text("factors: []\n")
    (tmp_path / "metric_rules.yml").write_text("products: [x]\n")
    settings = LicenceSettings(licences_dir=tmp_path / "no-licences", rules_dir=tmp_path)
    ctx = load_context(settings, date(2026, 6, 30), [])
    assert ctx.has_errors and ctx.rules == RULES
    assert [p.source for p in ctx.problems] == [f"{tmp_path / 'metric_rules.yml'}:1:12"]
