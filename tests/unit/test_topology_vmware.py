"""VMware topology: the vcenter_facts result read into servers, clusters and VMs (``topology.vmware``).

Real data: tests/fixtures/recorded/vcenter_vcsim.json is the module's output against govmomi's vCenter
simulator (recorded from tests/integration/test_vcenter.py's simulator; that test checks the live run).
"""

import copy
import json
from pathlib import Path

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans
from sam_engine.platforms.registry import platform_of
from sam_engine.topology import fields, uuids, vmware

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "vcenter_vcsim.json"


def result():
    return {k: v for k, v in json.loads(RECORDED.read_text(encoding="utf-8")).items() if not k.startswith("_")}


def test_simulator_output_gives_hosts_clusters_and_vms():
    topo, problems = vmware.topology(result()["vcenter"], "vc01", "vc01.json")
    assert problems == []
    servers = {s.name: s for s in topo.servers}
    assert sorted(servers) == ["DC0_C0_H0", "DC0_C0_H1", "DC0_C1_H0", "DC0_C1_H1", "DC0_H0"]
    c0 = servers["DC0_C0_H0"]
    assert (c0.key, c0.platform, c0.cluster) == ("vcenter:127.0.0.1/host-34", "vmware", "vcenter:127.0.0.1/DC0/DC0_C0")
    assert (c0.sockets, c0.cores, c0.threads) == (2, 24, 48)
    assert c0.uuid == "c2ac5c27-2c72-5d75-9472-fd619e1af669" and "Xeon" in c0.cpu_model
    assert servers["DC0_H0"].cluster is None  # a standalone host: its own partition
    assert {s.cluster for s in topo.servers} == {None, "vcenter:127.0.0.1/DC0/DC0_C0", "vcenter:127.0.0.1/DC0/DC0_C1"}
    vms = {g.name: g for g in topo.guests}
    assert len(vms) == 6
    vm = vms["DC0_H0_VM0"]
    assert (vm.bios_uuid, vm.server, vm.vcpus, vm.state, vm.pinned_cpus) == (
        "265104de-1472-547c-b873-6dc7883fb6cb", "vcenter:127.0.0.1/host-21", 1, "running", ())
    assert vms["DC0_C1_RP0_VM1"].pinned_cpus == (0, 1)  # config.cpuAffinity: a hard partition
    assert {g.source for g in topo.guests} == {"vcenter_facts on vc01"}


def test_ingest_reads_a_vcenter_result_as_a_topology_carrying_host(tmp_path):
    (tmp_path / "hosts").mkdir()
    (tmp_path / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-11-29T01:00:00Z",
                                                   "finished": "2026-11-29T01:02:00Z", "playbook": "scan.yml"}))
    entry = {"inventory_name": "vc01", "status": "ok", "result": result(), "error": None}
    (tmp_path / "hosts" / "vc01.json").write_text(json.dumps(entry))
    run, problems = ingest.read_spool(tmp_path)
    scan, more = host_scans.build_scan(run, lambda name: None)
    assert problems == more == []
    (host,) = scan.hosts
    assert host.collector == "fleetsam.sam.vcenter_facts" and len(host.installations) == 0
    assert host.host.host_id == "vcenter-uuid:dbed6e0c-bd88-4ef6-b594-21283e1c677f"
    assert host.host.os_name == "VMware vCenter Server 6.5.0 build-5973321"
    assert len(host.topology.servers) == 5 and len(host.topology.guests) == 6
    assert platform_of({"software": []}).topology({"software": []}, "web1", "web1.json") == (None, [])


def test_templates_and_vms_without_a_known_host_are_left_out():
    raw = result()["vcenter"]
    raw["vms"][0]["template"] = True
    raw["vms"][1]["host"] = "host-999"
    topo, problems = vmware.topology(raw, "vc01", "vc01.json")
    assert len(topo.guests) == 4
    assert [p.source for p in problems] == ["vc01.json: vms[1].host"]
    assert "names no reported host" in problems[0].message and problems[0].severity == "warning"


def test_hostile_and_broken_records_are_problems_never_exceptions():
    raw = copy.deepcopy(result()["vcenter"])
    raw["vms"][2]["uuid"] = "<script>alert(1)</script>"
    raw["vms"][3]["uuid"] = None
    raw["vms"][4]["vcpus"] = "many"
    raw["vms"][5]["cpu_affinity"] = [True, -1, "0", 3]
    raw["hosts"][0]["sockets"] = -2
    raw["hosts"][1]["uuid"] = "00000000-0000-0000-0000-000000000000"
    raw["hosts"].append("not a record")
    raw["folders"] = "nope"
    raw["compute_resources"][1]["parent"] = "clustercomputeresource-27"  # a loop: no datacenter found
    topo, problems = vmware.topology(raw, "vc01", "vc01.json")
    sources = [p.source for p in problems]
    assert "vc01.json: vms[2].uuid" in sources and "vc01.json: vms[3].uuid" in sources
    assert "vc01.json: hosts[5]" in sources and "vc01.json: folders" in sources
    assert "vc01.json: hosts[1].uuid" in sources
    vms = {g.name: g for g in topo.guests}
    assert len(vms) == 4 and vms["DC0_C1_RP0_VM0"].vcpus is None and vms["DC0_C1_RP0_VM1"].pinned_cpus == (3,)
    servers = {s.name: s for s in topo.servers}
    assert servers["DC0_H0"].sockets is None and servers["DC0_C0_H0"].uuid is None
    assert servers["DC0_C0_H0"].cluster == "vcenter:127.0.0.1/?/DC0_C0"  # the cluster stays one partition
    assert vmware.topology({"hostname": 5, "vms": [{"name": None}]}, "vc01", "o")[0].guests == ()


def test_canonical_uuid():
    assert uuids.canonical(" {265104DE-1472-547C-B873-6DC7883FB6CB} ") == "265104de-1472-547c-b873-6dc7883fb6cb"
    assert uuids.canonical("265104de1472547cb8736dc7883fb6cb") == "265104de-1472-547c-b873-6dc7883fb6cb"
    for bad in ("", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "265104de-1472-547c-b873", 42, None, "g" * 32):
        assert uuids.canonical(bad) is None
    assert (fields.count("12"), fields.count(True), fields.count(0), fields.count(-3)) == (12, None, None, None)
