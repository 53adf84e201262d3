# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run covers, for the collector callback: the hosts its scanning plays target, apart for
the scans that run in check mode (a dry run: nothing stored) and those that do not, and the
failures of other tasks, which count only for hosts a scan of the same kind targets.

A playbook may mix both: a play in check mode that does not scan (a dry-run preflight) leaves the
scan a real one, and a scan in check mode beside a real one stores only the real one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean


def in_check_mode(obj):
    """Whether a play, task, or a task result's task runs in check mode (its own C(check_mode),
    else its block's, role's or play's, else C(--check)). A result's task carries ansible's
    templated value; a play's or a starting task's C(check_mode) given as a template reads as false
    here, and its results then decide."""
    value = getattr(obj, 'check_mode', False)
    return value if isinstance(value, bool) else boolean(value, strict=False)


class RunScope:
    """The scanning plays' targets by kind (``dry``: check mode) and the failures awaiting them."""

    def __init__(self):
        self._scans = []  # [targets (None: unreadable), dry] per scanning play, or collector task of another mode
        self._from_play_start = False  # the last entry came from a play's role, before its collector task
        self._failures = {}  # host -> (status, error, groups): the last failure outside a collector

    def play_scans(self, targets, dry):
        """A play that runs the software_inventory role starts (its hosts may fail before its task)."""
        self._scans.append([targets, dry])
        self._from_play_start = True

    def task_scans(self, targets, dry):
        """A collector task starts; ``targets``: its play's."""
        if self._from_play_start:  # the role's task: its check mode (the role may set it) is the play's scan's
            self._scans[-1][1] = dry
        elif [targets, dry] not in self._scans:
            self._scans.append([targets, dry])
        self._from_play_start = False

    def play_starts(self):
        self._from_play_start = False

    def scans(self, dry):
        return any(d == dry for targets, d in self._scans)

    def known(self, dry):
        """False when a scanning play's targets of that kind could not be read."""
        return all(t is not None for t, d in self._scans if d == dry)

    def hosts(self, dry):
        return set(h for t, d in self._scans if d == dry and t is not None for h in t)

    def targets(self):
        """Every host a scan targets, in check mode or not (what ``fleetsam scan`` counts)."""
        return self.hosts(False) | self.hosts(True)

    def failed(self, host, status, error, groups):
        self._failures[host] = (status, error, groups)

    def settled(self, host):
        """A collector result came for the host: what failed before it no longer counts."""
        self._failures.pop(host, None)

    def failures(self, dry):
        """``(host, status, error, groups)`` of each failure of a host a scan of that kind targets
        (any host when its targets are unknown)."""
        if not self.scans(dry):
            return []
        hosts = None if not self.known(dry) else self.hosts(dry)
        return [(host,) + failure for host, failure in sorted(self._failures.items())
                if hosts is None or host in hosts]
