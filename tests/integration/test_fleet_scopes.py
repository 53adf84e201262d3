"""The fleet over partial runs on real SSH hosts: --limit'ed playbook runs add up, a stopped host
stays with its last inventory (stale), and one machine under two inventory names is one host."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from test_scan_fleet import BIN, REPO, Scanner


@pytest.fixture(scope="module")
def scanner(fleet, tmp_path_factory):
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    return Scanner(fleet, tmp_path_factory.mktemp("scopes"))


def hosts(scanner: Scanner) -> dict[str, dict]:
    return {h["host"]: h for h in json.loads(scanner.fleetsam("hosts", "--format", "json"))}


def test_limited_runs_add_up_and_a_stopped_host_stays_stale(scanner, fleet):
    first = scanner.scan("--limit", "local,rpm")
    assert first.returncode == 0, first.stdout + first.stderr
    assert sorted(hosts(scanner)) == ["local", "rpm"]
    second = scanner.scan("--limit", "debian")
    assert second.returncode == 0, second.stdout + second.stderr
    after_two = hosts(scanner)
    assert sorted(after_two) == ["debian", "local", "rpm"], "the second run leaves the first one's hosts"
    fleet["rpm"].stop()
    try:
        third = scanner.scan("--limit", "local,rpm")
    finally:
        fleet["rpm"].start()
    assert "unreachable=1" in third.stdout, third.stdout + third.stderr
    now = hosts(scanner)
    assert sorted(now) == ["debian", "local", "rpm"]
    assert now["rpm"]["status"] == "unreachable (stale)" and now["rpm"]["packages"] == after_two["rpm"]["packages"]
    assert now["debian"] == after_two["debian"], "out of the third run's scope: untouched"
    assert now["local"]["last_scan"] != after_two["local"]["last_scan"]
    runs = json.loads(scanner.fleetsam("scans", "--format", "json"))
    assert [r["scope"] for r in runs] == [["local", "rpm"], ["debian"], ["local", "rpm"]]
    report = json.loads((scanner.reports / "report.json").read_text())
    assert sorted(h["inventory_name"] for h in report["hosts"]) == ["debian", "local", "rpm"]


def test_a_second_inventory_name_for_one_machine_is_one_host(scanner, fleet):
    inventory = yaml.safe_load(fleet.inventory.read_text())
    members = inventory["all"]["children"]["testfleet"]["hosts"]
    members["debian-by-address"] = dict(members["debian"])  # the same sshd, under another name
    alias = scanner.workdir / "alias.yml"
    alias.write_text(yaml.safe_dump(inventory, sort_keys=False))
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(alias), str(REPO / "playbooks" / "scan.yml"),
                          "--limit", "debian-by-address"], cwd=scanner.workdir, env=scanner.env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    now = hosts(scanner)
    ids = [h["host_id"] for h in now.values()]
    assert len(ids) == len(set(ids)) == 3, now
    assert "debian-by-address" in now and "debian" not in now, "the machine is listed under its newest name"


def test_concurrent_playbooks_all_land_while_check_answers(fleet, tmp_path):
    """Four ansible-playbook runs started together, each --limit'ed, into one store; ``fleetsam check``
    in a loop meanwhile always answers (0 or 1, never 2)."""
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    scanner = Scanner(fleet, tmp_path)
    env = {**scanner.env(), "FLEETSAM_LOCK_TIMEOUT": "300"}
    limits = ("local", "debian", "rpm", "debian,rpm")
    runs = [subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(fleet.inventory),
                              str(REPO / "playbooks" / "scan.yml"), "--limit", limit], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for limit in limits]
    checks = []
    while any(r.poll() is None for r in runs):
        if scanner.store.exists():
            got = subprocess.run([str(BIN / "fleetsam"), "--store", str(scanner.store), "check"], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert got.returncode in (0, 1), got.stdout + got.stderr
            checks.append(got.returncode)
    outputs = [r.communicate()[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], "\n".join(outputs)
    assert all("processing the run failed" not in out for out in outputs), "\n".join(outputs)
    assert sorted(hosts(scanner)) == ["debian", "local", "rpm"]
    runs_stored = json.loads(scanner.fleetsam("scans", "--format", "json"))
    assert sorted(r["scope"] for r in runs_stored) == sorted([["local"], ["debian"], ["rpm"], ["debian", "rpm"]])
    assert checks, "check ran while the playbooks were running"
