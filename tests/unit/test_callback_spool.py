"""The collector callback's spool files: a package list given as JSON text is checked, then kept verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.fleetsam.sam.plugins.callback import collector
from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool

from sam_engine.ingest import spool as ingest

from sam_engine.ingest import host_scans

RECORDS = [{"source": "dpkg", "name": "bash", "version": "5.2.15-2+b7", "arch": "amd64", "vendor": "Debian",
            "install_time": 1700000000, "package_id": "dpkg:bash:amd64", "location": None, "extra": {}},
           {"source": "dpkg", "name": 'quote " and \\u0000', "version": "1", "arch": "all", "vendor": None,
            "install_time": None, "package_id": "dpkg:odd", "location": None, "extra": {}}]
HOST = {"machine_id": "abc", "hostname": "web1", "lscpu": "0,0,0\n", "system": "Linux"}


@pytest.fixture
def callback():
    cb = collector.CallbackModule()
    cb._start_run("scan.yml")  # the spool directory comes from the plugin option
    return cb


@pytest.fixture(autouse=True)
def spool_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(spool.HANDOFF_ENV, "")  # restored afterwards: the callback sets it for the run
    monkeypatch.setattr(collector.CallbackModule, "get_option",
                        lambda self, name: str(tmp_path / "spool") if name == "spool_dir" else None)


def host_file(cb, name):
    (path,) = [p for p in Path(cb._run_dir, "hosts").iterdir() if p.name.startswith(name)]
    return path


def test_json_text_is_written_unchanged_and_reads_as_records(callback):
    text = json.dumps(RECORDS, separators=(",", ":"))
    callback._record("web1", "ok", result={"changed": False, "software_json": text, "host": HOST, "sources": {}})
    raw = host_file(callback, "web1").read_text()
    assert text in raw, "the module's text is kept byte for byte"
    doc = json.loads(raw)
    assert doc["result"]["software"] == RECORDS and "software_json" not in doc["result"]
    assert doc["status"] == "ok" and callback._status == {"web1": "ok"}
    run, problems = ingest.read_spool(callback._run_dir)
    assert not problems and [h.inventory_name for h in run.hosts] == ["web1"]


@pytest.mark.parametrize("text", ['[{"source": "dpkg"}], "status": "ok"', '{"a": 1}', "not json", "", "[1, 2"])
def test_anything_but_one_json_array_marks_the_host_failed(callback, text):
    callback._record("web2", "ok", result={"changed": False, "software_json": text, "sources": {}})
    doc = json.loads(host_file(callback, "web2").read_text())
    assert (doc["status"], doc["result"]) == ("failed", None) and "not a JSON array" in doc["error"]
    assert callback._status["web2"] == "failed"


def test_the_marker_in_another_field_cannot_move_the_text(callback):
    result = {"changed": False, "software_json": json.dumps(RECORDS), "sources": {"x": spool.MARK}}
    callback._record("web3", "ok", result=result)
    doc = json.loads(host_file(callback, "web3").read_text())
    assert doc["status"] == "failed" and "marker" in doc["error"]


def test_records_as_a_list_are_written_as_before(callback):
    callback._record("web4", "ok", result={"changed": False, "software": RECORDS, "sources": {}})
    assert json.loads(host_file(callback, "web4").read_text())["result"]["software"] == RECORDS


def _play(tmp_path, hosts_pattern, limit=None, extra_vars=None):
    """A real play against a real inventory (ansible-core's loader, inventory and variable manager)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play import Play
    from ansible.vars.manager import VariableManager

    (tmp_path / "hosts.ini").write_text("[web]\nweb1\nweb2\n\n[db]\ndb1\n")
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.ini")])
    if limit:
        inventory.subset(limit)
    variables = VariableManager(loader=loader, inventory=inventory)
    if extra_vars:
        variables._extra_vars = extra_vars
    return Play.load({"hosts": hosts_pattern, "gather_facts": False, "tasks": []}, variable_manager=variables,
                     loader=loader)


@pytest.mark.parametrize("pattern, limit, scope", [("all", None, ["db1", "web1", "web2"]),
                                                   ("web", None, ["web1", "web2"]),
                                                   ("all", "web1,db1", ["db1", "web1"]),
                                                   ("web", "db1", None)])
def test_the_run_records_the_hosts_its_scanning_plays_target(callback, tmp_path, pattern, limit, scope):
    callback.v2_playbook_on_play_start(_play(tmp_path, pattern, limit))
    callback._scanning(False)  # a collector task starts in this play
    assert (sorted(callback._scope.hosts(False)) or None) == scope and callback._scope.known(False)


def test_awx_job_ids_group_the_runs(callback, tmp_path, monkeypatch):
    play = _play(tmp_path, "all", extra_vars={"awx_job_id": 41, "awx_workflow_job_id": 40})
    assert callback._scan_group(play) == "awx-workflow-40", "the slices of one sliced job share it"
    assert callback._scan_group(_play(tmp_path, "all", extra_vars={"tower_job_id": 7})) == "awx-job-7"
    assert callback._scan_group(_play(tmp_path, "all")) is None


def test_a_hypervisor_result_joins_the_host_software_result(callback, real_fixtures):
    hypervisor = json.loads((real_fixtures / "libvirt" / "node.hypervisor.json").read_text())
    callback._record("kvm01", "ok", result={"changed": False, "software": RECORDS, "host": HOST, "sources": {}})
    callback._attach("kvm01", "hypervisor", hypervisor)
    callback._attach("nohost", "hypervisor", hypervisor)  # no software result in the run: not stored
    run, problems = ingest.read_spool(callback._run_dir)
    scan, more = host_scans.build_scan(run, lambda name: None)
    (hs,) = scan.hosts
    assert not problems and not more and len(hs.installations) == 2
    assert [g.name for g in hs.topology.guests] == ["db01", "web01", "batch01"]


def test_a_failed_hypervisor_collector_is_a_warning_and_keeps_the_software(callback):
    callback._record("kvm02", "ok", result={"changed": False, "software": RECORDS, "host": HOST, "sources": {}})
    callback._attach("kvm02", "hypervisor_error", "virsh nodeinfo failed: the libvirt connection cannot be read")
    run, _ = ingest.read_spool(callback._run_dir)
    scan, _ = host_scans.build_scan(run, lambda name: None)
    (hs,) = scan.hosts
    assert hs.status.value == "ok" and len(hs.installations) == 2 and hs.topology is None
    assert hs.warnings[-1].startswith(host_scans.HYPERVISOR_FAILED) and "cannot be read" in hs.warnings[-1]


class _Result:
    """What the callback reads of a task result: the host, the task's action and the result."""

    def __init__(self, host, result, check_mode=False):
        self._host = type("Host", (), {"get_name": lambda s: host, "get_groups": lambda s: []})()
        self._task = type("Task", (), {"resolved_action": "fleetsam.sam.software_facts", "action": "x",
                                       "check_mode": check_mode})()
        self._result = result


@pytest.mark.parametrize("engine, check_mode, imports", [(True, False, 1), (False, False, 0), (True, True, 0)])
def test_the_engine_is_imported_once_at_the_first_collector_result(callback, tmp_path, monkeypatch, engine,
                                                                   check_mode, imports):
    calls = []
    monkeypatch.setattr(collector.job, "import_engine", lambda: calls.append(1) or True)
    monkeypatch.setattr(collector.CallbackModule, "get_option", lambda self, name: (
        str(tmp_path / "spool") if name == "spool_dir" else engine if name == "engine" else None))
    for name in ("web1", "web2", "web3"):
        callback.v2_runner_on_ok(_Result(name, {"changed": False, "software": RECORDS, "host": HOST, "sources": {}},
                                         check_mode))
    assert len(calls) == imports
    assert sorted(callback._dry_status if check_mode else callback._status) == ["web1", "web2", "web3"]


def test_import_engine_imports_the_pipeline_in_a_fresh_interpreter():
    import subprocess
    import sys

    code = ("import sys; from ansible_collections.fleetsam.sam.plugins.plugin_utils import job; "
            "before = 'sam_engine.pipeline' in sys.modules; ok = job.import_engine(); "
            "print(before, ok, 'sam_engine.pipeline' in sys.modules)")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "collections"), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "True", "True"]


@pytest.mark.parametrize("engine, runner, events", [(False, True, [["db1", "web1", "web2"]]), (True, True, []),
                                                    (False, False, [])])
def test_fleetsam_scan_hears_the_hosts_to_scan_once_per_scanning_play(callback, tmp_path, monkeypatch, engine,
                                                                      runner, events):
    said = []
    monkeypatch.setattr(collector.CallbackModule, "get_option", lambda self, name: (
        str(tmp_path / "spool") if name == "spool_dir" else engine if name == "engine" else None))
    monkeypatch.setattr(collector.job, "artifact_dir", lambda: str(tmp_path) if runner else None)
    monkeypatch.setattr(collector.job, "display_event", lambda display, lines, data: said.append((lines, data)))
    monkeypatch.setattr(collector.engine.Standby, "start", classmethod(lambda cls, store, secrets: None))
    callback.v2_playbook_on_play_start(_play(tmp_path, "all", None))
    callback._scanning(False)
    callback._scanning(False)  # a second collector task of the same play: no new host
    assert [data["targets"] for _, data in said] == events
    assert all(lines == ["fleetsam: 3 hosts to scan"] for lines, _ in said)
