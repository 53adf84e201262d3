# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of fleetsam.sam.collect, shared by its action plugin and its doc module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PLATFORMS = ('posix', 'windows', 'macos', 'vcenter')
# platform -> the collector that runs for it (each option below holds that collector's own options)
COLLECTORS = {'posix': 'fleetsam.sam.software_facts', 'windows': 'fleetsam.sam.win_software_facts',
              'macos': 'fleetsam.sam.macos_software_facts', 'vcenter': 'fleetsam.sam.vcenter_facts'}
HYPERVISOR = 'fleetsam.sam.hypervisor_facts'

ARGUMENT_SPEC = dict(
    platform=dict(type='str', required=True, choices=list(PLATFORMS)),
    software_facts=dict(type='dict', default={}),
    win_software_facts=dict(type='dict', default={}),
    macos_software_facts=dict(type='dict', default={}),
    vcenter_facts=dict(type='dict', default={}, no_log=False),
    hypervisor_facts=dict(type='dict'),
)
