# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Installed-package inventory for Linux hosts: dpkg, rpm, apk, pacman, snap, flatpak.

Runs on the scanned host inside an Ansible module, so it uses the standard
library only and stays compatible with Python 3.6.  Every ``parse_*`` function
is pure (text in, list of records out); ``read_*`` helpers read package
databases from disk; ``collect_*`` functions check availability, read or run
the source and return ``(records, warnings)``, or ``None`` when the source is
absent.  ``SOURCES`` lists them all, SWID tags included.

Every record is a dict with exactly the keys of ``RECORD_KEYS``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import collections
import functools
import io
import os
import re
import time

from ansible_collections.fleetsam.sam.plugins.module_utils.swid import SWID_DIRS, find_swid_tags

RECORD_KEYS = ('source', 'name', 'version', 'arch', 'vendor', 'install_time',
               'package_id', 'location', 'extra')
BIN_DIRS = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


def make_record(source, name, version=None, arch=None, vendor=None, install_time=None,
                package_id=None, location=None, extra=None):
    """Build one package record; ``package_id`` defaults to ``<source>:<name>``."""
    return {
        'source': source, 'name': name, 'version': version, 'arch': arch, 'vendor': vendor,
        'install_time': install_time, 'package_id': package_id or '%s:%s' % (source, name),
        'location': location, 'extra': extra or {},
    }


def _clean(value, placeholders=()):
    """Strip ``value``; return None when it is empty or one of ``placeholders``."""
    if value is None:
        return None
    value = value.strip()
    return None if not value or value in placeholders else value


def _int(value):
    """Return ``value`` as int, or None when it is not a decimal integer."""
    value = _clean(value)
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


# ---------------------------------------------------------------- dpkg

DPKG_ADMINDIR = '/var/lib/dpkg'
DPKG_INSTALLED = ('install ok installed', 'hold ok installed')
DPKG_QUERY_FIELDS = ('Package', 'Architecture', 'Version', 'Installed-Size', 'Section',
                     'Status', 'Maintainer')
DPKG_QUERY_ARGV = ['dpkg-query', '--show', '--showformat='
                   + '\t'.join('${%s}' % field for field in DPKG_QUERY_FIELDS) + '\n']


def parse_control_stanzas(text):
    """Split deb822 text into dicts; continuation lines join with a newline."""
    stanzas, current, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in ' \t':
            if key is not None:
                current[key] += '\n' + line[1:]
        else:
            key, sep, value = line.partition(':')
            key = key.strip() if sep else None
            if key:
                current[key] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def _dpkg_record(name, version, arch, maintainer, status, source_package=None):
    """Build a dpkg record; the id is ``dpkg:<name>:<arch>``."""
    arch = _clean(arch)
    extra = {'status': status}
    if source_package:
        extra['source_package'] = source_package.split()[0]
    return make_record('dpkg', name, _clean(version), arch, _clean(maintainer), None,
                       'dpkg:%s:%s' % (name, arch) if arch else None, None, extra)


def parse_dpkg_status(text):
    """Parse ``/var/lib/dpkg/status``; keep only installed packages (``DPKG_INSTALLED``)."""
    records = []
    for stanza in parse_control_stanzas(text):
        status = ' '.join(stanza.get('Status', '').split())
        if stanza.get('Package') and status in DPKG_INSTALLED:
            records.append(_dpkg_record(stanza['Package'], stanza.get('Version'),
                                        stanza.get('Architecture'), stanza.get('Maintainer'),
                                        status, stanza.get('Source')))
    return records


def parse_dpkg_query(text):
    """Parse tab-separated ``DPKG_QUERY_ARGV`` output (columns ``DPKG_QUERY_FIELDS``).

    Trailing columns may be missing (older 5-column captures): a row without a
    Status column is taken as installed.
    """
    records = []
    for line in text.splitlines():
        row = dict(zip(DPKG_QUERY_FIELDS, line.split('\t')))
        status = ' '.join(row.get('Status', 'install ok installed').split())
        if _clean(row.get('Package')) and status in DPKG_INSTALLED:
            records.append(_dpkg_record(row['Package'].strip(), row.get('Version'),
                                        row.get('Architecture'), row.get('Maintainer'), status))
    return records


def add_dpkg_install_times(records, admindir=DPKG_ADMINDIR):
    """Set ``install_time`` from the mtime of ``info/<name>[:<arch>].list`` (last install
    or upgrade); records without such a file keep None.  Returns ``records``."""
    for record in records:
        names = [record['name'] + '.list']
        if record['arch']:
            names.insert(0, '%s:%s.list' % (record['name'], record['arch']))
        for list_name in names:
            try:
                record['install_time'] = int(os.stat(os.path.join(admindir, 'info', list_name)).st_mtime)
                break
            except OSError:
                continue
    return records


def read_dpkg(admindir=DPKG_ADMINDIR, install_times=True):
    """Read ``<admindir>/status`` plus ``status.d/*`` (distroless images)."""
    paths = [os.path.join(admindir, 'status')]
    status_d = os.path.join(admindir, 'status.d')
    if os.path.isdir(status_d):
        paths += [os.path.join(status_d, n) for n in sorted(os.listdir(status_d))
                  if not n.endswith('.md5sums')]
    records = []
    for path in paths:
        if os.path.isfile(path):
            records.extend(parse_dpkg_status(read_text(path)))
    return add_dpkg_install_times(records, admindir) if install_times else records


# ---------------------------------------------------------------- rpm

RPM_TAGS = ('NAME', 'EPOCH', 'VERSION', 'RELEASE', 'ARCH', 'VENDOR', 'PACKAGER', 'INSTALLTIME')
# Unit and record separators never occur in rpm header strings.
RPM_QUERY_FORMAT = '\x1f'.join('%%{%s}' % tag for tag in RPM_TAGS) + '\x1e\n'
RPM_QUERY_ARGV = ['rpm', '-qa', '--queryformat', RPM_QUERY_FORMAT]
RPM_ARCH_RE = re.compile(r'^(noarch|nosrc|src|x86_64(_v\d)?|i[3-6]86|athlon|amd64|aarch64|arm\w*'
                         r'|ppc\w*|s390x?|riscv64|ia64|sparc\w*|mips\w*|loongarch64|alpha\w*|m68k)$')
_RPM_NONE = ('(none)',)


def _rpm_record(name, epoch, version, release, arch, vendor, install_time, extra=None):
    """Build an rpm record (``version`` = ``[epoch:]version-release``), or None for gpg-pubkey."""
    if not name or name == 'gpg-pubkey':
        return None
    epoch, release, arch = _clean(epoch, _RPM_NONE), _clean(release, _RPM_NONE), _clean(arch, _RPM_NONE)
    vr = '-'.join(part for part in (_clean(version, _RPM_NONE), release) if part) or None
    nvra = name + ('-' + vr if vr else '') + ('.' + arch if arch else '')
    extra = dict(extra or {}, epoch=epoch, release=release)
    return make_record('rpm', name, '%s:%s' % (epoch, vr) if epoch and vr else vr, arch,
                       _clean(vendor, _RPM_NONE), install_time, 'rpm:' + nvra, None, extra)


def rpm_query_argv(root='/', rpm='rpm'):
    """Return ``RPM_QUERY_ARGV`` using binary ``rpm``, with ``--root`` for a non-'/' root."""
    return [rpm] + (['--root', root] if root != '/' else []) + RPM_QUERY_ARGV[1:]


def parse_rpm_query(text):
    """Parse ``RPM_QUERY_ARGV`` output; vendor falls back to PACKAGER."""
    records = []
    for chunk in text.split('\x1e'):
        fields = chunk.strip('\r\n').split('\x1f')
        if len(fields) != len(RPM_TAGS):
            continue
        row = dict(zip(RPM_TAGS, fields))
        records.append(_rpm_record(row['NAME'], row['EPOCH'], row['VERSION'], row['RELEASE'],
                                   row['ARCH'], _clean(row['VENDOR'], _RPM_NONE) or row['PACKAGER'],
                                   _int(row['INSTALLTIME'])))
    return [r for r in records if r]


def parse_rpm_tsv(text):
    """Parse glpi-style ``NAME\\tARCH\\tVERSION-RELEASE\\tINSTALLTIME\\tSIZE\\tVENDOR\\t...`` lines."""
    records = []
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) >= 6:
            version, release = fields[2], None
            if '-' in version:
                version, release = version.rsplit('-', 1)
            records.append(_rpm_record(fields[0].strip(), None, version, release, fields[1],
                                       fields[5], _int(fields[3])))
    return [r for r in records if r]


def split_nvra(nvra):
    """Split ``name-version-release[.arch]`` into a 4-tuple, or None if malformed."""
    base, dot, arch = nvra.rpartition('.')
    if not dot or not RPM_ARCH_RE.match(arch):
        base, arch = nvra, None
    parts = base.rsplit('-', 2)
    return (parts[0], parts[1], parts[2], arch) if len(parts) == 3 and all(parts) else None


def parse_rpm_nvra(text):
    """Parse plain ``rpm -qa`` output (one NVRA per line; no epoch shown)."""
    records = []
    for line in text.splitlines():
        parts = split_nvra(line.strip())
        if parts:
            records.append(_rpm_record(parts[0], None, parts[1], parts[2], parts[3], None, None))
    return [r for r in records if r]


_RPM_QI_START = re.compile(r'^Name\s+:\s')


def parse_rpm_qi(text):
    """Parse ``rpm -qi`` / ``rpm -qai`` output (the free-text Description is skipped)."""
    stanzas, current, in_description = [], None, False
    for line in text.splitlines():
        if _RPM_QI_START.match(line):
            current, in_description = {}, False
            stanzas.append(current)
        if current is None or in_description:
            continue
        key, sep, value = line.partition(':')
        if sep and key.strip() == 'Description':
            in_description = True
        elif sep:
            current.setdefault(key.strip(), value.strip())
    records = []
    for st in stanzas:
        raw_date = st.get('Install Date')
        records.append(_rpm_record(st.get('Name'), st.get('Epoch'), st.get('Version'),
                                   st.get('Release'), st.get('Architecture'),
                                   _clean(st.get('Vendor'), _RPM_NONE) or st.get('Packager'),
                                   parse_date(raw_date), {'install_date': raw_date}))
    return [r for r in records if r]


# ---------------------------------------------------------------- apk

APK_INSTALLED = '/lib/apk/db/installed'


def parse_apk_installed(text):
    """Parse ``/lib/apk/db/installed`` (blank-line separated ``X:value`` stanzas).

    ``t:`` is the build time, so it goes to ``extra['build_time']``; apk records
    no install time.
    """
    records, current = [], {}
    for line in text.splitlines() + ['']:
        key, sep, value = line.partition(':')
        if sep and len(key) == 1:
            current.setdefault(key, value.strip())
        elif not line.strip() and current:
            if current.get('P'):
                records.append(make_record(
                    'apk', current['P'], _clean(current.get('V')), _clean(current.get('A')),
                    _clean(current.get('m')), None, None, None,
                    {'origin': _clean(current.get('o')), 'build_time': _int(current.get('t'))}))
            current = {}
    return records


def read_apk(path=APK_INSTALLED):
    """Read and parse an apk installed database."""
    return parse_apk_installed(read_text(path))


# ---------------------------------------------------------------- pacman

PACMAN_DBPATH = '/var/lib/pacman'
_PACMAN_NONE = ('None', 'Unknown Packager')


def _pacman_record(name, version, arch, packager, install_time, extra):
    """Build a pacman record."""
    return make_record('pacman', name, _clean(version), _clean(arch), _clean(packager, _PACMAN_NONE),
                       install_time, None, None, extra)


def parse_pacman_desc(text):
    """Parse one ``local/<pkg>-<ver>/desc`` file into a list of zero or one record."""
    fields, key = {}, None
    for line in text.splitlines():
        if len(line) > 2 and line.startswith('%') and line.endswith('%'):
            key = line[1:-1]
            fields[key] = []
        elif line.strip() and key:
            fields[key].append(line.strip())
    value = dict((k, v[0]) for k, v in fields.items() if v)
    if not value.get('NAME'):
        return []
    return [_pacman_record(value['NAME'], value.get('VERSION'), value.get('ARCH'),
                           value.get('PACKAGER'), _int(value.get('INSTALLDATE')),
                           {'build_time': _int(value.get('BUILDDATE')),
                            'explicit': value.get('REASON', '0') == '0'})]


def parse_pacman_qi(text):
    """Parse ``pacman -Qi`` output (run it with ``LC_ALL=C``); wrapped lines are joined."""
    stanzas, current, key = [], {}, None
    for line in text.splitlines() + ['']:
        if not line.strip():
            if current:
                stanzas.append(current)
            current, key = {}, None
        elif line[0] in ' \t':
            if key:
                current[key] += ' ' + line.strip()
        else:
            key, dummy, value = line.partition(':')
            key = key.strip()
            current[key] = value.strip()
    records = []
    for st in stanzas:
        if st.get('Name'):
            raw_date = st.get('Install Date')
            records.append(_pacman_record(
                st['Name'], st.get('Version'), st.get('Architecture'), st.get('Packager'),
                parse_date(raw_date), {'install_date': raw_date,
                                       'explicit': st.get('Install Reason', '').startswith('Explicit')}))
    return records


def read_pacman(dbpath=PACMAN_DBPATH):
    """Read every ``<dbpath>/local/*/desc`` file."""
    local = os.path.join(dbpath, 'local')
    records = []
    for entry in sorted(os.listdir(local)):
        desc = os.path.join(local, entry, 'desc')
        if os.path.isfile(desc):
            records.extend(parse_pacman_desc(read_text(desc)))
    return records


# ---------------------------------------------------------------- snap

SNAP_LIST_ARGV = ['snap', 'list', '--color=never', '--unicode=never']
SNAP_MOUNT_DIRS = ('/snap', '/var/lib/snapd/snap')
_SNAP_MARKS = '*\u2713\u272a'  # verified / starred publisher marks (ASCII and Unicode)


def parse_snap_list(text, mount_dir='/snap'):
    """Parse ``snap list`` output (header ``Name Version Rev Tracking Publisher Notes``)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split()[0] != 'Name':
        return []
    columns = [col.lower() for col in lines[0].split()]
    records = []
    for line in lines[1:]:
        row = dict(zip(columns, line.split()))
        name, rev = row.get('name'), _clean(row.get('rev'), ('-',))
        publisher = _clean((row.get('publisher') or row.get('developer') or '').rstrip(_SNAP_MARKS), ('-',))
        records.append(make_record(
            'snap', name, _clean(row.get('version'), ('-',)), None, publisher, None, None,
            '%s/%s/%s' % (mount_dir.rstrip('/'), name, rev) if rev else None,
            {'revision': rev, 'tracking': _clean(row.get('tracking'), ('-',)),
             'notes': _clean(row.get('notes'), ('-',))}))
    return records


# ---------------------------------------------------------------- flatpak

FLATPAK_COLUMNS = ('application', 'branch', 'installation', 'name', 'version', 'arch', 'origin', 'ref')
FLATPAK_LIST_ARGV = ['flatpak', 'list', '--all', '--columns=' + ','.join(FLATPAK_COLUMNS)]
FLATPAK_SYSTEM_DIR = '/var/lib/flatpak'


def parse_flatpak_list(text, columns=FLATPAK_COLUMNS):
    """Parse tab-separated ``flatpak list --columns=...`` output.

    Rows may carry fewer columns than ``columns`` (e.g. a 4-column capture);
    missing ones are None.  ``name`` is the application ID; the human-readable
    name goes to ``extra['display_name']``.
    """
    records = []
    for line in text.splitlines():
        row = dict(zip(columns, [_clean(v) for v in line.split('\t')]))
        app = row.get('application')
        if not app:
            continue
        ref = (row.get('ref') or '').split('/')
        kind, dummy, ref_arch, ref_branch = ref if len(ref) == 4 and ref[1] == app else (None,) * 4
        arch, branch = row.get('arch') or ref_arch, row.get('branch') or ref_branch
        installation = row.get('installation')
        location = None
        if installation == 'system' and kind and arch and branch:
            location = '/'.join((FLATPAK_SYSTEM_DIR, kind, app, arch, branch))
        records.append(make_record(
            'flatpak', app, row.get('version'), arch, None, None,
            'flatpak:%s/%s/%s' % (app, arch or '', branch or ''), location,
            {'branch': branch, 'installation': installation, 'origin': row.get('origin'),
             'kind': kind, 'display_name': row.get('name')}))
    return records


# ---------------------------------------------------------------- collectors and registry

PackageSource = collections.namedtuple('PackageSource', ['name', 'paths', 'binary', 'live_only', 'collect'])


def source_available(source, root='/', which=find_binary):
    """Tell whether ``source`` can be collected for ``root``.

    File sources need one of ``source.paths`` below ``root``; rpm also needs the
    ``rpm`` binary on this host.  Live-only sources (snap, flatpak) need their
    binary on this host for root '/', and for another root count as available
    when one of their paths exists there (the collector then only warns).
    """
    if source.live_only and root == '/':
        return which(source.binary) is not None
    if not any(os.path.exists(root_path(root, path)) for path in source.paths):
        return False
    return source.live_only or source.binary is None or which(source.binary) is not None


def _run(run_command, argv, label):
    """Run ``argv``; return (stdout, warnings) with a warning on a non-zero exit status."""
    rc, out, err = run_command(argv)
    warnings = []
    if rc != 0:
        warnings.append('%s: %s exited with %s: %s' % (label, ' '.join(argv[:2]), rc, (err or '').strip()[:300]))
    return out or '', warnings


def _collector(name):
    """Decorate ``func(run_command, root, which)`` into the collector of source ``name``.

    The collector returns None when the source is absent, and an empty result
    with a warning for a live-only source asked about a root other than '/'.
    """
    def decorate(func):
        @functools.wraps(func)
        def collect(run_command, root='/', which=find_binary):
            source = SOURCES_BY_NAME[name]
            if not source_available(source, root, which):
                return None
            if source.live_only and root != '/':
                return [], ['%s: only the running system can be listed, not root %s' % (name, root)]
            return func(run_command, root, which)
        return collect
    return decorate


@_collector('dpkg')
def collect_dpkg(run_command, root, which):
    """Collect dpkg packages from ``<root>/var/lib/dpkg``."""
    return read_dpkg(root_path(root, DPKG_ADMINDIR)), []


@_collector('rpm')
def collect_rpm(run_command, root, which):
    """Collect rpm packages by running ``rpm -qa`` (with ``--root`` for a mounted image)."""
    out, warnings = _run(run_command, rpm_query_argv(root, which('rpm')), 'rpm')
    return parse_rpm_query(out), warnings


@_collector('apk')
def collect_apk(run_command, root, which):
    """Collect apk packages from ``<root>/lib/apk/db/installed``."""
    return read_apk(root_path(root, APK_INSTALLED)), []


@_collector('pacman')
def collect_pacman(run_command, root, which):
    """Collect pacman packages from ``<root>/var/lib/pacman/local``."""
    return read_pacman(root_path(root, PACMAN_DBPATH)), []


@_collector('snap')
def collect_snap(run_command, root, which):
    """Collect snaps by running ``snap list`` (running system only)."""
    out, warnings = _run(run_command, [which('snap')] + SNAP_LIST_ARGV[1:], 'snap')
    mount_dir = next((d for d in SNAP_MOUNT_DIRS if os.path.isdir(d)), SNAP_MOUNT_DIRS[0])
    return parse_snap_list(out, mount_dir), warnings


@_collector('flatpak')
def collect_flatpak(run_command, root, which):
    """Collect flatpak apps and runtimes by running ``flatpak list`` (running system only)."""
    out, warnings = _run(run_command, [which('flatpak')] + FLATPAK_LIST_ARGV[1:], 'flatpak')
    return parse_flatpak_list(out), warnings


@_collector('swid')
def collect_swid(run_command, root, which):
    """Collect ISO/IEC 19770-2 tags below ``SWID_DIRS``; malformed tags become warnings."""
    records, errors = find_swid_tags(SWID_DIRS, root)
    return records, ['swid: %s: %s' % (e['path'], e['reason']) for e in errors]


SOURCES = (
    PackageSource('dpkg', (DPKG_ADMINDIR + '/status', DPKG_ADMINDIR + '/status.d'), None, False, collect_dpkg),
    PackageSource('rpm', ('/var/lib/rpm', '/usr/lib/sysimage/rpm'), 'rpm', False, collect_rpm),
    PackageSource('apk', (APK_INSTALLED,), None, False, collect_apk),
    PackageSource('pacman', (PACMAN_DBPATH + '/local',), None, False, collect_pacman),
    PackageSource('snap', ('/usr/bin/snap', '/var/lib/snapd'), 'snap', True, collect_snap),
    PackageSource('flatpak', ('/usr/bin/flatpak', FLATPAK_SYSTEM_DIR), 'flatpak', True, collect_flatpak),
    PackageSource('swid', SWID_DIRS, None, False, collect_swid),
)
SOURCES_BY_NAME = dict((source.name, source) for source in SOURCES)


def collect_all(run_command, root='/', which=find_binary, sources=SOURCES):
    """Run every available source; return ``(records, warnings, names_of_sources_used)``.

    A source that fails unexpectedly becomes a warning and does not stop the others.
    """
    records, warnings, used = [], [], []
    for source in sources:
        try:
            result = source.collect(run_command, root, which)
        except Exception as exc:  # one broken source must not abort the scan
            warnings.append('%s: %s: %s' % (source.name, type(exc).__name__, exc))
            continue
        if result is not None:
            used.append(source.name)
            records.extend(result[0])
            warnings.extend(result[1])
    return records, warnings, used
