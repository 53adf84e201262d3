"""Linux package-source parsers on real captured outputs, this machine's own
package databases, and synthetic roots for availability and the root prefix."""

import os
import re
import subprocess
import time

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import linux_packages as lp
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_common as common
from ansible_collections.fleetsam.sam.plugins.module_utils import pkg_parsers as parsers

KEYS = set(common.RECORD_KEYS)


def read(real_fixtures, name):
    return (real_fixtures / "linux" / name).read_text(encoding="utf-8")


def by_name(records):
    return {r["name"]: r for r in records}


def check_contract(records, source):
    for record in records:
        assert set(record) == KEYS
        assert record["source"] == source
        assert isinstance(record["name"], str) and record["name"]
        assert record["version"] is None or isinstance(record["version"], str)
        assert record["install_time"] is None or isinstance(record["install_time"], int)
        assert record["package_id"].startswith(source + ":")
        assert isinstance(record["extra"], dict)


@pytest.fixture
def tz(monkeypatch):
    """Set the process time zone for the test (restored afterwards)."""
    def set_tz(name):
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield set_tz
    monkeypatch.undo()
    time.tzset()


def run_real(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return proc.returncode, proc.stdout, proc.stderr


class FakeRunner:
    """Injected run_command: records argv and answers with canned output."""

    def __init__(self, stdout, rc=0, stderr=""):
        self.result, self.calls = (rc, stdout, stderr), []

    def __call__(self, argv):
        self.calls.append(list(argv))
        return self.result


def fake_which(name):
    return "/usr/bin/" + name


def no_which(name):
    return None


# ---------------------------------------------------------------- dates

def test_parse_date_formats(tz):
    tz("UTC")
    assert common.parse_date("Wed Sep 12 10:55:23 2018") == 1536749723
    assert common.parse_date("Fri 24 May 2024 09:50:31 AM +08") == 1716515431
    assert common.parse_date("Fri 24 May 2024 12:50:31 AM +08") == 1716515431 - 9 * 3600
    assert common.parse_date("Tue 03 Mar 2020 02:11:36 PM UTC") == 1583244696
    assert common.parse_date("Mon 21 Oct 2019 02:07:08 PM PDT") is None  # foreign zone name
    assert common.parse_date("garbage") is None
    assert common.parse_date(None) is None
    tz("America/Los_Angeles")
    assert common.parse_date("Wed 16 Oct 2019 09:21:42 AM PDT") == 1571242902


# ---------------------------------------------------------------- dpkg

def test_dpkg_status_trivy(real_fixtures):
    records = parsers.parse_dpkg_status(read(real_fixtures, "trivy_ubuntu18.04_var-lib-dpkg-status"))
    check_contract(records, "dpkg")
    # 91 stanzas: 90 installed, 1 "deinstall ok config-files" (git)
    assert len(records) == 90
    names = by_name(records)
    assert "git" not in names
    assert sum(1 for r in records if ":" in r["version"]) == 13
    assert sorted(set(r["arch"] for r in records)) == ["all", "amd64"]
    assert sum(1 for r in records if r["arch"] == "all") == 10
    libgcc = names["libgcc1"]
    assert (libgcc["version"], libgcc["arch"], libgcc["package_id"]) == (
        "1:8-20180414-1ubuntu2", "amd64", "dpkg:libgcc1:amd64")
    assert libgcc["vendor"] == "Ubuntu Core developers <ubuntu-devel-discuss@lists.ubuntu.com>"
    assert libgcc["extra"] == {"status": "install ok installed", "source_package": "gcc-8"}
    assert names["libpam-runtime"]["arch"] == "all"
    assert names["bash"]["version"] == "4.4.18-2ubuntu1"
    assert names["fdisk"]["extra"]["source_package"] == "util-linux"
    assert all(r["install_time"] is None for r in records)


def test_dpkg_status_deinstalled_kernel_excluded(real_fixtures):
    records = parsers.parse_dpkg_status(read(real_fixtures, "syft_ubuntu24.04-aws_dpkg-status_deinstalled-kernels"))
    assert [(r["name"], r["version"]) for r in records] == [
        ("linux-image-6.14.0-1012-aws", "6.14.0-1012.12~24.04.1")]


def test_control_stanzas_keep_continuation_lines(real_fixtures):
    stanzas = parsers.parse_control_stanzas(read(real_fixtures, "trivy_ubuntu18.04_var-lib-dpkg-status"))
    assert len(stanzas) == 91
    pam = next(s for s in stanzas if s["Package"] == "libpam-runtime")
    assert pam["Conffiles"].splitlines() == [
        "", "/etc/pam.conf 87fc76f18e98ee7d3848f6b81b3391e5",
        "/etc/pam.d/other 31aa7f2181889ffb00b87df4126d1701"]
    assert pam["Description"].startswith("Runtime support for the PAM library\nContains configuration")
    assert pam["Homepage"] == "http://www.linux-pam.org/"


def test_dpkg_status_hold_and_other_states():
    text = "\n".join(
        "Package: p%d\nStatus: %s\nArchitecture: amd64\nVersion: 1.%d\n" % (n, status, n)
        for n, status in enumerate(["hold ok installed", "install ok installed", "install ok half-installed",
                                    "install ok unpacked", "purge ok not-installed", "deinstall ok config-files",
                                    "install reinstreq half-installed"]))
    assert [(r["name"], r["extra"]["status"]) for r in parsers.parse_dpkg_status(text)] == [
        ("p0", "hold ok installed"), ("p1", "install ok installed")]


def test_dpkg_query_glpi_tsv(real_fixtures):
    records = parsers.parse_dpkg_query(read(real_fixtures, "glpi-agent_dpkg-query_showformat.tsv"))
    check_contract(records, "dpkg")
    names = by_name(records)
    assert len(records) == 16  # 17 rows, vlc-nox is "deinstall ok config-files"
    assert "vlc-nox" not in names
    assert (names["aspell-en"]["version"], names["aspell-en"]["arch"]) == ("6.0-0-6", "all")
    assert names["apache2"]["package_id"] == "dpkg:apache2:amd64"
    assert names["jcagent"]["version"] == "0.24.2"  # empty Installed-Size column
    assert names["at"]["extra"]["status"] == "install ok installed"


def host_dpkg_installed():
    rc, out, err = run_real(["dpkg-query", "-W", "-f",
                             "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"])
    assert rc == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    return set((name, version, arch) for abbrev, name, version, arch in rows if abbrev.strip() in ("ii", "hi"))


def test_dpkg_status_matches_this_machine():
    with open("/var/lib/dpkg/status", encoding="utf-8") as handle:
        records = parsers.parse_dpkg_status(handle.read())
    expected = host_dpkg_installed()
    assert len(expected) > 50
    assert set((r["name"], r["version"], r["arch"]) for r in records) == expected
    assert len(records) == len(expected)


def test_dpkg_query_argv_matches_status_on_this_machine():
    rc, out, err = run_real(parsers.DPKG_QUERY_ARGV)
    assert rc == 0, err
    from_query = parsers.parse_dpkg_query(out)
    from_status = parsers.read_dpkg(install_times=False)
    key = lambda r: (r["name"], r["version"], r["arch"], r["vendor"])  # noqa: E731
    assert sorted(map(key, from_query)) == sorted(map(key, from_status))


def test_read_dpkg_install_times_on_this_machine():
    records = parsers.read_dpkg()
    dpkg = by_name(records)["dpkg"]
    arch_list = "/var/lib/dpkg/info/dpkg:%s.list" % dpkg["arch"]
    path = arch_list if os.path.exists(arch_list) else "/var/lib/dpkg/info/dpkg.list"
    assert dpkg["install_time"] == int(os.stat(path).st_mtime)
    assert sum(1 for r in records if r["install_time"] is not None) >= len(records) * 0.9


def test_collect_dpkg_under_root(tmp_path, real_fixtures):
    admin = tmp_path / "var/lib/dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "status").write_text(read(real_fixtures, "syft_ubuntu24.04-aws_dpkg-status_deinstalled-kernels"))
    (admin / "status.d").mkdir()
    (admin / "status.d" / "tzdata").write_text(
        "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-1\n"
        "Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n")
    (admin / "status.d" / "tzdata.md5sums").write_text("0123 usr/share/zoneinfo/UTC\n")
    kernel_list = admin / "info" / "linux-image-6.14.0-1012-aws.list"
    kernel_list.write_text("/boot\n")
    os.utime(str(kernel_list), (1700000000, 1700000000))
    runner = FakeRunner("")
    records, warnings = lp.collect_dpkg(runner, root=str(tmp_path), which=no_which)
    assert warnings == [] and runner.calls == []
    assert [(r["name"], r["install_time"]) for r in records] == [
        ("linux-image-6.14.0-1012-aws", 1700000000), ("tzdata", None)]


# ---------------------------------------------------------------- rpm

def test_rpm_qai_centos(real_fixtures, tz):
    tz("UTC")
    records = parsers.parse_rpm_qi(read(real_fixtures, "jc_centos7.7_rpm-qai.txt"))
    check_contract(records, "rpm")
    assert len(records) == 430  # 433 stanzas minus 3 gpg-pubkey
    assert not any(r["name"] == "gpg-pubkey" for r in records)
    assert sum(1 for r in records if r["extra"]["epoch"]) == 70
    names = by_name(records)
    make = names["make"]
    assert (make["version"], make["arch"], make["vendor"], make["package_id"]) == (
        "1:3.82-24.el7", "x86_64", "CentOS", "rpm:make-3.82-24.el7.x86_64")
    assert make["extra"] == {"epoch": "1", "release": "24.el7",
                             "install_date": "Wed 16 Oct 2019 09:21:42 AM PDT"}
    assert make["install_time"] is None  # PDT is not this host's zone
    assert names["bash"]["version"] == "4.2.46-33.el7"
    assert names["postfix"]["version"] == "2:2.10.1-7.el7"
    assert names["oniguruma"]["vendor"] == "Fedora Project"
    assert sum(1 for r in records if r["vendor"] == "Fedora Project") == 4
    assert names["kbd-legacy"]["arch"] == "noarch"


def test_rpm_qai_dates_in_host_zone(real_fixtures, tz):
    tz("America/Los_Angeles")
    records = by_name(parsers.parse_rpm_qi(read(real_fixtures, "jc_centos7.7_rpm-qai.txt")))
    assert records["make"]["install_time"] == 1571242902


def test_rpm_nvra_opensuse(real_fixtures):
    records = parsers.parse_rpm_nvra(read(real_fixtures, "vicibox_opensuse-leap15.3_rpm-qa.txt"))
    check_contract(records, "rpm")
    assert len(records) == 1020  # 1,031 lines minus 11 gpg-pubkey
    arches = [r["arch"] for r in records]
    assert (arches.count("noarch"), arches.count("x86_64")) == (309, 711)
    names = by_name(records)
    assert (names["bash"]["version"], names["bash"]["arch"]) == ("4.4-17.83", "x86_64")
    assert names["libruby2_5-2_5"]["version"] == "2.5.9-4.17.1"
    assert names["libboost_thread1_66_0"]["extra"] == {"epoch": None, "release": "10.1"}
    assert names["net-tools-deprecated"]["version"] == "2.0+git20170221.479bb4a-3.11"
    assert names["plymouth-theme-spinner"]["version"] == "0.9.5+git20190908+3abfab2-5.3"
    assert names["ngrep"]["package_id"] == "rpm:ngrep-1.46.1-bp153.1.14.x86_64"


def test_split_nvra_edge_cases():
    assert parsers.split_nvra("gpg-pubkey-6a61399b-5909c06b") == ("gpg-pubkey", "6a61399b", "5909c06b", None)
    assert parsers.split_nvra("foo-1.0-1.el9.aarch64") == ("foo", "1.0", "1.el9", "aarch64")
    assert parsers.split_nvra("foo-1.0-1.fc40") == ("foo", "1.0", "1.fc40", None)
    assert parsers.split_nvra("notanvra") is None


def test_rpm_tsv_mageia(real_fixtures):
    records = parsers.parse_rpm_tsv(read(real_fixtures, "glpi-agent_mageia_rpm-qa_queryformat.tsv"))
    check_contract(records, "rpm")
    assert len(records) == 10
    names = by_name(records)
    pci = names["libpciaccess0"]
    assert (pci["version"], pci["arch"], pci["vendor"], pci["install_time"]) == (
        "0.12.1-1.mga1", "i586", "Mageia.Org", 1311080703)
    assert names["lib64swresample0"]["extra"]["release"] == "2.mga2.tainted"
    assert names["perl-Gtk2-ImageView"]["vendor"] == "Mageia"
    assert names["ruby-term-ansicolor"]["arch"] == "noarch"


def mageia_as_query_output(text):
    """Re-encode the Mageia capture in RPM_QUERY_FORMAT, plus a gpg-pubkey row."""
    rows = []
    for line in text.splitlines():
        name, arch, vr, itime, _size, vendor = line.split("\t")[:6]
        version, release = vr.rsplit("-", 1)
        rows.append([name, "(none)", version, release, arch, vendor, "(none)", itime, "(none)"])
    rows.append(["gpg-pubkey", "(none)", "80fae8a6", "4ddfd1b2", "(none)", "(none)", "(none)", "1311080000", "(none)"])
    return "".join("\x1f".join(row) + "\x1e\n" for row in rows)


def test_rpm_query_format_parse(real_fixtures):
    records = parsers.parse_rpm_query(mageia_as_query_output(
        read(real_fixtures, "glpi-agent_mageia_rpm-qa_queryformat.tsv")))
    origins = [r.pop("origin") for r in records]
    tsv = parsers.parse_rpm_tsv(read(real_fixtures, "glpi-agent_mageia_rpm-qa_queryformat.tsv"))
    assert records == [{k: v for k, v in r.items() if k != "origin"} for r in tsv]
    assert {o["vendor"] for o in origins} == {"Mageia.Org", "Mageia"}  # unsigned: the key stays None
    assert {(o["packager"], o["key"]) for o in origins} == {(None, None)}


def test_rpm_query_empty_db_with_real_rpm(tmp_path):
    dbpath = tmp_path / "rpmdb"
    dbpath.mkdir()
    rc, out, err = run_real(parsers.RPM_QUERY_ARGV + ["--dbpath", str(dbpath)])
    assert rc == 0, err
    assert out == "" and parsers.parse_rpm_query(out) == []


def test_rpm_query_format_rendered_by_real_rpm(tmp_path):
    spec = tmp_path / "demo.spec"
    spec.write_text("Name: demo-tool\nVersion: 2.4.1\nRelease: 3.el9\nEpoch: 7\nSummary: demo\n"
                    "License: MIT\nVendor: Example Corp\nBuildArch: noarch\n%description\ndemo\n")
    rc, out, err = run_real(["rpm", "-q", "--specfile", str(spec), "--queryformat", parsers.RPM_QUERY_FORMAT])
    assert rc == 0, err
    assert parsers.parse_rpm_query(out) == [{
        "source": "rpm", "name": "demo-tool", "version": "7:2.4.1-3.el9", "arch": "noarch",
        "vendor": "Example Corp", "install_time": None, "package_id": "rpm:demo-tool-2.4.1-3.el9.noarch",
        "location": None, "extra": {"epoch": "7", "release": "3.el9"},
        "origin": {"type": "rpm", "vendor": "Example Corp", "packager": None, "key": None}}]


def test_collect_rpm_uses_root_and_runner(tmp_path, real_fixtures):
    assert lp.collect_rpm(FakeRunner(""), root=str(tmp_path), which=fake_which) is None
    (tmp_path / "usr/lib/sysimage/rpm").mkdir(parents=True)
    assert lp.collect_rpm(FakeRunner(""), root=str(tmp_path), which=no_which) is None
    runner = FakeRunner(mageia_as_query_output(read(real_fixtures, "glpi-agent_mageia_rpm-qa_queryformat.tsv")))
    records, warnings = lp.collect_rpm(runner, root=str(tmp_path), which=fake_which)
    assert runner.calls == [["/usr/bin/rpm", "--root", str(tmp_path), "-qa", "--queryformat", parsers.RPM_QUERY_FORMAT]]
    assert len(records) == 10 and warnings == []
    failing = FakeRunner("", rc=1, stderr="error: cannot open Packages database\n")
    with pytest.raises(lp.SourceFailed, match="exited with 1: error: cannot open Packages database"):
        lp.collect_rpm(failing, root=str(tmp_path), which=fake_which)  # a failed source, not "none installed"


# ---------------------------------------------------------------- apk

def test_apk_installed_alpine(real_fixtures):
    records = parsers.parse_apk_installed(read(real_fixtures, "syft_alpine_lib-apk-db-installed"))
    check_contract(records, "apk")
    assert len(records) == 14
    names = by_name(records)
    assert list(names)[:3] == ["alpine-baselayout-data", "musl", "busybox"]
    musl = names["musl"]
    assert (musl["version"], musl["arch"], musl["vendor"], musl["install_time"]) == (
        "1.2.3-r0", "x86_64", "Timo Teräs <timo.teras@iki.fi>", None)
    assert musl["extra"] == {"origin": "musl", "build_time": 1649396308}
    assert names["libc-utils"]["extra"]["origin"] == "libc-dev"
    assert names["ssl_client"]["extra"] == {"origin": "busybox", "build_time": 1659366884}
    assert names["libcrypto1.1"]["package_id"] == "apk:libcrypto1.1"


def test_collect_apk_under_root(tmp_path, real_fixtures):
    assert lp.collect_apk(FakeRunner(""), root=str(tmp_path)) is None
    db = tmp_path / "lib/apk/db"
    db.mkdir(parents=True)
    (db / "installed").write_text(read(real_fixtures, "syft_alpine_lib-apk-db-installed"))
    records, warnings = lp.collect_apk(FakeRunner(""), root=str(tmp_path), which=no_which)
    assert len(records) == 14 and warnings == []


# ---------------------------------------------------------------- pacman

def test_pacman_qi_glpi(real_fixtures, tz):
    tz("UTC")
    records = parsers.parse_pacman_qi(read(real_fixtures, "glpi-agent_arch_pacman-Qqi.txt"))
    check_contract(records, "pacman")
    assert [r["name"] for r in records] == [
        "ca-certificates", "filesystem", "pacman-mirrorlist", "perl", "systemd", "vim",
        "vim-runtime", "which", "xz", "zlib", "zstd"]
    names = by_name(records)
    ca = names["ca-certificates"]
    assert (ca["version"], ca["arch"], ca["install_time"]) == ("20180821-1", "any", 1536749723)
    assert ca["vendor"] == "Jan Alexander Steffens (heftig) <jan.steffens@gmail.com>"
    assert ca["extra"] == {"install_date": "Wed Sep 12 10:55:23 2018", "explicit": False}
    assert names["zlib"]["version"] == "1:1.2.11-3"
    assert [r["name"] for r in records if r["extra"]["explicit"]] == ["filesystem", "perl", "vim", "which"]


def test_pacman_qii_wrapped_lines(real_fixtures):
    records = parsers.parse_pacman_qi(read(real_fixtures, "jc_arch_pacman-Qii_zstd.txt"))
    assert [(r["name"], r["version"], r["arch"]) for r in records] == [
        ("zstd", "1.5.6-1", "x86_64"), ("apparmor", "3.1.7-4", "x86_64"), ("apulse", "0.1.13-1", "x86_64")]
    names = by_name(records)
    assert names["zstd"]["install_time"] == 1716515431  # "Fri 24 May 2024 09:50:31 AM +08"
    assert names["apparmor"]["vendor"] == "Antonio Rojas <arojas@archlinux.org>"
    assert names["apulse"]["vendor"] is None  # "Unknown Packager"
    assert names["apparmor"]["extra"]["explicit"] is True


def desc_text(record, build_time):
    """Write a pacman ``desc`` file for a record (the on-disk local database format)."""
    fields = [("NAME", record["name"]), ("VERSION", record["version"]), ("DESC", "from a -Qi capture"),
              ("ARCH", record["arch"]), ("BUILDDATE", str(build_time)),
              ("INSTALLDATE", str(record["install_time"])), ("PACKAGER", record["vendor"]), ("SIZE", "1024")]
    if not record["extra"]["explicit"]:
        fields.append(("REASON", "1"))
    fields.append(("DEPENDS", "glibc\nbash"))
    return "".join("%%%s%%\n%s\n\n" % field for field in fields)


def test_collect_pacman_desc_under_root(tmp_path, real_fixtures, tz):
    tz("UTC")
    assert lp.collect_pacman(FakeRunner(""), root=str(tmp_path)) is None
    captured = parsers.parse_pacman_qi(read(real_fixtures, "glpi-agent_arch_pacman-Qqi.txt"))
    local = tmp_path / "var/lib/pacman/local"
    for record in captured:
        pkg = local / ("%s-%s" % (record["name"], record["version"]))
        pkg.mkdir(parents=True)
        (pkg / "desc").write_text(desc_text(record, 1500000000))
        (pkg / "files").write_text("%FILES%\nusr/\n")
    (local / "ALPM_DB_VERSION").write_text("9\n")
    records, warnings = lp.collect_pacman(FakeRunner(""), root=str(tmp_path), which=no_which)
    assert warnings == []
    strip = lambda r: (r["name"], r["version"], r["arch"], r["vendor"], r["install_time"],  # noqa: E731
                       r["extra"]["explicit"])
    assert sorted(map(strip, records)) == sorted(map(strip, captured))
    assert all(r["extra"]["build_time"] == 1500000000 for r in records)


# ---------------------------------------------------------------- snap

def test_snap_list(real_fixtures):
    records = parsers.parse_snap_list(read(real_fixtures, "glpi-agent_snap-list.txt"))
    check_contract(records, "snap")
    assert [(r["name"], r["version"], r["vendor"]) for r in records] == [
        ("core18", "20191030", "canonical"), ("kde-frameworks-5-core18", "5.61.0", "kde"),
        ("kdenlive", "19.08.2", "kde"), ("scrcpy", "v1.10", "sisco311"), ("snapd", "2.42", "canonical")]
    core = records[0]
    assert core["location"] == "/snap/core18/1265" and core["package_id"] == "snap:core18"
    assert core["extra"] == {"revision": "1265", "tracking": "stable", "notes": "base"}
    assert records[1]["extra"]["notes"] is None


def test_snap_list_agrees_with_snap_info(real_fixtures):
    info = read(real_fixtures, "glpi-agent_snap-info_kdenlive.txt")
    version, rev = re.search(r"^installed:\s+(\S+)\s+\((\d+)\)", info, re.M).groups()
    publisher = re.search(r"^publisher:\s+(\S+)", info, re.M).group(1)
    kdenlive = by_name(parsers.parse_snap_list(read(real_fixtures, "glpi-agent_snap-list.txt")))["kdenlive"]
    assert (kdenlive["version"], kdenlive["extra"]["revision"]) == (version, rev)
    assert kdenlive["vendor"].lower() == publisher.rstrip("*").lower()


def test_snap_list_unicode_marks_and_empty():
    text = ("Name    Version  Rev    Tracking       Publisher     Notes\n"
            "firefox 128.0    4650   latest/stable  mozilla\u2713      -\n"
            "hello   2.10     x1     -              -             -\n")
    records = parsers.parse_snap_list(text, "/var/lib/snapd/snap")
    assert [(r["vendor"], r["location"], r["extra"]["tracking"]) for r in records] == [
        ("mozilla", "/var/lib/snapd/snap/firefox/4650", "latest/stable"),
        (None, "/var/lib/snapd/snap/hello/x1", None)]
    assert parsers.parse_snap_list("No snaps are installed yet.\n") == []
    assert parsers.parse_snap_list("") == []


def test_collect_snap_live_and_offline(tmp_path, real_fixtures):
    runner = FakeRunner(read(real_fixtures, "glpi-agent_snap-list.txt"))
    assert lp.collect_snap(runner, root="/", which=no_which) is None
    records, warnings = lp.collect_snap(runner, root="/", which=fake_which)
    assert runner.calls == [["/usr/bin/snap", "list", "--color=never", "--unicode=never"]]
    assert len(records) == 5 and warnings == []
    assert lp.collect_snap(runner, root=str(tmp_path), which=fake_which) is None
    (tmp_path / "var/lib/snapd").mkdir(parents=True)
    records, warnings = lp.collect_snap(runner, root=str(tmp_path), which=fake_which)
    assert records == [] and "only the running system" in warnings[0]
    assert len(runner.calls) == 1


# ---------------------------------------------------------------- flatpak

def test_flatpak_list_four_columns(real_fixtures):
    columns = ("application", "branch", "installation", "name")
    records = parsers.parse_flatpak_list(read(real_fixtures, "glpi-agent_flatpak-list_columns.tsv"), columns)
    check_contract(records, "flatpak")
    assert len(records) == 12
    installs = [r["extra"]["installation"] for r in records]
    assert (installs.count("system"), installs.count("user")) == (7, 5)
    gl = [r for r in records if r["name"] == "org.freedesktop.Platform.GL.default"]
    assert [(r["extra"]["branch"], r["extra"]["installation"]) for r in gl] == [
        ("19.08", "system"), ("20.08", "system"), ("20.08", "user")]
    obs = records[-1]
    assert (obs["name"], obs["extra"]["display_name"], obs["version"], obs["arch"]) == (
        "com.obsproject.Studio", "OBS Studio", None, None)
    assert obs["package_id"] == "flatpak:com.obsproject.Studio//stable"
    assert by_name(records)["org.freedesktop.Sdk.Locale"]["extra"]["display_name"] == \
        "freedesktop development platform translations"


def info_fields(text):
    return dict((k.strip(), v.strip()) for k, _, v in
                (line.partition(":") for line in text.splitlines() if ":" in line))


def test_flatpak_list_default_columns_from_info_captures(real_fixtures):
    """Rows in FLATPAK_LIST_ARGV's column order, filled from the real ``flatpak info`` captures."""
    lines = []
    for name, display in (("glpi-agent_flatpak-info_user_com.obsproject.Studio.txt", "OBS Studio"),
                          ("glpi-agent_flatpak-info_system_org.freedesktop.Platform.GL.default.txt", "default")):
        info = info_fields(read(real_fixtures, name))
        lines.append("\t".join([info["ID"], info["Branch"], info["Installation"], display,
                                info.get("Version", ""), info["Arch"], info["Origin"], info["Ref"]]))
    obs, gl = parsers.parse_flatpak_list("\n".join(lines) + "\n")
    assert (obs["version"], obs["arch"], obs["location"], obs["package_id"]) == (
        "27.2.1", "x86_64", None, "flatpak:com.obsproject.Studio/x86_64/stable")
    assert obs["extra"] == {"branch": "stable", "installation": "user", "origin": "flathub",
                            "kind": "app", "display_name": "OBS Studio"}
    assert gl["version"] is None and gl["extra"]["kind"] == "runtime"
    assert gl["location"] == "/var/lib/flatpak/runtime/org.freedesktop.Platform.GL.default/x86_64/20.08"


def test_collect_flatpak(tmp_path, real_fixtures):
    runner = FakeRunner(read(real_fixtures, "glpi-agent_flatpak-list_columns.tsv"))
    assert lp.collect_flatpak(runner, which=no_which) is None
    records, warnings = lp.collect_flatpak(runner, which=fake_which)
    assert runner.calls == [["/usr/bin/flatpak"] + parsers.FLATPAK_LIST_ARGV[1:]]
    assert parsers.FLATPAK_LIST_ARGV[:3] == ["flatpak", "list", "--all"]
    assert len(records) == 12 and warnings == []
    assert lp.collect_flatpak(runner, root=str(tmp_path), which=fake_which) is None


# ---------------------------------------------------------------- registry

def test_registry_names_and_availability(tmp_path):
    assert [s.name for s in lp.SOURCES] == ["dpkg", "rpm", "apk", "pacman", "snap", "flatpak"]
    assert not any(lp.source_available(s, str(tmp_path), fake_which) for s in lp.SOURCES)
    dpkg = lp.SOURCES_BY_NAME["dpkg"]
    assert lp.source_available(dpkg, "/", no_which)  # this machine is Debian
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    assert not lp.source_available(dpkg, str(tmp_path))
    (tmp_path / "var/lib/dpkg/status").write_text("")
    assert lp.source_available(dpkg, str(tmp_path))


def test_every_source_on_synthetic_root(tmp_path, real_fixtures):
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text(read(real_fixtures, "syft_alpine_lib-apk-db-installed"))
    (tmp_path / "var/lib/flatpak").mkdir(parents=True)
    runner = FakeRunner("")
    results = {s.name: s.collect(runner, str(tmp_path), fake_which) for s in lp.SOURCES}
    used = [name for name, result in results.items() if result is not None]
    assert used == ["apk", "flatpak"]
    assert [r["source"] for r in results["apk"][0]] == ["apk"] * 14
    assert results["flatpak"][0] == [] and results["flatpak"][1][0].startswith("flatpak: only the running system")
    assert runner.calls == []
