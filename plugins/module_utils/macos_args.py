# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of fleetsam.sam.macos_software_facts, shared by its action plugin and its doc module."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ARGUMENT_SPEC = dict(
    sources=dict(type='list', elements='str', default=['auto'], choices=['auto', 'apps', 'pkgutil', 'homebrew', 'swid']),
    apps_method=dict(type='str', default='auto', choices=['auto', 'system_profiler', 'info_plist', 'both']),
    system_profiler_timeout=dict(type='int', default=300),
    app_dirs=dict(type='list', elements='str',
                  default=['/Applications', '/System/Applications', '/Users/*/Applications']),
    homebrew_method=dict(type='str', default='receipts', choices=['receipts', 'brew_info']),
    homebrew_prefixes=dict(type='list', elements='str', default=['/opt/homebrew', '/usr/local']),
    swid_dirs=dict(type='list', elements='str', default=['/Library/Application Support']),
    users=dict(type='bool', default=True),
    max_output_bytes=dict(type='int', default=64 * 1024 * 1024),
)
