"""The shipped core factor table (catalogue/metrics/core_factors.yml) for the rows that had no test:
HP PA-RISC (0.75), SPARC T1 at 1.0/1.2 GHz (0.25) and at 1.4 GHz (0.5), SPARC T3 (0.25) and
SPARC T4/T5/M5/M6/M7/S7 (0.5), against licensing.md's Oracle Processor Core Factor Table.

Each processor is given as a collector reports it. Where the string comes from:

- Linux ``/proc/cpuinfo``, which the collector keeps (``host_raw.filter_cpuinfo``) and the engine
  reads (``platforms.hardware.parse_cpuinfo``: ``model name``, else ``cpu``):
  - SPARC (sparc64): ``cpu : <sparc_cpu_type>``, set by ``sun4v_cpu_probe`` in the kernel's
    arch/sparc/kernel/cpu.c: "UltraSparc T1 (Niagara)", "UltraSparc T3 (Niagara3)",
    "UltraSparc T4 (Niagara4)", "UltraSparc T5 (Niagara5)", "SPARC-M6", "SPARC-M7", and
    "SPARC-SN" for the S7 (codename Sonoma). There is no vendor_id line, so no vendor.
  - PA-RISC: ``cpu : <cpu_name>`` ("PA8800 (Mako)"), from arch/parisc/kernel/processor.c.
- Solaris: the CPU id string of the sun4v kernel (``populate_idstr``), which ``psrinfo -pv`` prints:
  "SPARC-T4 (chipid 0, clock 2848 MHz)"; older releases print "UltraSPARC-T1 (cpuid 0 clock 1000 MHz)".
  No fleetsam collector runs on Solaris today; these are what one would report.
"""

import datetime as dt
from decimal import Decimal

import pytest
from ansible_collections.fleetsam.sam.plugins.module_utils.host_raw import filter_cpuinfo

from sam_engine.licensing.metric_rules import default_rules
from sam_engine.licensing.position import build_position
from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, Installation, LicenceNeed,
                              Recognition, Virtualization)
from sam_engine.platforms.hardware import derive_hardware
from sam_engine.vocabulary import Status

TABLE = default_rules().core_factors
PA_RISC, T1, T1_FAST, T3, T4_ON = ("HP PA-RISC", "SPARC T1 1.0/1.2 GHz", "SPARC T1 1.4 GHz", "SPARC T3",
                                   "SPARC T4/T5/M5/M6/M7/S7")


def server(sockets, cores_per_socket, model, threads_per_core=8):
    cores = sockets * cores_per_socket
    return Hardware(sockets, cores, cores * threads_per_core, None, model, Virtualization.PHYSICAL)


# (model as reported, sockets, cores per socket, threads per core, expected row, expected factor)
ROWS = [
    # HP PA-RISC: Linux /proc/cpuinfo "cpu" of an rp3440 (2 × dual-core PA-8800) and an rp4440 (PA-8900)
    ("PA8800 (Mako)", 2, 2, 1, PA_RISC, "0.75"),
    ("PA8900 (Shortfin)", 4, 2, 1, PA_RISC, "0.75"),
    # SPARC T1 at 1.0/1.2 GHz: Linux "cpu" of a Sun Fire T2000 (1 × 8 cores × 4 threads); Solaris psrinfo -pv
    ("UltraSparc T1 (Niagara)", 1, 8, 4, T1, "0.25"),
    ("UltraSPARC-T1 (cpuid 0 clock 1200 MHz)", 1, 8, 4, T1, "0.25"),
    # SPARC T1 at 1.4 GHz: only a string naming the clock in GHz after "T1" reaches this row (the form of
    # Sun's spec sheets and Oracle's table); see the xfail below for what collectors actually report
    ("UltraSPARC T1 1.4 GHz", 1, 8, 4, T1_FAST, "0.5"),
    # SPARC T3: Linux "cpu" of a SPARC T3-1 (1 × 16 cores); Solaris psrinfo -pv
    ("UltraSparc T3 (Niagara3)", 1, 16, 8, T3, "0.25"),
    ("SPARC-T3 (chipid 0, clock 1649 MHz)", 1, 16, 8, T3, "0.25"),
    # SPARC T4/T5/M5/M6/M7/S7: Linux "cpu" where the kernel names the chip, else Solaris psrinfo -pv
    ("UltraSparc T4 (Niagara4)", 2, 8, 8, T4_ON, "0.5"),
    ("SPARC-T4 (chipid 0, clock 2848 MHz)", 2, 8, 8, T4_ON, "0.5"),
    ("UltraSparc T5 (Niagara5)", 2, 16, 8, T4_ON, "0.5"),
    ("SPARC-M5 (chipid 0, clock 3600 MHz)", 8, 6, 8, T4_ON, "0.5"),
    ("SPARC-M6", 8, 12, 8, T4_ON, "0.5"),
    ("SPARC-M7", 2, 32, 8, T4_ON, "0.5"),
    ("SPARC-S7 (chipid 0, clock 4267 MHz)", 2, 8, 8, T4_ON, "0.5"),
]


@pytest.mark.parametrize("model, sockets, per_socket, threads, label, factor", ROWS, ids=[r[0] for r in ROWS])
def test_shipped_row_matches_the_processor_as_reported(model, sockets, per_socket, threads, label, factor):
    row = TABLE.lookup(server(sockets, per_socket, model, threads))
    assert (row.label, row.factor) == (label, Decimal(factor))


def test_the_two_t1_rows_are_told_apart_by_the_clock_only():
    # licensing.md: T1 at 1.0/1.2 GHz = 0.25, at 1.4 GHz = 0.5; the 1.4 GHz row is listed first, so it wins
    assert TABLE.lookup(server(1, 8, "UltraSPARC T1 1.0 GHz", 4)).factor == Decimal("0.25")
    assert TABLE.lookup(server(1, 8, "UltraSPARC T1 1.2 GHz", 4)).factor == Decimal("0.25")
    assert TABLE.lookup(server(1, 8, "UltraSPARC T1 1.4 GHz", 4)).factor == Decimal("0.5")


def test_t1_at_1400_mhz_as_solaris_reports_it_is_the_1_4_ghz_row():
    assert TABLE.lookup(server(1, 8, "UltraSPARC-T1 (cpuid 0 clock 1400 MHz)", 4)).label == T1_FAST


def test_sparc_s7_as_linux_reports_it_is_the_t4_on_row():
    assert TABLE.lookup(server(2, 8, "SPARC-SN")).label == T4_ON


# --- from the collector's raw /proc/cpuinfo to the factor ---------------------------------------

# arch/parisc/kernel/processor.c in kernels from 2022 on ("model name" folded into "model"); one block per CPU
PARISC_CPUINFO = "".join(
    f"processor\t: {n}\ncpu family\t: PA-RISC 2.0\ncpu\t\t: PA8800 (Mako)\ncpu MHz\t\t: 1000.000000\n"
    f"physical id\t: {n // 2}\nsiblings\t: 2\ncore id\t\t: {n % 2}\ncapabilities\t: os64 iopdir_fdc nva_supported (0x05)\n"
    f"model\t\t: 9000/800/rp3440 - Storm Peak Fast\nhversion\t: 0x00008890\nsversion\t: 0x00000491\n\n"
    for n in range(4))


def test_pa_risc_from_a_current_linux_cpuinfo_is_0_75():
    hw = derive_hardware({"cpuinfo": filter_cpuinfo(PARISC_CPUINFO)})
    assert (hw.sockets, hw.cores, hw.cpu_model) == (2, 4, "PA8800 (Mako)")
    assert (TABLE.lookup(hw).label, TABLE.lookup(hw).factor) == (PA_RISC, Decimal("0.75"))


def test_pa_risc_from_an_older_linux_cpuinfo_is_0_75():
    old = PARISC_CPUINFO.replace("model\t\t: 9000/800/rp3440 - Storm Peak Fast\n",
                                 "model\t\t: 9000/800/rp3440\nmodel name\t: Storm Peak Fast\n")
    assert TABLE.lookup(derive_hardware({"cpuinfo": filter_cpuinfo(old)})).label == PA_RISC


# arch/sparc/kernel/setup_64.c show_cpuinfo: one block for the whole machine, no "processor" lines
SPARC_CPUINFO = ("cpu\t\t: UltraSparc T4 (Niagara4)\nfpu\t\t: UltraSparc T4 integrated FPU\npmu\t\t: niagara4\n"
                 "prom\t\t: OBP 4.33.6 2012/09/28 07:41\ntype\t\t: sun4v\nncpus probed\t: 128\nncpus active\t: 128\n"
                 "D$ parity tl1\t: 0\nI$ parity tl1\t: 0\n")
SPARC_LSCPU = "# Socket,Core,CPU\n" + "".join(f"{cpu // 64},{cpu // 8},{cpu}\n" for cpu in range(128))


def test_sparc_t4_from_a_linux_cpuinfo_is_0_5():
    hw = derive_hardware({"cpuinfo": filter_cpuinfo(SPARC_CPUINFO), "lscpu": SPARC_LSCPU})
    assert (hw.sockets, hw.cores) == (2, 16)
    assert TABLE.lookup(hw).label == T4_ON


# --- one SPARC server through the whole position -------------------------------------------------

AS_OF = dt.date(2026, 6, 30)
EE = "Oracle Database 19c Enterprise Edition"


def recognise(inst):
    if inst.name == EE:
        return Recognition("Oracle", "Oracle Database", "Enterprise Edition", "19c", LicenceNeed.REQUIRED,
                           "test:Oracle Database")
    return Recognition(None, inst.name, None, inst.version, LicenceNeed.UNKNOWN, None)


def test_oracle_ee_on_a_sparc_t4_2_is_8_processors():
    # SPARC T4-2: 2 sockets × 8 cores (× 8 threads, which do not count) = 16 cores;
    # 16 × 0.5 (SPARC T4) = 8 Processor licences. 6 owned -> 2 short.
    # (With the unlisted default 1.0 it would be 16, with the T3 factor 0.25 it would be 4.)
    hw = server(2, 8, "UltraSparc T4 (Niagara4)")
    scan = HostScan("s1", "t4db", HostStatus.OK, Host("machine-id:t4db", "t4db", "machine-id", hardware=hw),
                    (Installation("rpm", EE, "19.3.0", "sparc64", None, None, "t4db:oracle-ee"),), inventory_scan_id="s1")
    ent = Entitlement("E-ORA-SPARC", "Oracle", "Oracle Database", "processor", 6, "licences/test.yml:E-ORA-SPARC",
                      edition="Enterprise Edition")
    pos = build_position([scan], recognise, [ent], AS_OF)
    oracle = next(p for p in pos.products if p.product == "Oracle Database")
    assert oracle.consumption.metric == "processor"
    assert (oracle.consumption.quantity, oracle.owned, oracle.balance, oracle.shortfall) == (8, 6, -2, 2)
    assert oracle.status is Status.UNDER_LICENSED
    assert ("t4db: 2 sockets × 8 cores = 16 cores × 0.5 (SPARC T4/T5/M5/M6/M7/S7) = 8"
            in [t.text for t in oracle.consumption.trace])
