# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record helpers shared by the Linux package parsers: the record shape, value
cleaning, paths below an alternative root, and the dates package tools print.

Runs on the scanned host inside an Ansible module: standard library only,
compatible with Python 3.6.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import io
import json
import os
import re
import time


RECORD_KEYS = ('source', 'name', 'version', 'arch', 'vendor', 'install_time',
               'package_id', 'location', 'extra', 'origin')
BIN_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


def make_record(source, name, version=None, arch=None, vendor=None, install_time=None,
                package_id=None, location=None, extra=None, origin=None):
    """Build one package record; ``package_id`` defaults to ``<source>:<name>``. ``origin`` is
    where the package came from (a dict of raw facts, ``pkg_origins``), None when unknown."""
    return {
        'source': source, 'name': name, 'version': version, 'arch': arch, 'vendor': vendor,
        'install_time': install_time, 'package_id': package_id or '%s:%s' % (source, name),
        'location': location, 'extra': extra or {}, 'origin': origin,
    }


def software_json(records):
    """``records`` as one JSON text: the same list to any JSON reader, laid out a record per line with
    its ``install_time`` last. A record is then the same line on every host that has that package
    (the time, which differs, is cut off at its last key), so the engine can recognise the lines it
    has read before without decoding them (``sam_engine.platforms.records``). JSON escapes every
    line break inside a string: a line break in the text is always between two records."""
    lines = []
    for record in records:
        rest = dict((k, v) for k, v in record.items() if k != 'install_time')
        text = json.dumps(rest, separators=(',', ':'))
        if 'install_time' in record:
            when = json.dumps(record['install_time'])
            text = (text[:-1] + ',' if rest else '{') + '"install_time":' + when + '}'
        lines.append(text)
    return '[\n' + ',\n'.join(lines) + '\n]' if lines else '[]'


def clean(value, placeholders=()):
    """Strip ``value``; return None when it is empty or one of ``placeholders``."""
    if value is None:
        return None
    value = value.strip()
    return None if not value or value in placeholders else value


def to_int(value):
    """Return ``value`` as int, or None when it is not a decimal integer."""
    value = clean(value)
    return int(value) if value and value.isdigit() else None


def root_path(root, path):
    """Return absolute host ``path`` re-rooted below ``root`` ('/' leaves it unchanged)."""
    return os.path.join(root, path.lstrip('/'))


def read_text(path):
    """Read a file as UTF-8 text; undecodable bytes are replaced, never fatal."""
    with io.open(path, encoding='utf-8', errors='replace') as handle:
        return handle.read()


def find_binary(name):
    """Return the path of executable ``name`` on PATH or in the usual bin dirs, else None."""
    for directory in os.environ.get('PATH', '').split(os.pathsep) + list(BIN_DIRS):
        candidate = os.path.join(directory, name)
        if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


_MONTHS = dict((m, i) for i, m in enumerate(
    ('jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'), 1))
_WEEKDAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
_OFFSET_RE = re.compile(r'^([+-])(\d{2}):?(\d{2})?$')


def parse_date(text):
    """Convert an English CLI date to epoch seconds, or None when it cannot be trusted.

    Handles ``Wed Sep 12 10:55:23 2018``, ``Fri 24 May 2024 09:50:31 AM +08`` and
    ``Mon 21 Oct 2019 02:07:08 PM PDT``.  Without a zone, or with a zone name of
    this host's own time zone, the date is read as local time (the CLI printed it
    on this host); any other zone name is ambiguous and gives None.
    """
    year = month = day = clock = meridian = offset = None
    isdst = -1
    for token in (text or '').replace(',', ' ').split():
        low = token.lower()
        if low[:3] in _WEEKDAYS and low.isalpha():
            continue
        if low[:3] in _MONTHS and low.isalpha():
            month = _MONTHS[low[:3]]
        elif ':' in token and token.replace(':', '').isdigit():
            clock = [int(part) for part in token.split(':')] + [0]
        elif low in ('am', 'pm'):
            meridian = low
        elif token.isdigit():
            if len(token) == 4:
                year = int(token)
            else:
                day = int(token)
        elif low in ('utc', 'gmt', 'z'):
            offset = 0
        elif _OFFSET_RE.match(token):
            sign, hours, minutes = _OFFSET_RE.match(token).groups()
            offset = (int(hours) * 3600 + int(minutes or 0) * 60) * (-1 if sign == '-' else 1)
        elif token in time.tzname:
            isdst = time.tzname.index(token) if time.tzname[0] != time.tzname[1] else -1
        else:
            return None
    if None in (year, month, day, clock):
        return None
    hour = clock[0]
    if meridian:
        hour = hour % 12 + (12 if meridian == 'pm' else 0)
    fields = (year, month, day, hour, clock[1], clock[2])
    try:
        if offset is not None:
            return calendar.timegm(fields + (0, 0, 0)) - offset
        return int(time.mktime(fields + (0, 0, isdst)))
    except (ValueError, OverflowError):
        return None
