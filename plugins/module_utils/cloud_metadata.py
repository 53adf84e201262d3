# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Raw answers of a public cloud's instance metadata service, read on the scanned guest.

Asked only when the guest's own DMI strings name the cloud, so a host outside
a cloud never waits on the link-local address. The answers are returned as
text; the engine (sam_engine.topology.cloud) parses them into an instance type
and a dedicated host id.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import urlsplit

# Azure stamps this chassis asset tag on its VMs (an on-premises Hyper-V VM has none).
AZURE_ASSET_TAG = '7783-7084-3265-9085-8269-3286-77'
MAX_ANSWER = 256 * 1024
AWS_PATHS = ('instance-type', 'instance-id', 'placement/host-id', 'placement/availability-zone')
AZURE_QUERY = '/metadata/instance?api-version=2021-12-13'
GCE_QUERY = '/computeMetadata/v1/instance/?recursive=true'


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
    else:
        path, header = (AZURE_QUERY, {'Metadata': 'true'}) if cloud == 'azure' else \
            (GCE_QUERY, {'Metadata-Flavor': 'Google'})
        status, text = _get(base + path, timeout, headers=header)
        if status == 200:
            answers['instance'] = text
        else:
            errors.append('%s: %s %s' % (path, status, text))
    return {'provider': cloud, 'answers': answers, 'errors': errors}
