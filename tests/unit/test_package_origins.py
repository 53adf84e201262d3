"""Where packages came from, as the collector records it: apt lists (recorded from this machine,
and this machine's own lists checked against ``apt-cache policy``), rpm signatures of a real CentOS
database, apk repository tags and pacman sync databases (recorded, see SOURCES.md)."""

import bz2
import gzip
import io
import json
import lzma
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import linux_packages as lp
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_origins as po
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers

LISTS = Path("/var/lib/apt/lists")
MAIN = "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
UPDATES = "deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"
SECURITY = "deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"


def run_real(argv, binary=False):
    proc = subprocess.run(argv, capture_output=True, text=not binary)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def apt_lists(real_fixtures, tmp_path):
    """The recorded lists in a lists folder, the main list gzipped and the updates list xz-compressed
    as apt keeps them with compressed indexes; returns (lists folder, dpkg records)."""
    source = real_fixtures / "linux" / "apt"
    lists = tmp_path / "lists"
    lists.mkdir()
    for path in source.iterdir():
        if path.name.endswith("InRelease") or path.name == SECURITY:
            shutil.copy(path, lists / path.name)
    (lists / (MAIN + ".gz")).write_bytes(gzip.compress((source / MAIN).read_bytes()))
    (lists / (UPDATES + ".xz")).write_bytes(lzma.compress((source / UPDATES).read_bytes()))
    return lists, parsers.parse_dpkg_status((source / "status").read_text(encoding="utf-8"))


def where(record):
    origin = record["origin"]
    return origin and (origin["codename"], origin["component"], origin["match"])


def test_apt_origins_of_recorded_lists(apt_lists):
    lists, records = apt_lists
    assert po.add_apt_origins(records, str(lists)) == []
    found = {r["name"]: where(r) for r in records}
    assert found == {
        "libc6": ("bookworm", "main", "version"),  # 2.36-9+deb12u14 is in the main list
        "bash": ("bookworm", "main", "maintainer"),  # installed 5.2.15-2+b8, listed 5.2.15-2+b13
        "base-files": ("bookworm", "main", "maintainer"),
        "e2fsprogs": ("bookworm", "main", "maintainer"),  # Theodore Y. Ts'o, a personal maintainer
        "libssl3": ("bookworm-security", "main", "maintainer"),
        "openssl": ("bookworm-security", "main", "maintainer"),
        "tzdata": ("bookworm-security", "main", "maintainer"),
        "nodejs": None,  # NodeSource's build: Debian lists a nodejs by other maintainers
        "kubectl": None, "google-cloud-cli": None,  # from a repository whose lists are not there
    }
    libc = next(r for r in records if r["name"] == "libc6")["origin"]
    assert libc == {"type": "apt", "origin": "Debian", "label": "Debian", "suite": "oldstable",
                    "codename": "bookworm", "component": "main", "site": "deb.debian.org", "match": "version"}
    assert next(r for r in records if r["name"] == "tzdata")["origin"]["label"] == "Debian-Security"


def test_lz4_lists_are_read_through_apt_helper_or_reported(apt_lists):
    lists, records = apt_lists
    main = lists / (MAIN + ".gz")
    lz4 = subprocess.run(["lz4", "-c"], input=gzip.decompress(main.read_bytes()), capture_output=True, check=True)
    main.unlink()
    (lists / (MAIN + ".lz4")).write_bytes(lz4.stdout)
    warnings = po.add_apt_origins(records, str(lists))  # another root: no command may run
    assert warnings == [f"apt: list {MAIN}.lz4 could not be read; its packages have no origin"]
    assert where(next(r for r in records if r["name"] == "libc6")) == ("bookworm-security", "main", "maintainer")
    assert next(r for r in records if r["name"] == "e2fsprogs")["origin"] is None  # only in the main list
    assert po.add_apt_origins(records, str(lists), run_real) == []
    assert where(next(r for r in records if r["name"] == "libc6")) == ("bookworm", "main", "version")


def test_bzip2_and_release_pairing_of_flat_and_nested_components(tmp_path):
    """List file names as apt writes them: a flat repository (its Release beside its Packages) and a
    component with a slash; the texts here are made up by this test."""
    (tmp_path / "repo.example.org_apt_Release").write_text("Origin: Example\nLabel: Example Tools\nSuite: ./\n")
    (tmp_path / "repo.example.org_apt_Packages.bz2").write_bytes(bz2.compress(
        b"Package: tool\nVersion: 2.0\nArchitecture: amd64\nMaintainer: Example <x@example.org>\n"))
    (tmp_path / "ftp.example.org_debian_dists_sid_InRelease").write_text("Origin: Debian\nLabel: Debian\n")
    (tmp_path / "ftp.example.org_debian_dists_sid_main_debian-installer_binary-amd64_Packages").write_text(
        "Package: udeb\nVersion: 1\nArchitecture: amd64\n")
    archives = po.list_archives(str(tmp_path))
    assert archives["repo.example.org_apt_Packages.bz2"] == {
        "origin": "Example", "label": "Example Tools", "suite": "./", "type": "apt", "component": None,
        "site": "repo.example.org"}
    assert archives["ftp.example.org_debian_dists_sid_main_debian-installer_binary-amd64_Packages"][
        "component"] == "main/debian-installer"
    records = [parsers.make_record("dpkg", "tool", "2.0", "amd64", "Example <x@example.org>")]
    po.add_apt_origins(records, str(tmp_path))
    assert records[0]["origin"]["label"] == "Example Tools" and records[0]["origin"]["match"] == "version"


def _policy_sources(text):
    """``{package: [source lines of its installed version]}`` from ``apt-cache policy`` output."""
    found, name, installed = {}, None, False
    for line in text.splitlines():
        if line and not line.startswith(" "):
            name, installed = line.rstrip(":"), False
        elif line.startswith(" *** ") or re.match(r"^ {5}\S", line):
            installed = line.startswith(" *** ")
        elif installed and re.match(r"^ {8}\d+ ", line):
            found.setdefault(name, []).append(line.split(None, 1)[1])
    return found


@pytest.mark.skipif(not LISTS.is_dir() or not shutil.which("apt-cache"), reason="needs apt and its lists")
def test_this_machine_agrees_with_apt_cache_policy():
    """apt itself is the oracle: a package found by version is in its installed version's sources,
    and one without an origin has no source but the dpkg status."""
    records = parsers.read_dpkg()
    assert po.add_apt_origins(records, str(LISTS), run_real) == []
    sample = [r for r in records if r["arch"] != "all"][:120] + [r for r in records if r["origin"] is None]
    names = [f"{r['name']}:{r['arch']}" for r in sample]
    policy = _policy_sources(subprocess.run(["apt-cache", "policy", *names], capture_output=True, text=True,
                                            check=True).stdout)
    checked = 0
    for record, name in zip(sample, names):
        sources = policy.get(name) or policy.get(record["name"])
        assert sources, name
        if record["origin"] is None or record["origin"]["match"] == "maintainer":
            assert all(s == "/var/lib/dpkg/status" for s in sources), (name, sources)
        else:
            origin = record["origin"]
            assert any(f" {origin['codename']}/{origin['component']} " in s for s in sources), (name, sources)
            checked += 1
    assert checked >= 50
    table = po.intern_origins(records)
    assert all(e["origin"] == "Debian" for e in table)  # this machine's only archive is Debian's


def test_a_record_costs_one_small_index_in_the_job_event():
    records = parsers.read_dpkg()
    before = len(json.dumps([{k: v for k, v in r.items() if k != "origin"} for r in records], separators=(",", ":")))
    po.add_apt_origins(records, str(LISTS), run_real)
    table = po.intern_origins(records)
    added = len(json.dumps(records, separators=(",", ":"))) - before
    assert all(r["origin"] is None or isinstance(r["origin"], int) for r in records)
    assert len(table) <= 8 and len(json.dumps(table)) < 2000  # the per-host table: this machine's 5 archives
    assert added / len(records) <= 14  # ',"origin":3' per record (',"origin":null' for none)


# ---------------------------------------------------------------- rpm


def test_rpm_signing_keys_of_a_real_centos_database(real_fixtures):
    records = parsers.parse_rpm_qi((real_fixtures / "linux" / "jc_centos7.7_rpm-qai.txt").read_text())
    keys = {}
    for r in records:
        keys.setdefault(r["origin"]["key"], []).append(r["name"])
    assert {k: len(v) for k, v in keys.items()} == {"24c6a8a7f4a80eb5": 423, "6a2faea2352c64e5": 3,
                                                     "4eb84e71f2ee9d55": 4}  # gpg-pubkey rows are no packages
    assert {"jq", "oniguruma"} <= set(keys["6a2faea2352c64e5"])  # EPEL 7
    bash = next(r for r in records if r["name"] == "bash")["origin"]
    assert bash == {"type": "rpm", "vendor": "CentOS", "packager": "CentOS BuildSystem <http://bugs.centos.org>",
                    "key": "24c6a8a7f4a80eb5"}
    assert len(po.intern_origins(records)) < 10


def test_rpm_signature_of_a_real_rpm_header(tmp_path):
    """rpm renders the signature tag of the query format: an unsigned package has none."""
    spec = tmp_path / "demo.spec"
    spec.write_text("Name: demo\nVersion: 1\nRelease: 1\nSummary: d\nLicense: MIT\nBuildArch: noarch\n"
                    "Packager: Demo Builder <b@example.org>\n%description\nd\n")
    rc, out, err = run_real(["rpm", "-q", "--specfile", str(spec), "--queryformat", parsers.RPM_QUERY_FORMAT])
    assert rc == 0, err
    (record,) = parsers.parse_rpm_query(out)
    assert record["vendor"] == "Demo Builder <b@example.org>"
    assert record["origin"] == {"type": "rpm", "vendor": None, "packager": "Demo Builder <b@example.org>", "key": None}
    assert po.rpm_origin(None, None, "RSA/SHA256, Tue 16 Dec 2014, Key ID 6A2FAEA2352C64E5")["key"] == \
        "6a2faea2352c64e5"


# ---------------------------------------------------------------- apk, pacman


APK_REPOSITORIES = """# recorded by us in the form of an Alpine 3.19 /etc/apk/repositories
https://dl-cdn.alpinelinux.org/alpine/v3.19/main
https://dl-cdn.alpinelinux.org/alpine/v3.19/community
@acme https://apk.example.com/acme/v3.19
"""


def test_apk_repository_tags(real_fixtures, tmp_path):
    installed = (real_fixtures / "linux" / "syft_alpine_lib-apk-db-installed").read_text()
    tagged = installed.rstrip("\n") + "\n\nP:acme-agent\nV:2.1.0-r0\nA:x86_64\ns:acme\n\n"
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "etc/apk").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text(tagged)
    (tmp_path / "etc/apk/repositories").write_text(APK_REPOSITORIES)
    records, warnings = lp.collect_apk(None, root=str(tmp_path))
    assert warnings == [] and len(records) == 15
    origins = {r["name"]: r["origin"] for r in records}
    assert origins["musl"] == {"type": "apk", "tag": "", "repositories":
                               "https://dl-cdn.alpinelinux.org/alpine/v3.19/main "
                               "https://dl-cdn.alpinelinux.org/alpine/v3.19/community"}
    assert origins["acme-agent"] == {"type": "apk", "tag": "acme", "repositories": "https://apk.example.com/acme/v3.19"}


PACMAN_DESC = "%NAME%\n{name}\n\n%VERSION%\n{version}\n\n%ARCH%\nx86_64\n\n%PACKAGER%\n{packager}\n\n"


def _sync_db(path, entries):
    with tarfile.open(path, "w:gz") as tar:
        for name, version in entries:
            body = PACMAN_DESC.format(name=name, version=version, packager="x").encode()
            info = tarfile.TarInfo(f"{name}-{version}/desc")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def test_pacman_sync_repositories(tmp_path):
    """A recorded root (made by this test in pacman's layout): zstd from core at the installed
    version, glibc from core at a newer one, a chaotic-aur package and a local build."""
    local = tmp_path / "var/lib/pacman/local"
    for name, version, packager in (("zstd", "1.5.6-1", "Levente Polyak <anthraxx@archlinux.org>"),
                                    ("glibc", "2.39-1", "Frederik Schwan <freswa@archlinux.org>"),
                                    ("chaotic-keyring", "20230616-1", "Pedro Henrique Lara Campos <root@pedrohlc.com>"),
                                    ("my-tool", "1.0-1", "Unknown Packager")):
        (local / f"{name}-{version}").mkdir(parents=True)
        (local / f"{name}-{version}" / "desc").write_text(PACMAN_DESC.format(name=name, version=version,
                                                                             packager=packager))
    (tmp_path / "var/lib/pacman/sync").mkdir()
    _sync_db(tmp_path / "var/lib/pacman/sync/core.db", [("zstd", "1.5.6-1"), ("glibc", "2.40-1")])
    _sync_db(tmp_path / "var/lib/pacman/sync/chaotic-aur.db", [("chaotic-keyring", "20230616-1")])
    (tmp_path / "var/lib/pacman/sync/broken.db").write_bytes(b"not a tar")
    records, warnings = lp.collect_pacman(None, root=str(tmp_path))
    assert [w.split(":")[0] for w in warnings] == ["pacman"] and "broken.db" in warnings[0]
    origins = {r["name"]: r["origin"] for r in records}
    assert origins == {"zstd": {"type": "pacman", "repo": "core", "match": "version"},
                       "glibc": {"type": "pacman", "repo": "core", "match": "name"},
                       "chaotic-keyring": {"type": "pacman", "repo": "chaotic-aur", "match": "version"},
                       "my-tool": None}
