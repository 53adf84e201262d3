"""The host-side cache of apt origins: the same origins as a full read of the lists (recorded from
this machine, tests/fixtures/real/linux/apt), used only while the lists are unchanged and cover every
installed name, trusted only when nobody else can write it."""

import json
import os
import shutil
from pathlib import Path

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import apt_origin_cache as cache_mod
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_origins as po
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers


@pytest.fixture
def lists(real_fixtures, tmp_path):
    """(lists folder, dpkg records of the recorded status) with the recorded lists, uncompressed."""
    source = real_fixtures / "linux" / "apt"
    folder = tmp_path / "lists"
    folder.mkdir()
    for path in source.iterdir():
        if path.name.endswith(("InRelease", "_Packages")):
            shutil.copy(path, folder / path.name)
    return folder, parsers.parse_dpkg_status((source / "status").read_text(encoding="utf-8"))


def origins(records):
    return {(r["name"], r["arch"]): r["origin"] for r in records}


def fresh(records):
    return [dict(r, origin=None) for r in records]


def test_the_cache_gives_the_origins_of_a_full_read_without_reading_the_lists(lists, tmp_path, monkeypatch):
    folder, records = lists
    expected = fresh(records)
    assert po.add_apt_origins(expected, str(folder)) == []
    assert any(o for o in origins(expected).values())
    path = tmp_path / "cache" / "apt-origins.json"
    first = fresh(records)
    assert po.add_apt_origins(first, str(folder), cache=cache_mod.OriginCache(str(folder), str(path))) == []
    assert origins(first) == origins(expected)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700

    def no_read(*args, **kwargs):
        raise AssertionError("a list was read although the cache holds its answer")
    monkeypatch.setattr(po, "read_list", no_read)
    second = fresh(records)
    assert po.add_apt_origins(second, str(folder), cache=cache_mod.OriginCache(str(folder), str(path))) == []
    assert origins(second) == origins(expected)


def test_check_mode_uses_the_cache_but_never_writes_it(lists, tmp_path):
    folder, records = lists
    path = tmp_path / "cache" / "apt-origins.json"
    checked = fresh(records)
    assert po.add_apt_origins(checked, str(folder), cache=cache_mod.OriginCache(str(folder), str(path), write=False)) == []
    assert not path.parent.exists()  # nothing written: not the file, not its folder
    po.add_apt_origins(fresh(records), str(folder), cache=cache_mod.OriginCache(str(folder), str(path)))
    before = path.read_bytes(), path.stat().st_mtime_ns
    again = fresh(records)
    assert po.add_apt_origins(again, str(folder), cache=cache_mod.OriginCache(str(folder), str(path), write=False)) == []
    assert origins(again) == origins(checked) and (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_changed_lists_or_a_new_package_read_the_lists_again(lists, tmp_path, monkeypatch):
    folder, records = lists
    path = tmp_path / "apt-origins.json"
    po.add_apt_origins(fresh(records), str(folder), cache=cache_mod.OriginCache(str(folder), str(path)))
    reads = []
    real_read = po.read_list
    monkeypatch.setattr(po, "read_list", lambda p, run=None: reads.append(p) or real_read(p, run))

    # apt update rewrote the security list: its new stanza for libc6 must be seen
    security = next(folder.glob("*security*_Packages"))
    security.write_bytes(security.read_bytes() + b"\nPackage: libc6\nVersion: 9.9\nArchitecture: amd64\n"
                         b"Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n")
    libc_version = next(r for r in records if r["name"] == "libc6" and r["arch"] == "amd64")["version"]
    changed = fresh(records)
    for record in changed:
        if record["name"] == "libc6":
            record["version"] = "9.9"
    po.add_apt_origins(changed, str(folder), cache=cache_mod.OriginCache(str(folder), str(path)))
    assert len(reads) == 3 and libc_version != "9.9"
    libc = next(r for r in changed if r["name"] == "libc6" and r["arch"] == "amd64")["origin"]
    assert (libc["codename"], libc["match"]) == ("bookworm-security", "version")

    # a package installed since: not in the cache, so the lists are read again
    reads.clear()
    added = fresh(records) + [parsers.make_record("dpkg", "zzz-new-tool", "1.0", "amd64", "Someone <s@example.org>")]
    po.add_apt_origins(added, str(folder), cache=cache_mod.OriginCache(str(folder), str(path)))
    assert len(reads) == 3
    reads.clear()
    po.add_apt_origins(fresh(added), str(folder), cache=cache_mod.OriginCache(str(folder), str(path)))
    assert reads == []  # the rewritten cache covers it


def test_a_cache_others_can_write_or_a_broken_one_is_not_trusted(lists, tmp_path, monkeypatch):
    folder, records = lists
    path = tmp_path / "apt-origins.json"
    cache = cache_mod.OriginCache(str(folder), str(path))
    archives = po.list_archives(str(folder))
    names = {r["name"] for r in records}
    po.add_apt_origins(fresh(records), str(folder), cache=cache)
    assert cache.load(archives, names) is not None
    doc = json.loads(path.read_text())
    first_name = sorted(doc["facts"])[0]
    doc["facts"][first_name] = [[sorted(archives)[0], "forged", "amd64", "x"]]
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o666)
    assert cache.load(archives, names) is None  # group- or world-writable: anyone could pick the origins
    os.chmod(path, 0o600)
    assert cache.load(archives, names)[first_name][0][1] == "forged"  # (only its owner wrote it)
    path.write_text("{not json")
    assert cache.load(archives, names) is None
    assert cache.load(archives, names | {"never-cached"}) is None


def test_the_default_place_is_roots_or_the_users_own(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cache_mod.default_path() == "/var/cache/fleetsam/apt-origins.json"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", "/home/scan")
    assert cache_mod.default_path() == str(Path("/home/scan/.cache/fleetsam/apt-origins.json"))
