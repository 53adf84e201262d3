"""``fleetsam scan`` into one PostgreSQL store: four ansible-runner runs at once, the slices of a
12-host SSH fleet as AWX slices a job (one scan group), make one fleet of 12 hosts and share one
recognition cache in the database, none warning about it; a server
stopped during a run ends it with a clear message and exit 2, its spool kept for
``fleetsam ingest`` and every run committed before intact."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from pg_server import PASSWORD, PgServer
from test_scan_command import scan_env
from test_scan_fleet import BIN, REPO

sys.path.insert(0, str(REPO / "bench"))
from common import ansible_env as bench_env  # noqa: E402 - the checkout's ansible.cfg, as the benchmarks run
from fleet import Fleet as BenchFleet  # noqa: E402 - the benchmark's namespaced sshd hosts on 127.0.1.x

WORKFLOW_JOB = "4242"  # AWX gives every slice of a sliced job the same awx_workflow_job_id


def fleetsam(store: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "fleetsam"), "--store", store, *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def twelve_hosts(fleet, tmp_path):
    """12 sshd hosts (this machine's root, each with its own machine-id and hostname); ``fleet``
    only for its checks that this machine can run them (root, sshd, unshare)."""
    hosts = BenchFleet(12, tmp_path / "fleet12")
    (tmp_path / "fleet12").mkdir()
    try:
        hosts.start()
        yield hosts
    finally:
        hosts.stop()


def test_four_concurrent_slices_make_one_fleet_of_twelve(twelve_hosts, pg_server, tmp_path):
    db = pg_server.create_db()
    url = pg_server.url(db)
    env = bench_env(FLEETSAM_STORE=url, FLEETSAM_SPOOL_DIR=str(tmp_path / "spool"), PGPASSWORD=PASSWORD,
                    FLEETSAM_LOCK_TIMEOUT="600", ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"))
    for name in ("FLEETSAM_POLICY", "FLEETSAM_NOTIFY", "FLEETSAM_KEEP_SPOOL"):
        env.pop(name, None)
    assert fleetsam(url, "store", "init", env=env).returncode == 0
    names = [f"bench-ssh{n:02d}" for n in range(12)]
    slices = [",".join(names[k::4]) for k in range(4)]  # AWX slices round-robin
    runs = [subprocess.Popen([str(BIN / "fleetsam"), "scan", "-i", str(twelve_hosts.work / "inventory.yml"),
                              "--limit", part, "-e", f"awx_workflow_job_id={WORKFLOW_JOB}", "--report-dir",
                              str(tmp_path / f"reports{k}"), "--no-installations-csv"],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k, part in enumerate(slices)]
    outputs = [r.communicate(timeout=1200)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], "\n".join(outputs)
    for out in outputs:
        assert re.search(r"^scan: 3/3 hosts, 0 unreachable, 0 failed, ", out, re.M), out
    hosts = json.loads(fleetsam(url, "hosts", "--format", "json", env=env).stdout)
    assert sorted(h["host"] for h in hosts) == names, "one fleet: every slice's hosts, none lost"
    assert len({h["host_id"] for h in hosts}) == 12 and all(h["status"] == "ok" and h["packages"] > 100 for h in hosts)
    runs_stored = json.loads(fleetsam(url, "scans", "--format", "json", env=env).stdout)
    assert len(runs_stored) == 4 and {r["group"] for r in runs_stored} == {f"awx-workflow-{WORKFLOW_JOB}"}
    assert sorted(h for r in runs_stored for h in r["scope"]) == names, "the slices' scopes are disjoint"
    assert {h["last_scan"] for h in hosts} == {r["scan_id"] for r in runs_stored}
    assert not any("recognition cache" in out for out in outputs), "no slice warned about the shared cache"
    with psycopg.connect(pg_server.url(db, password=True)) as conn:  # the slices' recognition cache, in the database
        assert conn.execute("SELECT count(*) FROM recognition_cache").fetchone()[0] == 1


def _wait_for_a_spooled_host(spool_dir: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not list(spool_dir.glob(".scan-*/*/hosts/*.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "the scan ended before any host was spooled"
        time.sleep(0.05)


def test_a_server_stopped_mid_run_keeps_the_spool_and_every_committed_run(fleet, tmp_path):
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    server = PgServer().start()  # a server of its own: this test stops it
    try:
        url = server.url(server.create_db())
        env = {**scan_env(fleet, tmp_path), "FLEETSAM_STORE": url, "PGPASSWORD": PASSWORD}
        assert fleetsam(url, "store", "init", env=env).returncode == 0
        first = subprocess.run([str(BIN / "fleetsam"), "scan", "-i", str(fleet.inventory), "--limit", "local"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stdout + first.stderr
        second = subprocess.Popen([str(BIN / "fleetsam"), "scan", "-i", str(fleet.inventory),
                                   "--limit", "debian,rpm"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        _wait_for_a_spooled_host(tmp_path / "spool", second)
        server.stop(remove=False)  # while the playbook runs: the engine finds no server
        out, err = second.communicate(timeout=600)
        assert second.returncode == 2, out + err
        assert "Traceback" not in out + err and PASSWORD not in out + err
        assert "processing the run failed" in err and "cannot connect to PostgreSQL" in err, err
        spool = Path(re.search(r"the run is kept in (\S+): process it with", err).group(1))
        assert spool.parent == (tmp_path / "spool").resolve() and (spool / "run.json").is_file()
        assert len(list((spool / "hosts").iterdir())) == 2
        assert f"ingest {spool}" in err
        server.start()
        assert len(json.loads(fleetsam(url, "scans", "--format", "json", env=env).stdout)) == 1, \
            "the run committed before the failure is intact"
        recovered = fleetsam(url, "ingest", str(spool), "--report-dir", str(tmp_path / "reports"), env=env)
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        hosts = json.loads(fleetsam(url, "hosts", "--format", "json", env=env).stdout)
        assert sorted(h["host"] for h in hosts) == ["debian", "local", "rpm"]
        assert len(json.loads(fleetsam(url, "scans", "--format", "json", env=env).stdout)) == 2
    finally:
        server.stop()
