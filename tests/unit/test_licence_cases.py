"""Issue #15's licence cases, each with the vendor's worked numbers (shared reference licensing.md),
counted from raw collector facts the way a scan delivers them."""

from pathlib import Path

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.host_raw import filter_cpuinfo

from sam_engine.cli.main import main
from sam_engine.entitlements.files import load_licence_files
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.licensing.metric_rules import default_rules
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.model import Hardware, Installation, Virtualization
from sam_engine.platforms.hardware import derive_hardware
from sam_engine.platforms.windows import derive_hardware_windows
from sam_engine.vocabulary import METRICS

RULES = default_rules()
CATALOGUE, _ = load_catalogue()
CTX = MetricContext(RULES.core_factors)
AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"


def x86_cpuinfo(threads, hypervisor=True):
    block = "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"
    text = "\n\n".join(block.format(n=n) for n in range(threads))
    return text + ("\nhypervisor\t: yes" if hypervisor else "")


def lscpu(sockets, cores_per_socket, threads_per_core):
    rows, cpu = [], 0
    for s in range(sockets):
        for c in range(cores_per_socket):
            for _ in range(threads_per_core):
                rows.append(f"{s},{s * cores_per_socket + c},{cpu}")
                cpu += 1
    return "# Socket,Core,CPU\n" + "\n".join(rows) + "\n"


def linux_vm(**dmi):
    """An 8 vCPU VM (4 cores × 2 threads), as the Linux collector returns it."""
    return {"cpuinfo": x86_cpuinfo(8), "lscpu": lscpu(1, 4, 2), "dmi": dmi, "detect_virt": "kvm"}


def oracle(edition, hardware, host="db1"):
    params = RULES.params("Oracle", "Oracle Database", edition, "processor")
    installs = (Installation("oracle_inventory", "Oracle Database", "19.0.0.0", "x86_64", "Oracle", None, "o:1"),)
    return measure("processor", [Deployment(host, hardware, installs)], params, CTX)


# --- Oracle in authorised clouds: EE 2 vCPUs = 1 Processor, SE2 4 vCPUs = 1 socket -------------


CLOUD_VMS = {
    "AWS": {"sys_vendor": "Amazon EC2", "product_name": "m5.2xlarge", "bios_vendor": "Amazon EC2"},
    "Azure": {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
              "chassis_asset_tag": AZURE_TAG},
    "Google Cloud": {"sys_vendor": "Google", "product_name": "Google Compute Engine", "bios_vendor": "Google"},
}


@pytest.mark.parametrize("cloud", sorted(CLOUD_VMS))
def test_oracle_on_an_8_vcpu_cloud_vm_ee_counts_4_and_se2_counts_2(cloud):
    hw = derive_hardware(linux_vm(**CLOUD_VMS[cloud]))
    assert hw.cloud == cloud and hw.threads == 8
    ee = oracle("Enterprise Edition", hw)
    assert ee.quantity == 4
    assert ee.lines[0].text.startswith(f"db1: {cloud} VM, 8 vCPU ÷ 2 per licence = 4 (authorised cloud rule, "
                                       f"catalogue/metrics/metric_rules.yml:")
    assert "no core factor" in ee.lines[0].text
    assert not any("soft partitioning" in n for n in ee.notes)
    assert oracle("Standard Edition 2", hw).quantity == 2


def test_a_hyper_v_vm_without_azures_asset_tag_is_not_in_a_cloud_and_keeps_the_core_factor():
    hw = derive_hardware(linux_vm(sys_vendor="Microsoft Corporation", product_name="Virtual Machine",
                                  chassis_asset_tag="0000-0000-0000-0000-0000-0000-00"))
    assert hw.cloud is None
    result = oracle("Enterprise Edition", hw)
    assert result.quantity == 2  # 4 cores × 0.5 (Intel x86), as on premises
    assert "(Intel x86)" in result.lines[0].text


def test_cloud_rule_rounds_up_odd_vcpus():
    raw = {"cpuinfo": x86_cpuinfo(3), "lscpu": lscpu(1, 3, 1), "dmi": CLOUD_VMS["AWS"]}
    result = oracle("Standard Edition 2", derive_hardware(raw))
    assert result.quantity == 1 and "3 vCPU ÷ 4 per licence = 1 (rounded up)" in result.lines[0].text


def test_windows_azure_vm_is_known_from_the_enclosure_asset_tag():
    raw = {"processors": [{"Manufacturer": "GenuineIntel", "Name": "Intel(R) Xeon(R) Platinum 8272CL",
                           "NumberOfCores": 4, "NumberOfLogicalProcessors": 8}],
           "computer_system": {"Manufacturer": "Microsoft Corporation", "Model": "Virtual Machine"},
           "enclosure": {"SMBIOSAssetTag": AZURE_TAG}}
    hw = derive_hardware_windows(raw)
    assert hw.cloud == "Azure"
    assert oracle("Enterprise Edition", hw).quantity == 4
    raw["enclosure"] = {"SMBIOSAssetTag": "1234-5678"}
    assert derive_hardware_windows(raw).cloud is None


# --- ARM processors, known by MIDR implementer / part -----------------------------------------


def arm_cpuinfo(cores, implementer, part):
    block = ("processor\t: {n}\nBogoMIPS\t: 50.00\nCPU implementer\t: " + implementer +
             "\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: " + part + "\nCPU revision\t: 1")
    return "\n\n".join(block.format(n=n) for n in range(cores))


def arm_server(cores, implementer, part):
    return {"cpuinfo": arm_cpuinfo(cores, implementer, part), "lscpu": lscpu(1, cores, 1),
            "dmi": {"sys_vendor": "GIGABYTE", "product_name": "R272-P30-00"}, "detect_virt": "none"}


def test_ampere_altra_80_cores_counts_20_with_the_ampere_row():
    hw = derive_hardware(arm_server(80, "0x41", "0xd0c"))
    assert (hw.cpu_id, hw.cpu_vendor, hw.cpu_model) == ("0x41:0xd0c", "ARM", "Neoverse N1")
    result = oracle("Enterprise Edition", hw)
    assert result.quantity == 20
    assert result.lines[0].text == "db1: 1 socket × 80 cores = 80 cores × 0.25 (Ampere ARM, CPU id 0x41:0xd0c) = 20"


def test_ampereone_is_matched_by_its_implementer_alone():
    hw = derive_hardware(arm_server(96, "0xc0", "0xac3"))
    assert (hw.cpu_vendor, hw.cpu_model) == ("Ampere", "AmpereOne")
    result = oracle("Enterprise Edition", hw)
    assert result.quantity == 24 and "CPU id 0xc0:0xac3" in result.lines[0].text


def test_graviton3_in_aws_takes_the_cloud_rule_and_an_unlisted_arm_core_is_named_in_the_trace():
    raw = arm_server(8, "0x41", "0xd40")
    raw["dmi"] = {"sys_vendor": "Amazon EC2", "product_name": "c7g.2xlarge"}
    raw["detect_virt"] = "amazon"
    assert oracle("Enterprise Edition", derive_hardware(raw)).quantity == 4
    on_premises = derive_hardware(arm_server(8, "0x41", "0xd40"))
    result = oracle("Enterprise Edition", on_premises)
    assert on_premises.cpu_model == "Neoverse V1"
    assert result.quantity == 8 and "(unlisted processor)" in result.lines[0].text


def test_collector_keeps_the_midr_lines_of_proc_cpuinfo():
    kept = filter_cpuinfo(arm_cpuinfo(2, "0x41", "0xd0c") + "\nFeatures\t: fp asimd evtstrm")
    assert "CPU implementer\t: 0x41" in kept and "CPU part\t: 0xd0c" in kept and "Features" not in kept


# --- RHEL: the rule data names what the catalogue produces ------------------------------------


def test_every_metric_rule_names_a_product_and_edition_the_catalogue_produces():
    products = {(p.casefold(), q.casefold()) for p, q in CATALOGUE.products()}
    for rule in RULES.products:
        assert (rule.publisher.casefold(), rule.product.casefold()) in products, rule.origin
        if rule.edition:
            editions = {e.casefold() for entry in CATALOGUE.entries if entry.product == rule.product
                        for e in (*entry.editions, entry.edition or "")}
            assert rule.edition.casefold() in editions, rule.origin


def test_every_catalogue_metric_hint_is_a_metric_of_the_vocabulary():
    hints = {entry.metric_hint for entry in CATALOGUE.entries if entry.metric_hint}
    assert hints and hints <= set(METRICS)


def test_a_metric_hint_outside_the_vocabulary_is_a_located_problem(tmp_path):
    (tmp_path / "site.yml").write_text("- id: x\n  publisher: A\n  product: B\n  licence: required\n"
                                       "  metric_hint: socket_pair\n  match: [{title: B}]\n")
    _, problems = load_catalogue([tmp_path / "site.yml"])
    assert [str(p) for p in problems] == [
        f'{tmp_path / "site.yml"}:5:16: error: x.metric_hint: expected one of {", ".join(METRICS)}, got "socket_pair"']


def rhel(host, hardware):
    inst = Installation("rpm", "redhat-release-server", "7.9-6.el7", "x86_64", "Red Hat, Inc.", None, f"r:{host}")
    return Deployment(host, hardware, (inst,))


def test_rhel_as_recognised_counts_socket_pairs_and_two_guests_per_subscription():
    rec = CATALOGUE.recognise(rhel("h", Hardware()).installations[0])
    assert (rec.publisher, rec.product, rec.edition) == ("Red Hat", "Red Hat Enterprise Linux", "Server")
    params = RULES.params(rec.publisher, rec.product, rec.edition, "processor")
    four = Hardware(4, 64, 128, "GenuineIntel", "Intel(R) Xeon(R) Gold 6338", Virtualization.PHYSICAL)
    pairs = measure("processor", [rhel("h1", four)], params, CTX)
    assert pairs.quantity == 2
    assert pairs.lines[0].text.startswith("h1: 4 sockets ÷ 2 per licence = 2 (one licence covers 2 sockets, "
                                          "catalogue/metrics/metric_rules.yml:")
    guest = Hardware(1, 2, 2, "GenuineIntel", "Intel(R) Xeon(R) Gold 6338", Virtualization.VM, "kvm")
    guests = measure("processor", [rhel(f"g{n}", guest) for n in range(3)], params, CTX)
    assert guests.quantity == 2 and guests.lines[0].text.startswith(
        "VMs g0, g1, g2: 3 guests ÷ 2 per licence = 2 (rounded up; one licence covers 2 guests, "
        "catalogue/metrics/metric_rules.yml:")
    assert RULES.rule_for(rec.publisher, rec.product, rec.edition).default_metric == "processor"


def test_licence_validate_accepts_an_entitlement_spelled_like_the_shipped_rule(tmp_path, capsys):
    (tmp_path / "licences").mkdir()
    (tmp_path / "licences" / "rhel.yml").write_text(
        "entitlements:\n  - publisher: Red Hat\n    product: Red Hat Enterprise Linux\n    edition: Server\n"
        "    metric: processor\n    quantity: 2\n    term_start: 2025-01-01\n    term_end: 2027-12-31\n")
    code = main(["--store", str(tmp_path / "store.json"), "licence", "--licences", str(tmp_path / "licences"),
                 "validate"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "") and "1 entitlement" in out


# --- costs: the unit of unit_cost is explicit --------------------------------------------------


def test_pack_size_is_read_from_a_licence_file_and_must_be_at_least_one(tmp_path, capsys):
    folder = tmp_path / "licences"
    folder.mkdir()
    (folder / "sql.yml").write_text(
        "entitlements:\n  - publisher: Microsoft\n    product: SQL Server\n    edition: Enterprise\n"
        "    metric: core\n    quantity: 16\n    unit_cost: 13748.00\n    pack_size: 0\n    currency: USD\n")
    code = main(["--store", str(tmp_path / "store.json"), "licence", "--licences", str(folder), "validate"])
    _, err = capsys.readouterr()
    assert code == 2 and err == f"{folder / 'sql.yml'}:8:5: pack_size: expected a whole number >= 1, got \"0\"\n"


def test_shipped_sql_server_example_prices_packs_of_two():
    examples = Path(__file__).resolve().parents[2] / "examples" / "licences"
    entitlements, problems = load_licence_files([examples], CATALOGUE, [])
    assert problems == []
    sql = next(e for e in entitlements if e.product == "SQL Server")
    assert (sql.quantity, sql.pack_size, sql.unit_cost) == (16, 2, "13748.00")
