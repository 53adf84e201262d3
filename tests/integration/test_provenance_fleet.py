"""Recognition by provenance end to end: the real playbook scans the real sshd hosts, the collector
reads each host's own apt lists (and rpm signatures), and the report's installations say where each
package came from. A debootstrapped Debian host has no unrecognised package; this machine's
unrecognised packages all come from outside Debian's archive; the rpm host's test RPMs (unsigned,
from no distribution) stay unrecognised.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installations(fleet, tmp_path_factory):
    """Per host, the rows of installations.csv of one scan of the whole fleet."""
    work = tmp_path_factory.mktemp("provenance")
    for host in fleet.hosts.values():
        if not host.is_running():
            host.start()
    env = fleet.ansible_env(FLEETSAM_STORE=str(work / "store.json"), FLEETSAM_REPORT_DIR=str(work / "reports"),
                            FLEETSAM_SPOOL_DIR=str(work / "spool"))
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(fleet.inventory),
                          str(REPO / "playbooks" / "scan.yml")], cwd=work, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    rows: dict[str, list[dict]] = {}
    with open(work / "reports" / "installations.csv", encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["host"], []).append(row)
    return rows


def unrecognised(rows, source):
    return sorted(r["name"] for r in rows if r["source"] == source and r["product_status"] == "unrecognised")


def test_a_stock_debian_host_has_no_unrecognised_package(installations, fleet):
    rows = [r for r in installations["debian"] if r["source"] == "dpkg"]
    lists = list((fleet["debian"].root / "var/lib/apt/lists").glob("*_Packages*"))
    assert lists, "debootstrap leaves the archive's lists in the root"
    assert len(rows) > 80 and unrecognised(rows, "dpkg") == []
    assert all(r["origin"].startswith("apt origin=Debian label=Debian ") for r in rows), \
        [r["name"] for r in rows if not r["origin"].startswith("apt origin=Debian")]
    by_archive = {r["publisher"] for r in rows if r["product"] == r["name"]}
    assert by_archive == {"Debian"}  # e2fsprogs and the rest: the distribution, not a maintainer's name


def test_this_machines_unrecognised_packages_are_all_third_party(installations):
    rows = [r for r in installations["local"] if r["source"] == "dpkg"]
    archive = [r for r in rows if r["origin"].startswith("apt origin=Debian ")]
    assert len(archive) > 0.9 * len(rows)
    assert [r["name"] for r in archive if r["product_status"] == "unrecognised"] == []
    assert all(not r["origin"] for r in rows if r["product_status"] == "unrecognised")


def test_unsigned_third_party_rpms_stay_unrecognised(installations):
    rows = installations["rpm"]
    rpms = {r["name"]: r for r in rows if r["source"] == "rpm"}
    assert set(unrecognised(rows, "rpm")) == {"fleetsam-testpkg-alpha", "fleetsam-testpkg-beta",
                                              "fleetsam-testpkg-gamma"}
    assert rpms["fleetsam-testpkg-alpha"]["origin"] == \
        "rpm vendor=Fleetsam Test Vendor packager=fleetsam integration tests key="  # unsigned: no key
    assert unrecognised(rows, "dpkg") == []  # the host itself is the same stock Debian
