"""Issue #15's licence cases, each with the vendor's worked numbers (shared reference licensing.md),
counted from raw collector facts the way a scan delivers them."""

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.host_raw import filter_cpuinfo

from sam_engine.licensing.metric_rules import default_rules
from sam_engine.licensing.metrics import Deployment, MetricContext, measure
from sam_engine.model import Installation
from sam_engine.platforms.hardware import derive_hardware
from sam_engine.platforms.windows import derive_hardware_windows

RULES = default_rules()
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
