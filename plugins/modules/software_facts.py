#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: software_facts
short_description: List every installed software package and the raw hardware facts licences count
version_added: "0.1.0"
description:
  - Reads every package source present on a Linux host - dpkg, rpm, apk, pacman,
    snap, flatpak and ISO/IEC 19770-2 SWID tags - and returns one record per
    installed package with its raw version, architecture, vendor, install time
    where the source records one, and a source-specific package id.
  - Reads package databases as files or through the package manager's own
    command line; it needs neither python-apt nor rpm bindings.
  - Also returns raw host facts for licensing (CPU topology, DMI identity,
    virtualisation markers, os-release). The fleetsam engine derives sockets,
    cores, threads, VM-ness and a rename-proof host identity from them.
  - The package list is returned as the plain result key C(software), not as
    C(ansible_facts), so it is neither copied into hostvars nor into a fact cache.
  - Records where each package came from as raw facts, for the engine to classify. That is the apt
    archive whose lists hold the installed version (Origin, Label, Suite, Codename, component,
    site), an rpm's vendor, packager and signing key id, an apk's repository tag, the pacman
    sync repository. Each distinct origin is listed once in C(origins); a record holds its index.
  - Also returns raw records of who uses the host (C(users)) - /etc/passwd, the UID
    range of /etc/login.defs, and the logins of wtmp and lastlog - for named-user
    licences. The engine decides which accounts are people.
  - A source that fails (its database cannot be read, its listing command exits with an error) is a
    warning and a C(failed) status in C(sources); the module fails only when no source worked.
  - Changes nothing on the host but its own cache of apt origins, for the running system (not another
    I(root)) - C(/var/cache/fleetsam/apt-origins.json) as root, else C(~/.cache/fleetsam/apt-origins.json),
    mode 0600. It keeps what the apt lists say about the installed package names while the lists' names,
    sizes and times stay the same, so a scan reads and decompresses them only after C(apt update) or a new
    installation. The origins are the same with or without it; a cache another user could write is ignored.
    In check mode the cache is read but not written, so nothing on the host changes.
options:
  sources:
    description:
      - Package sources to read. C(auto) reads every source found on the host.
    type: list
    elements: str
    choices: [auto, dpkg, rpm, apk, pacman, snap, flatpak, swid]
    default: [auto]
  swid_dirs:
    description:
      - Directories searched recursively for C(*.swidtag) files.
    type: list
    elements: path
    default: [/usr/share/swidtag, /usr/lib/swidtag]
  root:
    description:
      - Read package databases below this directory instead of C(/), for
        example a mounted disk image. Command-line sources are skipped when it
        is not C(/).
    type: path
    default: /
  host_facts:
    description:
      - Also return the raw host facts in C(host).
    type: bool
    default: true
  user_facts:
    description:
      - Also return the raw user records in C(users).
    type: bool
    default: true
  software_format:
    description:
      - How the package list is returned. C(records) is the list C(software).
        C(json) is the same list as one JSON text in C(software_json), which
        Ansible copies for each callback plugin in constant time instead of
        record by record (the fleetsam role uses it; the C(fleetsam.sam.collector)
        callback writes it to its spool unchanged, after checking it). The text
        holds one record per line with its C(install_time) last, so the engine
        recognises a package's line from other hosts without decoding it.
    type: str
    choices: [records, json]
    default: records
  cloud_metadata:
    description:
      - On a guest whose DMI strings name AWS, Azure or Google Cloud, also read its instance type and
        dedicated host from the cloud's instance metadata service (AWS IMDSv2 with a session token, Azure
        and Google with their metadata request headers) into C(host.cloud_metadata). Other hosts send
        no request.
    type: bool
    default: true
  metadata_url:
    description:
      - Base URL of the instance metadata service; requests never go through a proxy or follow a redirect.
    type: str
    default: http://169.254.169.254
  metadata_timeout:
    description:
      - Seconds to wait for each metadata request.
    type: float
    default: 2.0
attributes:
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
notes:
  - Hardware numbers are derived by the fleetsam engine, not here; see the
    C(fleetsam.sam.collector) callback.
seealso:
  - module: ansible.builtin.package_facts
extends_documentation_fragment:
  - fleetsam.sam.inventory
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Inventory installed software
  fleetsam.sam.software_facts:
  register: inventory

- name: Only dpkg and SWID tags, without hardware facts
  fleetsam.sam.software_facts:
    sources: [dpkg, swid]
    host_facts: false

- name: Scan a mounted disk image
  fleetsam.sam.software_facts:
    root: /mnt/image

- name: The package list as one JSON text (cheap to pass through many callback plugins)
  fleetsam.sam.software_facts:
    software_format: json
  register: inventory

- name: Count the packages from the JSON text
  ansible.builtin.debug:
    msg: "{{ inventory.software_json | from_json | length }} packages"
'''

RETURN = r'''
fleetsam_handoff:
  description:
    - Set instead of C(software_json) while the C(fleetsam.sam.collector) callback spools the run; the
      controller-side action plugin wrote C(software_json) to the callback's hand-over folder, which reads it
      back, so a job event under ansible-runner or AWX stays small.
  returned: when the fleetsam.sam.collector callback is enabled and the collector did not fail
  type: dict
  sample: {field: software_json, file: web1-0a1b2c3d-4e5f60718293a4b5c6d7e8f901234567.json, bytes: 245114, sha256: 9f86d081884c7d65...}
software_json:
  description: The list C(software) as one JSON text, one record per line, C(install_time) the last key of each.
  returned: when I(software_format=json)
  type: str
  sample: "[\n{\"source\":\"dpkg\",\"name\":\"bash\",\"version\":\"5.2.15-2+b7\",...,\"install_time\":1700000000},\n...\n]"
software:
  description: One record per installed package, in source order.
  returned: when I(software_format=records)
  type: list
  elements: dict
  sample:
    - source: dpkg
      name: bash
      version: 5.2.15-2+b7
      arch: amd64
      vendor: Matthias Klose <doko@debian.org>
      install_time: 1716200000
      package_id: "dpkg:bash:amd64"
      location: null
      extra: {status: install ok installed}
      origin: 0
  contains:
    source:
      description: Package source, one of C(dpkg), C(rpm), C(apk), C(pacman), C(snap), C(flatpak), C(swid).
      type: str
    name:
      description: Package name as the source records it.
      type: str
    version:
      description: Raw version, with epoch and release kept.
      type: str
    arch:
      description: Architecture.
      type: str
    vendor:
      description: Vendor, maintainer, packager or publisher.
      type: str
    install_time:
      description: Install time in epoch seconds where the source records it, otherwise null.
      type: int
    package_id:
      description: Identifier unique within the source (the tagId for SWID tags).
      type: str
    location:
      description: Install or tag path where known.
      type: str
    extra:
      description: Source-specific raw fields, such as epoch, release, SWID entity and meta.
      type: dict
    origin:
      description: Index into C(origins) of where the package came from, null when unknown.
      type: int
origins:
  description:
    - Where packages came from, each distinct origin once, as raw facts (the engine classifies them).
    - C(type) is C(apt), C(rpm), C(apk) or C(pacman). apt has C(origin), C(label), C(suite),
      C(codename) (from the list's Release file), C(component), C(site) and C(match) (C(version) when
      the list holds the installed version, C(maintainer) when it holds the same package by the same
      maintainer in another version); rpm has C(vendor), C(packager), C(key) (the signing key id);
      apk has C(tag) and C(repositories); pacman has C(repo) and C(match) (C(version) or C(name)).
  returned: always
  type: list
  elements: dict
  sample:
    - {type: apt, origin: Debian, label: Debian, suite: oldstable, codename: bookworm,
       component: main, site: deb.debian.org, match: version}
sources:
  description:
    - What each source did, by source name. C(status) is C(ok), C(unavailable) (not on this host) or
      C(failed) (it could not be read; C(message) says why). A failed source returns no records; the
      fleetsam engine keeps its packages from the host's last inventory rather than count them removed.
  returned: always
  type: dict
  sample:
    dpkg: {status: ok, count: 612}
    rpm: {status: unavailable, count: 0}
    snap: {status: failed, count: 0, message: "snap list: rc=1"}
host:
  description: Raw host facts for licensing; derived by the engine.
  returned: when I(host_facts=true)
  type: dict
  sample:
    hostname: web1
    fqdn: web1.example.com
    system: Linux
    kernel: 6.1.0-18-amd64
    machine: x86_64
    machine_id: 4c4c4544004a3510804bb4c04f4e3332
    os_release: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n..."
    dmi: {product_uuid: null, product_serial: null, sys_vendor: QEMU, product_name: Standard PC, chassis_type: "1"}
    cpuinfo: "processor\t: 0\nvendor_id\t: GenuineIntel\n..."
    lscpu: "# Socket,Core,CPU\n0,0,0\n0,1,1\n"
    detect_virt: kvm
    container_markers: []
    memtotal_kb: 16384000
    cloud_metadata:
      provider: aws
      answers: {instance-type: m5.2xlarge, instance-id: i-0abc1234def567890, placement/host-id: h-0123456789abcdef0}
      errors: []
users:
  description:
    - Raw records of the host's accounts and logins, for named-user licences; a file
      that could not be read is null.
  returned: when I(user_facts=true)
  type: dict
  contains:
    passwd:
      description: The text of /etc/passwd.
      type: str
      sample: "root:x:0:0:root:/root:/bin/bash\njdoe:x:1000:1000:J Doe:/home/jdoe:/bin/bash\n"
    login_defs:
      description: The C(UID_MIN), C(UID_MAX), C(SYS_UID_MIN) and C(SYS_UID_MAX) lines of /etc/login.defs.
      type: str
      sample: "UID_MIN 1000\nUID_MAX 60000"
    wtmp:
      description:
        - Login sessions (C(USER_PROCESS) records) of /var/log/wtmp, the newest per account,
          decoded from glibc's struct utmp for the host's architecture (its last 16 MiB are read).
      type: list
      elements: dict
      sample: [{user: jdoe, line: pts/0, host: 10.0.0.7, time: 1767225600}]
    lastlog:
      description: The /var/log/lastlog entries of the passwd UIDs that hold a login.
      type: list
      elements: dict
      sample: [{uid: 1000, line: pts/0, host: 10.0.0.7, time: 1767225600}]
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetsam.sam.plugins.module_utils import cloud_metadata
from ansible_collections.fleetsam.sam.plugins.module_utils import host_raw
from ansible_collections.fleetsam.sam.plugins.module_utils import host_users
from ansible_collections.fleetsam.sam.plugins.module_utils import linux_packages
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_common import root_path, software_json
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_origins import command_bytes, intern_origins
from ansible_collections.fleetsam.sam.plugins.module_utils import swid

SOURCE_NAMES = ('dpkg', 'rpm', 'apk', 'pacman', 'snap', 'flatpak', 'swid')


def make_runner(module, root='/'):
    """run_command(argv, binary=False) -> (rc, out, err) that reports a missing tool as rc 127;
    with ``binary`` the output is bytes, read in one piece (a large file piped through a tool).

    With an alternative root no command runs: it would read the live system.
    """
    def run(argv, binary=False):
        if root != '/':
            return 127, b'' if binary else '', 'commands are not run when root is set'
        binary_path = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
        if binary_path is None or not os.access(binary_path, os.X_OK):
            return 127, b'' if binary else '', '%s: not found' % argv[0]
        if binary:
            return command_bytes([binary_path] + list(argv[1:]))
        return module.run_command([binary_path] + list(argv[1:]), environ_update={'LC_ALL': 'C'})
    return run


def collect_software(module, wanted, run, root):
    """Run each wanted source; return (records, per-source report)."""
    records, report = [], {}
    which = module.get_bin_path
    for name in SOURCE_NAMES:
        if 'auto' not in wanted and name not in wanted:
            continue
        try:
            if name == 'swid':
                dirs = module.params['swid_dirs']
                if not any(os.path.isdir(root_path(root, d)) for d in dirs):
                    report[name] = {'status': 'unavailable', 'count': 0}
                    continue
                found, errors = swid.find_swid_tags(dirs, root)
                result = (found, ['%s: %s' % (e['path'], e['reason']) for e in errors])
            else:
                result = linux_packages.SOURCES_BY_NAME[name].collect(run, root, which, module.check_mode)
        except Exception as exc:  # a broken source must not hide the others
            module.warn('fleetsam: source %s failed: %s' % (name, exc))
            report[name] = {'status': 'failed', 'count': 0, 'message': str(exc)}
            continue
        if result is None:
            report[name] = {'status': 'unavailable', 'count': 0}
            continue
        found, problems = result
        for problem in problems:
            module.warn('fleetsam: %s' % problem)
        records.extend(found)
        report[name] = {'status': 'ok', 'count': len(found)}
        if problems:
            report[name]['message'] = '; '.join(str(p) for p in problems[:5])
    return records, report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type='list', elements='str', default=['auto'],
                         choices=['auto'] + list(SOURCE_NAMES)),
            swid_dirs=dict(type='list', elements='path',
                           default=['/usr/share/swidtag', '/usr/lib/swidtag']),
            root=dict(type='path', default='/'),
            host_facts=dict(type='bool', default=True),
            user_facts=dict(type='bool', default=True),
            software_format=dict(type='str', default='records', choices=['records', 'json']),
            cloud_metadata=dict(type='bool', default=True),
            metadata_url=dict(type='str', default='http://169.254.169.254'),
            metadata_timeout=dict(type='float', default=2.0),
        ),
        supports_check_mode=True,
    )
    root = module.params['root']
    run = make_runner(module, root)
    software, report = collect_software(module, module.params['sources'], run, root)
    if not any(r['status'] == 'ok' for r in report.values()):
        module.fail_json(msg='No package source could be read on this host', sources=report, software=[])
    result = dict(changed=False, sources=report, origins=intern_origins(software))
    if module.params['software_format'] == 'json':
        result['software_json'] = software_json(software)
    else:
        result['software'] = software
    if module.params['host_facts']:
        result['host'] = host_raw.collect(run, root)
        cloud = cloud_metadata.cloud_of(result['host']['dmi']) if module.params['cloud_metadata'] else None
        if cloud:
            result['host']['cloud_metadata'] = cloud_metadata.query(cloud, module.params['metadata_url'],
                                                                    module.params['metadata_timeout'])
    if module.params['user_facts']:
        result['users'] = host_users.collect(root)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
