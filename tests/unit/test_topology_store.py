"""HostScan.topology in both store backends (TinyDB and a real PostgreSQL): stored, loaded, and kept
for a host whose run did not reach it, like its inventory."""

from __future__ import annotations

from sam_engine.ingest.host_scans import HYPERVISOR_FAILED, keep_topology, stale_host_scan
from sam_engine.model import GuestVM, Hardware, Host, HostScan, HostStatus, Installation, PhysicalServer, Scan, \
    Topology
from sam_engine.store import open_store

TOPOLOGY = Topology(
    (PhysicalServer("libvirt:kvm01", "kvm01", "kvm", "libvirt on kvm01", 2, 16, 32, "Intel", "Xeon",
                    "libvirt-cluster:prod", "4c4c4544-0042-3510-8051-b4c04f4a4d32"),),
    (GuestVM("8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f", "db01", "libvirt:kvm01", "libvirt on kvm01", 4, (0, 1, 2, 3),
             "running"),
     GuestVM("1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0", "web01", "libvirt:kvm01", "libvirt on kvm01", 2, (), "shut off")))
BASH = Installation("dpkg", "bash", "5.2", "amd64", "Debian", None, "dpkg:bash:amd64")


def host(name, n, bios_uuid=None):
    return Host(f"machine-id:{n:032x}", name, "machine-id", name, hardware=Hardware(2, 16, 32), bios_uuid=bios_uuid)


def run(scan_id, day, *hosts):
    return Scan(scan_id, f"{day}T00:00:00Z", f"{day}T00:01:00Z", "0.1.0", "scan.yml", tuple(hosts),
                scope=tuple(h.inventory_name for h in hosts))


def test_topology_and_bios_uuid_round_trip_and_survive_a_missed_run(store_location):
    kvm = HostScan("s1", "kvm01", HostStatus.OK, host("kvm01", 1, "4c4c4544-0042-3510-8051-b4c04f4a4d32"), (BASH,),
                   inventory_scan_id="s1", collected_at="2026-06-01T00:00:30Z", topology=TOPOLOGY)
    guest = HostScan("s1", "db01", HostStatus.OK, host("db01", 2, "8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f"), (BASH,),
                     inventory_scan_id="s1", collected_at="2026-06-01T00:00:30Z")
    with open_store(store_location) as st:
        st.save_scan(run("s1", "2026-06-01", kvm, guest))
    with open_store(store_location, readonly=True) as st:
        loaded = {h.inventory_name: h for h in st.load_scan().hosts}
    assert loaded["kvm01"].topology == TOPOLOGY and loaded["db01"].topology is None
    assert loaded["db01"].host.bios_uuid == "8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f"
    with open_store(store_location) as st:  # the next run does not reach kvm01: its last topology is kept
        missed = stale_host_scan("s2", "kvm01", HostStatus.UNREACHABLE, "timeout", (), st.last_inventory("kvm01"))
        st.save_scan(run("s2", "2026-06-02", missed))
    with open_store(store_location, readonly=True) as st:
        (now,) = [h for h in st.load_scan().hosts if h.inventory_name == "kvm01"]
    assert now.stale and now.topology == TOPOLOGY


def test_a_failed_hypervisor_collector_keeps_the_last_topology(store_location):
    first = HostScan("s1", "kvm01", HostStatus.OK, host("kvm01", 1), (BASH,), inventory_scan_id="s1",
                     collected_at="2026-06-01T00:00:30Z", topology=TOPOLOGY)
    with open_store(store_location) as st:
        st.save_scan(run("s1", "2026-06-01", first))
    failed = HostScan("s2", "kvm01", HostStatus.OK, host("kvm01", 1), (BASH,), inventory_scan_id="s2",
                      warnings=(f"{HYPERVISOR_FAILED}: virsh nodeinfo failed",))
    with open_store(store_location) as st:
        kept = keep_topology(failed, st.last_inventory)
        st.save_scan(run("s2", "2026-06-02", kept))
    assert kept.topology == TOPOLOGY
    # without the failure note, no topology this time means none
    assert keep_topology(HostScan("s3", "kvm01", HostStatus.OK, host("kvm01", 1), ()), lambda n: first).topology \
        is None


def test_the_parallel_ingest_reads_topologies_as_the_serial_one(tmp_path, monkeypatch, real_fixtures):
    import json

    from sam_engine.ingest import parallel
    from sam_engine.ingest import spool as ingest
    from sam_engine.ingest import host_scans

    spool = tmp_path / "s1"
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": "s1", "started": "2026-06-01T00:00:00Z"}))
    hypervisor = json.loads((real_fixtures / "libvirt" / "node.hypervisor.json").read_text())
    for n, extra in enumerate(({"hypervisor": hypervisor}, {"hypervisor_error": "virsh: not found"}, {})):
        doc = {"inventory_name": f"h{n}", "status": "ok", "groups": [], "collected_at": "2026-06-01T00:00:30Z",
               "result": {"software": [], "host": {"machine_id": f"{n:032x}"}, **extra}}
        (spool / "hosts" / f"h{n}.json").write_text(json.dumps(doc))
    last = {"h1": HostScan("s0", "h1", HostStatus.OK, host("h1", 1), (), topology=TOPOLOGY)}
    serial, problems = host_scans.build_scan(ingest.read_spool(spool)[0], last.get)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "CHUNK_FILES", 1)
    scan, problems_parallel = parallel.build_scan_from_spool(spool, last.get, workers=2)
    assert scan == serial and problems == problems_parallel == []
    topologies = {h.inventory_name: h.topology for h in scan.hosts}
    assert len(topologies["h0"].guests) == 3 and topologies["h1"] == TOPOLOGY and topologies["h2"] is None
