#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vcenter_facts
short_description: Return the raw virtualisation topology of a VMware vCenter or ESXi host
version_added: "0.2.0"
description:
  - Connects to the vSphere API of a vCenter Server or a standalone ESXi host with pyVmomi and
    returns its inventory as raw records - datacenters, folders, clusters and standalone compute
    resources, hosts with their CPU packages, cores, threads and model, and virtual machines with
    their BIOS UUID, instance UUID, vCPUs, host, power state and CPU affinity.
  - Reads everything in one property collector retrieval over a container view, paged, so a
    vCenter with ten thousand VMs costs a handful of round trips, not one per object.
  - Returns raw values only, as the API reports them. The fleetsam engine links each VM to the
    guest scanned from inside it, resolves clusters and datacenters and counts host-level licences.
  - Runs on the controller (or any host with pyVmomi), usually with C(delegate_to) C(localhost)
    for each vCenter of an inventory group; the result key is C(vcenter), not C(ansible_facts).
  - Changes nothing.
options:
  hostname:
    description: The vCenter Server or ESXi host name or address.
    type: str
    required: true
  username:
    description: A user with at least read-only rights on the whole inventory.
    type: str
    required: true
  password:
    description: The user's password; keep it in Ansible Vault or the environment, it is never logged.
    type: str
    required: true
  port:
    description: The API's TCP port.
    type: int
    default: 443
  protocol:
    description: C(https) for a real vCenter; C(http) only for a simulator or a proxy on the same machine.
    type: str
    choices: [https, http]
    default: https
  validate_certs:
    description: Check the server's TLS certificate against the controller's trusted authorities.
    type: bool
    default: true
  page_size:
    description: Objects per page of the property collector's answer.
    type: int
    default: 1000
attributes:
  platform:
    description: Runs wherever pyVmomi is installed; the target is the vSphere API.
    support: full
    platforms: posix
extends_documentation_fragment:
  - fleetsam.sam.inventory
requirements:
  - pyVmomi (C(pip install fleetsam[vmware]))
notes:
  - A VM's C(uuid) is its C(config.uuid), the BIOS UUID the guest reads from SMBIOS (VMware shows the
    first three fields byte-swapped there); C(instance_uuid) is vCenter's own identifier of the VM.
  - Templates are returned with C(template=true); the engine leaves them out.
seealso:
  - module: fleetsam.sam.software_facts
author:
  - fleetsam developers (@fleetsam)
'''

EXAMPLES = r'''
- name: Virtualisation topology of every vCenter of the inventory group vcenters
  fleetsam.sam.vcenter_facts:
    hostname: "{{ ansible_host | default(inventory_hostname) }}"
    username: "{{ fleetsam_vcenter_username }}"
    password: "{{ fleetsam_vcenter_password }}"
  delegate_to: localhost

- name: A lab ESXi host with a self-signed certificate
  fleetsam.sam.vcenter_facts:
    hostname: esxi-lab.example.com
    username: readonly@vsphere.local
    password: "{{ lookup('ansible.builtin.env', 'VCENTER_PASSWORD') }}"
    validate_certs: false
  delegate_to: localhost
'''

RETURN = r'''
vcenter:
  description: The raw inventory of the vSphere endpoint.
  returned: success
  type: dict
  contains:
    hostname:
      description: The endpoint as given in O(hostname).
      returned: always
      type: str
      sample: vc01.example.com
    about:
      description: The endpoint's product as the API describes itself.
      returned: always
      type: dict
      sample: {name: VMware vCenter Server, version: "8.0.2", api_type: VirtualCenter, instance_uuid: "dbed6e0c-..."}
    datacenters:
      description: Each datacenter's managed object id, name and parent folder.
      returned: always
      type: list
      elements: dict
      sample: [{moid: datacenter-2, name: DC0, parent: group-d1}]
    folders:
      description: Each folder's managed object id, name and parent, to place clusters in their datacenter.
      returned: always
      type: list
      elements: dict
      sample: [{moid: group-h4, name: host, parent: datacenter-2}]
    compute_resources:
      description: Clusters (C(type=ClusterComputeResource)) and standalone hosts' compute resources (C(type=ComputeResource)).
      returned: always
      type: list
      elements: dict
      sample: [{moid: domain-c29, name: DC0_C0, type: ClusterComputeResource, parent: group-h4}]
    hosts:
      description: Each ESXi host with its parent compute resource and C(summary.hardware) CPU figures.
      returned: always
      type: list
      elements: dict
      sample:
        - {moid: host-34, name: DC0_C0_H0, parent: domain-c29, uuid: "dcf7fb3c-4a2e-5e2f-9e88-f05ee35ad3fb",
           vendor: VMware, model: "VMware Virtual Platform", cpu_model: "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
           sockets: 2, cores: 24, threads: 48, connection_state: connected}
    vms:
      description: Each virtual machine (templates included, flagged) with its host and CPU configuration.
      returned: always
      type: list
      elements: dict
      sample:
        - {moid: vm-51, name: DC0_C0_RP0_VM0, uuid: "265104de-1472-547c-b873-6dc7883fb6cb",
           instance_uuid: "b4689bed-97f0-5bcd-8a4c-07477cc8f06f", vcpus: 2, host: host-34, power_state: poweredOn,
           cpu_affinity: [0, 1], template: false}
'''

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl
except ImportError:
    PYVMOMI_ERROR = traceback.format_exc()
else:
    PYVMOMI_ERROR = None

# What is read of each kind of object, and the record key each property lands under.
PROPERTIES = {
    'Datacenter': (('name', 'name'), ('parent', 'parent')),
    'Folder': (('name', 'name'), ('parent', 'parent')),
    'ComputeResource': (('name', 'name'), ('parent', 'parent')),
    'HostSystem': (('name', 'name'), ('parent', 'parent'), ('summary.hardware', 'hardware'),
                   ('runtime.connectionState', 'connection_state')),
    'VirtualMachine': (('name', 'name'), ('config.uuid', 'uuid'), ('config.instanceUuid', 'instance_uuid'),
                       ('config.hardware.numCPU', 'vcpus'), ('runtime.host', 'host'),
                       ('runtime.powerState', 'power_state'), ('config.cpuAffinity', 'cpu_affinity'),
                       ('config.template', 'template')),
}
LISTS = {'Datacenter': 'datacenters', 'Folder': 'folders', 'ClusterComputeResource': 'compute_resources',
         'ComputeResource': 'compute_resources', 'HostSystem': 'hosts', 'VirtualMachine': 'vms'}


def plain(value):
    """A property value as JSON: managed objects by their id, enums as text, affinity as its CPU list."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, vim.ManagedEntity):
        return value._moId
    if isinstance(value, vim.vm.AffinityInfo):
        return [int(cpu) for cpu in (value.affinitySet or ())]
    if isinstance(value, vim.host.Summary.HardwareSummary):
        return {'uuid': value.uuid, 'vendor': value.vendor, 'model': value.model, 'cpu_model': value.cpuModel,
                'sockets': value.numCpuPkgs, 'cores': value.numCpuCores, 'threads': value.numCpuThreads}
    return str(value)


def record(obj):
    """One retrieved object as a flat record: its id, its kind and each property read."""
    kind = type(obj.obj).__name__.split('.')[-1]
    item = {'moid': obj.obj._moId}
    if kind in ('ClusterComputeResource', 'ComputeResource'):
        item['type'] = kind
    names = dict(PROPERTIES['ComputeResource' if kind == 'ClusterComputeResource' else kind])
    for name in names.values():
        item[name] = None
    for prop in obj.propSet or ():
        item[names[prop.name]] = plain(prop.val)
    hardware = item.pop('hardware', None)
    if kind == 'HostSystem':
        item.update(hardware or dict.fromkeys(('uuid', 'vendor', 'model', 'cpu_model', 'sockets', 'cores', 'threads')))
    return kind, item


def retrieve(content, page_size):
    """Every object below the root folder, read in one paged property collector retrieval over a container view."""
    kinds = [getattr(vim, name) for name in PROPERTIES]
    view = content.viewManager.CreateContainerView(content.rootFolder, kinds, True)
    try:
        traverse = vmodl.query.PropertyCollector.TraversalSpec(name='view', type=vim.view.ContainerView,
                                                               path='view', skip=False)
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=getattr(vim, name), pathSet=[path for path, key in props])
                     for name, props in PROPERTIES.items()])
        options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=page_size)
        collector = content.propertyCollector
        page = collector.RetrievePropertiesEx([spec], options)
        while page is not None:
            yield from page.objects or ()
            page = collector.ContinueRetrievePropertiesEx(page.token) if page.token else None
    finally:
        view.Destroy()


def inventory(content, hostname, page_size):
    about = content.about
    result = {'hostname': hostname,
              'about': {'name': about.name, 'full_name': about.fullName, 'version': about.version,
                        'build': about.build, 'api_type': about.apiType, 'instance_uuid': about.instanceUuid},
              'datacenters': [], 'folders': [], 'compute_resources': [], 'hosts': [], 'vms': []}
    for obj in retrieve(content, page_size):
        kind, item = record(obj)
        result[LISTS[kind]].append(item)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hostname=dict(type='str', required=True),
            username=dict(type='str', required=True),
            password=dict(type='str', required=True, no_log=True),
            port=dict(type='int', default=443),
            protocol=dict(type='str', choices=['https', 'http'], default='https'),
            validate_certs=dict(type='bool', default=True),
            page_size=dict(type='int', default=1000),
        ),
        supports_check_mode=True,
    )
    if PYVMOMI_ERROR:
        module.fail_json(msg=missing_required_lib('pyVmomi', url='https://pypi.org/project/pyvmomi/'),
                         exception=PYVMOMI_ERROR)
    params = module.params
    try:
        service = SmartConnect(host=params['hostname'], user=params['username'], pwd=params['password'],
                               port=params['port'], protocol=params['protocol'],
                               disableSslCertValidation=not params['validate_certs'])
    except vim.fault.InvalidLogin:
        module.fail_json(msg='vcenter %s: login refused for user %s' % (params['hostname'], params['username']))
    except Exception as exc:  # socket, TLS and HTTP errors of every kind: one clear message
        module.fail_json(msg='vcenter %s: cannot connect: %s' % (params['hostname'], exc))
    try:
        result = inventory(service.RetrieveContent(), params['hostname'], params['page_size'])
    except vmodl.MethodFault as exc:
        module.fail_json(msg='vcenter %s: inventory not read: %s' % (params['hostname'], exc.msg))
    finally:
        Disconnect(service)
    module.exit_json(changed=False, vcenter=result)


if __name__ == '__main__':
    main()
