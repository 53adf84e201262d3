"""One contract for every store backend: each test runs on TinyDB and on a real PostgreSQL server.

``store_location`` (tests/conftest.py) gives a new empty store of each backend;
the PostgreSQL server is started by the tests (tests/pg_server.py) and every
test gets a fresh database. Only the public ``Store`` interface is used, so
what passes here is what the engine can rely on from either backend.
"""

import datetime as dt
import threading
import time

import pytest

from dataclasses import replace

from sam_engine.model import (Entitlement, Hardware, Host, HostScan, HostStatus, HostUser, Installation, Scan,
                              Virtualization)
from sam_engine.store.interface import HostNotFound, StoreError
from sam_engine.store import open_store


def inst(name, version="1.0", time_=None):
    return Installation("dpkg", name, version, "amd64", "Debian", time_, f"dpkg:{name}:amd64")


def host(name, n):
    return Host(f"machine-id:{n:032x}", name, "machine-id", name, f"{name}.example", "Linux", "Debian GNU/Linux",
                "12", "6.1", Hardware(2, 16, 32, "GenuineIntel", "Xeon", Virtualization.VM, "kvm", 4096))


def ok(scan_id, name, n, items=(inst("bash"), inst("curl", "7.88"))):
    return HostScan(scan_id, name, HostStatus.OK, host(name, n), tuple(items), inventory_scan_id=scan_id,
                    collected_at=f"{DAY.get(scan_id, '2026-08-01')}T00:00:30Z")


DAY = {"s1": "2026-06-01", "s2": "2026-06-15", "s3": "2026-07-01"}


def run(scan_id, *hosts, scope=None, group=None, day=None):
    day = day or DAY.get(scan_id, "2026-08-01")
    return Scan(scan_id, f"{day}T00:00:00Z", f"{day}T00:01:00Z", "0.1.0", "scan.yml", tuple(hosts),
                scope=tuple(scope if scope is not None else (h.inventory_name for h in hosts)), group=group)


def fleet(location, **kw):
    with open_store(location, readonly=True) as st:
        got = st.load_scan(**kw)
    return {h.inventory_name: h for h in got.hosts} if got else {}


def test_save_and_load_a_scan(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1, (inst("bash", "5.2", 1700000000), inst("curl", "7.88")))))
    with open_store(store_location, readonly=True) as st:
        got = st.load_scan()
        (info,) = st.scans()
    (hs,) = got.hosts
    assert got.scan_id == "s1" and info.hosts_ok == 1 and info.installations == 2
    assert hs.host == host("web1", 1) and hs.status is HostStatus.OK
    assert sorted(hs.installations, key=lambda i: i.name) == [inst("bash", "5.2", 1700000000), inst("curl", "7.88")]


def test_a_hosts_users_are_stored_with_it_and_kept_while_it_is_stale(store_location):
    people = (HostUser("CORP\\jdoe", "human", 1796119200, "profilelist"), HostUser("root", "service", None, "wtmp"))
    web1 = ok("s1", "web1", 1)
    with open_store(store_location) as st:
        st.save_scan(run("s1", replace(web1, host=replace(web1.host, users=people)), ok("s1", "web2", 2)))
    got = fleet(store_location)
    assert got["web1"].host.users == people and got["web2"].host.users is None  # no user data: not "nobody"
    with open_store(store_location) as st:
        previous = st.last_inventory("web1")
        st.save_scan(run("s2", HostScan("s2", "web1", HostStatus.UNREACHABLE, previous.host, previous.installations,
                                        inventory_scan_id="s1")))
    assert fleet(store_location)["web1"].host.users == people


def test_a_new_login_keeps_the_newest_users_and_the_hosts_other_facts(store_location):
    first = (HostUser("alice", "human", 1796119200, "wtmp"),)
    later = (HostUser("alice", "human", 1796205600, "wtmp"), HostUser("bob", "human", 1796205700, "wtmp"))
    for sid, people in (("s1", first), ("s2", later), ("s3", ())):  # s3: known to have nobody
        web1 = ok(sid, "web1", 1)
        with open_store(store_location) as st:
            st.save_scan(run(sid, replace(web1, host=replace(web1.host, users=people))))
        got = fleet(store_location)["web1"].host
        assert got.users == people and replace(got, users=None) == host("web1", 1)


def test_an_unchanged_host_adds_no_inventory(store_location):
    for sid in ("s1", "s2", "s3"):
        with open_store(store_location) as st:
            st.save_scan(run(sid, ok(sid, "web1", 1), ok(sid, "web2", 2, (inst("nginx"),))))
    with open_store(store_location, readonly=True) as st:
        docs = st.export_documents()
        assert st.last_inventory("web2").installations == (inst("nginx"),)
        assert st.load_run("s2").scan_id == "s2" and len(st.load_run("s2").hosts) == 2
    assert len(docs["inventories"]) == 2 and len(docs["host_scans"]) == 6 and len(docs["snapshots"]) == 1


def test_the_key_of_a_hosts_package_list_is_kept_and_its_inventory_reads_as_collected(store_location):
    items = (inst("zsh"), inst("bash"), inst("curl", "7.88"))  # not in canonical order
    web1 = replace(ok("s1", "web1", 1, items), source_digest="ab" * 8)
    with open_store(store_location) as st:
        st.save_scan(run("s1", web1, ok("s1", "web2", 2)))
    with open_store(store_location) as st:
        assert st.last_source("web1") == "ab" * 8 and st.last_source("web2") is None
        assert st.last_source("db9") is None
        assert tuple(st.last_inventory("web1", as_collected=True).installations) == items
        assert [i.name for i in st.last_inventory("web1").installations] == ["bash", "curl", "zsh"]
        previous = st.last_inventory("web1")
        st.save_scan(run("s2", HostScan("s2", "web1", HostStatus.UNREACHABLE, previous.host, previous.installations,
                                        inventory_scan_id="s1", source_digest=previous.source_digest)))
    with open_store(store_location, readonly=True) as st:
        assert st.last_source("web1") == "ab" * 8, "a stale record keeps the key of the inventory it carries"


def test_a_partial_run_keeps_the_rest_of_the_fleet(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1), ok("s1", "db1", 2, (inst("postgresql"),))))
        st.save_scan(run("s2", ok("s2", "web1", 1, (inst("bash", "5.3"),)), scope=["web1"], group="job-7"))
    now = fleet(store_location)
    assert set(now) == {"web1", "db1"}
    assert now["db1"].scan_id == "s1" and now["db1"].installations == (inst("postgresql"),)
    assert now["web1"].installations == (inst("bash", "5.3"),)
    with open_store(store_location, readonly=True) as st:
        infos = st.scans()
    assert [(i.scan_id, i.scope, i.group) for i in infos] == [("s1", ("web1", "db1"), None),
                                                               ("s2", ("web1",), "job-7")]


def test_one_machine_under_two_names_is_one_host(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "10.0.0.5", 1)))
        st.save_scan(run("s2", ok("s2", "web1.example", 1)))
    assert list(fleet(store_location)) == ["web1.example"]


def test_retirement_takes_a_host_out_and_keeps_history(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1), ok("s1", "db1", 2)))
    with open_store(store_location) as st:
        with pytest.raises(HostNotFound, match="no host 'nope' in the fleet"):
            st.retire(["db1", "nope"])
        (done,) = st.retire(["db1"], "decommissioned")
        assert (done.name, done.retirement.key, done.new) == ("db1", host("db1", 2).host_id, True)
    assert set(fleet(store_location)) == {"web1"}
    assert set(fleet(store_location, scan_id="s1")) == {"web1", "db1"}  # the fleet as it stood after s1
    with open_store(store_location, readonly=True) as st:
        (ret,) = st.retirements()
        assert (ret.key, ret.reason) == (host("db1", 2).host_id, "decommissioned")
        assert len(st.load_run("s1").hosts) == 2  # the run itself stays in history


def test_retiring_a_retired_host_again_records_nothing(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1), ok("s1", "db1", 2)))
    with open_store(store_location) as st:
        (first,) = st.retire(["db1"], "decommissioned")
    with open_store(store_location) as st:
        db1, web1 = st.retire(["db1", "web1"], "twice")
    assert (db1.name, db1.new, db1.retirement) == ("db1", False, first.retirement), "the retirement in force"
    assert (web1.name, web1.new, web1.retirement.reason) == ("web1", True, "twice")
    with open_store(store_location, readonly=True) as st:
        assert st.retirements() == [first.retirement, web1.retirement]
        assert st.load_scan().hosts == ()


def test_a_host_inventoried_after_its_retirement_is_retired_anew(store_location):
    old = [{"key": host(name, n).host_id, "at": "2026-06-10T00:00:00Z", "reason": "old"} for name, n in
           (("web1", 1), ("db1", 2))]
    with open_store(store_location) as st:
        st.import_documents({"retired": old})
        st.save_scan(run("s1", ok("s1", "web1", 1), ok("s1", "db1", 2)))  # inventoried on 2026-06-01
        st.save_scan(run("s2", ok("s2", "web1", 1)))  # web1 again on 2026-06-15: back in the fleet
    assert set(fleet(store_location)) == {"web1"}
    with open_store(store_location) as st:
        db1, web1 = st.retire(["db1", "web1"])
    assert (db1.new, db1.retirement.at, db1.retirement.reason) == (False, "2026-06-10T00:00:00Z", "old")
    assert web1.new and web1.retirement.at > "2026-06-15"
    with open_store(store_location, readonly=True) as st:
        assert len(st.retirements()) == 3 and st.load_scan().hosts == ()


def test_as_of_a_date_rebuilds_the_fleet_of_then(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1)))
        st.save_scan(run("s2", ok("s2", "web1", 1, (inst("bash", "5.3"),)), ok("s2", "db1", 2)))
    assert fleet(store_location, as_of=dt.date(2026, 5, 31)) == {}
    then = fleet(store_location, as_of=dt.date(2026, 6, 10))
    assert list(then) == ["web1"] and then["web1"].installations[0].name == "bash"
    assert len(then["web1"].installations) == 2
    assert set(fleet(store_location, as_of=dt.date(2026, 6, 15))) == {"web1", "db1"}


def entitlement(ent_id, quantity=16):
    return Entitlement(ent_id, "Oracle", "Database", "processor", quantity, "po.csv:2", edition="Enterprise",
                       keys=("AAAAA-BBBBB",))


def test_entitlements_add_and_remove(store_location):
    with open_store(store_location) as st:
        assert st.add_entitlements([entitlement("e1"), entitlement("e2"), entitlement("e1", 99)]) == 2
    with open_store(store_location) as st:
        assert st.add_entitlements([entitlement("e2", 5), entitlement("e3")]) == 1
        assert st.remove_entitlement("e1") is True
        assert st.remove_entitlement("e1") is False
    with open_store(store_location, readonly=True) as st:
        assert st.entitlements() == [entitlement("e2"), entitlement("e3")]


def test_an_entitlements_choice_of_licensing_the_host_is_kept(store_location):
    chosen = Entitlement("e9", "Microsoft", "SQL Server", "core", 16, "licences/sql.yml:3", pack_size=2,
                         maintenance_end="2027-06-30", licensing="host")
    with open_store(store_location) as st:
        st.add_entitlements([chosen, entitlement("e1")])
    with open_store(store_location, readonly=True) as st:
        assert st.entitlements() == [chosen, entitlement("e1")]
        assert [e.licensing for e in st.entitlements()] == ["host", None]


def test_finding_states_outbox_and_summaries(store_location):
    with open_store(store_location) as st:
        st.save_finding_states([{"id": "f1", "first_seen": "s1", "notified": None}, {"id": "f2", "first_seen": "s1"}])
        st.save_deliveries([{"delivery_id": "d1", "attempts": 0}, {"delivery_id": "d2", "attempts": 0}])
        st.save_scan_summary({"scan_id": "s1", "non_compliant": 3})
    with open_store(store_location) as st:
        st.save_finding_states([{"id": "f1", "notified": "opened"}])
        st.save_deliveries([{"delivery_id": "d1", "attempts": 2, "error": "timeout"}])
        st.remove_deliveries(["d2", "unknown"])
        st.save_scan_summary({"scan_id": "s1", "non_compliant": 4})
    with open_store(store_location, readonly=True) as st:
        assert st.finding_states() == [{"id": "f1", "first_seen": "s1", "notified": "opened"},
                                       {"id": "f2", "first_seen": "s1"}]
        assert st.deliveries() == [{"delivery_id": "d1", "attempts": 2, "error": "timeout"}]
        assert st.scan_summaries() == {"s1": {"scan_id": "s1", "non_compliant": 4}}


def test_an_exception_discards_the_whole_session(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1)))
    with open_store(store_location, readonly=True) as st:
        before = st.export_documents()
    with pytest.raises(RuntimeError):
        with open_store(store_location) as st:
            st.save_scan(run("s2", ok("s2", "web2", 2, (inst("new"),))))
            st.add_entitlements([entitlement("e1")])
            st.save_finding_states([{"id": "f1"}])
            st.retire(["web1"])
            raise RuntimeError("rejected half way")
    with open_store(store_location, readonly=True) as st:
        assert st.export_documents() == before


def test_a_scan_id_is_stored_once(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1)))
    with pytest.raises(StoreError, match="already stored"):
        with open_store(store_location) as st:
            st.save_scan(run("s1", ok("s1", "web1", 1)))


def test_a_reader_cannot_write(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1)))
    with pytest.raises(StoreError, match="opened for reading"):
        with open_store(store_location, readonly=True) as st:
            st.add_entitlements([entitlement("e1")])
    with open_store(store_location, readonly=True) as st:
        assert st.entitlements() == []


def test_concurrent_writers_all_commit(store_location):
    errors = []

    def writer(n):
        try:
            sid = f"c{n}"
            with open_store(store_location) as st:
                known = len(st.scans())
                time.sleep(0.05)  # hold the session a while: the others must wait, not overwrite
                st.save_scan(run(sid, ok(sid, f"host{n}", 100 + n, (inst(f"pkg{n}"),)), day=f"2026-08-0{n + 1}"))
                st.save_finding_states([{"id": f"f{n}", "seen_before": known}])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(fleet(store_location)) == {"host0", "host1", "host2", "host3"}
    with open_store(store_location, readonly=True) as st:
        assert sorted(d["seen_before"] for d in st.finding_states()) == [0, 1, 2, 3]  # each saw the ones before


def test_a_reader_answers_during_a_write(store_location):
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1)))
    with open_store(store_location) as writer:
        writer.save_scan(run("s2", ok("s2", "web2", 2)))
        t0 = time.monotonic()
        assert set(fleet(store_location)) == {"web1"}  # the last committed state, not the write in progress
        assert time.monotonic() - t0 < 5
    assert set(fleet(store_location)) == {"web1", "web2"}


def test_a_second_writer_waits_then_gives_up_with_a_clear_message(store_location, monkeypatch):
    monkeypatch.setenv("FLEETSAM_LOCK_TIMEOUT", "0.3")
    with open_store(store_location):
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"busy for 0.3 s \(FLEETSAM_LOCK_TIMEOUT\); nothing was written"):
            open_store(store_location)
        assert time.monotonic() - t0 >= 0.3, "a writer waits its turn before giving up"


HOSTILE = ("nul\x00in the middle", "\U0010ffff0 looks like an escaped NUL", "\U0010ffff\U0010ffff\x00",
           "back\\u0000slash", "<b>&amp;</b>", "=cmd|' /C calc'!A0", "line\nbreak")


def test_hostile_strings_come_back_exactly_as_stored(store_location):
    """JSONB refuses NUL, so PostgreSQL escapes it: every string comes back as written, on either backend."""
    items = tuple(inst(name, version=name) for name in HOSTILE)
    with open_store(store_location) as st:
        st.save_scan(run("s1", ok("s1", "web1", 1, items)))
        st.add_entitlements([replace(entitlement("e1"), product=HOSTILE[0], po_number=HOSTILE[1])])
    got = fleet(store_location)["web1"]
    assert {(i.name, i.version) for i in got.installations} == {(n, n) for n in HOSTILE}
    with open_store(store_location, readonly=True) as st:
        assert [(e.product, e.po_number) for e in st.entitlements()] == [HOSTILE[:2]]
