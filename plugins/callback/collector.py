# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
name: collector
type: aggregate
short_description: Spool fleetsam collector results and hand the run to the fleetsam engine
version_added: "0.1.0"
description:
  - Records the result of every collector task (C(fleetsam.sam.collect), which the C(fleetsam.sam.software_inventory)
    role runs, or a collector module such as C(fleetsam.sam.software_facts)), and every unreachable or failed host,
    to a spool directory on disk as it arrives, so memory stays bounded on large fleets.
  - At the end of the playbook it hands the whole run to the fleetsam engine once, which stores a snapshot,
    reconciles and writes the reports.
  - An unreachable or failed host keeps its previous inventory in the store, marked stale.
  - The run records its scope, the hosts its scanning plays targeted (after C(--limit) and group selection);
    hosts outside it keep their record untouched (a failure in another play is not recorded for them), and a host
    in it that sent no result is recorded failed (stale).
  - A package list returned as one JSON text (C(software_json), the module's C(software_format=json), as the fleetsam
    role asks) is checked to be one JSON array and written to the spool unchanged as C(software); anything else
    marks the host failed.
  - The result of C(fleetsam.sam.hypervisor_facts) (a libvirt or Proxmox host's CPUs and VMs) is added to
    the same host's spooled software result, so one host carries both; when that module fails, the failure is
    noted there and the host keeps its software inventory and its last topology. A hypervisor result without a
    software result of the same host in the run is not stored (a warning says so). C(fleetsam.sam.collect) returns
    both in one result, the same way; when its hypervisor part fails the task fails and the software is stored.
  - Not a stdout callback, so it works beside the stdout callbacks that
    ansible-runner and AWX force.
  - While it runs, the collectors' action plugins write each host's package list (or raw
    Windows or macOS inventory) to a hand-over folder in the spool and return a small reference,
    which this callback checks (name, size, SHA-256) and reads back (in check mode, deletes); so an
    ansible-runner or AWX job event stays a few KB per host instead of carrying the whole list.
  - Under ansible-runner (and so AWX), the reports go to the job's artifacts folder unless
    O(report_dir) is set, and the closing summary is one job event whose C(event_data.fleetsam)
    holds the counts, the scan id and the report files.
  - When the engine works on a large run for more than two seconds in a stage (ingest, reconcile,
    report), it prints a progress line for that stage every ten seconds.
  - When the engine (Python package C(fleetsam)) is not importable on the
    controller, the spool is kept and can be ingested later with
    C(fleetsam ingest SPOOL).
  - A scan in check mode (C(--check), or C(check_mode) on the scanning play or the collector task)
    stores nothing and writes no report (its spool folder is removed); the closing lines say so. Another
    play in check mode (one that does not scan) leaves the scan a real one.
  - Relative paths (store, report_dir, spool_dir, policy, notify, and the engine's
    C(licences/) directory) are relative to the directory C(ansible-playbook) runs
    from, the user's project, wherever the collection is installed.
requirements:
  - the fleetsam Python package (sam_engine) on the controller, to process the run
  - enable in ansible.cfg with C(callbacks_enabled = fleetsam.sam.collector)
options:
  store:
    description:
      - Store location, a TinyDB JSON file path (relative paths are relative to the working directory) or a
        PostgreSQL database URL C(postgresql://user@host:port/db) (needs C(fleetsam[postgresql]) and
        C(fleetsam store init); the password from C(PGPASSWORD), C(PGPASSFILE) or O(notify_secrets)).
    type: str
    default: .fleetsam/fleetsam.json
    env:
      - name: FLEETSAM_STORE
    ini:
      - section: fleetsam
        key: store
  report_dir:
    description:
      - Directory the reports are written to.
      - Default is C(reports), or under ansible-runner C(fleetsam-reports) in the job's artifacts folder
        (C(AWX_ISOLATED_DATA_DIR), which ansible-runner sets).
    type: str
    env:
      - name: FLEETSAM_REPORT_DIR
    ini:
      - section: fleetsam
        key: report_dir
  spool_dir:
    description: Directory holding one spool folder per run until the engine has processed it.
    type: str
    default: .fleetsam/spool
    env:
      - name: FLEETSAM_SPOOL_DIR
    ini:
      - section: fleetsam
        key: spool_dir
  installations_csv:
    description:
      - Write C(installations.csv), the report file with a row per installation of every host
        (about 3 GB and half a minute for 10,000 hosts of 1,000 packages).
      - When false, the other report files are written, an older C(installations.csv) is removed,
        and C(fleetsam report) writes the full list from the store on demand.
    type: bool
    default: true
    env:
      - name: FLEETSAM_INSTALLATIONS_CSV
    ini:
      - section: fleetsam
        key: installations_csv
  engine:
    description:
      - Hand the run to the engine at its end; when false it is only spooled, for C(fleetsam ingest) (C(fleetsam scan) runs the engine itself).
      - When true, a play that scans starts the engine in a standby process, which gets ready (imports, catalogue, report
        templates) while the hosts are scanned and takes the run at its end; when the standby is not ready the engine runs
        in the callback's process.
      - When false under ansible-runner, each scanning play's targets are named in one job event
        (C(event_data.fleetsam.targets)), from which C(fleetsam scan) counts the hosts to scan.
    type: bool
    default: true
    env:
      - name: FLEETSAM_ENGINE
  keep_spool:
    description: Keep the run's spool after the engine processed it.
    type: bool
    default: false
    env:
      - name: FLEETSAM_KEEP_SPOOL
    ini:
      - section: fleetsam
        key: keep_spool
  policy:
    description:
      - Compliance policy file (finding thresholds, deny-list, which findings fail C(fleetsam check)).
      - Default is C(policy.yml) in the working directory when it exists, else built-in defaults.
    type: str
    env:
      - name: FLEETSAM_POLICY
    ini:
      - section: fleetsam
        key: policy
  notify:
    description:
      - Notification file (C(notify.yml)) listing the e-mail, webhook and terminal channels.
      - Without it findings are tracked in the store but nothing is sent.
    type: str
    env:
      - name: FLEETSAM_NOTIFY
    ini:
      - section: fleetsam
        key: notify
  scan_group:
    description:
      - Ties runs that belong together in the store's history (the slices of one AWX job, a series of
        C(--limit) batches); each run still records its own scope.
      - Default is the AWX workflow job id (C(awx_workflow_job_id), which the slices of a sliced job
        share), else the AWX job id (C(awx_job_id), or C(tower_*) on older versions), when AWX passes them.
    type: str
    env:
      - name: FLEETSAM_SCAN_GROUP
    ini:
      - section: fleetsam
        key: scan_group
  notify_secrets:
    description:
      - Secrets for the notification channels, by the names the notification file gives in
        C(password_env), C(url_env) or C(token_env); they take precedence over environment variables.
      - C(PGPASSWORD) here is the password of a PostgreSQL store (C(store) a C(postgresql://) URL without
        its password), handed to libpq for the engine's run only.
      - Never printed.
    type: dict
    default: {}
'''

import datetime
import os
import shutil
import uuid

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase
from ansible_collections.fleetsam.sam.plugins.plugin_utils import job
from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool
from ansible_collections.fleetsam.sam.plugins.plugin_utils import engine
from ansible_collections.fleetsam.sam.plugins.plugin_utils.scope import RunScope, in_check_mode

COLLECTOR_ACTIONS = frozenset(('fleetsam.sam.collect', 'collect', 'fleetsam.sam.software_facts', 'software_facts',
                               'fleetsam.sam.win_software_facts', 'win_software_facts',
                               'fleetsam.sam.macos_software_facts', 'macos_software_facts',
                               'fleetsam.sam.vcenter_facts', 'vcenter_facts'))
# Its result joins the host's software result in the spool (key ``hypervisor``; ``hypervisor_error`` when it failed)
HYPERVISOR_ACTIONS = frozenset(('fleetsam.sam.hypervisor_facts', 'hypervisor_facts'))
try:  # the version is the engine's; the run is still spooled when the engine is not importable
    from sam_engine import __version__ as TOOL_VERSION
except ImportError:
    TOOL_VERSION = None  # ingest records "unknown"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'fleetsam.sam.collector'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self._run_dir = None
        self._meta = None
        self._status = {}  # inventory name -> ok / failed / unreachable, of the scans that store
        self._dry_status = {}  # ... of the scans in check mode: only counted, for the closing line
        self._play_scope = None  # inventory names the current play targets (None: unknown)
        self._scope = RunScope()
        self._group = None
        self._engine_imported = None  # imported at the first collector result (job.import_engine)
        self._standby = None  # the engine's standby process, started when a play starts to scan (False: could not)

    # -- spool -------------------------------------------------------------------------

    def _start_run(self, playbook_file):
        scan_id = '%s-%s' % (datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ'),
                             uuid.uuid4().hex[:6])
        self._run_dir = os.path.abspath(os.path.join(self.get_option('spool_dir'), scan_id))
        os.makedirs(os.path.join(self._run_dir, 'hosts'))
        # the collectors' action plugins (in worker processes forked from this one) hand their bulk over here
        os.makedirs(os.path.join(self._run_dir, 'handoff'))
        os.environ[spool.HANDOFF_ENV] = os.path.join(self._run_dir, 'handoff')
        self._meta = {'scan_id': scan_id, 'started': spool.now(), 'finished': None,
                      'playbook': playbook_file, 'tool_version': TOOL_VERSION}
        spool.write_json(os.path.join(self._run_dir, 'run.json'), self._meta)

    def _record(self, host, status, result=None, error=None, groups=None, dry=False):
        if dry:  # only counted; its hand-over (which keeps job events small in check mode too) is dropped
            self._dry_status[host] = status
            try:
                spool.take(dict(result or {}), host, os.path.join(self._run_dir, 'handoff'))
            except spool.HandoffError:
                pass
            return
        bulk = None
        if result is not None:
            result, bulk, fault = spool.spooled(result, host, os.path.join(self._run_dir, 'handoff'))
            status, error = ('failed', fault) if fault is not None else (status, error)
        self._status[host] = status
        path = spool.host_file(self._run_dir, host)
        doc = {'inventory_name': host, 'status': status, 'result': result,
               'error': error, 'collected_at': spool.now(), 'groups': groups or []}
        try:
            spool.write_json(path, spool.bulk_doc(doc, *bulk) if bulk else doc, bulk[1] if bulk else None)
        except ValueError as exc:
            self._status[host] = 'failed'
            spool.write_json(path, dict(doc, status='failed', result=None, error=str(exc)))

    def _attach(self, host, key, value, dry=False):
        """Add ``key: value`` to the host's spooled software result (written before, by the same role)."""
        if dry:
            return
        path = spool.host_file(self._run_dir, host) if self._run_dir is not None else None
        if self._status.get(host) != 'ok' or path is None or not os.path.exists(path):
            self._display.warning('fleetsam: %s: hypervisor_facts ran without a software collector result for the '
                                  'host in this run; its topology is not stored' % host)
            return
        spool.set_result_key(path, key, value)

    def _scanning(self, dry, play_start=False):
        """The current play runs the collector (``dry``: in check mode): its targets belong to the run's scope."""
        if self._standby is None and self.get_option('engine') and not dry:
            secrets = self.get_option('notify_secrets') or {}
            password = {'PGPASSWORD': secrets['PGPASSWORD']} if secrets.get('PGPASSWORD') else {}
            self._standby = engine.Standby.start(self.get_option('store'), password) or False
        before = self._scope.targets()
        (self._scope.play_scans if play_start else self._scope.task_scans)(self._play_scope, dry)
        targets = self._scope.targets()
        if targets != before and not self.get_option('engine') and job.artifact_dir() is not None:
            # fleetsam scan counts them
            job.display_event(self._display, ['fleetsam: %d hosts to scan' % len(targets)],
                              {'targets': sorted(targets)})

    def _scan_group(self, play):
        return self.get_option('scan_group') or self._group or job.awx_scan_group(play)

    @staticmethod
    def _action(result):
        task = result._task
        return getattr(task, 'resolved_action', None) or task.action

    def _is_collector(self, result):
        return self._action(result) in COLLECTOR_ACTIONS

    # -- events ------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        # also under --check: a play or task may set check_mode false; the folder goes when nothing is stored
        self._start_run(to_text(getattr(playbook, '_file_name', None)))

    def v2_playbook_on_play_start(self, play):
        self._scope.play_starts()
        self._play_scope = job.play_targets(play)
        self._group = self._scan_group(play)
        try:
            roles = [to_text(r.get_name()) for r in play.get_roles()]
        except Exception:
            roles = []
        if any(r.split('.')[-1] == 'software_inventory' for r in roles):
            self._scanning(in_check_mode(play), play_start=True)

    def v2_playbook_on_task_start(self, task, is_conditional):
        action = getattr(task, 'resolved_action', None) or task.action
        if action in COLLECTOR_ACTIONS:
            self._scanning(in_check_mode(task))

    def v2_runner_on_ok(self, result):
        dry = in_check_mode(result._task)
        if self._action(result) in HYPERVISOR_ACTIONS:
            self._attach(result._host.get_name(), 'hypervisor', spool.plain(result._result).get('hypervisor'), dry)
        elif self._is_collector(result):
            self._collected(result, 'ok', dry, result=spool.plain(result._result))
            if self._engine_imported is None and not self._standby:  # else the standby imported it
                self._engine_imported = bool(self.get_option('engine')) and not dry and job.import_engine()

    def v2_runner_on_failed(self, result, ignore_errors=False):
        host, dry = result._host.get_name(), in_check_mode(result._task)
        error = to_text(result._result.get('msg', 'task failed'))
        if self._action(result) in HYPERVISOR_ACTIONS:  # the software result stays; the engine keeps the last topology
            self._attach(host, 'hypervisor_error', error, dry)
        elif self._is_collector(result) and result._result.get('hypervisor_error') is not None:
            # fleetsam.sam.collect: the software was read, only its hypervisor_facts failed: kept, as above
            software = dict((k, v) for k, v in spool.plain(result._result).items() if k not in ('failed', 'msg'))
            self._collected(result, 'ok', dry, result=software)
        elif self._is_collector(result):
            self._collected(result, 'failed', dry, error=error)
        elif not ignore_errors:
            self._failed(result, 'failed', error)

    def v2_runner_on_unreachable(self, result):
        self._failed(result, 'unreachable', to_text(result._result.get('msg', 'unreachable')))

    def _collected(self, task_result, status, dry, **record):
        """A collector's result: the host's record (in check mode only counted); earlier failures are past."""
        host = task_result._host.get_name()
        self._scope.settled(host)
        self._record(host, status, groups=job.host_groups(task_result), dry=dry, **record)

    def _failed(self, result, status, error):
        """Another task failed, or the host is unreachable: kept until the end of the run, when the scope says
        whether a scan targets the host (one the scan read keeps its result)."""
        host = result._host.get_name()
        if self._status.get(host) != 'ok':
            self._scope.failed(host, status, error, job.host_groups(result))

    def v2_playbook_on_stats(self, stats):
        os.environ.pop(spool.HANDOFF_ENV, None)
        for dry, read in ((False, self._status), (True, self._dry_status)):
            for host, status, error, groups in self._scope.failures(dry):
                if read.get(host) != 'ok':
                    self._record(host, status, error=error, groups=groups, dry=dry)
        standby, self._standby = self._standby or None, None
        if standby is not None and not self._status:  # nothing to hand over
            standby.abandon()
            standby = None
        if not self._status:  # no scan that stores (a check-mode scan, or e.g. playbooks/enforce.yml)
            if self._run_dir is not None:
                shutil.rmtree(self._run_dir, ignore_errors=True)
            if self._scope.scans(True) or self._dry_status:
                counts = dict((s, list(self._dry_status.values()).count(s)) for s in ('ok', 'unreachable', 'failed'))
                self._display.display('fleetsam: check mode: hosts ok=%(ok)d unreachable=%(unreachable)d '
                                      'failed=%(failed)d; nothing stored, no report written' % counts)
            return
        counts = dict((s, list(self._status.values()).count(s)) for s in ('ok', 'unreachable', 'failed'))
        self._meta['finished'] = spool.now()
        if self._scope.known(False) and self._scope.hosts(False):
            self._meta['scope'] = sorted(self._scope.hosts(False))
        if self._group:
            self._meta['group'] = self._group
        spool.write_json(os.path.join(self._run_dir, 'run.json'), self._meta)
        shutil.rmtree(os.path.join(self._run_dir, 'handoff'), ignore_errors=True)  # what no result claimed
        if not self.get_option('engine'):  # fleetsam scan runs the engine itself
            self._display.display('fleetsam: hosts ok=%(ok)d unreachable=%(unreachable)d failed=%(failed)d' % counts)
            self._display.display('fleetsam: the run is spooled in %s' % self._run_dir)
            return
        under_runner = job.artifact_dir() is not None
        if not under_runner:  # under ansible-runner the counts are in the one summary event
            self._display.display('fleetsam: hosts ok=%(ok)d unreachable=%(unreachable)d failed=%(failed)d' % counts)
        summary = self._process(standby)
        if summary is None:  # the engine failed or is missing: a warning said so
            if under_runner:
                job.display_event(self._display, ['fleetsam: the run is kept in %s' % self._run_dir],
                                  {'scan_id': self._meta['scan_id'], 'run': counts, 'spool': self._run_dir})
            return
        lines, data = summary
        job.display_event(self._display, ['fleetsam: ' + line for line in lines], data)
        if not self.get_option('keep_spool'):
            shutil.rmtree(self._run_dir, ignore_errors=True)

    def _handover(self):
        """The run as the engine takes it: ``process_spool``'s arguments (``sam_engine.standby``)."""
        return {'spool': self._run_dir, 'store': self.get_option('store'),
                'report_dir': self.get_option('report_dir') or job.default_report_dir(),
                'policy': self.get_option('policy'), 'notify': self.get_option('notify'),
                'secrets': self.get_option('notify_secrets') or {},
                'installations': self.get_option('installations_csv')}

    def _process(self, standby=None):
        """Hand the spool to the engine (its ``standby`` process when that is ready, else here): the
        lines and data of its ``RunSummary``, or None after a warning."""
        return engine.process(self._handover(), standby, self._display, self._run_dir)
