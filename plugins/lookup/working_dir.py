# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: working_dir
short_description: The directory ansible-playbook was started from on the controller
version_added: "0.1.0"
description:
  - Returns the controller's working directory, the user's project folder, where the
    C(fleetsam.sam.collector) callback keeps the store, the reports, C(licences/) and C(policy.yml).
  - Neither C(playbook_dir) (for a collection's playbook, the collection's install folder) nor a
    task's working directory (on a local connection, the playbook's folder) nor C($PWD) (not
    updated when a program starts C(ansible-playbook) in another folder) is that directory.
  - Takes no terms.
'''

EXAMPLES = r'''
- name: Run fleetsam where the user ran ansible-playbook
  ansible.builtin.command:
    argv: [fleetsam, check]
    chdir: "{{ lookup('fleetsam.sam.working_dir') }}"
  changed_when: false
'''

RETURN = r'''
_raw:
  description: The absolute path of the controller's working directory, as a one-element list.
  type: list
  elements: str
'''

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        if terms:
            raise AnsibleLookupError('fleetsam.sam.working_dir takes no terms')
        return [os.getcwd()]
