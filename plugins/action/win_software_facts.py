# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``fleetsam.sam.win_software_facts``: runs the module, then hands its inventory over.

The PowerShell module runs on the Windows host as any module does. On the controller, while the
``fleetsam.sam.collector`` callback spools the run, the raw ``windows`` inventory is written
to the callback's hand-over folder and the result carries a small reference
instead (``plugin_utils.spool.hand_off``), so a job event under ansible-runner
or AWX stays a few KB. Without the callback the result is the module's own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.fleetsam.sam.plugins.plugin_utils.spool import hand_off


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # the module reads only

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        result.update(self._execute_module(module_args=self._task.args, task_vars=task_vars))
        return hand_off(result, (task_vars or {}).get('inventory_hostname'))
