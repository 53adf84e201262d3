# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper callback: per-task wall times written as JSON lines.

Enabled only by the benchmarks (``ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins``,
``ANSIBLE_CALLBACKS_ENABLED=bench_timer``). For each task it records the wall time from
the task's start to its last host result, and each host's time from ``v2_runner_on_start``
to its result, into ``$FLEETSAM_BENCH_TIMES`` (one JSON object per task).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: bench_timer
type: aggregate
short_description: per-task wall times for the fleetsam benchmarks
description: Writes one JSON line per task to $FLEETSAM_BENCH_TIMES.
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_timer'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._task = None
        self._t0 = None
        self._last = None
        self._hosts = {}
        self._start = {}
        self._out = os.environ.get('FLEETSAM_BENCH_TIMES')

    def _flush(self):
        if self._task is not None and self._out:
            with open(self._out, 'a') as handle:
                handle.write(json.dumps({'task': self._task, 'action': self._action,
                                         'wall': (self._last or time.perf_counter()) - self._t0,
                                         'hosts': self._hosts}) + '\n')
        self._task = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        self._task, self._action = task.get_name(), task.action
        self._t0, self._last, self._hosts, self._start = time.perf_counter(), None, {}, {}

    def v2_runner_on_start(self, host, task):
        self._start[host.get_name()] = time.perf_counter()

    def _done(self, result):
        now = time.perf_counter()
        name = result._host.get_name()
        self._hosts[name] = now - self._start.get(name, self._t0)
        self._last = now

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_unreachable = v2_runner_on_skipped = _done

    def v2_playbook_on_stats(self, stats):
        self._flush()
