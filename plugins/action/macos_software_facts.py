# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``fleetsam.sam.macos_software_facts``: agentless, and no Python on the Mac.

Stock macOS 12.3+ ships ``/usr/bin/python3`` only as an installer stub, so no
module can run there. This plugin runs on the controller and sends a fixed set
of POSIX ``sh`` commands with ``_low_level_execute_command`` (as the ``raw``
action does). Each section's output comes back as raw text under the result
key ``macos``; the fleetsam engine (``sam_engine.platforms.macos``) parses it. Only the
command building and the result assembly live here, as pure functions. While the
``fleetsam.sam.collector`` callback spools the run, ``macos`` is handed over to it as a file
(``plugin_utils.spool.hand_off``), so a job event under ansible-runner or AWX stays small.
"""

from __future__ import annotations

import re
import shlex

from ansible.plugins.action import ActionBase
from ansible_collections.fleetsam.sam.plugins.module_utils.macos_args import ARGUMENT_SPEC
from ansible_collections.fleetsam.sam.plugins.plugin_utils.spool import hand_off

FORMAT = 1
SOFTWARE_SECTIONS = ('system_profiler', 'info_plist', 'pkgutil', 'homebrew', 'brew_info', 'swid')
SYSCTL_KEYS = ('hw.packages', 'hw.physicalcpu', 'hw.logicalcpu', 'hw.memsize', 'hw.model',
               'machdep.cpu.brand_string', 'machdep.cpu.vendor', 'kern.hv_vmm_present')
STDERR_KEEP = 4000  # characters of stderr kept per section
MAX_SWID_TAGS = 1000

_RC_LINE = re.compile(r'^fleetsam-rc=(\d+)\n?', re.M)
_UNAME = re.compile(r'^#fleetsam-cmd uname\n(\S+)', re.M)

# Each stream of many files announces a file with a '#fleetsam-file PATH' line.
_HOST = r'''printf '#fleetsam-cmd sysctl\n'
for k in @KEYS@; do v=$(sysctl -n "$k" 2>/dev/null) || v=; printf '%s=%s\n' "$k" "$v"; done
printf '#fleetsam-cmd ioreg\n'; ioreg -rd1 -c IOPlatformExpertDevice 2>/dev/null
printf '#fleetsam-cmd sw_vers\n'; sw_vers 2>/dev/null
printf '#fleetsam-cmd hostname\n'; hostname 2>/dev/null
printf '#fleetsam-cmd uname\n'; uname -s -r -m 2>/dev/null
'''
# Who uses the Mac: local accounts with their UIDs, the login history (bounded) and the clock,
# which places last's year-less dates.
_USERS = r'''printf '#fleetsam-cmd dscl\n'; dscl . -list /Users UniqueID
printf '#fleetsam-cmd last\n'; LC_ALL=C last 2>/dev/null | head -n @MAX@
printf '#fleetsam-cmd date\n'; date -u +%s
'''
MAX_LAST_LINES = 5000
# system_profiler in the background (its own process group: set -m), killed with its children by a
# watchdog after @TIMEOUT@ s; its exit code goes to stderr.
_SYSTEM_PROFILER = r'''set -m
system_profiler -nospawn -xml -detailLevel full SPApplicationsDataType </dev/null & p=$!
( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep @TIMEOUT@ & s=$!
  wait $s && { kill -9 -$p || kill -9 $p; } ) </dev/null >/dev/null 2>&1 &
w=$!; wait $p; rc=$?; { kill -- -$w || kill $w; } 2>/dev/null; set +m
echo "fleetsam-rc=$rc" >&2
'''
# Each bundle's Info.plist as XML (plutil), or as base64 when plutil cannot convert it.
_INFO_PLIST = r'''for d in @DIRS@; do
  [ -d "$d" ] && find "$d" -maxdepth 3 -type d -name '*.app' -prune -print 2>/dev/null; done |
while IFS= read -r a; do f="$a/Contents/Info.plist"; [ -f "$f" ] || continue
printf '#fleetsam-file %s\n' "$a"; plutil -convert xml1 -o - "$f" 2>/dev/null || base64 < "$f"; echo; done
'''
# pkgutil's receipt database; without pkgutil the receipt files themselves (base64: they may be binary).
_PKGUTIL = r'''if command -v pkgutil >/dev/null 2>&1; then
pkgutil --pkgs 2>/dev/null | while IFS= read -r k; do
  printf '#fleetsam-file %s\n' "$k"; pkgutil --pkg-info-plist "$k" 2>/dev/null; done
else for f in /var/db/receipts/*.plist; do
  [ -f "$f" ] || continue; printf '#fleetsam-file %s\n' "$f"; base64 < "$f"; echo; done
fi
'''
# Homebrew's own receipts, read as files: brew itself refuses to run as root.
_HOMEBREW = r'''for p in @PREFIXES@; do
for r in "$p"/Cellar/*/*/INSTALL_RECEIPT.json "$p"/Caskroom/*/.metadata/INSTALL_RECEIPT.json; do
[ -f "$r" ] && { printf '#fleetsam-file %s\n' "$r"; cat "$r"; echo; }; done
for v in "$p"/Caskroom/*/*; do [ -d "$v" ] && printf '#fleetsam-dir %s\n' "$v"; done
done; true
'''
# brew info, for a connection user owning the Homebrew install (no become).
_BREW_INFO = r'''for p in @PREFIXES@; do [ -x "$p/bin/brew" ] || continue
HOMEBREW_NO_AUTO_UPDATE=1 HOMEBREW_NO_ANALYTICS=1 HOMEBREW_NO_ENV_HINTS=1 "$p/bin/brew" info --json=v2 --installed
echo "fleetsam-rc=$?" >&2; exit 0; done
echo "fleetsam: no brew in @PREFIXES@" >&2; echo fleetsam-rc=127 >&2
'''
_SWID = r'''for d in @DIRS@; do
  [ -d "$d" ] && find "$d" -maxdepth 4 -type f -name '*.swidtag' 2>/dev/null; done | head -n @MAX@ |
while IFS= read -r f; do printf '#fleetsam-file %s\n' "$f"; head -c 1048576 "$f" | base64; echo; done
'''


def shell_path(path):
    """A path quoted for sh; a component that is exactly ``*`` stays a glob (``/Users/*/Applications``)."""
    return '/'.join(part if part in ('', '*') else shlex.quote(part) for part in path.split('/'))


def bounded(body, limit):
    """The body as one command whose stdout stops at ``limit`` bytes."""
    return '{ %s} | head -c %d' % (body, limit)


def paths(items):
    """Shell-quoted paths joined by spaces."""
    return ' '.join(shell_path(p) for p in items)


def build_commands(args):
    """Section name -> sh command, in run order. ``info_plist`` in ``auto`` mode only runs as a fallback."""
    wanted = set(args['sources'])
    every = 'auto' in wanted
    commands = {'host': _HOST.replace('@KEYS@', ' '.join(SYSCTL_KEYS))}
    if args['users']:
        commands['users'] = _USERS.replace('@MAX@', str(MAX_LAST_LINES))
    if every or 'apps' in wanted:
        if args['apps_method'] != 'info_plist':
            commands['system_profiler'] = _SYSTEM_PROFILER.replace('@TIMEOUT@', str(int(args['system_profiler_timeout'])))
        if args['apps_method'] != 'system_profiler':
            commands['info_plist'] = _INFO_PLIST.replace('@DIRS@', paths(args['app_dirs']))
    if every or 'pkgutil' in wanted:
        commands['pkgutil'] = _PKGUTIL
    if every or 'homebrew' in wanted:
        name, body = ('brew_info', _BREW_INFO) if args['homebrew_method'] == 'brew_info' else ('homebrew', _HOMEBREW)
        commands[name] = body.replace('@PREFIXES@', paths(args['homebrew_prefixes']))
    if every or 'swid' in wanted:
        commands['swid'] = _SWID.replace('@DIRS@', paths(args['swid_dirs'])).replace('@MAX@', str(MAX_SWID_TAGS))
    return dict((name, bounded(body, args['max_output_bytes'])) for name, body in commands.items())


def section_result(command, raw, limit, timed=False):
    """One section of the ``macos`` result from a ``_low_level_execute_command`` answer.

    The pipe through ``head`` hides the exit code of timed commands, so they
    print ``fleetsam-rc=N`` on stderr; it replaces ``rc`` when present.
    """
    stdout, stderr, rc = raw.get('stdout') or '', raw.get('stderr') or '', raw.get('rc')
    codes = _RC_LINE.findall(stderr)
    if codes:
        rc, stderr = int(codes[-1]), _RC_LINE.sub('', stderr)
    return {'command': command, 'rc': rc, 'stdout': stdout, 'stderr': stderr.strip()[-STDERR_KEEP:],
            'truncated': len(stdout.encode('utf-8', 'replace')) >= limit,
            'timed_out': timed and rc == 137}


def complete(section):
    return bool(section) and section['rc'] == 0 and not section['truncated'] and not section['timed_out']


def _problem(name, section):
    state = 'timed out' if section['timed_out'] else 'output cut at the size bound' if section['truncated'] \
        else 'rc=%s' % section['rc']
    detail = section['stderr'].splitlines()[-1] if section['stderr'] else ''
    return 'fleetsam: macOS section %s: %s%s' % (name, state, ': ' + detail if detail else '')


def collect(execute, args):
    """Run the sections with ``execute(command) -> {rc, stdout, stderr}`` and assemble the result."""
    limit = args['max_output_bytes']
    macos = {'format': FORMAT}
    warnings = []
    for name, command in build_commands(args).items():
        if name == 'info_plist' and args['apps_method'] == 'auto':
            if complete(macos.get('system_profiler')):
                continue
            warnings.append('fleetsam: system_profiler gave no usable output: apps are read from Info.plist files')
        section = macos[name] = section_result(command, execute(command), limit, timed=name == 'system_profiler')
        if name == 'host':
            system = _UNAME.search(section['stdout'])
            if system and system.group(1) != 'Darwin':
                return {'failed': True, 'changed': False, 'macos': macos,
                        'msg': 'not a macOS host (uname -s: %s); use fleetsam.sam.software_facts' % system.group(1)}
        if not complete(section):
            warnings.append(_problem(name, section))
    result = {'changed': False, 'macos': macos}
    if warnings:
        result['warnings'] = warnings
    if not any(complete(macos.get(name)) for name in SOFTWARE_SECTIONS):
        result.update(failed=True, msg='No macOS software source could be read on this host')
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # reads only

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)

        def execute(command):
            return self._low_level_execute_command(command, executable='/bin/sh')

        result.update(collect(execute, args))
        return hand_off(result, (task_vars or {}).get('inventory_hostname'))
