"""playbooks/scan.yml through ansible-runner (as AWX runs it) against this machine: each host's job
event stays small, the reports land in the job's artifacts folder, the fleetsam summary is one
structured event, and `fleetsam report` writes the same reports anywhere from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EVENT_LIMIT = 8 * 1024  # bytes of one host's runner_on_ok event of the collector task
COLLECTOR = "fleetsam.sam.collect"  # the software_inventory role's one task


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSAM_", "AWX_", "ANSIBLE_"))}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One ansible_runner.run of scan.yml with a private data dir, a local one-host inventory and a
    TinyDB store outside the job (the shared store)."""
    import ansible_runner

    work = tmp_path_factory.mktemp("runner")
    (work / "private").mkdir()
    (work / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    settings = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "FLEETSAM_STORE": str(work / "store.json"),
                "FLEETSAM_SPOOL_DIR": str(work / "spool")}
    old = dict(os.environ)
    for name in [k for k in os.environ if k.startswith(("FLEETSAM_", "AWX_"))]:
        del os.environ[name]  # runner starts ansible-playbook with this environment and its envvars
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        result = ansible_runner.run(private_data_dir=str(work / "private"), project_dir=str(REPO),
                                    playbook="playbooks/scan.yml", inventory=str(work / "hosts.ini"),
                                    envvars=settings, quiet=True)
    finally:
        os.environ.clear()
        os.environ.update(old)
    events = list(result.events)
    assert result.status == "successful", result.stdout.read()
    return work, Path(result.config.artifact_dir), events


def test_a_hosts_collector_event_is_a_few_kb(job):
    work, artifacts, events = job
    (event,) = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"].get("resolved_action") == COLLECTOR]
    res = event["event_data"]["res"]
    size = len(json.dumps(event).encode())
    assert size <= EVENT_LIMIT, f"{size} bytes"
    assert "software_json" not in res and res["fleetsam_handoff"]["bytes"] > 50_000, "the list went by file"
    assert res["host"]["machine_id"], "the host facts stay in the event"
    packages = sum(s["count"] for s in res["sources"].values())
    (summary,) = [e["event_data"]["fleetsam"] for e in events if "fleetsam" in e.get("event_data", {})]
    assert summary["run"]["packages"] == packages > 100, "nothing of the list was lost on the way"


def test_the_summary_is_one_structured_event(job):
    work, artifacts, events = job
    (event,) = [e for e in events if "fleetsam" in e.get("event_data", {})]
    summary = event["event_data"]["fleetsam"]
    stored = subprocess.run([str(BIN / "fleetsam"), "scans", "--format", "json"], capture_output=True, text=True,
                            env=clean_env(FLEETSAM_STORE=str(work / "store.json")), check=True)
    assert summary["scan_id"] == json.loads(stored.stdout)[-1]["scan_id"]
    assert summary["run"] == {"ok": 1, "unreachable": 0, "failed": 0, "stale_kept": 0,
                              "packages": summary["run"]["packages"]}
    assert summary["fleet"] == {"hosts": 1, "inventoried": 1, "stale": 0}
    assert summary["findings"]["violations"] == 0 and summary["entitlements"] == 0
    assert summary["position"]["products"] == sum(summary["position"]["by_status"].values()) > 0
    assert [Path(p).name for p in summary["reports"]][:2] == ["index.html", "report.json"]
    assert all(Path(p).parent == artifacts / "fleetsam-reports" and Path(p).is_file() for p in summary["reports"])
    assert event["stdout"].splitlines()[0].startswith(f"fleetsam: scan {summary['scan_id']}: hosts ok=1")
    text_events = [e for e in events if e["event"] == "verbose" and "fleetsam:" in e.get("stdout", "")]
    assert text_events == [event], "the summary is not repeated as lines of their own"


def test_fleetsam_report_writes_the_same_reports_from_the_store(job, tmp_path):
    work, artifacts, events = job
    subprocess.run([str(BIN / "fleetsam"), "report", "--report-dir", str(tmp_path)], check=True,
                   capture_output=True, env=clean_env(FLEETSAM_STORE=str(work / "store.json")))
    in_job = json.loads((artifacts / "fleetsam-reports" / "report.json").read_text())
    again = json.loads((tmp_path / "report.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (artifacts / "fleetsam-reports").iterdir())
    assert again["hosts"] == in_job["hosts"] and again["summary"]["hosts_ok"] == 1


def test_plain_ansible_playbook_prints_lines_and_a_small_run_no_progress(tmp_path):
    (tmp_path / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", "hosts.ini", str(REPO / "playbooks" / "scan.yml")],
                         cwd=tmp_path, env=clean_env(FLEETSAM_INSTALLATIONS_CSV="false"), capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("fleetsam: ")]
    assert lines[0] == "fleetsam: hosts ok=1 unreachable=0 failed=0" and lines[-1].startswith("fleetsam: report: ")
    assert not [line for line in lines if line.startswith(("fleetsam: ingest", "fleetsam: reconcile:"))]
    assert (tmp_path / "reports" / "index.html").is_file(), "not under ansible-runner: reports/ of the project"


def test_when_the_engine_fails_the_event_names_the_kept_spool(tmp_path, monkeypatch):
    import ansible_runner

    (tmp_path / "private").mkdir()
    (tmp_path / "store.json").mkdir()  # a folder where the store file should be: the engine cannot open it
    (tmp_path / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    for name in [k for k in os.environ if k.startswith(("FLEETSAM_", "AWX_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = ansible_runner.run(private_data_dir=str(tmp_path / "private"), project_dir=str(REPO),
                                playbook="playbooks/scan.yml", inventory=str(tmp_path / "hosts.ini"), quiet=True,
                                envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                                         "FLEETSAM_STORE": str(tmp_path / "store.json"),
                                         "FLEETSAM_SPOOL_DIR": str(tmp_path / "spool")})
    events = list(result.events)
    (summary,) = [e["event_data"]["fleetsam"] for e in events if "fleetsam" in e.get("event_data", {})]
    assert summary["run"] == {"ok": 1, "unreachable": 0, "failed": 0}
    assert Path(summary["spool"], "run.json").is_file() and Path(summary["spool"]).name == summary["scan_id"]
    assert any(e["event"] == "warning" and "processing the run failed" in e["stdout"] for e in events)
    (host_file,) = Path(summary["spool"], "hosts").iterdir()
    kept = json.loads(host_file.read_text())["result"]
    assert len(kept["software"]) > 100 and "fleetsam_handoff" not in kept, "the kept spool holds the whole list"
