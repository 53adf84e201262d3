# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of fleetsam.sam.collect, shared by its action plugin and its doc module, and the
software_inventory role variables that give the options a task leaves out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PLATFORMS = ('posix', 'windows', 'macos', 'vcenter')
# platform -> the collector that runs for it (each option below holds that collector's own options)
COLLECTORS = {'posix': 'fleetsam.sam.software_facts', 'windows': 'fleetsam.sam.win_software_facts',
              'macos': 'fleetsam.sam.macos_software_facts', 'vcenter': 'fleetsam.sam.vcenter_facts'}
HYPERVISOR = 'fleetsam.sam.hypervisor_facts'

ARGUMENT_SPEC = dict(
    platform=dict(type='str', choices=['auto'] + list(PLATFORMS)),
    software_facts=dict(type='dict', default={}),
    win_software_facts=dict(type='dict', default={}),
    macos_software_facts=dict(type='dict', default={}),
    vcenter_facts=dict(type='dict', default={}),
    hypervisor_facts=dict(type='dict'),
)

# Role variable -> (option of collect, key in it); read only for the host's platform, and only the ones
# a task leaves out: a variable costs no templating unless it is itself a template.
ROLE = 'software_inventory_'
ROLE_VARIABLES = {
    'software_facts': {'sources': ROLE + 'sources', 'swid_dirs': ROLE + 'swid_dirs',
                       'cloud_metadata': ROLE + 'cloud_metadata', 'metadata_url': ROLE + 'metadata_url',
                       'metadata_timeout': ROLE + 'metadata_timeout'},
    'macos_software_facts': {'sources': ROLE + 'macos_sources', 'apps_method': ROLE + 'macos_apps_method',
                             'system_profiler_timeout': ROLE + 'macos_system_profiler_timeout'},
    'vcenter_facts': {'username': ROLE + 'vcenter_username', 'password': ROLE + 'vcenter_password',
                      'port': ROLE + 'vcenter_port', 'protocol': ROLE + 'vcenter_protocol',
                      'validate_certs': ROLE + 'vcenter_validate_certs'},
    'hypervisor_facts': {'platform': ROLE + 'hypervisor_platform', 'uri': ROLE + 'libvirt_uri',
                         'cluster': ROLE + 'hypervisor_cluster'},
}
PLATFORM_VARIABLE = ROLE + 'platform'
HYPERVISOR_GROUP_VARIABLE = ROLE + 'hypervisor_group'


def platform_of(fleetsam_platform, group_names, transport, shell_family, os_family):
    """The collector's platform of a host: vcenter for the group vcenters or fleetsam_platform=vcenter;
    windows over WinRM or PSRP or with a PowerShell shell; macos for fleetsam_platform=macos or a
    gathered os family Darwin; else posix."""
    if fleetsam_platform == 'vcenter' or 'vcenters' in (group_names or ()):
        return 'vcenter'
    if shell_family == 'powershell' or transport in ('winrm', 'psrp'):
        return 'windows'
    if fleetsam_platform == 'macos' or str(os_family or '').lower() in ('darwin', 'macos'):
        return 'macos'
    return 'posix'
