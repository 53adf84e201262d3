# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw host facts for licensing, read on the scanned host.

Only raw data leaves the host: the CPU topology, DMI identity, virtualisation
markers and OS release text. Sockets, cores, threads, VM-ness and the stable
host identity are derived by the engine (sam_engine.platforms.hardware), where they are
tested on captured inputs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import platform
import socket

# /proc/cpuinfo keys the engine needs; everything else (flags, bugs, power
# management) is dropped to keep the result small on many-core hosts.
CPUINFO_KEYS = frozenset((
    'processor', 'vendor_id', 'model name', 'physical id', 'core id',
    'cpu cores', 'siblings', 'cpu family', 'model', 'CPU implementer',
    'CPU part', 'Hardware', 'cpu', 'platform', 'machine',
))

DMI_FIELDS = (
    'product_uuid', 'product_serial', 'product_name', 'sys_vendor',
    'board_vendor', 'bios_vendor', 'bios_version', 'chassis_type',
    'chassis_asset_tag',
)

CONTAINER_MARKERS = ('/.dockerenv', '/run/.containerenv')

LSCPU_ARGV = ['lscpu', '--parse=SOCKET,CORE,CPU']
DETECT_VIRT_ARGV = ['systemd-detect-virt']


def _path(root, path):
    return os.path.join(root, path.lstrip('/')) if root and root != '/' else path


def _read(path, limit=1024 * 1024):
    """Return a file's text, or None when it is absent or unreadable."""
    try:
        with open(path, 'rb') as handle:
            return handle.read(limit).decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def filter_cpuinfo(text):
    """Keep only the /proc/cpuinfo lines the engine uses.

    The ``flags`` line is reduced to one marker line, ``hypervisor: yes``,
    emitted once when any processor carries the ``hypervisor`` flag.
    """
    if text is None:
        return None
    kept = []
    hypervisor = False
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        key = key.strip()
        if not sep:
            if not line.strip():
                kept.append('')
            continue
        if key == 'flags':
            hypervisor = hypervisor or 'hypervisor' in value.split()
        elif key in CPUINFO_KEYS:
            kept.append('%s\t: %s' % (key, value.strip()))
    if hypervisor:
        kept.append('hypervisor\t: yes')
    return '\n'.join(kept)


def read_dmi(root='/'):
    """DMI identity fields from sysfs; unreadable ones (product_uuid needs root) are None."""
    base = _path(root, '/sys/class/dmi/id')
    facts = {}
    for name in DMI_FIELDS:
        value = _read(os.path.join(base, name), 4096)
        facts[name] = value.strip() if value and value.strip() else None
    return facts


def read_meminfo_kb(root='/'):
    text = _read(_path(root, '/proc/meminfo'), 65536) or ''
    for line in text.splitlines():
        if line.startswith('MemTotal:'):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def collect(run_command, root='/'):
    """Gather the raw host facts.

    ``run_command(argv)`` returns ``(rc, stdout, stderr)``; a missing tool is
    reported as rc != 0 and the fact is left as None.
    """
    machine_id = _read(_path(root, '/etc/machine-id'), 4096)
    if machine_id is None:
        machine_id = _read(_path(root, '/var/lib/dbus/machine-id'), 4096)
    rc, lscpu_out, dummy = run_command(LSCPU_ARGV)
    vrc, virt_out, dummy = run_command(DETECT_VIRT_ARGV)
    try:
        fqdn = socket.getfqdn()
    except (socket.error, UnicodeError):
        fqdn = None
    return {
        'hostname': platform.node() or None,
        'fqdn': fqdn,
        'system': platform.system(),
        'kernel': platform.release(),
        'machine': platform.machine(),
        'machine_id': machine_id.strip() if machine_id and machine_id.strip() else None,
        'os_release': _read(_path(root, '/etc/os-release'), 65536)
        or _read(_path(root, '/usr/lib/os-release'), 65536),
        'dmi': read_dmi(root),
        'cpuinfo': filter_cpuinfo(_read(_path(root, '/proc/cpuinfo'), 8 * 1024 * 1024)),
        'lscpu': lscpu_out if rc == 0 else None,
        # systemd-detect-virt exits 1 and prints "none" on bare metal
        'detect_virt': virt_out.strip() if virt_out and virt_out.strip() else None,
        'container_markers': [m for m in CONTAINER_MARKERS if os.path.exists(_path(root, m))],
        'memtotal_kb': read_meminfo_kb(root),
    }
