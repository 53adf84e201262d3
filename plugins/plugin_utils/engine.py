# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collector callback's hand-over to the engine: to its standby process (``sam_engine.standby``)
when that is ready, else in the callback's own process.

When a play starts to scan, the callback starts ``python -m sam_engine.standby`` with the
interpreter Ansible runs on (``subprocess``: Ansible's own process is never forked) and names
the store; the standby imports the engine and prepares its catalogue and report templates
while the hosts are scanned. At the end of the playbook the callback hands the run over
once (``hand_over``). Whatever goes wrong before the standby took the run (it could not
start, its warm-up failed, it is gone) raises ``NotReady``: nothing was handed over, and the
callback runs the engine in its own process exactly as without a standby.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

ENGINE_MODULE = 'sam_engine.standby'


class NotReady(Exception):
    """The standby did not take the run: the caller runs the engine itself."""


class EngineFailed(Exception):
    """The standby took the run and the engine failed on it (the message says why)."""


def _line(message):
    return (json.dumps(message) + '\n').encode('ascii')  # ASCII: a lone surrogate travels as its escape


class Standby(object):
    """A running standby engine process of this callback (started by ``start``)."""

    def __init__(self, process):
        self._process = process

    @classmethod
    def start(cls, store, secrets=None, command=None):
        """Start a standby that prepares a run into ``store`` (``secrets``: a PostgreSQL store's
        ``PGPASSWORD``, for reading its recognition cache); None when it cannot be started.
        ``command`` (tests) replaces ``[python, -m, sam_engine.standby]``."""
        try:
            process = subprocess.Popen(command or [sys.executable, '-m', ENGINE_MODULE], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        except (OSError, ValueError):
            return None
        standby = cls(process)
        try:
            standby._send({'store': store, 'secrets': secrets or {}})
        except NotReady:
            standby.abandon()
            return None
        return standby

    @property
    def pid(self):
        return self._process.pid

    def _send(self, message):
        try:
            self._process.stdin.write(_line(message))
            self._process.stdin.flush()
        except (OSError, ValueError) as exc:  # the standby is gone (a broken pipe)
            raise NotReady('the engine standby is gone (%s)' % exc)

    def _receive(self):
        """The standby's next reply, or None when it ended its output."""
        line = self._process.stdout.readline()
        if not line.strip():
            return None
        try:
            return json.loads(line.decode('ascii'))
        except ValueError:
            return {'unreadable': True}

    def hand_over(self, request, show):
        """Hand the run over (``request``: ``process_spool``'s arguments, see ``sam_engine.standby``) and
        wait for its end, passing each progress line to ``show``; ``(lines, data)`` of its summary.
        Raises ``NotReady`` when the standby did not take the run, ``EngineFailed`` when the engine
        failed on it."""
        try:
            ready = self._receive()
            if not ready or ready.get('ready') is not True:
                raise NotReady((ready or {}).get('error') or 'the engine standby ended before it was ready')
            self._send(request)
            while True:
                reply = self._receive()
                if reply is None or reply.get('unreadable'):
                    raise EngineFailed('the engine process ended without a result (exit status %s)'
                                       % self._process.wait())
                if 'progress' in reply:
                    show(reply['progress'])
                elif 'failed' in reply:
                    raise EngineFailed(reply['failed'])
                else:
                    summary = reply['summary']
                    return summary['lines'], summary['data']
        finally:
            self.abandon()

    def abandon(self):
        """Stop the standby (this callback's own process, by its pid) unless it has ended, and reap it.
        It writes nothing before the hand-over and nothing after its summary, so stopping it then
        loses nothing."""
        process = self._process
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def process(handover, standby, display, run_dir):
    """Hand the run (``handover``: ``process_spool``'s arguments) to the engine: to ``standby`` (None: no
    standby) when it takes it, else in this process. The lines and data of its ``RunSummary``, or None
    after a warning (the engine failed or is missing: the run stays in ``run_dir``)."""

    def show(line):
        display.display('fleetsam: ' + line)

    if standby is not None:
        try:
            return standby.hand_over(handover, show)
        except NotReady as exc:  # nothing was handed over: the engine runs here, as without a standby
            display.vv('fleetsam: the engine standby is not ready (%s); the engine runs in this process' % exc)
        except EngineFailed as exc:
            display.warning('fleetsam: processing the run failed: %s; the run is kept in %s' % (exc, run_dir))
            return None
    return _process_here(handover, show, display, run_dir)


def _process_here(handover, show, display, run_dir):
    """The engine on the run in this process, as the standby runs it (``sam_engine.standby.run``);
    the password it puts in the environment for libpq is taken out again after it."""
    try:
        from sam_engine.standby import run
    except ImportError as exc:
        display.warning('fleetsam: the engine is not importable (%s); the run is kept in %s: '
                        'process it with "fleetsam ingest %s"' % (exc, run_dir, run_dir))
        return None
    env_password = os.environ.get('PGPASSWORD')
    try:
        reply = run(handover, None, show)
    finally:
        if env_password is None:
            os.environ.pop('PGPASSWORD', None)
        else:
            os.environ['PGPASSWORD'] = env_password
    if 'failed' in reply:  # the scan's data must survive an engine failure
        display.warning('fleetsam: processing the run failed: %s; the run is kept in %s' % (reply['failed'], run_dir))
        return None
    return reply['summary']['lines'], reply['summary']['data']
