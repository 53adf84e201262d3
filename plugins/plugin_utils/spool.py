# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The spool's files on the controller, and the hand-over of a collector's bulky result to them.

The collector callback writes one JSON file per host (``write_json``). A
collector result's bulk (the package list, the raw Windows or macOS inventory)
travels as checked JSON text that is written into the host file as it is,
never decoded and encoded again (``RAW_FIELDS``, ``checked``). ``bulk_doc`` lays
such a file out for the engine: a header with the bulk's size and SHA-256 first,
the bulk last, so the engine can read the rest without parsing the bulk and
skip a package list it stored before (``sam_engine/ingest/bulk.py``).

Hand-over: under ansible-runner and AWX every host's ``runner_on_ok`` event
carries the whole module result (the stdout callback gets its own copy before
any other callback), and AWX stores every event. So while the callback spools a
run it names a folder in ``HANDOFF_ENV``; the collectors' action plugins, in
the controller's worker processes (which inherit it), write the bulk there
(``hand_off``) and return a small reference under ``HANDOFF_KEY`` instead. The
callback reads it back (``take``), checking the name, size and SHA-256. Without
the callback (no folder) the result stays whole, as the module returned it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import os
import re
import tempfile
import uuid

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.fleetsam.sam.plugins.module_utils.pkg_common import software_json

try:  # about three times faster than json for a host's package list, when installed
    from orjson import loads as _loads, JSONDecodeError as _DecodeError
except ImportError:
    from json import loads as _loads, JSONDecodeError as _DecodeError

HANDOFF_ENV = 'FLEETSAM_HANDOFF_DIR'
HANDOFF_KEY = 'fleetsam_handoff'
# result field handed over -> (field the spool keeps it under, JSON type it must be)
RAW_FIELDS = {'software_json': ('software', list), 'windows': ('windows', dict), 'macos': ('macos', dict)}
_KIND = {list: 'array', dict: 'object'}

MARK = '\x00fleetsam-raw\x00'  # stands for the checked JSON text while the rest is encoded
_MARK_JSON = json.dumps(MARK)


class HandoffError(Exception):
    """A hand-over reference that cannot be honoured (missing file, wrong name, size or digest)."""


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def safe_name(host):
    """The host's file name stem: readable, and unique per inventory name."""
    return re.sub(r'[^A-Za-z0-9_.-]', '_', host) + '-' + uuid.uuid5(uuid.NAMESPACE_DNS, host).hex[:8]


def checked(text, kind):
    """True when ``text`` is one JSON value of type ``kind`` (list or dict). It is parsed (orjson
    when installed), not trusted: a host must not be able to shape the spool file."""
    try:
        value = _loads(text)
    except (_DecodeError, TypeError, ValueError):
        return False
    return isinstance(value, kind)


def raw_error(field):
    """The error recorded for a host whose ``field`` is not the JSON it must be."""
    target, kind = RAW_FIELDS[field]
    what = ' of package records' if kind is list else ''
    return '%s is not a JSON %s%s' % (field, _KIND[kind], what)


def write_json(path, doc, raw=None):
    """Write a spool file atomically (temporary file and rename); ``raw`` (checked JSON text)
    replaces the one ``MARK`` in ``doc``, without being decoded and encoded again."""
    # json.dumps encodes in one C call; json.dump would write thousands of small chunks (3x slower
    # for a host's package list, on the controller's main thread while results arrive)
    text = json.dumps(doc, default=to_text, separators=(',', ':'))
    if raw is not None:
        if text.count(_MARK_JSON) != 1:  # the marker must stand in exactly one place
            raise ValueError('fleetsam: spool marker found in the module result')
        text = text.replace(_MARK_JSON, raw)
    _write_bytes(path, text.encode('utf-8'))  # a lone surrogate is a ValueError: the host is recorded failed


def bulk_doc(doc, field, raw):
    """``doc`` (a host file's document whose ``result`` holds the bulk ``raw`` under ``field``) with
    a ``bulk`` header first and the bulk as the last value of ``result``, the last key: the file then
    ends with the bulk's text and two closing braces. A lone surrogate in ``raw`` is a ValueError."""
    data = raw.encode('utf-8')
    result = dict((k, v) for k, v in doc['result'].items() if k != field)
    result[field] = MARK
    out = {'bulk': {'field': field, 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()}}
    out.update((k, v) for k, v in doc.items() if k not in ('bulk', 'result'))
    out['result'] = result
    return out


def host_file(run_dir, host):
    """The spool file of inventory host ``host``."""
    return os.path.join(run_dir, 'hosts', safe_name(host) + '.json')


def set_result_key(path, key, value):
    """Add ``key: value`` to the module result of the spooled host file ``path`` (rewritten atomically)."""
    with open(path, 'rb') as handle:
        doc = json.loads(handle.read().decode('utf-8'))
    doc['result'][key] = value
    doc.pop('bulk', None)  # the bulk is no longer the file's last value
    write_json(path, doc)


def _write_bytes(path, data):
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=os.path.dirname(path))
    with os.fdopen(fd, 'wb') as handle:
        handle.write(data)
    os.replace(tmp, path)


def plain(result):
    """The module result without Ansible's bookkeeping keys."""
    return dict((k, v) for k, v in result.items() if not k.startswith('_ansible') and k != 'invocation')


def hand_off(result, host, directory=None):
    """``result`` with its bulk written to the callback's hand-over folder and replaced by a
    reference (``HANDOFF_KEY``): the package list (``software_json``, or ``software`` as records),
    ``windows`` or ``macos``. Unchanged when no callback spools the run, or the collector failed."""
    result.pop(HANDOFF_KEY, None)  # only this function sets it, never a module
    directory = directory if directory is not None else os.environ.get(HANDOFF_ENV)
    if not host or not directory or not os.path.isdir(directory) or result.get('failed'):
        return result
    if isinstance(result.get('software'), list) and 'software_json' not in result:
        result['software_json'] = software_json(result.pop('software'))
    for field in RAW_FIELDS:
        if field not in result:
            continue
        value = result.pop(field)
        text = value if isinstance(value, str) else json.dumps(value, separators=(',', ':'))
        data = text.encode('utf-8', 'surrogatepass')
        name = '%s-%s.json' % (safe_name(host), uuid.uuid4().hex)
        _write_bytes(os.path.join(directory, name), data)
        result[HANDOFF_KEY] = {'field': field, 'file': name, 'bytes': len(data),
                               'sha256': hashlib.sha256(data).hexdigest()}
        break
    return result


def take(result, host, directory):
    """``(field, text)`` of the bulk ``result`` handed over (its reference removed from ``result``),
    the file deleted; ``None`` when nothing was handed over. Raises ``HandoffError`` for a reference
    that does not name a file this run's collector wrote for ``host``, or a file that differs."""
    ref = result.pop(HANDOFF_KEY, None)
    if ref is None:
        return None
    if not isinstance(ref, dict) or ref.get('field') not in RAW_FIELDS or not directory:
        raise HandoffError('fleetsam: unexpected hand-over reference in the result')
    name = ref.get('file')
    if not isinstance(name, str) or not re.match(r'^%s-[0-9a-f]{32}\.json$' % re.escape(safe_name(host)), name):
        raise HandoffError('fleetsam: hand-over file name %r does not belong to this host' % (name,))
    path = os.path.join(directory, name)
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError as exc:
        raise HandoffError('fleetsam: hand-over file %s unreadable: %s' % (path, exc.strerror))
    os.unlink(path)
    if len(data) != ref.get('bytes') or hashlib.sha256(data).hexdigest() != ref.get('sha256'):
        raise HandoffError('fleetsam: hand-over file %s differs from what the collector wrote' % path)
    return ref['field'], data.decode('utf-8', 'surrogatepass')


def spooled(result, host, directory):
    """A collector's ``result`` as its host file holds it: ``(result, bulk, error)``, ``bulk`` the
    ``(field, checked JSON text)`` that ``bulk_doc`` places or None; the result None and ``error``
    set when the hand-over (from ``directory``) or the JSON text fails its check."""
    result = dict(result)
    try:
        handed = take(result, host, directory)
    except HandoffError as exc:
        return None, None, str(exc)
    if handed is None and 'software_json' in result:  # software_format: json
        handed = ('software_json', result.pop('software_json'))
    if handed is None:
        return result, None, None
    field, raw = handed
    target, kind = RAW_FIELDS[field]
    if not checked(raw, kind):
        return None, None, raw_error(field)
    result[target] = MARK
    return result, (target, raw), None
