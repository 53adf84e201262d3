"""Guests linked to the VMs the vCenter, Hyper-V and cloud readers report, through ingest and ``fleet_topology``.

The hypervisor sides are the recorded simulator output, the crafted Hyper-V host and AWS metadata answers
(see test_topology_vmware.py, test_topology_hyperv.py, test_cloud_metadata.py); each guest is a module result
whose DMI UUID is the one its VM reports, in the byte order the guest's firmware shows.
"""

import json
from pathlib import Path

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans
from sam_engine.topology import uuids
from sam_engine.topology.link import fleet_topology

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(path):
    return {k: v for k, v in json.loads((FIXTURES / path).read_text(encoding="utf-8")).items()
            if not k.startswith("_")}


def linux_guest(product_uuid, cloud_metadata=None, at="2026-12-02T01:00:00Z"):
    host = {"machine_id": product_uuid.replace("-", "")[:32], "system": "Linux",
            "lscpu": "# Socket,Core,CPU\n0,0,0\n0,1,1\n0,2,2\n0,3,3\n",
            "dmi": {"product_uuid": product_uuid, "sys_vendor": "VMware, Inc.", "product_name": "VMware7,1"}}
    if cloud_metadata:
        host["dmi"] = {"product_uuid": product_uuid, "sys_vendor": "Amazon EC2", "product_name": "m5.2xlarge"}
        host["cloud_metadata"] = cloud_metadata
    return {"software": [], "host": host}


def fleet_of(tmp_path, results):
    (tmp_path / "hosts").mkdir()
    (tmp_path / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-12-02T01:00:00Z",
                                                   "finished": "2026-12-02T01:02:00Z", "playbook": "scan.yml"}))
    for name, result in results.items():
        entry = {"inventory_name": name, "status": "ok", "result": result, "error": None}
        (tmp_path / "hosts" / f"{name}.json").write_text(json.dumps(entry))
    run, problems = ingest.read_spool(tmp_path)
    scan, more = host_scans.build_scan(run, lambda name: None)
    assert problems == more == []
    return fleet_topology(scan.hosts)


def test_a_vmware_guest_reaches_every_host_of_its_cluster(tmp_path):
    vc = load("recorded/vcenter_vcsim.json")
    vm = next(v for v in vc["vcenter"]["vms"] if v["name"] == "DC0_C0_RP0_VM0")
    # the guest's DMI shows the first three fields byte-swapped against vCenter's config.uuid
    guest_uuid = uuids.swapped(vm["uuid"]).upper()
    fleet = fleet_of(tmp_path, {"vc01": vc, "oradb1": linux_guest(guest_uuid)})
    placement = fleet.placement("oradb1")
    assert placement.vm.name == "DC0_C0_RP0_VM0" and placement.server.key == "vcenter:127.0.0.1/host-42"
    assert sorted(s.name for s in placement.reachable) == ["DC0_C0_H0", "DC0_C0_H1"]
    assert sum(s.cores for s in placement.reachable) == 48  # every physical core the VM can move to
    assert len(fleet.servers) == 5 and sum(len(v) for v in fleet.guests.values()) == 6


def test_a_hyperv_guest_is_placed_on_its_host(tmp_path):
    win = load("recorded/windows_composite-host.json")
    crafted = load("real/windows/crafted-hyperv_host.json")
    win["windows"]["hardware"], win["windows"]["hyperv"] = crafted["hardware"], crafted["hyperv"]
    guest = load("recorded/windows_composite-host.json")
    guest["windows"]["hardware"]["product"]["UUID"] = "3E0A2C8E-1B5C-4E4F-9B8A-1F7D2C3B4A51"  # SQL01's BIOSGUID
    fleet = fleet_of(tmp_path, {"hv01": win, "sql01": guest})
    placement = fleet.placement("sql01")
    assert (placement.vm.name, placement.server.key) == ("SQL01", "hyperv:hv01.corp.example.com")
    assert placement.reachable == (placement.server,) and placement.server.cores == 32


def test_guests_on_one_aws_dedicated_host_share_its_server(tmp_path):
    meta = {"provider": "aws", "errors": [],
            "answers": {"instance-type": "m5.2xlarge", "placement/host-id": "h-0123456789abcdef0"}}
    first, second = "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8", "ec2ffee0-1111-4222-8333-944455556666"
    fleet = fleet_of(tmp_path, {"db1": linux_guest(first, meta), "db2": linux_guest(second, meta),
                                "web1": linux_guest("ec2aaaaa-1111-4222-8333-944455556666",
                                                    {"provider": "aws", "errors": [],
                                                     "answers": {"instance-type": "t3.small"}})})
    assert list(fleet.servers) == ["aws-dedicated:h-0123456789abcdef0"]
    assert sorted(vm.name for vm in fleet.guests["aws-dedicated:h-0123456789abcdef0"]) == ["db1", "db2"]
    assert {fleet.placement(n).server.key for n in ("db1", "db2")} == {"aws-dedicated:h-0123456789abcdef0"}
    assert fleet.placement("db1").vm.vcpus == 4 and fleet.placement("web1") is None


def test_a_scanned_vmware_guest_counts_its_cluster_through_the_pipeline(tmp_path):
    """End to end: the vCenter result and a guest with Oracle Database EE, ingested by ``process_spool``:
    the position counts every core of the guest's cluster (soft partitioning), not the VM's own vCPUs."""
    from sam_engine import pipeline

    vc = load("recorded/vcenter_vcsim.json")
    vm = next(v for v in vc["vcenter"]["vms"] if v["name"] == "DC0_C0_RP0_VM0")
    guest = linux_guest(uuids.swapped(vm["uuid"]).upper())
    guest["software"] = [{"source": "rpm", "name": "oracle-database-ee-19c", "version": "1.0-2", "arch": "x86_64",
                          "vendor": "Oracle Corporation", "install_time": 1700000000,
                          "package_id": "rpm:oracle-database-ee-19c", "location": None, "extra": {}}]
    spool = tmp_path / "spool"
    spool.mkdir()
    fleet_of(spool, {"vc01": vc, "oradb1": guest})
    out = pipeline.process_spool(spool, store=str(tmp_path / "db.json"), report_dir=tmp_path / "reports")
    (ee,) = [p for p in out.position.products if p.product == "Oracle Database" and p.edition == "Enterprise Edition"]
    trace = " | ".join(line.text for line in ee.consumption.trace)
    assert "soft partitioning" in trace and "DC0_C0_H0" in trace and "DC0_C0_H1" in trace, trace
    assert ee.consumption.quantity == 24  # two 24-core Intel servers: 48 cores × 0.5
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert {s["name"] for s in report["topology"]} >= {"DC0_C0_H0", "DC0_C0_H1"}
