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
from sam_engine.auditpack import verify as checks
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
    result = checks.verify(pack)
    assert result.ok, result.problems


def test_a_changed_member_fails(pack, tmp_path):
    for name in sorted(MEMBERS - {"manifest.json"}):
        files = members(pack)
        data = bytearray(files[name])
        data[len(data) // 2] ^= 0x01
        files[name] = bytes(data)
        bad = tmp_path / f"{name}.zip"
        rezip(bad, files)
        result = checks.verify(bad)
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
        assert not checks.verify(bad).ok, f"manifest byte {offset} ({chr(raw[offset])!r}) changed unnoticed"


def test_missing_or_extra_member_fails(pack, tmp_path):
    files = members(pack)
    rezip(tmp_path / "missing.zip", {n: d for n, d in files.items() if n != "entitlements.csv"})
    assert "entitlements.csv: listed in the manifest but missing" in checks.verify(tmp_path / "missing.zip").problems
    rezip(tmp_path / "extra.zip", {**files, "notes.txt": b"added later"})
    assert "notes.txt: in the pack but not in the manifest" in checks.verify(tmp_path / "extra.zip").problems
    rezip(tmp_path / "same.zip", files)
    problems = checks.verify(tmp_path / "same.zip").problems
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
        assert not checks.verify(bad).ok, f"byte {offset} of {len(data)} changed unnoticed"


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
    assert checks.verify(out).ok
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
    result, peak = peak_bytes_of(lambda: checks.verify(path))
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
    result, peak = peak_bytes_of(lambda: checks.verify(path))
    assert len(result.problems) == 1 and result.problems[0].startswith("installations.csv: holds more than the ")
    assert peak < 48 << 20, f"{peak} bytes held while verifying a 128 MiB member"


def test_an_oversized_manifest_is_not_read(pack, tmp_path):
    files = members(pack)
    path = tmp_path / "bomb.zip"
    bomb(path, files, "manifest.json", 64 << 20)
    result, peak = peak_bytes_of(lambda: checks.verify(path))
    assert result.problems == ["manifest.json: larger than any fleetsam manifest (not read further)"]
    assert peak < 16 << 20


# --- a fleet of its own per test: hosts, runs and licences chosen for what the test proves ---------------------


def oracle_host(name: str, machine_id: str, location: str) -> dict:
    host = report_fleet.linux(name, [*report_fleet.BASE, dict(report_fleet.ORACLE, location=location)], 2, 16)
    host["host"]["machine_id"] = machine_id
    return host


def fleet_of(root, runs, licences: str = report_fleet.LICENCES):
    """The store made by ingesting ``runs`` ((scan id, finished, hosts), in order) with ``licences``."""
    from sam_engine import pipeline
    from sam_engine.licensing.context import LicenceSettings

    (root / "licences").mkdir(parents=True)
    (root / "licences" / "fleet.yml").write_text(licences)
    conf = LicenceSettings(licences_dir=root / "licences")
    store = str(root / "store.json")
    for scan_id, finished, hosts in runs:
        spool = report_fleet.write_spool(root, scan_id, finished, hosts)
        summary = pipeline.process_spool(spool, store=store, report_dir=root / "reports", settings=conf)
    return store, conf, summary


def installs_of(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(members(path)["installations.csv"].decode("utf-8-sig"))))


def test_each_installation_carries_its_own_install_path(tmp_path):
    # db1 reinstalled between the runs: a new machine-id under the same inventory name, Oracle elsewhere
    store, conf, _ = fleet_of(tmp_path, [
        ("s1", "2026-11-20T10:00:00Z", {"db1": oracle_host("db1", "mid-OLD", "/opt/OLD")}),
        ("s2", "2026-12-01T10:00:00Z", {"db1": oracle_host("db1", "mid-NEW", "/opt/NEW")})])
    path, _, _ = auditpack.create(store, "Oracle", tmp_path / "p.zip", settings=conf)
    assert sorted((r["host_id"], r["location"], r["seen_in_scan"]) for r in installs_of(path)) == [
        ("machine-id:mid-new", "/opt/NEW", "s2"), ("machine-id:mid-old", "/opt/OLD", "s1")]


def test_one_package_at_two_paths_gives_each_installation_its_path(tmp_path):
    host = oracle_host("db1", "mid-1", "/u01/home1")
    host["software"].append(dict(report_fleet.ORACLE, location="/u02/home2"))
    store, conf, _ = fleet_of(tmp_path, [("s1", "2026-11-20T10:00:00Z", {"db1": host})])
    path, _, _ = auditpack.create(store, "Oracle", tmp_path / "p.zip", settings=conf)
    assert sorted(r["location"] for r in installs_of(path)) == ["/u01/home1", "/u02/home2"]


def test_out_never_replaces_the_store_or_a_file_that_is_not_a_pack(fleet, pack, tmp_path, capsys):
    root, store = fleet
    copy = tmp_path / "copy.json"
    copy.write_bytes(open(store, "rb").read())
    link = tmp_path / "link.json"
    link.symlink_to(copy)
    notes = tmp_path / "notes.txt"
    notes.write_text("minutes of the audit meeting\n")
    args = ["audit-pack", "--publisher", "Oracle", "--licences", str(root / "licences"), "--as-of", "2026-06-30"]
    for out, says in ((copy, "is the store itself"), (link, "is the store itself"),
                      (notes, "exists and is not a fleetsam audit pack")):
        assert cli.main(["--store", str(copy), *args, "--out", str(out)]) == 2
        assert f"--out {out}: {says}" in capsys.readouterr().err
    assert open(store, "rb").read() == copy.read_bytes(), "the store is whole"
    assert notes.read_text() == "minutes of the audit meeting\n"
    again = tmp_path / "again.zip"
    again.write_bytes(pack.read_bytes())
    assert cli.main(["--store", str(copy), *args, "--out", str(again)]) == 0, "an earlier pack is replaced"
    assert checks.verify(again).ok


def test_an_unwritable_out_is_named_and_leaves_no_temporary_file(fleet, tmp_path, capsys):
    import os
    import resource
    import subprocess
    import sys

    root, store = fleet
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    args = ["--store", store, "audit-pack", "--publisher", "Oracle", "--licences", str(root / "licences")]
    for out, says in (("adir", "--out adir: is a directory"),
                      ("afile/x.zip", "--out afile/x.zip: afile is not a directory; nothing was written")):
        assert cli.main([*args, "--out", str(tmp_path / out)]) == 2
        assert says in capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    # a file size limit (ulimit -f 20) past which every write fails with EFBIG
    (tmp_path / "big").mkdir()
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (20 << 10, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))  # noqa: E731
    run = subprocess.run([sys.executable, "-c", "import sys; from sam_engine.cli import main; sys.exit(main.main())",
                          *args, "--out", str(tmp_path / "big" / "p.zip")], preexec_fn=limit, capture_output=True,
                         text=True, env={**os.environ, "FLEETSAM_CATALOGUE_EXTRA": ""})
    assert run.returncode == 2 and "p.zip: cannot write: File too large; nothing was written" in run.stderr, run.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["adir", "afile", "big"], "no temporary file left"


HOSTILE_ID = "s1\x1b[2J\x1b[31m\nPublisher: Microsoft\u202e"


def test_hostile_text_stays_inert_on_the_terminal_and_in_the_readme(tmp_path, capsys):
    spool = report_fleet.write_spool(tmp_path, "s1", "2026-12-01T10:00:00Z",
                                     {"db1": oracle_host("db1", "mid-1", "/opt/o")})
    (spool / "run.json").write_text(json.dumps({"scan_id": HOSTILE_ID, "started": "2026-12-01T10:00:00Z",
                                                 "finished": "2026-12-01T10:00:00Z", "playbook": "scan.yml"}))
    (tmp_path / "licences").mkdir()
    store = str(tmp_path / "store.json")
    licences = ["--licences", str(tmp_path / "licences")]
    assert cli.main(["--store", store, "ingest", str(spool), "--report-dir", str(tmp_path / "r")]) in (0, 1)
    assert cli.main(["--store", store, "audit-pack", "--publisher", "Oracle", "--out", str(tmp_path / "p.zip"),
                     *licences]) == 0
    assert cli.main(["audit-pack", "--verify", str(tmp_path / "p.zip")]) == 0
    files = members(tmp_path / "p.zip")
    manifest = json.loads(files["manifest.json"])
    manifest["publisher"] = "Oracle\x1b[2K\rmalicious"
    files["manifest.json"] = auditpack.canonical_manifest(manifest)
    (tmp_path / "forged.zip").write_bytes(auditpack.pack_bytes(files))
    assert cli.main(["audit-pack", "--verify", str(tmp_path / "forged.zip")]) == 0
    files[HOSTILE_ID + ".csv"] = b"x"
    (tmp_path / "added.zip").write_bytes(auditpack.pack_bytes(files))
    assert cli.main(["audit-pack", "--verify", str(tmp_path / "added.zip")]) == 1
    readme = members(tmp_path / "p.zip")["README.txt"].decode("utf-8")
    out = capsys.readouterr().out + readme
    for raw in ("\x1b", "\u202e", "\r", "\nPublisher: Microsoft"):
        assert raw not in out, repr(raw)
    escaped = r"s1\x1b[2J\x1b[31m\nPublisher: Microsoft\u202e"
    assert out.count(f"scan {escaped}") == 2, "the ingest and creation lines"
    assert f"scans {escaped}" in out and r"publisher Oracle\x1b[2K\rmalicious" in out
    assert f"Scan: {escaped} (finished" in readme
    assert f"  {escaped}.csv: in the pack but not in the manifest" in out


def test_verify_accepts_only_exactly_a_pack(pack, tmp_path):
    files = members(pack)
    manifest = json.loads(files.pop("manifest.json"))

    def verdict(name, members, listed=None, **changes):
        m = {**manifest, **changes}
        m["files"] = listed or {n: {"sha256": auditpack.sha256(d), "size": len(d)} for n, d in sorted(members.items())}
        (tmp_path / name).write_bytes(auditpack.pack_bytes({**members, "manifest.json": auditpack.canonical_manifest(m)}))
        result = checks.verify(tmp_path / name)
        assert not result.ok, name
        return result.problems

    bare = {"format": "fleetsam-audit-pack", "files": {}}
    (tmp_path / "bare.zip").write_bytes(auditpack.pack_bytes({"manifest.json": auditpack.canonical_manifest(bare)}))
    assert checks.verify(tmp_path / "bare.zip").problems == [
        "manifest.json: format version None, this fleetsam verifies version 1"]
    assert verdict("v2.zip", files, format_version=2) == [
        "manifest.json: format version 2, this fleetsam verifies version 1"]
    less = {n: d for n, d in files.items() if n != "installations.csv"}
    assert verdict("less.zip", less) == [
        "installations.csv: a member of every fleetsam-audit-pack (version 1) that the manifest does not list"]
    assert verdict("climb.zip", {**files, "../../evil.sh": b"rm -rf ~\n", "/etc/cron.d/x": b"x"}) == [
        "../../evil.sh: a member name that unpacks outside its folder (absolute or with ..)",
        "/etc/cron.d/x: a member name that unpacks outside its folder (absolute or with ..)",
        "../../evil.sh: listed in the manifest but no member of a fleetsam-audit-pack (version 1)",
        "/etc/cron.d/x: listed in the manifest but no member of a fleetsam-audit-pack (version 1)"]
    assert verdict("ids.zip", files, scan_ids=[1, 2]) == [
        "manifest.json: field 'scan_ids' is not a list of scan ids starting with 'scan_id'"]
    assert verdict("types.zip", files, publisher=["Oracle"], created=None, signed_by="Oracle") == [
        "manifest.json: field 'signed_by' is not one a fleetsam-audit-pack manifest has",
        "manifest.json: field 'created' is missing or not a str",
        "manifest.json: field 'publisher' is missing or not a str"]
    entry = {"sha256": "ab", "size": True}
    assert verdict("entry.zip", files, {n: entry for n in files}) == [
        f"manifest.json: the entry of {n!r} is not a size and a SHA-256" for n in sorted(files)]


def test_a_pack_of_a_past_scan_counts_the_licence_terms_of_its_day(tmp_path, capsys):
    later = report_fleet.LICENCES.replace("term_start: 2021-09-30", "term_start: 2026-07-01")
    ended = later + """\
  - publisher: Oracle
    product: Oracle Database
    edition: Enterprise Edition
    metric: processor
    quantity: 4
    term_start: 2020-01-01
    term_end: 2026-06-29
"""
    # 22:00 at UTC-5 on 29 June is 30 June (UTC): the ended entitlement no longer counts, the later one not yet
    store, conf, _ = fleet_of(tmp_path, [("s1", "2026-06-29T22:00:00-05:00",
                                          {"db1": oracle_host("db1", "mid-1", "/opt/o")})], ended)
    args = ["--store", store, "audit-pack", "--publisher", "Oracle", "--licences", str(conf.licences_dir)]
    assert cli.main([*args, "--scan", "s1", "--out", str(tmp_path / "s1.zip")]) == 0
    assert "licence terms of 2026-06-30" in capsys.readouterr().out
    files = members(tmp_path / "s1.zip")
    assert json.loads(files["manifest.json"])["as_of"] == "2026-06-30"
    assert "licence position as of 2026-06-30" in files["README.txt"].decode("utf-8")
    position = list(csv.DictReader(io.StringIO(files["position.csv"].decode("utf-8-sig"))))
    assert [(r["owned"], r["shortfall"]) for r in position] == [("0", "16")]
    assert cli.main([*args, "--scan", "s1", "--as-of", "2026-07-01", "--out", str(tmp_path / "july.zip")]) == 0
    position = list(csv.DictReader(io.StringIO(members(tmp_path / "july.zip")["position.csv"].decode("utf-8-sig"))))
    assert [(r["owned"], r["shortfall"]) for r in position] == [("16", "0")], "--as-of stays what it says"


def test_source_date_epoch_makes_the_pack_reproducible(fleet, tmp_path, monkeypatch, capsys):
    root, store = fleet
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1782864000")
    a, _, _ = auditpack.create(store, "oracle", tmp_path / "a.zip", settings=report_fleet.settings(root))
    b, manifest, _ = auditpack.create(store, "oracle", tmp_path / "b.zip", settings=report_fleet.settings(root))
    assert manifest["created"] == "2026-07-01T00:00:00Z" and a.read_bytes() == b.read_bytes()
    assert "generated 2026-07-01T00:00:00Z" in members(b)["position.html"].decode("utf-8")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert cli.main(["--store", store, "audit-pack", "--publisher", "oracle", "--out", str(tmp_path / "c.zip")]) == 2
    assert "SOURCE_DATE_EPOCH 'yesterday': expected a whole number of seconds" in capsys.readouterr().err
    assert not (tmp_path / "c.zip").exists()
