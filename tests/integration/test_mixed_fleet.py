"""A mixed fleet: the Linux SSH test hosts scanned for real, plus recorded Windows and
macOS collector results, give one store, one position and one report.

No Windows or macOS host exists here, so their module outputs are the recorded ones
under tests/fixtures/recorded (built from real captures, following each module's
documented RETURN). They join the real run through the spool, the engine's input
contract: the playbook's spool is kept, the recorded hosts are added to it, and
``fleetsam ingest`` processes the whole run into a fresh store.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECORDED = REPO / "tests" / "fixtures" / "recorded"


def add_recorded_host(spool: Path, name: str, fixture: str) -> None:
    result = json.loads((RECORDED / fixture).read_text())
    result.pop("_provenance", None)
    entry = {"inventory_name": name, "status": "ok", "result": result, "error": None,
             "collected_at": "2026-11-29T00:00:00Z", "groups": ["all", "desktops"]}
    (spool / "hosts" / f"{name}.json").write_text(json.dumps(entry))


def test_linux_windows_and_macos_in_one_store_position_and_report(fleet, tmp_path):
    env = fleet.ansible_env(FLEETSAM_STORE=str(tmp_path / "scan-store.json"),
                            FLEETSAM_REPORT_DIR=str(tmp_path / "scan-reports"),
                            FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"), FLEETSAM_KEEP_SPOOL="true")
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(fleet.inventory), str(REPO / "playbooks/scan.yml")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    (kept,) = list((tmp_path / "spool").iterdir())
    mixed = tmp_path / "mixed-spool"
    shutil.copytree(kept, mixed)
    add_recorded_host(mixed, "win-sql01", "windows_composite-host.json")
    add_recorded_host(mixed, "mac-design01", "macos_arm64-sample6.json")

    store, reports = tmp_path / "mixed-store.json", tmp_path / "mixed-reports"
    ingest = subprocess.run([str(BIN / "fleetsam"), "--store", str(store), "ingest", str(mixed),
                             "--report-dir", str(reports)], cwd=REPO, env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "hosts ok=5 unreachable=0 failed=0" in ingest.stdout

    report = json.loads((reports / "report.json").read_text())
    hosts = {h["inventory_name"]: h for h in report["hosts"]}
    assert set(hosts) == set(fleet.hosts) | {"win-sql01", "mac-design01"}
    assert all(h["status"] == "ok" and h["package_count"] > 0 for h in hosts.values())
    assert len({h["host_id"] for h in hosts.values()}) == 5

    position = json.loads(subprocess.run(
        [str(BIN / "fleetsam"), "--store", str(store), "position", "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout)
    products = {(p["publisher"], p["product"], p["edition"]): p for p in position["products"]}
    sql = products[("Microsoft", "SQL Server", "Standard")]  # the instance's edition, from its Setup key
    assert {i["host"] for i in sql["installation_list"]} == {"win-sql01"}
    assert sql["metric"] == "core" and sql["consumption"] == 4  # a 2-vCPU VM: 4-core minimum per VM
    assert any(i["host"] == "mac-design01" for p in position["products"] for i in p["installation_list"])
    assert any(i["host"] == "debian" for p in position["products"] for i in p["installation_list"])
    assert (reports / "index.html").stat().st_size > 0
