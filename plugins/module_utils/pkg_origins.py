# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where each installed package came from, as raw facts: the archive or
repository, never a verdict (the fleetsam engine classifies).

Parsers put an origin dict on a record (``record['origin']``); ``intern_origins``
then replaces each dict by its index in one per-host table, so a package costs
one small integer in the job event however long its archive's description is.

- apt: the lists (``/var/lib/apt/lists``) whose ``Packages`` file holds the
  installed name, architecture and version (``match: version``), else the same
  name and architecture by the same maintainer (``match: maintainer``: apt
  lists only the newest version, so an older install of the archive's package
  shows that way); the archive is its ``(In)Release`` Origin, Label, Suite and
  Codename, with the component and the site from the list's file name.
  Compressed lists are read by the standard library (gz, xz, bz2) or by one
  ``apt-helper cat-file`` per list (lz4, zst); no apt command runs per package.
- rpm, apk, pacman: see ``rpm_origin``, ``apk_origin`` and ``pacman_origins``.

Standard library only, compatible with Python 3.6.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import io
import itertools
import os
import re
import subprocess
import tarfile

try:  # a Python built without liblzma or libbz2 still reads the other lists
    import lzma
except ImportError:
    lzma = None
try:
    import bz2
except ImportError:
    bz2 = None

APT_LISTS = '/var/lib/apt/lists'
APT_HELPER = '/usr/lib/apt/apt-helper'
APK_REPOSITORIES = '/etc/apk/repositories'
_RELEASE_FIELDS = ('Origin', 'Label', 'Suite', 'Codename')
_STDLIB_OPENERS = dict((ext, opener) for ext, opener in (
    ('', io.open), ('.gz', gzip.open), ('.xz', lzma and lzma.open), ('.bz2', bz2 and bz2.open)) if opener)
_HELPER_EXTS = ('.lz4', '.zst')
_LIST_EXTS = ('', '.gz', '.xz', '.bz2') + _HELPER_EXTS
_PACKAGE = re.compile(br'\nPackage: ([^\n]+)')
_FIRST_PACKAGE = re.compile(br'Package: ([^\n]+)')
_KEY_ID = re.compile(r'Key ID ([0-9A-Fa-f]+)')


def command_bytes(argv):
    """(rc, stdout as bytes, stderr as text) of ``argv``. A list is tens of megabytes, which
    AnsibleModule.run_command gathers chunk by chunk into one growing bytes object (quadratic);
    communicate() joins the chunks once."""
    env = dict(os.environ, LC_ALL='C')
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env) as proc:
        out, err = proc.communicate()
    return proc.returncode, out, err.decode('utf-8', 'replace')


def intern_origins(records):
    """Replace each record's origin dict by its index into the returned table (a list of dicts)."""
    table, index = [], {}
    for record in records:
        origin = record.get('origin')
        if not isinstance(origin, dict):
            record['origin'] = None
            continue
        key = tuple(sorted(origin.items()))  # raw facts: text or None, all hashable
        if key not in index:
            index[key] = len(table)
            table.append(origin)
        record['origin'] = index[key]
    return table


# ---------------------------------------------------------------- apt

def parse_release(text):
    """The archive fields of a ``Release`` or ``InRelease`` text (only its head is needed)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if key in _RELEASE_FIELDS and sep:
            fields[key.lower()] = value.strip()
        elif key in ('MD5Sum', 'SHA256', 'SHA1', 'SHA512') or line.startswith('-----BEGIN PGP SIGNATURE'):
            break
    return fields


def list_archives(lists_dir):
    """``{Packages file name: archive dict}`` for every list below ``lists_dir`` with a Release."""
    try:
        names = set(os.listdir(lists_dir))
    except OSError:
        return {}
    found = {}
    for name in sorted(names):
        base, ext = _split_ext(name)
        if not base.endswith('_Packages') or ext not in _LIST_EXTS:
            continue
        cut = base.rfind('_', 0, len(base) - len('_Packages') + 1)
        while cut > 0:  # the longest prefix with a Release file is the list's archive
            prefix = base[:cut + 1]
            release = next((prefix + r for r in ('InRelease', 'Release') if prefix + r in names), None)
            if release:
                break
            cut = base.rfind('_', 0, cut)
        if cut <= 0:
            continue
        with io.open(os.path.join(lists_dir, release), encoding='utf-8', errors='replace') as handle:
            archive = parse_release(handle.read(8192))
        rest = base[len(prefix):-len('_Packages')]
        component = rest.split('_binary-')[0].replace('_', '/') if '_binary-' in rest else None
        archive.update(type='apt', component=component, site=prefix.split('_')[0])
        found[name] = archive
    return found


def _split_ext(name):
    """(name without compression suffix, suffix); a site's dots are not a suffix."""
    base, dot, ext = name.rpartition('.')
    return (base, '.' + ext) if dot and '_' not in ext else (name, '')


def read_list(path, run_command=None):
    """The bytes of one Packages list, or None when it cannot be decompressed here.

    ``run_command(argv, binary=True)`` runs ``apt-helper`` for lz4 and zst lists;
    bytes, because decoding tens of megabytes would cost more than the search.
    """
    ext = _split_ext(path)[1]
    if ext in _HELPER_EXTS:
        if run_command is None:
            return None
        rc, out, dummy = run_command([APT_HELPER, 'cat-file', path], binary=True)
        return out if rc == 0 else None
    if ext not in _STDLIB_OPENERS:
        return None
    with _STDLIB_OPENERS[ext](path, 'rb') as handle:
        return handle.read()


def _field(stanza, name):
    at = stanza.find(b'\n' + name + b': ')
    if at < 0:
        return None
    return stanza[at + len(name) + 3:stanza.find(b'\n', at + 1)].strip().decode('utf-8', 'replace')


def list_stanzas(data, names, list_name, facts):
    """Append ``[list_name, version, arch, maintainer]`` to ``facts[name]`` for each stanza of ``data``
    (one Packages list) whose package is one of ``names`` (bytes)."""
    first = _FIRST_PACKAGE.match(data)  # the other stanzas follow a newline: no copy of the list needed
    for found in itertools.chain([first] if first else [], _PACKAGE.finditer(data)):
        name = found.group(1).strip()
        if name not in names:
            continue
        end = data.find(b'\n\n', found.end())
        stanza = data[found.end():end if end >= 0 else len(data)] + b'\n'
        facts[name.decode('utf-8', 'surrogateescape')].append(
            [list_name, _field(stanza, b'Version'), _field(stanza, b'Architecture'), _field(stanza, b'Maintainer')])


def read_stanzas(names, archives, lists_dir, run_command):
    """``({name: [[list, version, arch, maintainer], ...]} for every name, warnings)`` from the lists."""
    wanted = set(n.encode('utf-8', 'surrogateescape') for n in names)
    facts, warnings = dict((n, []) for n in names), []
    for list_name in sorted(archives):
        try:
            data = read_list(os.path.join(lists_dir, list_name), run_command)
        except (OSError, EOFError, ValueError) as exc:
            data, list_name = None, '%s (%s)' % (list_name, exc)
        if data is None:
            warnings.append('apt: list %s could not be read; its packages have no origin' % list_name)
            continue
        list_stanzas(data, wanted, list_name, facts)
    return facts, warnings


def add_apt_origins(records, lists_dir=APT_LISTS, run_command=None, cache=None):
    """Set ``origin`` on the dpkg ``records`` an apt list holds; return warnings (unreadable lists).

    A record takes the first list (by file name) that holds its name and architecture in its
    version, else by its maintainer. ``cache`` (``apt_origin_cache.OriginCache``) keeps the
    stanzas of the installed names between runs while the lists stay the same.
    """
    archives = list_archives(lists_dir)
    names = set(record['name'] for record in records)
    cache = cache if archives else None  # no lists: nothing to keep
    facts = cache.load(archives, names) if cache else None
    warnings = []
    if facts is None:
        facts, warnings = read_stanzas(names, archives, lists_dir, run_command)
        if cache and not warnings:
            cache.save(archives, facts)
    for record in records:
        best, archive = 0, None
        for list_name, version, arch, maintainer in facts.get(record['name'], ()):
            if arch != record['arch'] or list_name not in archives:
                continue
            rank = 2 if version == record['version'] else 1 if maintainer == record['vendor'] else 0
            if rank > best:
                best, archive = rank, archives[list_name]
        if best:
            record['origin'] = dict(archive, match='version' if best == 2 else 'maintainer')
    return warnings


# ---------------------------------------------------------------- rpm, apk, pacman

def rpm_origin(vendor, packager, signature):
    """An rpm's vendor, packager and signing key id (from ``pgpsig`` text such as
    ``RSA/SHA256, <date>, Key ID 199e2f91fd431d51``); None when it has none of them."""
    key = _KEY_ID.search(signature or '')
    origin = dict(type='rpm', vendor=vendor, packager=packager, key=key.group(1).lower() if key else None)
    return origin if vendor or packager or key else None


def parse_apk_repositories(text):
    """``{tag: [repository, ...]}`` of ``/etc/apk/repositories`` (the untagged ones under '')."""
    found = {}
    for line in text.splitlines():
        words = line.split('#', 1)[0].split()
        if words:
            tag = words[0][1:] if words[0].startswith('@') and len(words) > 1 else ''
            found.setdefault(tag, []).append(words[-1])
    return found


def apk_origin(tag, repositories):
    """An apk's repository tag (``s:``, '' for none) with the repositories that tag names."""
    return dict(type='apk', tag=tag or '', repositories=' '.join(repositories.get(tag or '', [])))


def sync_packages(db_path):
    """The ``name-version`` entries and the names of one pacman sync database (a tar of
    ``name-version/desc`` folders)."""
    entries, names = set(), set()
    with tarfile.open(db_path) as tar:
        for member in tar.getnames():
            entry = member.split('/')[0]
            parts = entry.rsplit('-', 2)
            if len(parts) == 3:
                entries.add(entry)
                names.add(parts[0])
    return entries, names


def add_pacman_origins(records, dbpath):
    """Set ``origin`` (the sync repository: ``match`` version, else name) on pacman ``records``;
    return warnings for sync databases that could not be read."""
    sync_dir, warnings, repos = os.path.join(dbpath, 'sync'), [], []
    names = sorted(n for n in os.listdir(sync_dir) if n.endswith('.db')) if os.path.isdir(sync_dir) else []
    for name in names:
        try:
            repos.append((name[:-3], sync_packages(os.path.join(sync_dir, name))))
        except (OSError, tarfile.TarError, EOFError) as exc:
            warnings.append('pacman: sync database %s could not be read: %s' % (name, exc))
    for record in records:
        key = '%s-%s' % (record['name'], record['version'])
        exact = next((repo for repo, (entries, dummy) in repos if key in entries), None)
        named = exact or next((repo for repo, (dummy, names) in repos if record['name'] in names), None)
        if named:
            record['origin'] = dict(type='pacman', repo=named, match='version' if exact else 'name')
    return warnings
