"""Who uses a host: the collectors' raw user records and the engine's parsers, on recorded outputs.

The Linux wtmp is made by util-linux's ``utmpdump -r`` (glibc's own struct utmp)
and the decoding is checked against ``last -F -w`` reading the same file. The
Windows and macOS outputs are crafted from their documented formats
(tests/fixtures/recorded/users/SOURCES.md).
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import subprocess
from pathlib import Path

import pytest

from ansible_collections.fleetsam.sam.plugins.module_utils import host_users
from sam_engine.model import HostUser
from sam_engine.platforms import users
from sam_engine.platforms.registry import platform_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "users"


def epoch(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp())


@pytest.fixture(scope="module")
def wtmp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wtmp") / "wtmp"
    with open(FIXTURES / "wtmp_utmpdump.txt", "rb") as src, open(path, "wb") as out:
        subprocess.run(["utmpdump", "-r"], stdin=src, stdout=out, stderr=subprocess.DEVNULL, check=True)
    return path


def test_wtmp_records_decode_as_last_reads_them(wtmp):
    found = host_users.read_wtmp(str(wtmp), host_users.layout_for("x86_64"))
    assert [(r["user"], r["line"], r["host"]) for r in found] == [
        ("alice", "pts/1", "vpn.corp.example"), ("jdoe", "pts/1", "10.0.0.8"), ("root", "pts/2", "10.0.0.9")]
    out = subprocess.run(["last", "-F", "-w", "-f", str(wtmp)], capture_output=True, text=True, check=True,
                         env={"TZ": "UTC", "LC_ALL": "C"}).stdout
    newest = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 8 and parts[0] not in ("reboot", "wtmp"):
            when = dt.datetime.strptime(" ".join(parts[3:8]), "%a %b %d %H:%M:%S %Y")
            newest.setdefault(parts[0], int(when.replace(tzinfo=dt.timezone.utc).timestamp()))
    assert {r["user"]: r["time"] for r in found} == newest


def test_a_64_bit_time_layout_record_decodes(tmp_path):
    """aarch64, ppc64le, s390x: 400-byte records, a native time_t at offset 344."""
    layout = host_users.layout_for("aarch64")
    record = bytearray(400)
    struct.pack_into("<h", record, 0, host_users.USER_PROCESS)
    record[8:13], record[44:48], record[76:84] = b"pts/3", b"jdoe", b"10.0.0.5"
    struct.pack_into("<q", record, 344, epoch("2038-02-01T00:00:00+00:00"))  # past 2038: 64-bit for real
    assert host_users.decode_wtmp(bytes(record) * 2, layout) == [
        {"user": "jdoe", "line": "pts/3", "host": "10.0.0.5", "time": epoch("2038-02-01T00:00:00+00:00")}]
    assert layout[0] == 400 and host_users.layout_for("x86_64")[0] == 384


def test_lastlog_is_read_by_uid(tmp_path):
    path = tmp_path / "lastlog"
    size = host_users.layout_for("x86_64")[2]
    with open(path, "wb") as out:  # sparse, as the kernel keeps it: one 292-byte slot per UID
        out.seek(1002 * size)
        out.write(struct.pack("<i32s256s", epoch("2026-11-20T08:00:00+00:00"), b"pts/4", b"192.0.2.8"))
    got = host_users.read_lastlog(str(path), [0, 1001, 1002, 1003], host_users.layout_for("x86_64"))
    assert got == [{"uid": 1002, "line": "pts/4", "host": "192.0.2.8", "time": epoch("2026-11-20T08:00:00+00:00")}]


def linux_raw(wtmp_path: Path, lastlog=None) -> dict:
    passwd = (FIXTURES / "debian12_passwd").read_text()
    return {"passwd": passwd, "login_defs": (FIXTURES / "debian12_login.defs.lines").read_text(),
            "wtmp": host_users.read_wtmp(str(wtmp_path), host_users.layout_for("x86_64")),
            "lastlog": lastlog or []}


def test_linux_people_from_passwd_login_defs_and_logins(wtmp):
    lastlog = [{"uid": 1002, "line": "pts/4", "host": "192.0.2.8", "time": epoch("2026-11-20T08:00:00+00:00")},
               {"uid": 1001, "line": "pts/0", "host": "x", "time": epoch("2026-01-01T00:00:00+00:00")}]
    got = users.linux_users(linux_raw(wtmp, lastlog))
    assert got == (
        HostUser("alice", "human", epoch("2026-11-20T08:00:00+00:00"), "lastlog"),  # newer than her wtmp login
        HostUser("cloudsdk", "human", None, "passwd"),
        HostUser("jdoe", "human", epoch("2026-12-01T10:00:00+00:00"), "wtmp"),
        HostUser("root", "service", epoch("2026-12-01T11:00:00+00:00"), "wtmp"),  # logged in: shown, never counted
        HostUser("svc_backup", "human", None, "passwd"),  # looks like a person: the users file's exclude says not
    )  # www-data, nobody, sync, postgres (UID 101), locked (nologin) and +@netgroup are no people


def test_login_defs_moves_the_uid_range(wtmp):
    raw = linux_raw(wtmp)
    raw["login_defs"] = "UID_MIN 1002\nUID_MAX 1002"
    assert [u.account for u in users.linux_users(raw) if u.kind == "human"] == ["alice"]
    assert users.uid_range(None) == (1000, 60000)


def test_unread_passwd_is_no_user_data_not_nobody():
    assert users.linux_users({"passwd": None, "wtmp": None, "lastlog": None}) is None
    assert users.linux_users({"passwd": "", "wtmp": [], "lastlog": []}) == ()


def test_windows_profiles_are_people_by_sid_named_by_account():
    profiles = json.loads((FIXTURES / "windows_profilelist.json").read_text())["profiles"]
    got = {u.account: u for u in users.windows_users(profiles)}
    assert set(got) == {"PC01\\Administrator", "CORP\\JDoe", "alice", "AzureAD\\JaneRoe", "CORP\\svc_sql",
                        "CORP\\newhire"}
    assert got["CORP\\JDoe"] == HostUser("CORP\\JDoe", "human", epoch("2026-11-30T08:55:00+00:00"), "profilelist")
    assert got["alice"].kind == "human" and got["alice"].last_login == epoch("2026-06-01T18:00:00+00:00")
    assert got["PC01\\Administrator"].kind == "service"  # built-in, shown because it was used
    assert got["AzureAD\\JaneRoe"].kind == "human" and got["CORP\\newhire"].last_login is None
    assert users.filetime(0, 0) is None and users.windows_users(None) is None


def test_macos_people_from_dscl_and_last():
    section = {"rc": 0, "stdout": (FIXTURES / "macos_users.txt").read_text()}
    got = users.macos_users(section)
    assert got == (
        HostUser("alice", "human", epoch("2026-02-25T14:03:00+00:00"), "last"),  # year placed by its weekday
        HostUser("jdoe", "human", epoch("2026-12-01T09:12:00+00:00"), "last"),
        HostUser("root", "service", epoch("2026-11-26T11:00:00+00:00"), "last"),
    )  # _www, daemon, nobody: no people; reboot/shutdown/wtmp lines: no logins
    assert users.macos_users({"rc": 1, "stdout": ""}) is None


def test_each_platform_puts_its_users_on_the_host(wtmp):
    linux = {"software": [], "host": {"machine_id": "a" * 32}, "users": linux_raw(wtmp)}
    assert [u.account for u in platform_of(linux).host(linux, "web1").users][:1] == ["alice"]
    assert platform_of({"software": [], "host": {}}).host({"software": [], "host": {}}, "old").users is None
    profiles = json.loads((FIXTURES / "windows_profilelist.json").read_text())["profiles"]
    win = {"windows": {"profiles": profiles, "hardware": {}}}
    assert "CORP\\JDoe" in {u.account for u in platform_of(win).host(win, "pc1").users}
    mac = {"macos": {"users": {"rc": 0, "stdout": (FIXTURES / "macos_users.txt").read_text()}}}
    assert {u.account for u in platform_of(mac).host(mac, "mac1").users} == {"alice", "jdoe", "root"}


def test_hostile_account_names_stay_data(wtmp):
    raw = linux_raw(wtmp)
    raw["passwd"] = "=cmd|' /C calc'!A0:x:1500:1500::/home/x:/bin/sh\n<script>:x:1501:1501::/home/y:/bin/sh\n"
    assert [u.account for u in users.linux_users(raw)] == ["<script>", "=cmd|' /C calc'!A0"]
