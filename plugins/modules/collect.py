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

RETURN = r'''
software:
  description: The package records of a C(posix) host (see M(fleetsam.sam.software_facts)).
  returned: on a posix host, when the collector callback does not spool the run
  type: list
  elements: dict
windows:
  description: The raw inventory of a C(windows) host (see M(fleetsam.sam.win_software_facts)).
  returned: on a windows host, when the collector callback does not spool the run
  type: dict
macos:
  description: The raw command outputs of a C(macos) host (see M(fleetsam.sam.macos_software_facts)).
  returned: on a macos host, when the collector callback does not spool the run
  type: dict
vcenter:
  description: The topology read from a C(vcenter) host's API (see M(fleetsam.sam.vcenter_facts)).
  returned: on a vcenter host
  type: dict
hypervisor:
  description: The raw output of M(fleetsam.sam.hypervisor_facts).
  returned: on a posix host given O(hypervisor_facts), when that module worked
  type: dict
hypervisor_error:
  description: Why M(fleetsam.sam.hypervisor_facts) failed.
  returned: on a posix host given O(hypervisor_facts), when that module failed
  type: str
fleetsam_handoff:
  description:
    - Set instead of the bulk (RV(software), RV(windows) or RV(macos)) while the C(fleetsam.sam.collector)
      callback spools the run; the callback reads the bulk back from its hand-over folder.
  returned: when the fleetsam.sam.collector callback is enabled and the collector did not fail
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetsam.sam.plugins.module_utils.collect_args import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='fleetsam.sam.collect runs as an action plugin on the controller; '
                         'this module file only documents it and must not be run on a host')


if __name__ == '__main__':
    main()
