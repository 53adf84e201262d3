"""The audit evidence pack: its content, and verification that fails after any byte changes."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile

import pytest
import report_fleet

from sam_engine.auditpack import pack as auditpack
from sam_engine.cli import main as cli

MEMBERS = {"README.txt", "position.html", "position.csv", "installations.csv", "entitlements.csv",
           "entitlements.json", "catalogue.json", "metric_rules.json", "manifest.json"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    store, _ = report_fleet.scanned_twice(root)
    return root, store


@pytest.fixture(scope="module")
def pack(fleet, tmp_path_factory):
    root, store = fleet
    out = tmp_path_factory.mktemp("pack") / "oracle.zip"
    path, _, _ = auditpack.create(store, "oracle", out, settings=report_fleet.settings(root), as_of=report_fleet.AS_OF)
    return path


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rezip(path, files: dict[str, bytes]) -> None:
    """Write ``files`` as an ordinary (valid) zip: what someone editing a pack would produce."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_pack_holds_the_evidence(pack):
    files = members(pack)
    assert set(files) == MEMBERS
    manifest = json.loads(files["manifest.json"])
    assert manifest["publisher"] == "Oracle" and manifest["scan_ids"] == ["s2", "s1"], "s1: the stale host's scan"
    assert manifest["tool_version"] and manifest["created"].endswith("Z") and len(manifest["catalogue_sha256"]) == 64
    assert set(manifest["files"]) == MEMBERS - {"manifest.json"}
    installs = list(csv.DictReader(io.StringIO(files["installations.csv"].decode("utf-8-sig"))))
    assert {(r["host"], r["version"], r["location"], r["source"], r["seen_in_scan"], r["stale"]) for r in installs} == {
        ("db1", "19.3-1", "/opt/oracle/product/19c/dbhome_1", "rpm", "s2", "no"),
        ("db2", "19.3-1", "/opt/oracle/product/19c/dbhome_1", "rpm", "s1", "yes")}
    ents = json.loads(files["entitlements.json"])
    assert [e["keys"] for e in ents] == [["XXXXX-XXXXX-XXXXX-XXXXX-7H3KQ"]]
    assert ents[0]["po_number"] == "PO-2021-1190" and ents[0]["unit_cost"] == "47500.00"
    assert b"ABCDE" not in b"".join(files.values()), "keys are masked in every file"
    catalogue = json.loads(files["catalogue.json"])
    applied = [e["rule"] for e in catalogue["entries"] if e["applied"]]
    assert applied == ["catalogue/oracle.yml:oracle-database"]
    assert any(f["path"] == "catalogue/oracle.yml" for f in catalogue["version"]["files"])
    (rule,) = json.loads(files["metric_rules.json"])
    assert rule["rule"].startswith("catalogue/metrics/metric_rules.yml:")
    assert "  - publisher: Oracle" in rule["lines"] and "      processor: {core_factor: true, cloud_vcpus_per_licence: 2, host_level: always, hard_partitioning: true}" in rule["lines"]
    html = files["position.html"].decode("utf-8")
    assert "db1: 2 sockets × 16 cores = 32 cores × 0.5 (Intel x86) = 16" in html and "XXXXX-XXXXX" in html
    assert "<script" not in html
    position = list(csv.DictReader(io.StringIO(files["position.csv"].decode("utf-8-sig"))))
    assert [(r["product"], r["status"], r["shortfall"]) for r in position] == [("Oracle Database", "under-licensed",
                                                                                 "4")]


def test_pack_verifies(pack):
    result = auditpack.verify(pack)
    assert result.ok, result.problems


def test_a_changed_member_fails(pack, tmp_path):
    for name in sorted(MEMBERS - {"manifest.json"}):
        files = members(pack)
        data = bytearray(files[name])
        data[len(data) // 2] ^= 0x01
        files[name] = bytes(data)
        bad = tmp_path / f"{name}.zip"
        rezip(bad, files)
        result = auditpack.verify(bad)
        assert not result.ok and any(name in p for p in result.problems), (name, result.problems)


def test_a_changed_manifest_fails(pack, tmp_path):
    raw = members(pack)["manifest.json"]
    for offset in range(len(raw))[::7]:
        files = members(pack)
        data = bytearray(raw)
        data[offset] ^= 0x01
        files["manifest.json"] = bytes(data)
        bad = tmp_path / "manifest.zip"
        rezip(bad, files)
        assert not auditpack.verify(bad).ok, f"manifest byte {offset} ({chr(raw[offset])!r}) changed unnoticed"


def test_missing_or_extra_member_fails(pack, tmp_path):
    files = members(pack)
    rezip(tmp_path / "missing.zip", {n: d for n, d in files.items() if n != "entitlements.csv"})
    assert "entitlements.csv: listed in the manifest but missing" in auditpack.verify(tmp_path / "missing.zip").problems
    rezip(tmp_path / "extra.zip", {**files, "notes.txt": b"added later"})
    assert "notes.txt: in the pack but not in the manifest" in auditpack.verify(tmp_path / "extra.zip").problems
    rezip(tmp_path / "same.zip", files)
    problems = auditpack.verify(tmp_path / "same.zip").problems
    assert problems and "container" in problems[0], "re-zipped unchanged members: the container changed"


def test_any_single_byte_of_the_file_changed_fails(pack, tmp_path):
    data = pack.read_bytes()
    rng = random.Random(5)
    offsets = set(range(80)) | set(range(len(data) - 400, len(data))) | set(rng.sample(range(len(data)), 400))
    bad = tmp_path / "flipped.zip"
    for offset in sorted(offsets):
        flipped = bytearray(data)
        flipped[offset] ^= 0x20
        bad.write_bytes(bytes(flipped))
        assert not auditpack.verify(bad).ok, f"byte {offset} of {len(data)} changed unnoticed"


def test_cli_exit_codes(fleet, pack, tmp_path, capsys, monkeypatch):
    root, store = fleet
    assert cli.main(["audit-pack", "--verify", str(pack)]) == 0
    assert "OK" in capsys.readouterr().out
    broken = tmp_path / "broken.zip"
    data = bytearray(pack.read_bytes())
    data[200] ^= 0xFF
    broken.write_bytes(bytes(data))
    assert cli.main(["audit-pack", "--verify", str(broken)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert cli.main(["audit-pack", "--verify", str(tmp_path / "nope.zip")]) == 2
    monkeypatch.setenv("FLEETSAM_CATALOGUE_EXTRA", str(root / "catalogue-extra.yml"))
    licences = ["--licences", str(root / "licences"), "--as-of", "2026-06-30"]
    assert cli.main(["--store", store, "audit-pack", "--publisher", "Nobody Inc", "--out",
                     str(tmp_path / "x.zip"), *licences]) == 2
    assert "no licensable product or entitlement" in capsys.readouterr().err
    out = tmp_path / "tv.zip"
    assert cli.main(["--store", store, "audit-pack", "--publisher", "TeamViewer", "--out", str(out), *licences]) == 0
    assert "sha256" in capsys.readouterr().out
    assert auditpack.verify(out).ok
    assert cli.main(["audit-pack", "--publisher", "x"]) == 2


def bomb(path, files: dict[str, bytes], name: str, size: int) -> None:
    """``files`` zipped with member ``name`` replaced by ``size`` zero bytes, deflated (about 1000:1)."""
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in files.items():
            if member != name:
                zf.writestr(member, data)
                continue
            info = zipfile.ZipInfo(member)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as out:
                for _ in range(size >> 20):
                    out.write(zeros)


def peak_bytes_of(call):
    import tracemalloc
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_zip_bomb_fails_verification_without_being_inflated(pack, tmp_path, capsys):
    files = members(pack)
    listed = json.loads(files["manifest.json"])["files"]["installations.csv"]["size"]
    path = tmp_path / "bomb.zip"
    bomb(path, files, "installations.csv", 128 << 20)
    assert path.stat().st_size < 1 << 20, "a small pack declaring a 128 MiB member"
    result, peak = peak_bytes_of(lambda: auditpack.verify(path))
    assert f"installations.csv: holds more than the {listed} bytes the manifest and the pack allow " \
           "(not read further)" in result.problems
    assert peak < 16 << 20, f"{peak} bytes held while verifying a 128 MiB member"
    assert cli.main(["audit-pack", "--verify", str(path)]) == 1
    assert "installations.csv: holds more than" in capsys.readouterr().out


def test_a_bomb_with_a_manifest_rewritten_to_declare_it_is_still_bounded(pack, tmp_path):
    # whoever rewrites a pack can also make the manifest list a 1 GiB member, with a valid digest
    files = members(pack)
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["installations.csv"]["size"] = 1 << 30
    files["manifest.json"] = auditpack.canonical_manifest(manifest)
    path = tmp_path / "bomb.zip"
    bomb(path, files, "installations.csv", 128 << 20)
    result, peak = peak_bytes_of(lambda: auditpack.verify(path))
    assert len(result.problems) == 1 and result.problems[0].startswith("installations.csv: holds more than the ")
    assert peak < 48 << 20, f"{peak} bytes held while verifying a 128 MiB member"


def test_an_oversized_manifest_is_not_read(pack, tmp_path):
    files = members(pack)
    path = tmp_path / "bomb.zip"
    bomb(path, files, "manifest.json", 64 << 20)
    result, peak = peak_bytes_of(lambda: auditpack.verify(path))
    assert result.problems == ["manifest.json: larger than any fleetsam manifest (not read further)"]
    assert peak < 16 << 20
