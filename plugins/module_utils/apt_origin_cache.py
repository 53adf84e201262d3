# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A cache, on the scanned host, of what the apt lists say about its installed package names.

Decompressing and searching the lists (tens of megabytes, lz4 through ``apt-helper``)
is most of a Debian host's collection time, yet they change only when apt updates
them. The cache holds, for every installed name, the stanzas of that name in each
list (list file, version, architecture, maintainer: what ``add_apt_origins`` ranks),
under the signature of the lists folder: each file's name, size and modification
time. It is used only while the signature is unchanged and it covers every name
asked for; otherwise the lists are read again and the cache rewritten. The answer is
the same with or without it; it lives on the host, whatever controller runs the scan.

Only a file owned by the user the module runs as and writable by nobody else is
trusted: another user could otherwise choose the origins. Standard library only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
import tempfile

CACHE_FORMAT = 1
ROOT_CACHE = '/var/cache/fleetsam/apt-origins.json'
USER_CACHE = '~/.cache/fleetsam/apt-origins.json'


def default_path():
    """Where this user's cache lives: root's under /var/cache, another user's in their home."""
    return ROOT_CACHE if os.geteuid() == 0 else os.path.expanduser(USER_CACHE)


def lists_signature(lists_dir):
    """``[[name, size, mtime_ns], ...]`` of the files of ``lists_dir``: apt rewrites a list and its
    Release file when it updates them."""
    found = []
    for entry in os.scandir(lists_dir):
        if entry.is_file(follow_symlinks=False) and entry.name != 'lock':
            info = entry.stat(follow_symlinks=False)
            found.append([entry.name, info.st_size, info.st_mtime_ns])
    return sorted(found)


def _trusted(info):
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class OriginCache(object):
    """The cache of one lists folder in the file ``path``; failures only cost a full read."""

    def __init__(self, lists_dir, path=None, write=True):
        self.lists_dir = os.path.abspath(lists_dir)
        self.path = path or default_path()
        self.write = write  # False: check mode, the cache is used but never written

    def _key(self):
        return {'format': CACHE_FORMAT, 'lists_dir': self.lists_dir, 'lists': lists_signature(self.lists_dir)}

    def load(self, archives, names):
        """The cached ``{name: [[list, version, arch, maintainer], ...]}`` when it was made from these
        lists (and Release archives) and holds every one of ``names``; else None."""
        try:
            with open(self.path, 'rb') as handle:
                if not (_trusted(os.fstat(handle.fileno())) and _trusted(os.stat(os.path.dirname(self.path)))):
                    return None
                doc = json.loads(handle.read().decode('utf-8'))
            if doc.get('key') != self._key() or doc.get('archives') != archives:
                return None
            facts = doc['facts']
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if not isinstance(facts, dict) or any(name not in facts for name in names):
            return None  # a package installed since the cache was written: read the lists again
        return facts

    def save(self, archives, facts):
        """Write the cache atomically (a temporary file renamed over it); a failure is silent."""
        if not self.write:
            return
        folder = os.path.dirname(self.path)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, 0o700)
            doc = {'key': self._key(), 'archives': archives, 'facts': facts}
            handle, temp = tempfile.mkstemp(prefix='.apt-origins-', dir=folder)  # mode 0600
            try:
                with os.fdopen(handle, 'wb') as out:
                    out.write(json.dumps(doc, separators=(',', ':')).encode('utf-8', 'surrogateescape'))
                os.replace(temp, self.path)
            except BaseException:
                os.unlink(temp)
                raise
        except (OSError, ValueError):
            pass
