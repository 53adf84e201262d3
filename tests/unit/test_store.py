"""The TinyDB store: snapshots, content-addressed inventories, atomic sessions."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sam_engine.model import Hardware, Host, HostScan, HostStatus, Installation, Scan, Virtualization
from sam_engine.store.interface import StoreError
from sam_engine.store import open_store, tinydb_store


def inst(name, version="1.0"):
    return Installation("dpkg", name, version, "amd64", "Debian", None, f"dpkg:{name}:amd64")


HOST = Host("machine-id:aa", "web1", "machine-id", "web1", "web1.example", "Linux", "Debian GNU/Linux", "12",
            "6.1", Hardware(2, 16, 32, "GenuineIntel", "Xeon", Virtualization.VM, "kvm", 4096))


def scan(scan_id, *hosts):
    return Scan(scan_id, "2026-11-29T00:00:00Z", "2026-11-29T00:01:00Z", "0.1.0", "scan.yml", tuple(hosts))


def ok(scan_id, name="web1", items=(inst("bash"), inst("curl", "7.88"))):
    return HostScan(scan_id, name, HostStatus.OK, HOST, tuple(items), inventory_scan_id=scan_id)


def test_round_trip(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.save_scan(scan("s1", ok("s1")))
    with open_store(str(path)) as st:
        got = st.load_scan()
    assert got.scan_id == "s1"
    (hs,) = got.hosts
    assert hs.host == HOST
    assert sorted(hs.installations, key=lambda i: i.name) == [inst("bash"), inst("curl", "7.88")]
    assert hs.status is HostStatus.OK and not hs.stale


def test_unchanged_inventory_is_stored_once(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.save_scan(scan("s1", ok("s1")))
    with open_store(str(path)) as st:
        st.save_scan(scan("s2", ok("s2")))
        assert [i.scan_id for i in st.scans()] == ["s1", "s2"]
    data = json.loads(path.read_text())
    assert len(data["inventories"]) == 1
    assert len(data["host_scans"]) == 2


def test_last_inventory_is_the_newest(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.save_scan(scan("s1", ok("s1")))
        st.save_scan(scan("s2", ok("s2", items=(inst("bash", "5.2"),))))
        last = st.last_inventory("web1")
        assert last.scan_id == "s2" and last.installations == (inst("bash", "5.2"),)
        assert st.last_inventory("nobody") is None


def test_failed_session_leaves_store_byte_identical(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.save_scan(scan("s1", ok("s1")))
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with open_store(str(path)) as st:
            st.save_scan(scan("s2", ok("s2", items=(inst("new"),))))
            raise RuntimeError("rejected half way")
    assert path.read_bytes() == before


def test_duplicate_scan_id_rejected(tmp_path):
    path = str(tmp_path / "store.json")
    with open_store(path) as st:
        st.save_scan(scan("s1", ok("s1")))
    with pytest.raises(StoreError, match="already stored"):
        with open_store(path) as st:
            st.save_scan(scan("s1", ok("s1")))


def test_second_writer_waits_then_gives_up_with_a_clear_message(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("FLEETSAM_LOCK_TIMEOUT", "0.3")
    path = str(tmp_path / "store.json")
    with open_store(path):
        t0 = time.monotonic()
        with pytest.raises(StoreError, match=r"busy for 0.3 s \(FLEETSAM_LOCK_TIMEOUT\); nothing was written"):
            open_store(path)
        assert time.monotonic() - t0 >= 0.3, "a writer waits its turn before giving up"


def test_corrupt_file_is_a_located_error(tmp_path):
    path = tmp_path / "store.json"
    path.write_text('{"scans": {\n  "1": oops}\n')
    with pytest.raises(StoreError, match=r"store.json:2:\d+"):
        open_store(str(path))
    assert path.read_text() == '{"scans": {\n  "1": oops}\n'


def test_foreign_json_is_refused(tmp_path):
    path = tmp_path / "store.json"
    path.write_text('{"meta": {"1": {"format": "something-else"}}}')
    with pytest.raises(StoreError, match="unsupported store format"):
        open_store(str(path))


# --- entitlements ------------------------------------------------------------------------

def entitlement(ent_id, keys=("AAAAA-BBBBB-CCCCC-DDDDD-7H3KQ",), quantity=16):
    from sam_engine.model import Entitlement

    return Entitlement(ent_id, "Oracle", "Database", "processor", quantity, "po.csv:2", edition="Enterprise",
                       suite_components=("Partitioning",), unit_cost="47500.00", currency="USD", keys=keys)


def test_entitlements_round_trip_and_keep_their_keys(tmp_path):
    path = str(tmp_path / "store.json")
    with open_store(path) as st:
        assert st.entitlements() == []
        assert st.add_entitlements([entitlement("ent-1"), entitlement("ent-2", keys=())]) == 2
    with open_store(path) as st:
        assert st.entitlements() == [entitlement("ent-1"), entitlement("ent-2", keys=())]


def test_add_entitlements_skips_known_ids_and_leaves_them_unchanged(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.add_entitlements([entitlement("ent-1")])
    before = path.read_bytes()
    with open_store(str(path)) as st:
        assert st.add_entitlements([entitlement("ent-1", quantity=99)]) == 0
    assert path.read_bytes() == before
    with open_store(str(path)) as st:
        assert st.add_entitlements([entitlement("ent-2"), entitlement("ent-2")]) == 1
        assert [e.quantity for e in st.entitlements()] == [16, 16]


def test_remove_entitlement(tmp_path):
    path = str(tmp_path / "store.json")
    with open_store(path) as st:
        st.add_entitlements([entitlement("ent-1"), entitlement("ent-2")])
    with open_store(path) as st:
        assert st.remove_entitlement("ent-1") is True
        assert st.remove_entitlement("ent-1") is False
    with open_store(path) as st:
        assert [e.entitlement_id for e in st.entitlements()] == ["ent-2"]


def test_rejected_entitlement_session_leaves_store_byte_identical(tmp_path):
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.add_entitlements([entitlement("ent-1")])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with open_store(str(path)) as st:
            st.add_entitlements([entitlement("ent-2")])
            st.remove_entitlement("ent-1")
            raise RuntimeError("rejected import")
    assert path.read_bytes() == before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=5))
def test_the_store_file_is_json_dumps_byte_for_byte(data):
    """The fast writer (orjson) writes what ``json.dumps`` wrote before it for what a store holds (text with
    control characters, markup and non-BMP characters, integers, booleans, nulls), so a store's bytes do not
    depend on which one ran. A float (no stored document has one) is the same value in another notation."""
    assert tinydb_store._encoded(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(tinydb_store._encoded({"x": 6.103515625e-05})) == {"x": 6.103515625e-05}


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=5))
def test_the_fast_reader_reads_what_json_reads(data):
    """A store file is read by orjson: the same document as ``json.loads`` of the same bytes."""
    raw = tinydb_store._encoded(data)
    assert tinydb_store._decoded(raw, Path("s.json")) == json.loads(raw) == data


def test_what_the_fast_reader_refuses_is_read_by_json_with_the_same_errors(tmp_path):
    """orjson refuses a lone surrogate escape (a store written by hand or by another tool) and an integer
    beyond 64 bits: json reads them as before; a file that is no JSON names its line and column."""
    read = tinydb_store._decoded
    assert read(b'{"name": "bad\\udc80", "n": 1180591620717411303424}', Path("s.json")) == {
        "name": "bad\udc80", "n": 2**70}
    assert read(b" \n", Path("s.json")) is None
    with pytest.raises(StoreError, match=r"s.json:2:5: not a fleetsam store: Expecting"):
        read(b'{"a":\n    }', Path("s.json"))
    path = tmp_path / "fleet.json"
    path.write_bytes(b'{"meta": {"1": {"format": "fleetsam", "version": 3}}, "scans": {"1": {"scan_id": "s\\ud800", '
                     b'"started": "2026-06-01T00:00:00Z", "finished": "2026-06-01T00:01:00Z"}}}')
    with open_store(str(path), readonly=True) as store:
        assert [s.scan_id for s in store.scans()] == ["s\ud800"]


def test_what_the_fast_writer_refuses_is_written_by_json_or_refused_as_before():
    big = {"n": 2**70}  # beyond orjson's 64 bits
    assert tinydb_store._encoded(big) == b'{"n":1180591620717411303424}'
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate never reaches a store file
        tinydb_store._encoded({"name": "bad\udc80"})
