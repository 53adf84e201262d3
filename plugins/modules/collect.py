#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: collect
short_description: Run the fleetsam collector of a host's platform in one task
version_added: "0.2.0"
description:
  - Runs, in one task, the collector that reads a host of platform O(platform) and returns that collector's
    result. The C(fleetsam.sam.software_inventory) role runs it on every host, so a host costs the controller
    one task (one worker process), whatever its platform.
  - C(posix) runs M(fleetsam.sam.software_facts) with the options O(software_facts); on a host of the
    hypervisor group, or when O(hypervisor_facts) is given, M(fleetsam.sam.hypervisor_facts) follows on the
    same host and its raw output joins the result under RV(hypervisor).
  - C(windows) runs M(fleetsam.sam.win_software_facts) with the options O(win_software_facts).
  - C(macos) runs M(fleetsam.sam.macos_software_facts) (an action plugin, no Python on the Mac) with the
    options O(macos_software_facts).
  - C(vcenter) runs M(fleetsam.sam.vcenter_facts) with the options O(vcenter_facts) on the controller, through
    a local connection and the Python interpreter of C(localhost) (for the implicit localhost, the one running
    Ansible), as C(delegate_to=localhost) would; its C(hostname) defaults to C(ansible_host), else the
    inventory name.
  - Options of the chosen collector that the task leaves out are taken from the variables of the
    C(fleetsam.sam.software_inventory) role when they are defined (see its argument specification); the
    other platforms' variables are not read, so the vCenter password is templated for a vCenter only.
  - While the C(fleetsam.sam.collector) callback spools the run, the bulk of the result is handed over to it as
    a file, as each collector's own action plugin does.
  - This is an action plugin; it runs on the controller and sends the chosen module to the host.
options:
  platform:
    description:
      - The host's platform, which selects the collector.
      - Unset, the variable C(software_inventory_platform), else C(auto).
      - C(auto) is C(vcenter) for hosts of the group C(vcenters) or with C(fleetsam_platform=vcenter), C(windows)
        over a C(winrm) or C(psrp) connection or with a PowerShell shell, C(macos) with C(fleetsam_platform=macos)
        or the gathered fact C(ansible_os_family=Darwin), else C(posix).
    type: str
    choices: [auto, posix, windows, macos, vcenter]
  software_facts:
    description: Options of M(fleetsam.sam.software_facts), used on a C(posix) host.
    type: dict
    default: {}
  win_software_facts:
    description: Options of M(fleetsam.sam.win_software_facts), used on a C(windows) host.
    type: dict
    default: {}
  macos_software_facts:
    description: Options of M(fleetsam.sam.macos_software_facts), used on a C(macos) host.
    type: dict
    default: {}
  vcenter_facts:
    description: Options of M(fleetsam.sam.vcenter_facts), used on a C(vcenter) host.
    type: dict
    default: {}
  hypervisor_facts:
    description:
      - Options of M(fleetsam.sam.hypervisor_facts), which runs on a C(posix) host after the software collector
        when this is set or the host is in the group named by C(software_inventory_hypervisor_group).
        An empty C(cluster) leaves the host standalone.
    type: dict
attributes:
  action:
    description: Runs on the controller and sends the chosen collector to the host.
    support: full
  platform:
    description: Target operating systems.
    support: full
    platforms: [posix, windows]
extends_documentation_fragment:
  - fleetsam.sam.inventory
notes:
  - When M(fleetsam.sam.hypervisor_facts) fails, the task fails with its message and the result keeps the
    host's software and RV(hypervisor_error); the collector callback stores the software and notes the error.
seealso:
  - module: fleetsam.sam.software_facts
  - module: fleetsam.sam.win_software_facts
  - module: fleetsam.sam.macos_software_facts
  - module: fleetsam.sam.vcenter_facts
  - module: fleetsam.sam.hypervisor_facts
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Collect with the collector of each host's platform
  fleetsam.sam.collect:
    software_facts:
      software_format: json

- name: Collect on a Linux host that also runs KVM
  fleetsam.sam.collect:
    platform: posix
    software_facts:
      software_format: json
    hypervisor_facts:
      platform: libvirt
      uri: qemu:///system

- name: Collect on a Mac, applications from their Info.plist files only
  fleetsam.sam.collect:
    platform: macos
    macos_software_facts:
      apps_method: info_plist
'''

# The result is the chosen collector's own result (each key below names the platform it comes from), with
# hypervisor or hypervisor_error added on a posix host that also runs fleetsam.sam.hypervisor_facts; while the
# fleetsam.sam.collector callback spools the run, the bulk (software_json or software, windows, macos) is
# replaced by fleetsam_handoff. tests/unit/test_collect_doc.py checks these keys against what the code returns.
RETURN = r'''
software_json:
  description:
    - The package records of a C(posix) host (see RV(software)) as one JSON text, an array with one record per
      line, C(install_time) the last key of each.
    - The C(fleetsam.sam.software_inventory) role asks for this form (C(software_format=json) in
      O(software_facts)).
  returned: on a posix host when software_format is json in the software_facts option, unless the fleetsam.sam.collector callback spools the run
  type: str
  sample: "[\n{\"source\":\"dpkg\",\"name\":\"bash\",\"version\":\"5.2.15-2+b7\",\"arch\":\"amd64\",...,\"install_time\":1716200000}\n]"
software:
  description:
    - The package records of a C(posix) host, one per installed package, in source order (see
      M(fleetsam.sam.software_facts)); each record's C(origin) is an index into RV(origins).
    - An empty list when no package source could be read (the task fails).
  returned: >-
    on a posix host when software_format is records in the software_facts option (its default), unless the
    fleetsam.sam.collector callback spools the run; and on a posix host where no package source could be read
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
origins:
  description:
    - Where the packages of a C(posix) host came from, each distinct origin once, as raw facts (C(type) C(apt),
      C(rpm), C(apk) or C(pacman) and that type's fields; see M(fleetsam.sam.software_facts)).
  returned: on a posix host when a package source could be read
  type: list
  elements: dict
  sample:
    - {type: apt, origin: Debian, label: Debian, suite: stable, codename: bookworm, component: main,
       site: deb.debian.org, match: version}
sources:
  description: What each package source of a C(posix) host did (C(status) C(ok), C(unavailable) or C(failed), with C(count) and C(message)).
  returned: on a posix host
  type: dict
  sample:
    dpkg: {status: ok, count: 612}
    rpm: {status: unavailable, count: 0}
    snap: {status: failed, count: 0, message: "snap list: rc=1"}
host:
  description:
    - Raw facts of a C(posix) host for licensing (names, kernel, machine id, DMI, CPU, memory, virtualisation,
      cloud metadata), which the engine derives the host's hardware from (see M(fleetsam.sam.software_facts)).
  returned: on a posix host when host_facts is true in the software_facts option (its default)
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
users:
  description:
    - Raw records of the accounts and logins of a C(posix) host, for named-user licences (C(passwd),
      C(login_defs), C(wtmp), C(lastlog); see M(fleetsam.sam.software_facts)); a file that could not be read
      is null.
  returned: on a posix host when user_facts is true in the software_facts option (its default)
  type: dict
  sample:
    passwd: "root:x:0:0:root:/root:/bin/bash\njdoe:x:1000:1000:J Doe:/home/jdoe:/bin/bash\n"
    login_defs: "UID_MIN 1000\nUID_MAX 60000"
    wtmp: [{user: jdoe, line: pts/0, host: 10.0.0.7, time: 1767225600}]
    lastlog: [{uid: 1000, line: pts/0, host: 10.0.0.7, time: 1767225600}]
hypervisor:
  description: The raw output of M(fleetsam.sam.hypervisor_facts).
  returned: >-
    on a posix host given the hypervisor_facts option or in the group named by software_inventory_hypervisor_group,
    when that module worked
  type: dict
  sample:
    platform: libvirt
    uri: qemu:///system
    cluster: null
    hostname: kvm01
    nodeinfo: "CPU model:           x86_64\nCPU(s):              32\n..."
    capabilities: "<host><uuid>4c4c4544-0042-3510-8051-b4c04f4a4d32</uuid>...</host>"
    domains: [{uuid: 8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f, dominfo: "Id:             1\n...", xml: "<domain>...</domain>"}]
    errors: []
hypervisor_error:
  description: Why M(fleetsam.sam.hypervisor_facts) failed; the task fails with it, the host's software stays in the result.
  returned: >-
    on a posix host given the hypervisor_facts option or in the group named by software_inventory_hypervisor_group,
    when that module failed
  type: str
  sample: "virsh nodeinfo failed: the libvirt connection qemu:///system cannot be read"
windows:
  description:
    - The raw inventory of a C(windows) host (C(uninstall), C(user_hives), C(profiles), C(sql_instances),
      C(office), C(os), C(licensing), C(appx), C(swid_tags), C(chocolatey), C(winget), C(winget_export),
      C(hardware) and, where Hyper-V is installed, C(hyperv)); see M(fleetsam.sam.win_software_facts).
  returned: on a windows host, unless the fleetsam.sam.collector callback spools the run
  type: dict
  sample:
    uninstall: [{hive: HKLM64, sid: null, key: "{532C05E1-7376-1014-987E-E28031843670}", DisplayName: Strawberry Perl (64-bit),
                 DisplayVersion: 5.24.1, Publisher: strawberryperl.com project}]
    os: {ProductName: Windows Server 2019 Datacenter, CurrentBuild: "17763", hostname: SQL01}
    hardware: {processors: [{DeviceID: CPU0, NumberOfCores: 16, NumberOfLogicalProcessors: 32}]}
macos:
  description:
    - The raw command outputs of a C(macos) host, one entry per section that ran (C(format), C(host), C(users),
      C(system_profiler), C(info_plist), C(pkgutil), C(homebrew), C(brew_info), C(swid)), each with C(command),
      C(rc), C(stdout), C(stderr), C(truncated) and C(timed_out); see M(fleetsam.sam.macos_software_facts).
  returned: on a macos host, unless the fleetsam.sam.collector callback spools the run
  type: dict
  sample:
    format: 1
    host: {command: "{ printf '#fleetsam-cmd sysctl\\n' ... } | head -c 67108864", rc: 0,
           stdout: "#fleetsam-cmd sysctl\nhw.packages=1\n...", stderr: "", truncated: false, timed_out: false}
vcenter:
  description:
    - The topology read from the API of a C(vcenter) host (C(hostname), C(about), C(datacenters), C(folders),
      C(compute_resources), C(hosts), C(vms)); see M(fleetsam.sam.vcenter_facts).
  returned: on a vcenter host, when the inventory was read
  type: dict
  sample:
    hostname: vc01.example.com
    about: {name: VMware vCenter Server, version: "8.0.2", api_type: VirtualCenter}
    hosts: [{moid: host-34, name: DC0_C0_H0, parent: domain-c29, sockets: 2, cores: 24, threads: 48}]
    vms: [{moid: vm-51, name: DC0_C0_RP0_VM0, vcpus: 2, host: host-34, power_state: poweredOn, template: false}]
fleetsam_handoff:
  description:
    - Set instead of the bulk (RV(software_json) or RV(software), RV(windows) or RV(macos)) while the
      C(fleetsam.sam.collector) callback spools the run; the callback reads the bulk back from its hand-over
      folder. C(field) names the key it stands for (a C(posix) host's records are handed over as
      C(software_json)).
  returned: on a posix, windows or macos host when the fleetsam.sam.collector callback is enabled and the collector did not fail
  type: dict
  sample: {field: software_json, file: web1-0a1b2c3d-4e5f60718293a4b5c6d7e8f901234567.json, bytes: 245114, sha256: 9f86d081884c7d65...}
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetsam.sam.plugins.module_utils.collect_args import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='fleetsam.sam.collect runs as an action plugin on the controller; '
                         'this module file only documents it and must not be run on a host')


if __name__ == '__main__':
    main()
