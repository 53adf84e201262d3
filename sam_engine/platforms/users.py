"""Who uses a host: the collectors' raw account and login records read into ``HostUser``s.

Pure functions of what the collectors return, one per platform:

- Linux (``software_facts`` ``users``): an account of ``/etc/passwd`` is a person
  when its UID is within ``UID_MIN``..``UID_MAX`` of ``/etc/login.defs`` (1000..60000
  when unset), its shell lets it log in (not ``nologin``, ``false``, ``sync``...)
  and it has a home directory (not ``/`` or ``/nonexistent``). Its last login is
  the newer of wtmp's and lastlog's.
- Windows (``win_software_facts`` ``profiles``): each ProfileList profile of a
  real account (SID ``S-1-5-21-...``, or ``S-1-12-1-...`` for Entra ID) is a
  person, named by its translated account (``CORP\\jdoe``), else by its profile
  folder; its last use is the newer of the profile's load and unload times
  (FILETIME halves). The well-known service SIDs (``S-1-5-18/19/20``) are left out.
- macOS (``macos_software_facts`` ``users``): ``dscl . -list /Users UniqueID``
  accounts with UID >= 501 not starting with ``_`` are people; ``last`` gives
  their logins (it prints no year: each date is placed in the latest year, up
  to the host's clock, whose calendar has that weekday).

Built-in accounts (``BUILTIN_ACCOUNTS``: ``root``, ``Administrator``, ``Guest``...)
are kept as ``service`` only when they logged in, so the host page shows them;
they never count as named users. Only people and service accounts with a
login are kept: a system account nobody logs into says nothing about use.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Mapping

from sam_engine.model import HostUser

HUMAN, SERVICE = "human", "service"
# Accounts every system has that are never a licensed person (compared case-insensitively).
BUILTIN_ACCOUNTS = frozenset(("root", "administrator", "guest", "defaultaccount", "wdagutilityaccount",
                              "defaultuser0", "nobody", "daemon"))
NO_LOGIN_SHELLS = ("nologin", "false", "sync", "shutdown", "halt")
NO_HOME = ("", "/", "/nonexistent", "/dev/null")
DEFAULT_UID_RANGE = (1000, 60000)
MACOS_FIRST_UID = 501
PERSON_SIDS = ("S-1-5-21-", "S-1-12-1-")
FILETIME_EPOCH = 116444736000000000  # 1601-01-01 to 1970-01-01 in 100 ns ticks


def _newest(*times: int | None) -> int | None:
    known = [t for t in times if isinstance(t, int) and t > 0]
    return max(known) if known else None


def _user(account: str, human: bool, last_login: int | None, source: str) -> HostUser | None:
    """The record to keep, or None for an account that is no person and never logged in."""
    if human and account.casefold() not in BUILTIN_ACCOUNTS:
        return HostUser(account, HUMAN, last_login, source)
    return HostUser(account, SERVICE, last_login, source) if last_login else None


def _sorted(users: Iterable[HostUser | None]) -> tuple[HostUser, ...]:
    return tuple(sorted((u for u in users if u), key=lambda u: (u.account.casefold(), u.account)))


# --- Linux -------------------------------------------------------------------------------------


def uid_range(login_defs: str | None) -> tuple[int, int]:
    """(UID_MIN, UID_MAX) of login.defs lines, the shadow-utils defaults where unset."""
    low, high = DEFAULT_UID_RANGE
    for line in (login_defs or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            if parts[0] == "UID_MIN":
                low = int(parts[1])
            elif parts[0] == "UID_MAX":
                high = int(parts[1])
    return low, high


def _can_log_in(shell: str) -> bool:
    return shell.rsplit("/", 1)[-1] not in NO_LOGIN_SHELLS


def _times(records: Any, key: str) -> dict:
    found: dict = {}
    for r in records if isinstance(records, list) else ():
        if isinstance(r, Mapping) and isinstance(r.get("time"), int) and isinstance(r.get(key), (str, int)):
            found[r[key]] = max(found.get(r[key], 0), r["time"])
    return found


def linux_users(raw: Mapping[str, Any]) -> tuple[HostUser, ...] | None:
    """The people (and logged-in service accounts) of a Linux host; None when passwd was not read.

    Example: ``jdoe:x:1000:1000::/home/jdoe:/bin/bash`` with a wtmp login at
    1767225600 -> ``HostUser("jdoe", "human", 1767225600, "wtmp")``;
    ``www-data:x:33:...:/usr/sbin/nologin`` without a login is left out.
    """
    passwd = raw.get("passwd")
    if not isinstance(passwd, str):
        return None
    low, high = uid_range(raw.get("login_defs") if isinstance(raw.get("login_defs"), str) else None)
    wtmp, lastlog = _times(raw.get("wtmp"), "user"), _times(raw.get("lastlog"), "uid")
    users = []
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[0] or not fields[2].isdigit() or fields[0][0] in "+-#":
            continue  # NIS compat lines and malformed entries name no local account
        name, uid, home, shell = fields[0], int(fields[2]), fields[5], fields[6]
        human = low <= uid <= high and _can_log_in(shell) and home not in NO_HOME
        seen_wtmp, seen_lastlog = wtmp.get(name), lastlog.get(uid)
        last = _newest(seen_wtmp, seen_lastlog)
        source = "passwd" if last is None else "wtmp" if last == seen_wtmp else "lastlog"
        users.append(_user(name, human, last, source))
    return _sorted(users)


# --- Windows -----------------------------------------------------------------------------------


def filetime(high: Any, low: Any) -> int | None:
    """Epoch seconds of a FILETIME stored as two DWORDs (``LocalProfileLoadTimeHigh``/``Low``)."""
    if not isinstance(high, int) or not isinstance(low, int) or (high, low) == (0, 0):
        return None
    ticks = ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)
    return (ticks - FILETIME_EPOCH) // 10_000_000 if ticks > FILETIME_EPOCH else None


def windows_users(profiles: Any) -> tuple[HostUser, ...] | None:
    """The people of a Windows host from its ProfileList records; None when the collector sent none.

    Example: ``{"sid": "S-1-5-21-...-1104", "account": "CORP\\\\jdoe",
    "load_time_high": 31140112, "load_time_low": 2899053056}`` -> ``CORP\\jdoe``, last used then.
    """
    if not isinstance(profiles, list):
        return None
    users = []
    for p in profiles:
        if not isinstance(p, Mapping) or not isinstance(p.get("sid"), str):
            continue
        sid = p["sid"].upper()
        account = p.get("account") if isinstance(p.get("account"), str) and p.get("account") else None
        path = p.get("profile_path") if isinstance(p.get("profile_path"), str) else ""
        account = account or re.split(r"[\\/]", path.rstrip("\\/"))[-1] or sid
        last = _newest(filetime(p.get("load_time_high"), p.get("load_time_low")),
                       filetime(p.get("unload_time_high"), p.get("unload_time_low")))
        bare = account.rsplit("\\", 1)[-1]
        human = sid.startswith(PERSON_SIDS) and bare.casefold() not in BUILTIN_ACCOUNTS
        users.append(_user(account, human, last, "profilelist"))
    return _sorted(users)


# --- macOS -------------------------------------------------------------------------------------

_LAST_LINE = re.compile(r"^(?P<user>\S+)\s+(?P<tty>\S+)\s+(?:(?P<host>\S+)\s+)??"
                        r"(?P<wday>Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
                        r"(?P<hh>\d\d):(?P<mm>\d\d)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
NOT_LOGINS = ("reboot", "shutdown", "wtmp")


def _sections(text: str) -> dict[str, str]:
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#fleetsam-cmd "):
            current = parts.setdefault(line.split(None, 1)[1].strip(), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def last_login_time(match: re.Match, now: dt.datetime) -> int | None:
    """Epoch seconds of one ``last`` line (UTC), its year the latest <= ``now``'s giving its weekday."""
    month, day = _MONTHS.index(match["mon"]) + 1, int(match["day"])
    for year in range(now.year, now.year - 8, -1):
        try:
            when = dt.datetime(year, month, day, int(match["hh"]), int(match["mm"]), tzinfo=dt.timezone.utc)
        except ValueError:  # 29 February of a common year
            continue
        if when <= now + dt.timedelta(days=1) and _WDAYS[when.weekday()] == match["wday"]:
            return int(when.timestamp())
    return None


def macos_users(section: Any) -> tuple[HostUser, ...] | None:
    """The people of a Mac from the ``users`` section (``dscl``, ``last`` and ``date`` outputs).

    Example: ``jdoe  501`` and the ``last`` line ``jdoe  console  Mon Jan  5 09:12`` ->
    ``jdoe``, human, last login 5 January of the latest year where it was a Monday.
    """
    stdout = section.get("stdout") if isinstance(section, Mapping) else None
    if not isinstance(stdout, str) or section.get("rc") not in (0, None):
        return None
    parts = _sections(stdout)
    if "dscl" not in parts:
        return None
    clock = parts.get("date", "").strip()
    now = dt.datetime.fromtimestamp(int(clock), dt.timezone.utc) if clock.isdigit() \
        else dt.datetime.now(dt.timezone.utc)
    logins: dict[str, int] = {}
    for line in parts.get("last", "").splitlines():
        match = _LAST_LINE.match(line)
        if match and match["user"] not in NOT_LOGINS:
            when = last_login_time(match, now)
            if when:
                logins[match["user"]] = max(logins.get(match["user"], 0), when)
    users = []
    for line in parts["dscl"].splitlines():
        fields = line.split()
        if len(fields) != 2 or not re.fullmatch(r"-?\d+", fields[1]):
            continue
        name, uid = fields[0], int(fields[1])
        human = uid >= MACOS_FIRST_UID and not name.startswith("_")
        users.append(_user(name, human, logins.get(name), "last" if name in logins else "dscl"))
    return _sorted(users)
