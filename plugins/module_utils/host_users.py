# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw records of who uses a Linux host: accounts and logins, read as files.

Only raw data leaves the host: /etc/passwd as text, the UID_MIN/UID_MAX lines
of /etc/login.defs, and the login records of wtmp and lastlog decoded from
their C structs. Which accounts are people, and which logins are recent
enough to count, is decided by the engine (sam_engine.platforms.users), where
it is tested on captured outputs.

glibc's struct utmp and struct lastlog differ by architecture: x86_64 (and
i386) keep 32-bit times for compatibility with 32-bit programs
(__WORDSIZE_TIME64_COMPAT32), so a utmp record is 384 bytes and a lastlog
entry 292; other 64-bit Linux ports (aarch64, ppc64le, s390x, riscv64) use a
native time_t: 400 and 296 bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import platform
import struct

USER_PROCESS = 7  # ut_type of a login session in utmp/wtmp
WTMP_TAIL_BYTES = 16 * 1024 * 1024  # the newest logins are at the end; older ones are in lastlog
PASSWD_LIMIT = 4 * 1024 * 1024
# Only these lines of login.defs matter for telling people from system accounts.
LOGIN_DEFS_KEYS = ('UID_MIN', 'UID_MAX', 'SYS_UID_MIN', 'SYS_UID_MAX')

# (utmp record size, utmp time offset, lastlog entry size, time format)
LAYOUT_COMPAT32 = (384, 340, 292, '<i')
LAYOUT_TIME64 = (400, 344, 296, '<q')
COMPAT32_MACHINES = ('x86_64', 'amd64', 'i386', 'i486', 'i586', 'i686')


def layout_for(machine):
    """The struct sizes and time field of ``machine`` (``platform.machine()``)."""
    return LAYOUT_COMPAT32 if (machine or '').lower() in COMPAT32_MACHINES else LAYOUT_TIME64


def _path(root, path):
    return os.path.join(root, path.lstrip('/')) if root and root != '/' else path


def _text(raw):
    return raw.split(b'\0', 1)[0].decode('utf-8', 'replace')


def _read(path, limit):
    try:
        with open(path, 'rb') as handle:
            return handle.read(limit).decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def decode_wtmp(data, layout):
    """Login sessions (ut_type USER_PROCESS) of wtmp bytes, newest per account.

    One record per account keeps the result small whatever the file's size;
    each is ``{user, line, host, time}`` with ``time`` in epoch seconds.
    """
    size, time_at, dummy, time_fmt = layout
    newest = {}
    for start in range(0, len(data) - size + 1, size):
        record = data[start:start + size]
        if struct.unpack_from('<h', record, 0)[0] != USER_PROCESS:
            continue
        user = _text(record[44:76])
        when = struct.unpack_from(time_fmt, record, time_at)[0]
        if user and (user not in newest or when >= newest[user]['time']):
            newest[user] = {'user': user, 'line': _text(record[8:40]), 'host': _text(record[76:332]), 'time': when}
    return [newest[user] for user in sorted(newest)]


def read_wtmp(path, layout):
    """``decode_wtmp`` of the file's last WTMP_TAIL_BYTES (whole records), or None when unreadable."""
    size = layout[0]
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            length = handle.tell()
            start = max(0, length - WTMP_TAIL_BYTES)
            handle.seek(start - start % size)
            data = handle.read()
    except (IOError, OSError):
        return None
    return decode_wtmp(data, layout)


def passwd_uids(text):
    """The UIDs of ``/etc/passwd`` text (lookup keys for lastlog, which is indexed by UID)."""
    uids = set()
    for line in (text or '').splitlines():
        fields = line.split(':')
        if len(fields) >= 3 and fields[2].isdigit():
            uids.add(int(fields[2]))
    return sorted(uids)


def read_lastlog(path, uids, layout):
    """``{uid, line, host, time}`` of each UID whose lastlog entry holds a login, or None when unreadable.

    lastlog is a sparse file indexed by UID: one seek and one read per account.
    """
    dummy, dummy, size, time_fmt = layout
    time_size = struct.calcsize(time_fmt)
    found = []
    try:
        with open(path, 'rb') as handle:
            for uid in uids:
                handle.seek(uid * size)
                entry = handle.read(size)
                if len(entry) < size:
                    break
                when = struct.unpack_from(time_fmt, entry, 0)[0]
                if when > 0:
                    found.append({'uid': uid, 'line': _text(entry[time_size:time_size + 32]),
                                  'host': _text(entry[time_size + 32:time_size + 288]), 'time': when})
    except (IOError, OSError):
        return None
    return found


def login_defs_lines(text):
    """The UID range lines of login.defs, as written."""
    keep = []
    for line in (text or '').splitlines():
        parts = line.split()
        if parts and parts[0] in LOGIN_DEFS_KEYS:
            keep.append(line.strip())
    return '\n'.join(keep)


def collect(root='/', machine=None):
    """The raw user records of the host below ``root``; a file that cannot be read is None."""
    layout = layout_for(machine or platform.machine())
    passwd = _read(_path(root, '/etc/passwd'), PASSWD_LIMIT)
    login_defs = _read(_path(root, '/etc/login.defs'), 1024 * 1024)
    return {
        'passwd': passwd,
        'login_defs': None if login_defs is None else login_defs_lines(login_defs),
        'wtmp': read_wtmp(_path(root, '/var/log/wtmp'), layout),
        'lastlog': read_lastlog(_path(root, '/var/log/lastlog'), passwd_uids(passwd), layout),
    }
