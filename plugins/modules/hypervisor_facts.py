#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: hypervisor_facts
short_description: Read a libvirt/KVM or Proxmox VE host's CPUs and its VMs for host-level licence metrics
version_added: "0.2.0"
description:
  - Runs read-only hypervisor commands on the host and returns their raw output under the plain
    result key C(hypervisor), never as C(ansible_facts). The fleetsam engine derives the physical
    server (sockets, cores, threads, CPU model, hardware UUID) and each VM (BIOS UUID, vCPUs,
    pinned host CPUs, state) from them, and links every scanned guest to its VM by BIOS UUID.
  - C(libvirt) runs C(virsh -r) (a read-only connection) C(hostname), C(nodeinfo), C(capabilities),
    C(list --all --uuid) and, per domain, C(dominfo) and C(dumpxml).
  - C(proxmox) runs C(qm list), C(qm config VMID) per VM, and C(pvesh get) C(/nodes),
    C(/nodes/NODE/status) and C(/cluster/status) with C(--output-format json).
  - Only the parts the engine reads leave the host, which also keeps secrets out of the
    result. Of C(capabilities) the C(<host>) element's C(<uuid>) and C(<cpu>) model, vendor, arch
    and topology; of each domain's XML its C(<name>), C(<uuid>), C(<vcpu>) and C(<cputune>) elements
    (never graphics passwords or disk credentials); of C(qm config) the C(name), C(smbios1),
    C(sockets), C(cores), C(vcpus) and C(affinity) lines.
  - C(virsh vcpupin) is not run, as the C(<cputune>) and C(<vcpu cpuset>) of the domain XML hold the
    same pinning.
  - A per-VM command that fails is reported in C(errors) and the VM is still listed when its
    other outputs were read; the module fails when the hypervisor cannot be asked at all
    (no C(virsh) or C(qm), or C(nodeinfo) or C(qm list) fails).
  - Changes nothing on the host. Run it after M(fleetsam.sam.software_facts) on the same host, and the
    C(fleetsam.sam.collector) callback stores both results as the host's one record. The
    C(fleetsam.sam.software_inventory) role runs both in one task, M(fleetsam.sam.collect), on the
    C(hypervisors) group's hosts.
options:
  platform:
    description:
      - Which hypervisor the host runs.
    type: str
    choices: [libvirt, proxmox]
    default: libvirt
  uri:
    description:
      - The libvirt connection URI (C(virsh -c)); ignored for C(proxmox).
      - The tests use libvirt's built-in test driver, C(test:///path/to/node.xml).
    type: str
    default: qemu:///system
  cluster:
    description:
      - For C(libvirt) hosts whose VMs can live-migrate between each other (shared storage), a name
        shared by all of them; the engine counts every host of that name as the cluster a VM can move
        to (soft partitioning). Unset, a libvirt host is standalone. Proxmox reports its own cluster.
    type: str
  timeout:
    description:
      - Seconds after which one command is stopped (reported in C(errors)).
    type: int
    default: 60
attributes:
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
extends_documentation_fragment:
  - fleetsam.sam.inventory
notes:
  - C(virsh -r) needs a user allowed to open a read-only connection to the libvirt daemon, for
    C(qemu:///system) a member of the C(libvirt) group (or root) on Debian and Ubuntu.
  - C(qm) and C(pvesh) need root on the Proxmox node (C(become=true) for another SSH user).
seealso:
  - module: fleetsam.sam.software_facts
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Read a KVM host's CPUs and domains
  fleetsam.sam.hypervisor_facts:
  register: kvm

- name: Two KVM hosts sharing storage, VMs migrate between them
  fleetsam.sam.hypervisor_facts:
    uri: qemu:///system
    cluster: prod-kvm

- name: A Proxmox VE node
  fleetsam.sam.hypervisor_facts:
    platform: proxmox
  become: true

- name: libvirt's test driver (the integration tests)
  fleetsam.sam.hypervisor_facts:
    uri: test:///srv/fleetsam/node.xml
'''

RETURN = r'''
hypervisor:
  description:
    - Raw outputs, read by the fleetsam engine (C(sam_engine/topology/)). Keys depend on C(platform).
    - C(libvirt) - C(platform), C(uri), C(cluster), C(hostname), C(nodeinfo) (text), C(capabilities)
      (XML, the C(<host>) part), C(domains) (per domain C(uuid), C(dominfo) text and C(xml), the
      elements listed above), C(errors).
    - C(proxmox) - C(platform), C(node), C(qm_list) (text), C(vms) (per VM C(vmid) and C(config), the
      lines listed above), C(nodes), C(node_status) and C(cluster_status) (pvesh JSON text), C(errors).
    - C(errors) lists each command that failed, with C(command), C(rc) and C(stderr).
  returned: success
  type: dict
  sample:
    platform: libvirt
    uri: qemu:///system
    cluster: null
    hostname: kvm01
    nodeinfo: "CPU model:           x86_64\nCPU(s):              32\nCPU socket(s):       1\n..."
    capabilities: "<host><uuid>4c4c4544-0042-3510-8051-b4c04f4a4d32</uuid><cpu><arch>x86_64</arch>...</cpu></host>"
    domains:
      - uuid: 8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f
        dominfo: "Id:             1\nName:           db01\nState:          running\nCPU(s):         4\n..."
        xml: "<domain><name>db01</name><uuid>8f1c2d3e-4a5b-4c6d-9e7f-0a1b2c3d4e5f</uuid><vcpu>4</vcpu>...</domain>"
    errors: []
'''

import platform as os_platform
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule

DOMAIN_ELEMENTS = ('name', 'uuid', 'vcpu', 'cputune')
HOST_CPU_ELEMENTS = ('arch', 'model', 'vendor', 'topology')
QM_CONFIG_KEYS = ('name', 'smbios1', 'sockets', 'cores', 'vcpus', 'affinity')


class Runner(object):
    """Runs commands and notes the ones that fail in ``errors``."""

    def __init__(self, module):
        self.module = module
        self.errors = []

    def __call__(self, argv):
        binary = self.module.get_bin_path(argv[0])
        if binary is None:
            self.errors.append({'command': ' '.join(argv), 'rc': 127, 'stderr': '%s: not found' % argv[0]})
            return None
        timeout = ['timeout', str(self.module.params['timeout'])] if self.module.get_bin_path('timeout') else []
        rc, out, err = self.module.run_command(timeout + [binary] + list(argv[1:]), environ_update={'LC_ALL': 'C'})
        if rc != 0:
            self.errors.append({'command': ' '.join(argv), 'rc': rc, 'stderr': err.strip()[-2000:]})
            return None
        return out


def domain_part(xml_text):
    """The domain XML cut to ``DOMAIN_ELEMENTS``; None when it is not XML (the full text could hold secrets)."""
    try:
        domain = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    trimmed = ET.Element('domain')
    trimmed.extend(child for child in domain if child.tag in DOMAIN_ELEMENTS)
    return ET.tostring(trimmed, encoding='unicode')


def host_part(capabilities):
    """``<host>`` of the capabilities with its ``<uuid>`` and the ``<cpu>`` children the engine reads."""
    try:
        host = ET.fromstring(capabilities).find('host')
    except ET.ParseError:
        return capabilities  # raw: the engine reports what it cannot read
    if host is None:
        return None
    trimmed = ET.Element('host')
    for child in host:
        if child.tag == 'uuid':
            trimmed.append(child)
        elif child.tag == 'cpu':
            cpu = ET.SubElement(trimmed, 'cpu')
            cpu.extend(c for c in child if c.tag in HOST_CPU_ELEMENTS)
    return ET.tostring(trimmed, encoding='unicode')


def libvirt(module, run):
    virsh = ['virsh', '-r', '-c', module.params['uri']]
    nodeinfo = run(virsh + ['nodeinfo'])
    if nodeinfo is None:
        module.fail_json(msg='virsh nodeinfo failed: the libvirt connection %s cannot be read' % module.params['uri'],
                         errors=run.errors)
    capabilities = run(virsh + ['capabilities'])
    hostname = run(virsh + ['hostname'])
    domains = []
    # the UUIDs are needed to know which domains to ask about: the engine reads them again from each domain
    for uuid in (run(virsh + ['list', '--all', '--uuid']) or '').split():
        dominfo = run(virsh + ['dominfo', uuid])
        xml = run(virsh + ['dumpxml', uuid])
        domains.append({'uuid': uuid, 'dominfo': dominfo,
                        'xml': domain_part(xml) if xml is not None else None})
    return {'platform': 'libvirt', 'uri': module.params['uri'], 'cluster': module.params['cluster'],
            'hostname': hostname.strip() if hostname else None, 'nodeinfo': nodeinfo,
            'capabilities': host_part(capabilities) if capabilities else None, 'domains': domains}


def proxmox(module, run):
    qm_list = run(['qm', 'list'])
    if qm_list is None:
        module.fail_json(msg='qm list failed: this host cannot be read as a Proxmox VE node', errors=run.errors)
    node = os_platform.node().split('.')[0]  # Proxmox names a node by its short host name
    vms = []
    # the VMIDs (first column) are needed to know which VMs to ask about
    for line in qm_list.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            config = run(['qm', 'config', fields[0]])
            lines = [ln for ln in (config or '').splitlines() if ln.partition(':')[0].strip() in QM_CONFIG_KEYS]
            vms.append({'vmid': fields[0], 'config': '\n'.join(lines) if config is not None else None})
    pvesh = ['--output-format', 'json']
    return {'platform': 'proxmox', 'node': node, 'qm_list': qm_list, 'vms': vms,
            'nodes': run(['pvesh', 'get', '/nodes'] + pvesh),
            'node_status': run(['pvesh', 'get', '/nodes/%s/status' % node] + pvesh),
            'cluster_status': run(['pvesh', 'get', '/cluster/status'] + pvesh)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            platform=dict(type='str', default='libvirt', choices=['libvirt', 'proxmox']),
            uri=dict(type='str', default='qemu:///system'),
            cluster=dict(type='str'),
            timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    run = Runner(module)
    raw = libvirt(module, run) if module.params['platform'] == 'libvirt' else proxmox(module, run)
    raw['errors'] = run.errors
    module.exit_json(changed=False, hypervisor=raw)


if __name__ == '__main__':
    main()
