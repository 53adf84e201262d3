"""The collectors hand their bulk to the collector callback as a file (small job events): what the
engine reads from the spool is the same as when the module's whole result reached the callback."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from ansible_collections.fleetsam.sam.plugins.callback import collector
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers
from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans
from sam_engine.ingest.inventory import RowTable

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
HOST = {"machine_id": "4c4c4544004a3510804bb4c04f4e3332", "hostname": "web1", "lscpu": "0,0,0\n", "system": "Linux"}


@pytest.fixture
def dpkg_result(real_fixtures):
    """A software_facts result (software_format: json) of a real Ubuntu 18.04 dpkg database."""
    text = (real_fixtures / "linux" / "trivy_ubuntu18.04_var-lib-dpkg-status").read_text(encoding="utf-8")
    records = pkg_parsers.parse_dpkg_status(text)
    assert len(records) > 50
    return {"changed": False, "sources": {"dpkg": {"status": "ok", "count": len(records)}}, "host": HOST,
            "software_json": json.dumps(records, separators=(",", ":"))}


def recorded(name):
    """A recorded collector result (Windows or macOS), without the fixture's provenance note."""
    result = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    result.pop("_provenance", None)
    return result


@pytest.fixture
def callback(tmp_path, monkeypatch):
    monkeypatch.setattr(collector.CallbackModule, "get_option",
                        lambda self, name: str(tmp_path / "spool") if name == "spool_dir" else None)
    monkeypatch.setenv(spool.HANDOFF_ENV, "")  # restored afterwards: the callback sets it for the run
    cb = collector.CallbackModule()
    cb._start_run("scan.yml")
    return cb


def inventory(run_dir, name):
    """The installations (as rows) and host the engine reads for ``name`` from the spool."""
    run, problems = ingest.read_spool(run_dir)
    (raw,) = [h for h in run.hosts if h.inventory_name == name]
    scan, more = host_scans.reached_host_scan(run.scan_id, raw, RowTable())
    assert not problems
    return sorted(repr(i) for i in scan.installations), replace(scan.host, inventory_name="-"), raw.status


@pytest.mark.parametrize("kind", ["dpkg", "windows_composite-host.json", "macos_arm64-sample6.json"])
def test_handed_over_bulk_reads_as_the_whole_result(callback, dpkg_result, kind):
    result = dpkg_result if kind == "dpkg" else recorded(kind)
    callback._record("inline", "ok", result=dict(result))
    assert os.environ[spool.HANDOFF_ENV] == os.path.join(callback._run_dir, "handoff"), "announced to the workers"
    small = spool.hand_off(json.loads(json.dumps(result)), "handed")
    ref = small[spool.HANDOFF_KEY]
    assert not set(small) & set(spool.RAW_FIELDS) and len(json.dumps(small)) < 4096, "only a reference is left"
    assert ref["bytes"] > 8192 and os.listdir(callback._run_dir + "/handoff") == [ref["file"]]
    callback._record("handed", "ok", result=small)
    assert os.listdir(callback._run_dir + "/handoff") == [], "read back and removed"
    assert inventory(callback._run_dir, "handed") == inventory(callback._run_dir, "inline")


def test_records_are_handed_over_as_json_text(callback, dpkg_result):
    records = json.loads(dpkg_result.pop("software_json"))
    small = spool.hand_off({**dpkg_result, "software": records}, "web1")
    assert small[spool.HANDOFF_KEY]["field"] == "software_json" and "software" not in small
    callback._record("web1", "ok", result=small)
    doc = json.loads(next(Path(callback._run_dir, "hosts").iterdir()).read_text())
    assert doc["status"] == "ok" and doc["result"]["software"] == records


def test_without_the_callback_the_result_is_the_modules_own(dpkg_result, tmp_path, monkeypatch):
    monkeypatch.delenv(spool.HANDOFF_ENV, raising=False)
    assert spool.hand_off(dict(dpkg_result), "web1") == dpkg_result
    monkeypatch.setenv(spool.HANDOFF_ENV, str(tmp_path / "gone"))  # a stale value from elsewhere
    assert spool.hand_off(dict(dpkg_result), "web1") == dpkg_result
    failed = {"failed": True, "msg": "No package source could be read on this host", "software": []}
    assert spool.hand_off(dict(failed), "web1", str(tmp_path)) == failed and not os.listdir(tmp_path)


def test_a_module_cannot_forge_a_reference(callback, dpkg_result):
    forged = {"field": "software_json", "file": "../../../etc/passwd", "bytes": 1, "sha256": "0"}
    small = spool.hand_off({**dpkg_result, spool.HANDOFF_KEY: forged}, "web1")
    assert small[spool.HANDOFF_KEY] != forged, "the action plugin sets the key, never the module"
    callback._record("web1", "ok", result={"changed": False, "host": HOST, spool.HANDOFF_KEY: forged})
    doc = json.loads(next(Path(callback._run_dir, "hosts").iterdir()).read_text())
    assert doc["status"] == "failed" and "does not belong to this host" in doc["error"]


@pytest.mark.parametrize("damage, message", [
    ("other host", "does not belong to this host"),
    ("missing", "unreadable"),
    ("changed", "differs from what the collector wrote"),
    ("not a list", "software_json is not a JSON array"),
])
def test_a_wrong_hand_over_fails_its_host_with_a_clear_error(callback, dpkg_result, damage, message):
    if damage == "not a list":
        dpkg_result["software_json"] = '{"source": "dpkg"}'
    small = spool.hand_off(dict(dpkg_result), "web1")
    path = Path(callback._run_dir, "handoff", small[spool.HANDOFF_KEY]["file"])
    if damage == "missing":
        path.unlink()
    elif damage == "changed":
        path.write_text(path.read_text().replace('"dpkg"', '"rpm!"', 1))
    host = "web2" if damage == "other host" else "web1"
    callback._record(host, "ok", result=small)
    doc = json.loads(next(Path(callback._run_dir, "hosts").iterdir()).read_text())
    assert (doc["status"], doc["result"]) == ("failed", None) and message in doc["error"]
    assert callback._status[host] == "failed"
