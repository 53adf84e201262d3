# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collector callback learns about the job around a run: the hosts its plays target, their
groups, the AWX job ids, and whether ansible-runner (and so AWX / AAP) runs it.

ansible-runner runs ansible-playbook with its own stdout callback,
``awx_display``, and names this job's artifacts folder to it in the environment
variable ``AWX_ISOLATED_DATA_DIR`` (it writes the events' data there). Runner
and AWX keep that folder with the job, so the reports go there.

``awx_display`` replaces ``Display.display`` with a wrapper that turns each call
made outside a task's event into one job event (``verbose``), its data the
wrapper module's event context. ``display_event`` adds the fleetsam summary to
that context for one call: one event carries the summary's text as its
``stdout`` and the summary itself under ``event_data['fleetsam']``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import os

from ansible.module_utils.common.text.converters import to_text
from ansible.utils.display import Display

ARTIFACT_ENV = 'AWX_ISOLATED_DATA_DIR'
REPORT_SUBDIR = 'fleetsam-reports'


def artifact_dir():
    """This job's ansible-runner artifacts folder, or None when not under ansible-runner."""
    path = os.environ.get(ARTIFACT_ENV)
    return path if path and os.path.isdir(path) else None


def default_report_dir():
    """Where the reports go when ``report_dir`` is not set: the artifacts folder under
    ansible-runner, else ``reports`` in the working directory."""
    artifacts = artifact_dir()
    return os.path.join(artifacts, REPORT_SUBDIR) if artifacts else 'reports'


def _event_context():
    """awx_display's event context when it wraps ``Display.display``, else None."""
    context = getattr(Display.display, '__globals__', {}).get('event_context')
    return context if callable(getattr(context, 'set_local', None)) else None


def display_event(display, lines, data):
    """Show ``lines`` as one job event carrying ``data`` under ``event_data['fleetsam']`` when
    awx_display makes the events; True then. Otherwise each line is displayed (False)."""
    context = _event_context()
    if context is None:
        for line in lines:
            display.display(line)
        return False
    with context.set_local(fleetsam=data):
        display.display('\n'.join(lines))
    return True


def host_groups(result):
    """The host's inventory groups (as group_names: without "all"), for per-group policy exceptions."""
    try:
        return sorted(set(g.get_name() for g in result._host.get_groups()) - set(['all']))
    except Exception:  # an inventory plugin's odd host object must not cost the scan
        return []


def play_targets(play):
    """The play's hosts after --limit and group selection (inventory names), or None."""
    try:
        inventory = play.get_variable_manager()._inventory
        # restrictions are the current serial batch only; the limit is kept
        return [to_text(h.get_name()) for h in inventory.get_hosts(play.hosts, ignore_restrictions=True)]
    except Exception:  # an odd inventory must not cost the scan: the scope is then not recorded
        return None


def awx_scan_group(play):
    """The scan group AWX implies: its workflow job id (which the slices of a sliced job share), else
    its job id (``tower_*`` on older versions); None outside AWX."""
    try:
        extra = play.get_variable_manager().extra_vars
    except Exception:
        extra = {}
    for key, prefix in (('awx_workflow_job_id', 'awx-workflow-'), ('tower_workflow_job_id', 'awx-workflow-'),
                        ('awx_job_id', 'awx-job-'), ('tower_job_id', 'awx-job-')):
        if extra.get(key) not in (None, ''):
            return prefix + to_text(extra[key])
    return None


def import_engine():
    """Import the engine ahead of its hand-over: the callback calls this at the first collector
    result, on Ansible's main thread between two results (no worker is forked mid-import), so the
    import runs while the other hosts are still being scanned instead of after the last one.
    False when the engine is missing (the hand-over says so)."""
    try:
        importlib.import_module('sam_engine.pipeline')
    except ImportError:
        return False
    return True
