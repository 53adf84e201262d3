#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: macos_software_facts
short_description: List the software installed on a Mac, agentless and without Python on the Mac
version_added: "0.1.0"
description:
  - Inventories a macOS host over SSH for fleetsam - applications, installer
    package receipts, Homebrew formulae and casks, ISO/IEC 19770-2 SWID tags -
    and the raw host facts licences count (CPU packages, cores, threads,
    memory, VM markers, platform UUID and serial, OS version).
  - Since macOS 12.3 C(/usr/bin/python3) is only an installer stub, so this is
    an action plugin. It runs on the controller and sends a fixed set of
    POSIX C(sh) commands to the Mac, like M(ansible.builtin.raw) does. Nothing
    is copied to the Mac and nothing on it is changed.
  - The outputs are returned as raw text, one section per command group, in
    the result key C(macos) (not C(ansible_facts)). The fleetsam engine parses
    them on the controller (C(sam_engine.platforms.macos)) when the
    C(fleetsam.sam.collector) callback processes the run.
  - "Applications come from C(system_profiler -xml SPApplicationsDataType).
    When it fails, times out or its output is cut at O(max_output_bytes), each
    C(*.app/Contents/Info.plist) below O(app_dirs) is read instead
    (C(plutil -convert xml1))."
  - "Installer receipts come from C(pkgutil --pkgs) and
    C(pkgutil --pkg-info-plist ID) (or the C(/var/db/receipts/*.plist) files
    when pkgutil is missing)."
  - "Homebrew is read from its own files: each keg's C(INSTALL_RECEIPT.json)
    under C(PREFIX/Cellar), each C(PREFIX/Caskroom/TOKEN/VERSION) directory
    and cask receipt. C(brew) itself is not run by default: it refuses to run
    as root."
  - "Host facts: C(sysctl -n) of hw.packages, hw.physicalcpu, hw.logicalcpu,
    hw.memsize, hw.model, machdep.cpu.brand_string, machdep.cpu.vendor and
    kern.hv_vmm_present, each separately (keys missing on Apple Silicon are
    left empty); C(ioreg -rd1 -c IOPlatformExpertDevice); C(sw_vers);
    C(hostname); C(uname -s -r -m)."
  - A section that fails is a warning. The task fails when no software
    section could be read, or when the host is not a Mac (C(uname -s) is not
    Darwin).
options:
  sources:
    description:
      - Software sections to read. V(auto) reads all of them.
    type: list
    elements: str
    choices: [auto, apps, pkgutil, homebrew, swid]
    default: [auto]
  apps_method:
    description:
      - How applications are found.
      - V(auto) runs system_profiler and reads the Info.plist files only when
        system_profiler gave no usable output.
      - V(both) always runs both; the engine then uses the bundle id of each
        Info.plist as the package id of the system_profiler record at the same path.
    type: str
    choices: [auto, system_profiler, info_plist, both]
    default: auto
  system_profiler_timeout:
    description:
      - Seconds after which system_profiler is killed (with its children).
    type: int
    default: 300
  app_dirs:
    description:
      - Directories searched (3 levels deep) for C(*.app) bundles by the Info.plist method.
      - A path component that is exactly C(*) is a shell glob; everything else is quoted.
    type: list
    elements: str
    default: [/Applications, /System/Applications, /Users/*/Applications]
  homebrew_method:
    description:
      - V(receipts) reads Homebrew's receipt files and works as root.
      - V(brew_info) runs C(PREFIX/bin/brew info --json=v2 --installed) for the
        first prefix that has brew; use it only when connecting as the user who
        owns the Homebrew install, without become.
    type: str
    choices: [receipts, brew_info]
    default: receipts
  homebrew_prefixes:
    description:
      - Homebrew prefixes (Apple Silicon, then Intel).
    type: list
    elements: str
    default: [/opt/homebrew, /usr/local]
  swid_dirs:
    description:
      - Directories searched (4 levels deep) for C(*.swidtag) files; at most
        1000 tags of at most 1 MiB each are read.
    type: list
    elements: str
    default: [/Library/Application Support]
  users:
    description:
      - Also return who uses the Mac in RV(macos.users) (C(dscl) accounts and C(last) logins),
        for named-user licences.
    type: bool
    default: true
  max_output_bytes:
    description:
      - Bound on the output of each section, cut on the Mac with C(head -c).
        A cut section is reported as C(truncated).
    type: int
    default: 67108864
attributes:
  action:
    description: Runs as an action plugin on the controller.
    support: full
    details: All the work is done by the action plugin; no module code is sent to the host.
  async:
    description: Cannot run asynchronously.
    support: none
  platform:
    description: Target operating systems.
    support: full
    platforms: macos
notes:
  - Needs only C(/bin/sh) and stock macOS commands on the Mac; no Python.
  - Run it with become (root) to see every user's C(~/Applications) and all receipts.
  - In a play with C(gather_facts=false), mark Mac hosts with the inventory
    variable C(fleetsam_platform=macos) so the C(fleetsam.sam.software_inventory)
    role picks this collector (with facts, C(ansible_os_family=Darwin) does).
  - The task keyword C(timeout) bounds the whole task.
  - The same application can appear twice, as a C(macos-app) and as a
    C(brew-cask) record; the engine's normalisation decides what counts.
seealso:
  - module: fleetsam.sam.software_facts
  - module: ansible.builtin.raw
extends_documentation_fragment:
  - fleetsam.sam.inventory
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Inventory a Mac (no Python needed on it)
  fleetsam.sam.macos_software_facts:
  become: true
  register: software_inventory_result

- name: Only applications, from the Info.plist files, and Homebrew
  fleetsam.sam.macos_software_facts:
    sources: [apps, homebrew]
    apps_method: info_plist
    app_dirs: [/Applications, /Users/*/Applications]

- name: Homebrew through brew itself, connecting as the user owning it
  fleetsam.sam.macos_software_facts:
    sources: [homebrew]
    homebrew_method: brew_info
'''

RETURN = r'''
fleetsam_handoff:
  description:
    - Set instead of C(macos) while the C(fleetsam.sam.collector) callback spools the run; the
      controller-side action plugin wrote C(macos) to the callback's hand-over folder, which reads it
      back, so a job event under ansible-runner or AWX stays small.
  returned: when the fleetsam.sam.collector callback is enabled and the collector did not fail
  type: dict
  sample: {field: macos, file: web1-0a1b2c3d-4e5f60718293a4b5c6d7e8f901234567.json, bytes: 245114, sha256: 9f86d081884c7d65...}
macos:
  description:
    - Raw outputs, one entry per section that ran, parsed by the fleetsam engine.
    - Sections not selected by O(sources), and C(info_plist) when O(apps_method=auto)
      and system_profiler succeeded, are absent.
  returned: always
  type: dict
  contains:
    format:
      description: Version of this result shape.
      type: int
      sample: 1
    host:
      description:
        - Host facts. RV(macos.host) holds the outputs of several
          commands, each after a C(#fleetsam-cmd NAME) line; NAME is
          C(sysctl) (C(key=value) lines, empty value when the key is missing),
          C(ioreg), C(sw_vers), C(hostname) or C(uname).
        - Like every section, a dict with the keys C(command) (the sh command
          run), C(rc), C(stdout), C(stderr) (last 4000 characters),
          C(truncated) (stdout reached O(max_output_bytes)) and C(timed_out).
      type: dict
      returned: always
      sample:
        command: "{ printf '#fleetsam-cmd sysctl\\n' ... } | head -c 67108864"
        rc: 0
        stdout: "#fleetsam-cmd sysctl\nhw.packages=1\nhw.physicalcpu=8\nhw.logicalcpu=8\n...\n#fleetsam-cmd uname\nDarwin 23.4.0 arm64\n"
        stderr: ""
        truncated: false
        timed_out: false
    users:
      description:
        - Who uses the Mac - C(dscl . -list /Users UniqueID) (one C(name uid) line per
          account), C(last) (its first 5000 lines) and C(date -u +%s) (the Mac's clock,
          which places the year-less dates of C(last)), each after a C(#fleetsam-cmd NAME) line.
          The engine decides which accounts are people (UID 501 and up, no C(_) prefix).
      type: dict
      returned: when O(users=true)
      sample:
        stdout: "#fleetsam-cmd dscl\njdoe 501\n_www 70\n#fleetsam-cmd last\njdoe console Mon Jan  5 09:12 still logged in\n..."
    system_profiler:
      description:
        - C(system_profiler -nospawn -xml -detailLevel full SPApplicationsDataType)
          output (plist XML), with its own exit code in C(rc) (137 and
          C(timed_out=true) when killed at O(system_profiler_timeout)).
      type: dict
      returned: when applications are read and O(apps_method) is not V(info_plist)
    info_plist:
      description:
        - Per bundle, a C(#fleetsam-file APP_PATH) line, then its Info.plist as
          XML (or base64 when plutil could not convert it).
      type: dict
      returned: when the Info.plist method ran
    pkgutil:
      description:
        - Per package id, a C(#fleetsam-file ID) line then the
          C(pkgutil --pkg-info-plist) XML (keys pkgid, pkg-version,
          install-location, install-time, volume); without pkgutil, per receipt
          file a C(#fleetsam-file PATH) line then the file as base64.
      type: dict
      returned: when O(sources) selects it
    homebrew:
      description:
        - C(#fleetsam-file PATH) then the JSON of each C(Cellar/NAME/VERSION/INSTALL_RECEIPT.json)
          and C(Caskroom/TOKEN/.metadata/INSTALL_RECEIPT.json); a
          C(#fleetsam-dir PATH) line per C(Caskroom/TOKEN/VERSION) directory.
      type: dict
      returned: when O(sources) selects it and O(homebrew_method=receipts)
    brew_info:
      description: Output of C(brew info --json=v2 --installed); C(rc) is brew's (127 when no brew was found).
      type: dict
      returned: when O(sources) selects it and O(homebrew_method=brew_info)
    swid:
      description: Per tag, a C(#fleetsam-file PATH) line then the tag file as base64 (tags may be UTF-16).
      type: dict
      returned: when O(sources) selects it
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetsam.sam.plugins.module_utils.macos_args import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='fleetsam.sam.macos_software_facts runs as an action plugin on the controller; '
                         'this module file only documents it and must not be run on a host')


if __name__ == '__main__':
    main()
