"""Hyper-V topology: the Windows collector's ``hyperv`` part read into one host and its VMs (``topology.hyperv``).

Data: tests/fixtures/real/windows/crafted-hyperv_host.json and crafted-hyperv_cluster.json are crafted from
Microsoft's documented formats (see tests/fixtures/real/SOURCES.md); the Windows result around them is the
recorded composite host.
"""

import copy
import json
from pathlib import Path

from test_host_metrics import EE, ctx, vms

from sam_engine.licensing.host_metrics import measure_partition
from sam_engine.model import Host, HostScan, HostStatus
from sam_engine.platforms.registry import platform_of
from sam_engine.topology import hyperv
from sam_engine.topology.link import fleet_topology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def windows_result():
    """The recorded Windows result with the crafted Hyper-V host's hardware and VMs."""
    result = json.loads((FIXTURES / "recorded" / "windows_composite-host.json").read_text(encoding="utf-8"))
    crafted = json.loads((FIXTURES / "real" / "windows" / "crafted-hyperv_host.json").read_text(encoding="utf-8"))
    result["windows"]["hardware"] = crafted["hardware"]
    result["windows"]["hyperv"] = crafted["hyperv"]
    return {k: v for k, v in result.items() if not k.startswith("_")}


def test_hyperv_host_and_vms_linked_by_bios_guid():
    result = windows_result()
    platform = platform_of(result)
    topo, problems = platform.topology(result, "hv01", "hv01.json")
    assert problems == []
    (server,) = topo.servers
    assert (server.key, server.name, server.platform, server.cluster) == ("hyperv:hv01.corp.example.com", "HV01",
                                                                          "hyperv", None)
    assert (server.sockets, server.cores, server.threads) == (2, 32, 64)
    assert server.uuid == "4c4c4544-0052-3610-8038-b7c04f335a32" and "Xeon" in server.cpu_model
    vms = {g.name: g for g in topo.guests}
    assert (vms["SQL01"].bios_uuid, vms["SQL01"].vcpus, vms["SQL01"].state) == (
        "3e0a2c8e-1b5c-4e4f-9b8a-1f7d2c3b4a51", 4, "running")  # the BIOSGUID, not the VMId
    assert (vms["APP02"].state, vms["DC03"].state) == ("shut off", "saved")
    assert {g.server for g in topo.guests} == {server.key}
    assert {g.source for g in topo.guests} == {"win_software_facts on hv01"}
    # the host's own inventory is read as before
    assert platform.host(result, "hv01").hardware.cores == 32
    assert len(platform.installations(result, "hv01.json")[0]) == 24


def test_a_windows_host_without_hyperv_has_no_topology():
    result = windows_result()
    del result["windows"]["hyperv"]
    assert platform_of(result).topology(result, "win1", "win1.json") == (None, [])


def test_missing_bios_guid_falls_back_to_the_vm_id_with_a_warning():
    win = windows_result()["windows"]
    win["hyperv"]["settings"] = win["hyperv"]["settings"][1:]
    win["hyperv"]["vms"][2]["State"] = 9  # ConvertTo-Json's number for Paused
    topo, problems = hyperv.topology(win, "hv01", "hv01.json")
    vms = {g.name: g for g in topo.guests}
    assert vms["SQL01"].bios_uuid == "8e2c0a3e-5c1b-4f4e-9b8a-1f7d2c3b4a51" and vms["DC03"].state == "paused"
    assert [(p.source, p.severity) for p in problems] == [("hv01.json: vms[0]", "warning")]
    assert "linked by its VMId" in problems[0].message


def test_hostile_hyperv_records_are_problems_never_exceptions():
    win = copy.deepcopy(windows_result()["windows"])
    win["hyperv"]["vms"][0]["VMId"] = "=HYPERLINK(\"http://x\")"
    win["hyperv"]["vms"][1]["ProcessorCount"] = {"n": 1}
    win["hyperv"]["vms"].append(["no"])
    win["hyperv"]["host"] = "HV\x00<b>"
    win["hyperv"]["settings"][2]["BIOSGUID"] = "\ud800"
    topo, problems = hyperv.topology(win, "hv01", "hv01.json")
    assert {g.name for g in topo.guests} == {"APP02", "DC03"}
    assert {g.name: g.vcpus for g in topo.guests}["APP02"] is None
    assert topo.servers[0].key == "hyperv:hv01" and topo.servers[0].threads == 64  # from Win32_Processor
    sources = {p.source for p in problems}
    assert {"hv01.json: vms[0].VMId", "hv01.json: vms[3]", "hv01.json: settings[2].BIOSGUID"} <= sources
    assert hyperv.topology({"hyperv": "x"}, "hv01", "o")[0] is None


def test_failover_cluster_nodes_form_one_cluster_and_an_oracle_vm_counts_every_scanned_node():
    """Data: windows/crafted-hyperv_cluster.json is CRAFTED (Get-Cluster / Get-ClusterNode names)."""
    crafted = json.loads((FIXTURES / "real" / "windows" / "crafted-hyperv_cluster.json").read_text(encoding="utf-8"))
    first = windows_result()
    first["windows"]["hyperv"]["cluster"] = crafted["cluster"]
    second = copy.deepcopy(first)
    second["windows"]["hyperv"].update(host=crafted["second_node"]["host"], vms=[], settings=[])
    second["windows"]["hardware"]["product"]["UUID"] = crafted["second_node"]["product_uuid"]
    scans = []
    for name, result in (("hv01", first), ("hv02", second)):
        topo, problems = platform_of(result).topology(result, name, f"{name}.json")
        assert problems == [] and topo.servers[0].cluster == "hyperv-cluster:hvclu01"
        scans.append(HostScan("s1", name, HostStatus.OK, platform_of(result).host(result, name), (), topology=topo))
    sql01 = Host("machine-id:sql01", "sql01", "machine-id", bios_uuid="3e0a2c8e-1b5c-4e4f-9b8a-1f7d2c3b4a51")
    fleet = fleet_topology([*scans, HostScan("s1", "sql01", HostStatus.OK, sql01, ())])
    assert [s.name for s in fleet.placement("sql01").reachable] == ["HV01", "HV02"]
    result = measure_partition("processor", vms("sql01"), EE, ctx(fleet))
    assert result.quantity == 32  # two nodes × 2 × 16 cores × 0.5
    assert result.lines[1].text.startswith("HV02 → reachable by sql01 → soft partitioning (cluster "
                                           "hyperv-cluster:hvclu01): 2 sockets × 16 cores")


def test_a_cluster_that_does_not_list_the_host_or_has_no_name_leaves_it_standalone_with_a_warning():
    win = windows_result()["windows"]
    for cluster, why in (({"Name": "HVCLU01", "Nodes": "HV09"}, "does not list this host"),
                         ({"Nodes": ["HV01"]}, "expected Get-Cluster's Name"), ("HVCLU01", "expected")):
        win["hyperv"]["cluster"] = cluster
        topo, problems = hyperv.topology(win, "hv01", "hv01.json")
        assert topo.servers[0].cluster is None
        assert [(p.source, p.severity) for p in problems] == [("hv01.json: hyperv.cluster", "warning")]
        assert why in problems[0].message
    win["hyperv"]["cluster"] = {"Name": "HVCLU01", "Nodes": "HV01"}  # ConvertTo-Json: a one-node list as a string
    assert hyperv.topology(win, "hv01", "hv01.json")[0].servers[0].cluster == "hyperv-cluster:hvclu01"
