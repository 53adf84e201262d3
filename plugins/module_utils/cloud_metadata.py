# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw answers of a public cloud's instance metadata service, read on the scanned guest.

Asked only when the guest's own DMI strings name the cloud, so a host outside
a cloud never waits on the link-local address. The answers are returned as
text; the engine (sam_engine.topology.cloud) parses them into an instance type
and a dedicated host id. Only those facts leave the guest: the services also
hold secrets (Google's instance attributes carry startup scripts, SSH keys and
GKE's kubelet key; Azure's tags are free text), so Google is asked for the
machine type alone and Azure's answer is cut to its size and host before it
is returned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
from urllib.parse import urlsplit

# Azure stamps this chassis asset tag on its VMs (an on-premises Hyper-V VM has none).
AZURE_ASSET_TAG = '7783-7084-3265-9085-8269-3286-77'
MAX_ANSWER = 256 * 1024
AWS_PATHS = ('instance-type', 'instance-id', 'placement/host-id', 'placement/availability-zone')
AZURE_QUERY = '/metadata/instance?api-version=2021-12-13'
GCE_QUERY = '/computeMetadata/v1/instance/machine-type'


def cloud_of(dmi):
    """The cloud the DMI strings name ('aws', 'azure', 'gce'), or None: the gate before any request.
    (The engine's own detect_cloud derives the reported fact; this only decides whether to ask.)"""
    def text(name):
        return (dmi.get(name) or '').strip().lower()
    if text('sys_vendor') == 'amazon ec2' or text('bios_version').endswith('.amazon'):
        return 'aws'
    if text('chassis_asset_tag') == AZURE_ASSET_TAG:
        return 'azure'
    if text('product_name') == 'google compute engine':
        return 'gce'
    return None


def _get(url, timeout, method='GET', headers=None):
    """(status, text) of one request. http.client reads no proxy settings and follows no redirect;
    it is imported here, on a cloud guest only (ansible's urls would cost every host its import)."""
    from http import client
    parts = urlsplit(url)
    connection = (client.HTTPSConnection if parts.scheme == 'https' else client.HTTPConnection)(
        parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + ('?' + parts.query if parts.query else ''), headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(MAX_ANSWER).decode('utf-8', 'replace')
    except Exception as exc:  # timeouts, refusals, broken answers
        return None, str(exc)[:300]
    finally:
        connection.close()


def query(cloud, base_url, timeout):
    """{'provider', 'answers': {name: text}, 'errors': [...]} from the metadata service at ``base_url``."""
    base = base_url.rstrip('/')
    answers, errors = {}, []
    if cloud == 'aws':
        # IMDSv2: a session token first (works whether or not v1 is still allowed)
        status, token = _get(base + '/latest/api/token', timeout, method='PUT',
                             headers={'X-aws-ec2-metadata-token-ttl-seconds': '60'})
        if status != 200:
            return {'provider': cloud, 'answers': answers, 'errors': ['token: %s %s' % (status, token)]}
        for path in AWS_PATHS:
            status, text = _get(base + '/latest/meta-data/' + path, timeout,
                                headers={'X-aws-ec2-metadata-token': token})
            if status == 200:
                answers[path] = text
            elif status != 404:  # 404: not there (placement/host-id off a dedicated host)
                errors.append('%s: %s %s' % (path, status, text))
    elif cloud == 'azure':
        status, text = _get(base + AZURE_QUERY, timeout, headers={'Metadata': 'true'})
        if status == 200:
            answers['instance'] = _azure_kept(text)
        else:
            errors.append('%s: %s %s' % (AZURE_QUERY, status, text))
    else:
        status, text = _get(base + GCE_QUERY, timeout, headers={'Metadata-Flavor': 'Google'})
        if status == 200:
            answers['machine-type'] = text
        else:
            errors.append('%s: %s %s' % (GCE_QUERY, status, text))
    return {'provider': cloud, 'answers': answers, 'errors': errors}


def _azure_kept(text):
    """Azure's answer cut to what the engine reads (compute: vmSize, host.id, hostGroup.id), as JSON text;
    an answer that is no JSON object is returned as it is (the engine reports it as unreadable)."""
    try:
        compute = json.loads(text).get('compute')
    except (ValueError, AttributeError):
        return text[:300]
    if not isinstance(compute, dict):
        return json.dumps({})
    kept = dict((k, compute[k]) for k in ('vmSize',) if k in compute)
    for part in ('host', 'hostGroup'):
        if isinstance(compute.get(part), dict) and 'id' in compute[part]:
            kept[part] = {'id': compute[part]['id']}
    return json.dumps({'compute': kept})
