"""Recognition by provenance: the collector's origins read by the engine (hostile input kept inert,
bad tables as warnings), kept through the store (and older snapshots still read), and a Debian
host's archive packages all recognised: this machine's own dpkg database and apt lists."""

from __future__ import annotations

import hashlib
import json
import subprocess
from array import array
from collections import Counter
from pathlib import Path

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_origins as po
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers
from sam_engine.ingest.inventory import RowTable, content_digest
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.model import HostScan, HostStatus, LicenceNeed, Scan
from sam_engine.platforms.records import origin_line, origin_lines, origin_of
from sam_engine.platforms.registry import LINUX
from sam_engine.store import open_store

CATALOGUE, _ = load_catalogue()
DEBIAN = {"type": "apt", "origin": "Debian", "label": "Debian", "suite": "oldstable", "codename": "bookworm",
          "component": "main", "site": "deb.debian.org", "match": "version"}


def record(name, origin=None, version="1.0-1", vendor="Someone <s@example.org>"):
    return {"source": "dpkg", "name": name, "version": version, "arch": "amd64", "vendor": vendor,
            "install_time": 1700000000, "package_id": f"dpkg:{name}:amd64", "location": None, "extra": {},
            "origin": origin}


def test_an_origin_is_one_line_whatever_its_values():
    hostile = dict(DEBIAN, origin="Debian\nlabel=Ubuntu", label="=cmd|' /C calc'!A0\x00", suite="\udcff<b>x</b>")
    line = origin_line(hostile)
    assert "\n" not in line and line.startswith("apt origin=Debian label=Ubuntu label==cmd|' /C calc'!A0\x00 ")
    assert origin_line(DEBIAN) == ("apt origin=Debian label=Debian suite=oldstable codename=bookworm "
                                   "component=main site=deb.debian.org match=version")
    assert origin_line({"type": "rpm", "vendor": None, "packager": ["x"], "key": "ab12"}) == \
        "rpm vendor= packager= key=ab12"
    # a Release that puts a second field in its Origin is not Debian's archive to the catalogue
    rec = CATALOGUE.recognise(LINUX.installations({"software": [record("tool", 0)], "origins": [
        dict(DEBIAN, origin="Acme label=Debian")]}, "h")[0][0])
    assert rec.licence is LicenceNeed.UNKNOWN


def test_unreadable_origin_tables_are_warnings_and_no_origin():
    assert origin_lines(None, "h") == ((), [])
    lines, problems = origin_lines({"0": DEBIAN}, "spool/hosts/web1.json")
    assert lines == () and [str(p) for p in problems] == [
        "spool/hosts/web1.json: origins: warning: expected a list of origins, found dict; "
        "package origins are left out"]
    lines, problems = origin_lines([DEBIAN, "junk", {"type": "msi"}], "h")
    assert lines[1:] == (None, None) and [p.source for p in problems] == ["h: origins[1]", "h: origins[2]"]
    for index in (-1, 3, 99, "0", True, 0.0, None):
        assert origin_of(index, lines) is None
    items, problems = LINUX.installations({"software": [record("a", 1), record("b", True), record("c", 0)],
                                           "origins": [DEBIAN, 7]}, "h")
    assert [i.origin for i in items] == [None, None, origin_line(DEBIAN)] and len(problems) == 1


def test_fast_and_careful_paths_agree_and_hosts_keep_their_own_tables():
    table = RowTable()
    first = {"software": [record("bash", 0), record("tool", None), record("libc6", 1)],
             "origins": [DEBIAN, dict(DEBIAN, match="maintainer")]}
    second = {"software": [record("bash", 0)], "origins": [dict(DEBIAN, origin="Ubuntu")]}
    fast, problems = LINUX.inventory(first, "h1", table)
    assert problems == [] and tuple(fast) == LINUX.installations(first, "h1")[0]
    other, _ = LINUX.inventory(second, "h2", table)  # the same raw record, another host's table
    assert [i.origin.split()[1] for i in other] == ["origin=Ubuntu"]
    assert [i.origin and i.origin.split()[-1] for i in fast] == ["match=version", None, "match=maintainer"]
    odd = dict(first, software=first["software"] + [{"source": "dpkg", "name": "x", "arch": ["a"]}])
    careful, problems = LINUX.inventory(odd, "h1", RowTable())
    assert tuple(careful) == tuple(fast) and len(problems) == 1
    old = [{k: v for k, v in r.items() if k != "origin"} for r in first["software"]]  # an older collector
    assert [i.origin for i in LINUX.inventory({"software": old}, "h", table)[0]] == [None, None, None]


def test_the_store_keeps_origins_and_reads_snapshots_from_before_them(tmp_path):
    items, _ = LINUX.installations({"software": [record("bash", 0), record("tool")], "origins": [DEBIAN]}, "h")
    path = tmp_path / "store.json"
    with open_store(str(path)) as st:
        st.save_scan(Scan("s1", "t0", "t1", "v", None, (HostScan("s1", "web1", HostStatus.OK, None, items,
                                                                    inventory_scan_id="s1"),)))
    with open_store(str(path)) as st:
        (hs,) = st.load_scan().hosts
    assert sorted(hs.installations, key=lambda i: i.name) == sorted(items, key=lambda i: i.name)
    doc = json.loads(path.read_text())
    (snapshot,) = doc["snapshots"].values() if isinstance(doc["snapshots"], dict) else doc["snapshots"]
    assert snapshot["width"] == 8
    import base64

    rows = array("I", base64.b64decode(snapshot["rows"]))
    snapshot["rows"] = base64.b64encode(array("I", [v for k, v in enumerate(rows) if k % 8 != 7]).tobytes()).decode()
    del snapshot["width"]  # as a store written before origins were kept
    path.write_text(json.dumps(doc))
    with open_store(str(path)) as st:
        (hs,) = st.load_scan().hosts
    assert {i.name: i.origin for i in hs.installations} == {"bash": None, "tool": None}
    # a row without origin has the digest it had before origins existed: unchanged hosts stay stored once
    table = RowTable()
    row = table.intern(("dpkg", "tool", "1.0-1", "amd64", "V", "dpkg:tool:amd64", None, None))
    old_hash = hashlib.blake2b("dpkg\x1ftool\x1f1.0-1\x1famd64\x1fV\x1fdpkg:tool:amd64\x1f\x00".encode(),
                               digest_size=16).digest()
    assert content_digest(table, [row], array("q", [7])) == \
        hashlib.sha256(old_hash + array("q", [7]).tobytes()).hexdigest()


def run_real(argv, binary=False):
    proc = subprocess.run(argv, capture_output=True, text=not binary)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.skipif(not Path("/var/lib/apt/lists").is_dir(), reason="needs a Debian host's apt lists")
def test_no_archive_package_of_this_debian_host_is_unrecognised():
    records = parsers.read_dpkg()
    without = Counter(CATALOGUE.recognise(i).licence for i in LINUX.installations({"software": records}, "h")[0])
    assert po.add_apt_origins(records, "/var/lib/apt/lists", run_real) == []
    result = {"software": records, "origins": po.intern_origins(records)}
    items, problems = LINUX.installations(json.loads(json.dumps(result)), "local")
    assert problems == [] and len(items) == len(records)
    unknown = [i for i in items if CATALOGUE.recognise(i).licence is LicenceNeed.UNKNOWN]
    assert [i.name for i in unknown if i.origin] == []  # every archive package is recognised
    assert all(i.origin is None for i in unknown)  # what is left came from no list: third-party software
    with_origin = Counter(CATALOGUE.recognise(i).licence for i in items)
    assert with_origin[LicenceNeed.UNKNOWN] <= without[LicenceNeed.UNKNOWN]
    publishers = Counter(CATALOGUE.recognise(i).publisher for i in items if i.origin)
    assert publishers.most_common(1)[0][0] == "Debian"
    print(f"unrecognised dpkg packages: {without[LicenceNeed.UNKNOWN]} by maintainer heuristics, "
          f"{with_origin[LicenceNeed.UNKNOWN]} by provenance, of {len(items)}: {sorted(i.name for i in unknown)}")


def test_homebrew_core_formulae_carry_their_source_and_licence(real_fixtures):
    """A real ``brew info --json=v2 --installed``: formulae from homebrew/core (open-source licences only)
    are free; casks are not decided by their tap."""
    from sam_engine.platforms.macos import parse_brew_info_json
    from sam_engine.platforms.records import installations, tap_origins

    found, _ = parse_brew_info_json((real_fixtures / "macos" / "cheznix_brew-info-json-v2-installed.json").read_text())
    items, problems = installations(found, "mac", tap_origins(found))
    assert problems == []
    formulae = [i for i in items if i.source == "brew"]
    assert len(formulae) == 10 and {i.origin for i in formulae if i.name == "unbound"} == {
        "brew tap=homebrew/core license=BSD-3-Clause"}
    assert {CATALOGUE.recognise(i).rule.rsplit(":", 1)[1] for i in formulae} == {"homebrew-core"}
    casks = [i for i in items if i.source == "brew-cask"]
    assert {i.origin for i in casks} == {"brew tap=homebrew/cask license="}
    assert all(CATALOGUE.recognise(i).rule is None or "homebrew-core" not in CATALOGUE.recognise(i).rule
               for i in casks)
