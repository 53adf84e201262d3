# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Installed-package inventory for Linux hosts: which sources exist and how each
is collected (dpkg, rpm, apk, pacman, snap, flatpak).

``collect_*`` functions check availability, read or run the source and return
``(records, warnings)``, or ``None`` when the source is absent; they raise
``SourceFailed`` when the source's listing command fails. ``SOURCES``
lists them all; the parsers live in ``pkg_parsers``. SWID tags are not a
source here: ``software_facts`` reads them with ``swid.find_swid_tags`` below
its ``swid_dirs`` option.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import functools
import os

from ansible_collections.fleetsam.sam.plugins.module_utils.apt_origin_cache import OriginCache
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_common import find_binary, read_text, root_path
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_origins import (
    APK_REPOSITORIES, APT_LISTS, add_apt_origins, add_pacman_origins, parse_apk_repositories,
)
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_parsers import (
    APK_INSTALLED, DPKG_ADMINDIR, FLATPAK_LIST_ARGV, FLATPAK_SYSTEM_DIR, PACMAN_DBPATH, SNAP_LIST_ARGV,
    SNAP_MOUNT_DIRS, parse_flatpak_list, parse_rpm_query, parse_snap_list, read_apk, read_dpkg, read_pacman,
    rpm_query_argv,
)

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


class SourceFailed(Exception):
    """A source's listing command failed: what it printed is not the list of installed packages."""


def _run(run_command, argv, label):
    """Run ``argv``; return its stdout. A non-zero exit status raises SourceFailed: an rpm database
    that cannot be read lists nothing, which must reach the engine as a failed source, not as none installed."""
    rc, out, err = run_command(argv)
    if rc != 0:
        raise SourceFailed('%s: %s exited with %s: %s' % (label, ' '.join(argv[:2]), rc, (err or '').strip()[:300]))
    return out or ''


def _collector(name):
    """Decorate ``func(run_command, root, which, check_mode)`` into the collector of source ``name``.

    The collector returns None when the source is absent, and an empty result
    with a warning for a live-only source asked about a root other than '/'.
    ``check_mode`` (Ansible's) writes nothing on the host, not even a cache.
    """
    def decorate(func):
        @functools.wraps(func)
        def collect(run_command, root='/', which=find_binary, check_mode=False):
            source = SOURCES_BY_NAME[name]
            if not source_available(source, root, which):
                return None
            if source.live_only and root != '/':
                return [], ['%s: only the running system can be listed, not root %s' % (name, root)]
            return func(run_command, root, which, check_mode)
        return collect
    return decorate


@_collector('dpkg')
def collect_dpkg(run_command, root, which, check_mode):
    """Collect dpkg packages from ``<root>/var/lib/dpkg``, with their apt origins; lz4/zst lists
    need ``apt-helper``, which is not run for another root. The running system's origins are
    cached on the host (``apt_origin_cache``; in check mode the cache is read, not written);
    another root is read as it is, nothing written."""
    records = read_dpkg(root_path(root, DPKG_ADMINDIR))
    live = root == '/'
    warnings = add_apt_origins(records, root_path(root, APT_LISTS), run_command if live else None,
                               OriginCache(APT_LISTS, write=not check_mode) if live else None)
    return records, warnings


@_collector('rpm')
def collect_rpm(run_command, root, which, check_mode):
    """Collect rpm packages by running ``rpm -qa`` (with ``--root`` for a mounted image)."""
    return parse_rpm_query(_run(run_command, rpm_query_argv(root, which('rpm')), 'rpm')), []


@_collector('apk')
def collect_apk(run_command, root, which, check_mode):
    """Collect apk packages from ``<root>/lib/apk/db/installed``, with their repository tags."""
    repositories = root_path(root, APK_REPOSITORIES)
    tags = parse_apk_repositories(read_text(repositories)) if os.path.isfile(repositories) else {}
    return read_apk(root_path(root, APK_INSTALLED), tags), []


@_collector('pacman')
def collect_pacman(run_command, root, which, check_mode):
    """Collect pacman packages from ``<root>/var/lib/pacman/local``, with their sync repositories."""
    records = read_pacman(root_path(root, PACMAN_DBPATH))
    return records, add_pacman_origins(records, root_path(root, PACMAN_DBPATH))


@_collector('snap')
def collect_snap(run_command, root, which, check_mode):
    """Collect snaps by running ``snap list`` (running system only)."""
    out = _run(run_command, [which('snap')] + SNAP_LIST_ARGV[1:], 'snap')
    mount_dir = next((d for d in SNAP_MOUNT_DIRS if os.path.isdir(d)), SNAP_MOUNT_DIRS[0])
    return parse_snap_list(out, mount_dir), []


@_collector('flatpak')
def collect_flatpak(run_command, root, which, check_mode):
    """Collect flatpak apps and runtimes by running ``flatpak list`` (running system only)."""
    return parse_flatpak_list(_run(run_command, [which('flatpak')] + FLATPAK_LIST_ARGV[1:], 'flatpak')), []


SOURCES = (
    PackageSource('dpkg', (DPKG_ADMINDIR + '/status', DPKG_ADMINDIR + '/status.d'), None, False, collect_dpkg),
    PackageSource('rpm', ('/var/lib/rpm', '/usr/lib/sysimage/rpm'), 'rpm', False, collect_rpm),
    PackageSource('apk', (APK_INSTALLED,), None, False, collect_apk),
    PackageSource('pacman', (PACMAN_DBPATH + '/local',), None, False, collect_pacman),
    PackageSource('snap', ('/usr/bin/snap', '/var/lib/snapd'), 'snap', True, collect_snap),
    PackageSource('flatpak', ('/usr/bin/flatpak', FLATPAK_SYSTEM_DIR), 'flatpak', True, collect_flatpak),
)
SOURCES_BY_NAME = dict((source.name, source) for source in SOURCES)
