# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsers of the Linux package databases and tool outputs: dpkg, rpm, apk,
pacman, snap and flatpak.

Every ``parse_*`` function is pure (text in, list of records out); ``read_*``
helpers read a package database from disk. Records have exactly the keys of
``pkg_common.RECORD_KEYS``. Runs on the scanned host: standard library only,
compatible with Python 3.6.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_common import (
    clean, make_record, parse_date, read_text, to_int,
)
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_origins import apk_origin, rpm_origin

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
    arch = clean(arch)
    extra = {'status': status}
    if source_package:
        extra['source_package'] = source_package.split()[0]
    return make_record('dpkg', name, clean(version), arch, clean(maintainer), None,
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
        if clean(row.get('Package')) and status in DPKG_INSTALLED:
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

RPM_TAGS = ('NAME', 'EPOCH', 'VERSION', 'RELEASE', 'ARCH', 'VENDOR', 'PACKAGER', 'INSTALLTIME', 'SIGNATURE')
# The header signature (v4 RSA header, else the legacy PGP one), as "RSA/SHA256, <date>, Key ID <id>".
_RPM_SIGNATURE = '%|RSAHEADER?{%{RSAHEADER:pgpsig}}:{%|SIGPGP?{%{SIGPGP:pgpsig}}:{(none)}|}|'
# Unit and record separators never occur in rpm header strings.
RPM_QUERY_FORMAT = '\x1f'.join('%%{%s}' % tag for tag in RPM_TAGS[:-1]) + '\x1f' + _RPM_SIGNATURE + '\x1e\n'
RPM_QUERY_ARGV = ['rpm', '-qa', '--queryformat', RPM_QUERY_FORMAT]
RPM_ARCH_RE = re.compile(r'^(noarch|nosrc|src|x86_64(_v\d)?|i[3-6]86|athlon|amd64|aarch64|arm\w*'
                         r'|ppc\w*|s390x?|riscv64|ia64|sparc\w*|mips\w*|loongarch64|alpha\w*|m68k)$')
_RPM_NONE = ('(none)',)


def _rpm_record(name, epoch, version, release, arch, vendor, install_time, extra=None, origin=None):
    """Build an rpm record (``version`` = ``[epoch:]version-release``), or None for gpg-pubkey."""
    if not name or name == 'gpg-pubkey':
        return None
    epoch, release, arch = clean(epoch, _RPM_NONE), clean(release, _RPM_NONE), clean(arch, _RPM_NONE)
    vr = '-'.join(part for part in (clean(version, _RPM_NONE), release) if part) or None
    nvra = name + ('-' + vr if vr else '') + ('.' + arch if arch else '')
    extra = dict(extra or {}, epoch=epoch, release=release)
    return make_record('rpm', name, '%s:%s' % (epoch, vr) if epoch and vr else vr, arch,
                       clean(vendor, _RPM_NONE), install_time, 'rpm:' + nvra, None, extra, origin)


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
        vendor, packager = clean(row['VENDOR'], _RPM_NONE), clean(row['PACKAGER'], _RPM_NONE)
        records.append(_rpm_record(row['NAME'], row['EPOCH'], row['VERSION'], row['RELEASE'],
                                   row['ARCH'], vendor or packager, to_int(row['INSTALLTIME']),
                                   origin=rpm_origin(vendor, packager, row['SIGNATURE'])))
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
                                       fields[5], to_int(fields[3])))
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
        vendor, packager = clean(st.get('Vendor'), _RPM_NONE), clean(st.get('Packager'), _RPM_NONE)
        records.append(_rpm_record(st.get('Name'), st.get('Epoch'), st.get('Version'),
                                   st.get('Release'), st.get('Architecture'), vendor or packager,
                                   parse_date(raw_date), {'install_date': raw_date},
                                   rpm_origin(vendor, packager, st.get('Signature'))))
    return [r for r in records if r]


# ---------------------------------------------------------------- apk

APK_INSTALLED = '/lib/apk/db/installed'


def parse_apk_installed(text, repositories=None):
    """Parse ``/lib/apk/db/installed`` (blank-line separated ``X:value`` stanzas).

    ``t:`` is the build time, so it goes to ``extra['build_time']``; apk records
    no install time. With ``repositories`` (``pkg_origins.parse_apk_repositories``)
    each record's origin is its repository tag (``s:``) and the repositories it names.
    """
    records, current = [], {}
    for line in text.splitlines() + ['']:
        key, sep, value = line.partition(':')
        if sep and len(key) == 1:
            current.setdefault(key, value.strip())
        elif not line.strip() and current:
            if current.get('P'):
                records.append(make_record(
                    'apk', current['P'], clean(current.get('V')), clean(current.get('A')),
                    clean(current.get('m')), None, None, None,
                    {'origin': clean(current.get('o')), 'build_time': to_int(current.get('t'))},
                    None if repositories is None else apk_origin(clean(current.get('s')), repositories)))
            current = {}
    return records


def read_apk(path=APK_INSTALLED, repositories=None):
    """Read and parse an apk installed database."""
    return parse_apk_installed(read_text(path), repositories)


# ---------------------------------------------------------------- pacman

PACMAN_DBPATH = '/var/lib/pacman'
_PACMAN_NONE = ('None', 'Unknown Packager')


def _pacman_record(name, version, arch, packager, install_time, extra):
    """Build a pacman record."""
    return make_record('pacman', name, clean(version), clean(arch), clean(packager, _PACMAN_NONE),
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
                           value.get('PACKAGER'), to_int(value.get('INSTALLDATE')),
                           {'build_time': to_int(value.get('BUILDDATE')),
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
        name, rev = row.get('name'), clean(row.get('rev'), ('-',))
        publisher = clean((row.get('publisher') or row.get('developer') or '').rstrip(_SNAP_MARKS), ('-',))
        records.append(make_record(
            'snap', name, clean(row.get('version'), ('-',)), None, publisher, None, None,
            '%s/%s/%s' % (mount_dir.rstrip('/'), name, rev) if rev else None,
            {'revision': rev, 'tracking': clean(row.get('tracking'), ('-',)),
             'notes': clean(row.get('notes'), ('-',))}))
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
        row = dict(zip(columns, [clean(v) for v in line.split('\t')]))
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
