# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetsam contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ISO/IEC 19770-2 software identification (SWID) tag parser.

Reads ``SoftwareIdentity`` tags of the 2015 schema, of the pre-final 2014
schema (``uniqueId`` instead of ``tagId``) and of no namespace, plus the
legacy 2008/2009 ``software_identification_tag`` format.  Signed tags are read
like any other (the enveloped ``Signature`` is ignored, not verified).  A text
holding many concatenated tags is split into single documents first.

Runs on the scanned host inside an Ansible module: standard library only,
Python 3.6 compatible.  A malformed tag yields an error value
``{'path': ..., 'reason': ...}``, never an exception escaping the scan.
The engine reads the tags that the Windows and macOS collectors send raw with
its own parser (``sam_engine/platforms/swid.py``, not shipped to hosts);
tests/unit/test_swid.py checks that both read every tag alike.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import codecs
import os
import re
import xml.etree.ElementTree as ET

SWID_DIRS = ('/usr/share/swidtag', '/usr/lib/swidtag')
SWID_SUFFIX = '.swidtag'

_SCHEMA_YEAR_RE = re.compile(r'/19770/-2/(\d{4})/')
_ROOT_NAMES = r'(?:SoftwareIdentity|software_identification_tag)'
_DOC_START_RE = re.compile(r'(?:<\?xml[^>]*\?>\s*)?<(?:[\w.-]+:)?' + _ROOT_NAMES + r'(?=[\s/>])')
_DOC_END_RE = re.compile(r'</(?:[\w.-]+:)?' + _ROOT_NAMES + r'\s*>')


class SwidTagError(ValueError):
    """A document is not a usable SWID tag."""


def split_swid_documents(text):
    """Split text holding one or more concatenated tags into single XML documents.

    A document starts at a root start tag (with its optional XML declaration)
    and ends at the last root end tag before the next document; text between
    documents is dropped.
    """
    starts = [match.start() for match in _DOC_START_RE.finditer(text)]
    documents = []
    for index, start in enumerate(starts):
        chunk = text[start:starts[index + 1] if index + 1 < len(starts) else len(text)]
        ends = [match.end() for match in _DOC_END_RE.finditer(chunk)]
        documents.append(chunk[:ends[-1]] if ends else chunk.strip())
    return documents


def _local(tag):
    """Return the local part of a ``{namespace}local`` tag."""
    return tag.rsplit('}', 1)[-1]


def _namespace(tag):
    """Return the namespace of a ``{namespace}local`` tag, or None."""
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else None


def _flag(value):
    """Read an xsd:boolean attribute (absent means False)."""
    return (value or '').strip().lower() in ('true', '1')


def _nonempty(value):
    """Return stripped ``value``, or None when empty."""
    value = (value or '').strip()
    return value or None


def _record(name, version, tag_id, location, arch, vendor, extra):
    """Build a record following the package record contract."""
    return {'source': 'swid', 'name': name, 'version': version, 'arch': arch, 'vendor': vendor,
            'install_time': None, 'package_id': tag_id, 'location': location, 'extra': extra}


def _schema(namespace):
    """Return the schema year of a 19770-2 namespace ('2015', ...), None for no namespace."""
    if namespace is None:
        return None
    match = _SCHEMA_YEAR_RE.search(namespace)
    if not match:
        raise SwidTagError('unsupported namespace %s' % namespace)
    return match.group(1)


def _parse_software_identity(root, location):
    """Map a 2014/2015 ``SoftwareIdentity`` element to a record."""
    namespace = _namespace(root.tag)
    tag_id = _nonempty(root.get('tagId') or root.get('uniqueId'))
    if not tag_id:
        raise SwidTagError('SoftwareIdentity has no tagId')
    entities, meta = {}, {}
    for child in root:
        if _namespace(child.tag) != namespace:
            continue
        if _local(child.tag) == 'Entity':
            for role in (child.get('role') or '').lower().split():
                entities.setdefault(role, child)
        elif _local(child.tag) == 'Meta':
            for key, value in child.attrib.items():
                meta.setdefault(key, value)

    def entity(role, attribute):
        element = entities.get(role)
        return _nonempty(element.get(attribute)) if element is not None else None

    entitlement = meta.get('entitlementDataRequired')
    extra = {
        'schema': _schema(namespace),
        'version_scheme': _nonempty(root.get('versionScheme')),
        'supplemental': _flag(root.get('supplemental')),
        'patch': _flag(root.get('patch')),
        'corpus': _flag(root.get('corpus')),
        'tag_creator_regid': entity('tagcreator', 'regid'),
        'software_creator_regid': entity('softwarecreator', 'regid'),
        'product': _nonempty(meta.get('product')),
        'edition': _nonempty(meta.get('edition')),
        'colloquial_version': _nonempty(meta.get('colloquialVersion')),
        'entitlement_data_required': _flag(entitlement) if entitlement is not None else None,
    }
    name = _nonempty(root.get('name')) or extra['product'] or tag_id
    vendor = entity('softwarecreator', 'name') or entity('licensor', 'name')
    return _record(name, _nonempty(root.get('version')), tag_id, location,
                   _nonempty(meta.get('arch')), vendor, extra)


def _parse_legacy(root, location):
    """Map a 2008/2009 ``software_identification_tag`` element to a record."""
    namespace = _namespace(root.tag)
    prefix = '{%s}' % namespace if namespace else ''

    def text(path):
        return _nonempty(root.findtext('/'.join(prefix + part for part in path.split('/'))))

    tag_id = text('software_id/unique_id')
    if not tag_id:
        raise SwidTagError('software_identification_tag has no software_id/unique_id')
    entitlement = text('entitlement_required_indicator')
    extra = {
        'schema': _schema(namespace),
        'version_scheme': None,
        'supplemental': False,
        'patch': False,
        'corpus': False,
        'tag_creator_regid': text('software_id/tag_creator_regid') or text('tag_creator/regid'),
        'software_creator_regid': text('software_creator/regid'),
        'product': text('product_title'),
        'edition': None,
        'colloquial_version': None,
        'entitlement_data_required': _flag(entitlement) if entitlement is not None else None,
    }
    vendor = text('software_creator/name') or text('software_licensor/name')
    return _record(extra['product'] or tag_id, text('product_version/name'), tag_id,
                   location, None, vendor, extra)


def parse_swid_tag(document, location=None):
    """Parse one XML document into a record; raise ``SwidTagError`` if it is not a tag."""
    if '<!DOCTYPE' in document or '<!ENTITY' in document:
        raise SwidTagError('DTD and entity declarations are not allowed in a tag')
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise SwidTagError('not well-formed XML: %s' % exc) from exc
    local = _local(root.tag)
    if local == 'SoftwareIdentity':
        return _parse_software_identity(root, location)
    if local == 'software_identification_tag':
        return _parse_legacy(root, location)
    raise SwidTagError('root element is %s, not SoftwareIdentity' % local)


def parse_swid_text(text, location=None):
    """Parse text holding one or more tags; return ``(records, errors)``.

    Each error is ``{'path': location, 'reason': str}``; with several documents
    the reason names the 1-based document number.
    """
    documents = split_swid_documents(text)
    if not documents:
        return [], [{'path': location, 'reason': 'no SoftwareIdentity element found'}]
    records, errors = [], []
    for number, document in enumerate(documents, 1):
        try:
            records.append(parse_swid_tag(document, location))
        except SwidTagError as exc:
            prefix = 'document %d: ' % number if len(documents) > 1 else ''
            errors.append({'path': location, 'reason': prefix + str(exc)})
    return records, errors


def decode_tag_bytes(data):
    """Decode tag file bytes: UTF-16 when a UTF-16 BOM is present, else UTF-8 (BOM optional)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode('utf-16')
    return data.decode('utf-8-sig')


def _tag_files(top):
    """Yield ``*.swidtag`` files below ``top``, following directory links once."""
    seen = set()
    for directory, subdirs, files in os.walk(top, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirs[:] = []
            continue
        seen.add(real)
        subdirs.sort()
        for name in sorted(files):
            if name.endswith(SWID_SUFFIX):
                yield os.path.join(directory, name)


def find_swid_tags(dirs=SWID_DIRS, root='/'):
    """Parse every ``*.swidtag`` below ``dirs`` (re-rooted under ``root``).

    Returns ``(records, errors)``; locations are paths as seen on the scanned
    system, i.e. without the ``root`` prefix.  Missing directories are skipped.
    """
    records, errors = [], []
    for top in dirs:
        for path in _tag_files(os.path.join(root, top.lstrip('/'))):
            location = '/' + os.path.relpath(path, root) if root != '/' else path
            try:
                with open(path, 'rb') as handle:
                    text = decode_tag_bytes(handle.read())
            except (IOError, OSError, UnicodeDecodeError) as exc:
                errors.append({'path': location, 'reason': 'unreadable: %s' % exc})
                continue
            found, failed = parse_swid_text(text, location)
            records.extend(found)
            errors.extend(failed)
    return records, errors
