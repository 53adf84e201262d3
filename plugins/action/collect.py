# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``fleetsam.sam.collect``: one task runs the collector of the host's platform.

Every task a host runs or skips costs the controller a worker process and the
templating of its variables, so the ``software_inventory`` role has this one task,
and the choice of collector is made here rather than by skipped tasks:

- ``posix``: the ``software_facts`` module, then on a host given ``hypervisor_facts``
  options that module too; its output joins the result under ``hypervisor`` (or
  ``hypervisor_error``), the keys the ``fleetsam.sam.collector`` callback has always
  stored beside the host's software.
- ``windows``: the ``win_software_facts`` PowerShell module.
- ``macos``: the ``macos_software_facts`` action plugin, with its own options.
- ``vcenter``: the ``vcenter_facts`` module on the controller, as ``delegate_to: localhost``
  ran it: a local connection and localhost's Python (the one with pyVmomi).

The bulk of the result is handed over to the callback as the collectors' own
action plugins do (``plugin_utils.spool.hand_off``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible_collections.fleetsam.sam.plugins.module_utils.collect_args import (
    ARGUMENT_SPEC, COLLECTORS, HYPERVISOR, HYPERVISOR_GROUP_VARIABLE, PLATFORM_VARIABLE, ROLE_VARIABLES, platform_of)
from ansible_collections.fleetsam.sam.plugins.plugin_utils.spool import hand_off


def merged_messages(result, extra):
    """``result`` with the warnings and deprecations of a second module's result ``extra`` added."""
    for key in ('warnings', 'deprecations'):
        if extra.get(key):
            result[key] = list(result.get(key) or []) + list(extra[key])
    return result


def with_hypervisor(result, hypervisor):
    """The software ``result`` with the hypervisor module's result joined as the callback stores it:
    ``hypervisor`` when it worked; else ``hypervisor_error``, and the task fails (the software
    stays in the result: the callback keeps it, as it keeps it when a separate task fails)."""
    result = merged_messages(result, hypervisor)
    if hypervisor.get('failed'):
        result['hypervisor_error'] = str(hypervisor.get('msg') or 'hypervisor_facts failed')
        result.update(failed=True, msg='%s: %s' % (HYPERVISOR, result['hypervisor_error']))
    else:
        result['hypervisor'] = hypervisor.get('hypervisor')
    return result


def hypervisor_args(options):
    """The hypervisor module's options: an empty cluster name means a standalone host (option unset)."""
    options = dict(options)
    if not options.get('cluster'):
        options.pop('cluster', None)
    return options


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # every collector only reads

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        platform = args['platform'] or self._variable(task_vars, PLATFORM_VARIABLE) or 'auto'
        if platform == 'auto':
            shell = getattr(self._connection, '_shell', None)
            platform = platform_of(self._variable(task_vars, 'fleetsam_platform'), task_vars.get('group_names'),
                                   getattr(self._connection, 'transport', None), getattr(shell, 'SHELL_FAMILY', None),
                                   self._variable(task_vars, 'ansible_os_family'))
        if platform not in COLLECTORS:
            return dict(result, failed=True, msg='%s: expected one of auto, %s; got %r'
                        % (PLATFORM_VARIABLE, ', '.join(COLLECTORS), platform))
        collector = COLLECTORS[platform]
        option = collector.rsplit('.', 1)[-1]
        options = self._options(option, args[option], task_vars)
        if platform == 'macos':  # an action plugin of its own, which hands its output over itself
            result.update(self._action(collector, options).run(task_vars=task_vars))
            return result
        if platform == 'vcenter':
            options.setdefault('hostname', self._variable(task_vars, 'ansible_host') or task_vars.get('inventory_hostname'))
            result.update(self._on_controller(collector, options, task_vars))
            return result
        result.update(self._execute_module(module_name=collector, module_args=options, task_vars=task_vars))
        result = hand_off(result, task_vars.get('inventory_hostname'))
        hypervisor = args['hypervisor_facts']
        if hypervisor is None and self._variable(task_vars, HYPERVISOR_GROUP_VARIABLE) in task_vars.get('group_names', ()):
            hypervisor = {}
        if platform == 'posix' and hypervisor is not None and not result.get('failed'):
            options = hypervisor_args(self._options('hypervisor_facts', hypervisor, task_vars))
            result = with_hypervisor(result, self._execute_module(module_name=HYPERVISOR, module_args=options,
                                                                  task_vars=task_vars))
        return result

    def _variable(self, task_vars, name):
        """The host's variable ``name`` templated (a plain value costs nothing), None when undefined."""
        value = task_vars.get(name)
        return None if value is None else self._templar.template(value)

    def _options(self, option, given, task_vars):
        """The options ``given`` for a collector, completed by the role variables defined for the rest."""
        options = dict(given or {})
        for key, variable in ROLE_VARIABLES[option].items():
            if key not in options and variable in task_vars:
                options[key] = self._variable(task_vars, variable)
        return options

    def _action(self, name, options, connection=None, module=None):
        """The action plugin ``name`` for a copy of this task running ``module`` (default: ``name``)
        with ``options`` as its arguments."""
        task = self._task.copy()
        task.args = dict(options)
        task.action = module or name
        return self._shared_loader_obj.action_loader.get(
            name, task=task, connection=connection or self._connection, play_context=self._play_context,
            loader=self._loader, templar=self._templar, shared_loader_obj=self._shared_loader_obj)

    def _on_controller(self, module, options, task_vars):
        """Run ``module`` on the controller, with localhost's Python (the implicit localhost's is the
        one running Ansible), as ``delegate_to: localhost`` does."""
        local = self._shared_loader_obj.connection_loader.get('local', self._play_context)
        local.set_options()
        python = task_vars.get('ansible_playbook_python')
        if task_vars.get('hostvars') is not None:
            python = task_vars['hostvars']['localhost'].get('ansible_python_interpreter', python)
        local_vars = dict(task_vars, ansible_python_interpreter=python)
        try:
            return self._action('ansible.legacy.normal', options, connection=local, module=module).run(task_vars=local_vars)
        finally:
            local.close()
