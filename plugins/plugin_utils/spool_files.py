# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collector callback's spool files: written atomically, a checked package list kept verbatim.

The file layout is the engine's (``sam_engine/ingest/spool.py``): one JSON file
per host under ``hosts/``, named by ``host_file``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import tempfile
import uuid

from ansible.module_utils.common.text.converters import to_text

try:  # about three times faster than json for a host's package list, when installed
    from orjson import loads as _loads, JSONDecodeError as _DecodeError
except ImportError:
    from json import loads as _loads, JSONDecodeError as _DecodeError


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


RAW = '\x00fleetsam-software\x00'  # stands for the checked JSON text while the rest is encoded
RAW_JSON = json.dumps(RAW)


def checked_list(text):
    """``text`` when it is one JSON array (the collector's software_json), else None. It is parsed
    (orjson when installed), not trusted: a host must not be able to shape the spool file."""
    try:
        value = _loads(text)
    except (_DecodeError, TypeError, ValueError):
        return None
    return text if isinstance(value, list) else None


def write_json(path, doc, raw=None):
    """Write a spool file atomically (temporary file and rename); ``raw`` (checked JSON text)
    becomes ``doc['result']['software']`` as it is, without being decoded and encoded again."""
    # json.dumps encodes in one C call; json.dump would write thousands of small chunks (3x slower
    # for a host's package list, on the controller's main thread while results arrive)
    text = json.dumps(doc, default=to_text, separators=(',', ':'))
    if raw is not None:
        if text.count(RAW_JSON) != 1:  # the marker must stand in exactly one place
            raise ValueError('fleetsam: spool marker found in the module result')
        text = text.replace(RAW_JSON, raw)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=os.path.dirname(path))
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.replace(tmp, path)


def plain(result):
    """The module result without Ansible's bookkeeping keys."""
    return dict((k, v) for k, v in result.items() if not k.startswith('_ansible') and k != 'invocation')


def host_file(run_dir, host):
    """The spool file of inventory host ``host`` (the name ``ingest.spool.safe_name`` gives)."""
    safe = re.sub(r'[^A-Za-z0-9_.-]', '_', host) + '-' + uuid.uuid5(uuid.NAMESPACE_DNS, host).hex[:8]
    return os.path.join(run_dir, 'hosts', safe + '.json')


def set_result_key(path, key, value):
    """Add ``key: value`` to the module result of the spooled host file ``path`` (rewritten atomically)."""
    with open(path, 'rb') as handle:
        doc = _loads(handle.read())
    doc['result'][key] = value
    write_json(path, doc)
