"""Public cloud guests: the instance metadata answers ``software_facts`` returns, read into an instance type and,
on a dedicated host, a ``model.Topology`` that places the guest on it.

The collector asks the metadata service only when the guest's DMI names the
cloud and returns the answers as text (``host.cloud_metadata``: ``provider``,
``answers``, ``errors``). AWS answers per path (``instance-type``,
``placement/host-id``, present only on a Dedicated Host); Azure answers one
JSON document, cut on the guest to ``compute.vmSize`` and ``compute.host.id``
(a Dedicated Host); Google answers ``machine-type``, a path ending in the type
(an older collector sent Google's whole instance document: its ``machineType``).

A dedicated host is a ``PhysicalServer`` keyed ``<provider>-dedicated:<host
id>`` (platform ``aws-dedicated`` or ``azure-dedicated``): every guest that
reports the same host id lands on the same server, linked by the guest's own
DMI UUID, so host-level licences can count them together. Its sockets and
cores are not in the metadata and stay unknown. Google's sole-tenant nodes
are not named by the metadata service: a Google guest gets an instance type
only.

Worked example: an AWS guest answering ``m5.2xlarge`` and host
``h-0123456789abcdef0`` with DMI UUID ``EC2A1B2C-…`` has instance type
``m5.2xlarge`` and lands on server ``aws-dedicated:h-0123456789abcdef0``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from sam_engine.model import GuestVM, PhysicalServer, Problem, Topology
from sam_engine.topology.fields import text
from sam_engine.topology.uuids import canonical

_MAX_ID = 200  # a host id or instance type longer than this is not one
PROVIDERS = ("aws", "azure", "gce")
# Servers only their guests report, each guest itself: linking adds their VMs up (topology.link).
DEDICATED_PLATFORMS = frozenset(f"{provider}-dedicated" for provider in PROVIDERS)


def _short(value: Any) -> str | None:
    value = text(value)
    return value if value and len(value) <= _MAX_ID and value.isprintable() else None


def _document(answers: Mapping[str, Any]) -> Mapping[str, Any]:
    """Azure's or Google's one JSON answer as a mapping; empty when absent or not a JSON object."""
    try:
        doc = json.loads(answers.get("instance") or "null")
    except (TypeError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, Mapping) else {}


def instance_facts(raw: Any) -> tuple[str | None, str | None]:
    """(instance type, dedicated host id) from the collector's ``cloud_metadata``; None for what is not there."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("answers"), Mapping):
        return None, None
    answers, provider = raw["answers"], raw.get("provider")
    if provider == "aws":
        return _short(answers.get("instance-type")), _short(answers.get("placement/host-id"))
    compute = _document(answers).get("compute") if provider == "azure" else None
    if isinstance(compute, Mapping):
        host = compute.get("host")
        return _short(compute.get("vmSize")), _short(host.get("id")) if isinstance(host, Mapping) else None
    if provider == "gce":  # the machine type's resource path; an older collector sent the whole instance document
        machine = text(answers.get("machine-type")) or text(_document(answers).get("machineType"))
        return _short(machine.rsplit("/", 1)[-1]) if machine else None, None
    return None, None


def topology(host_raw: Mapping[str, Any], vcpus: int | None, inventory_name: str,
             origin: str) -> tuple[Topology | None, list[Problem]]:
    """The guest (``vcpus``: its logical CPUs) on its dedicated host, or None when the guest is on shared cloud
    hardware or outside a cloud."""
    raw = host_raw.get("cloud_metadata")
    if raw is None:
        return None, []
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        return None, [Problem(f"{origin}: host.cloud_metadata", f"expected a mapping, got {type(raw).__name__}")]
    errors = raw.get("errors")
    if isinstance(errors, list) and errors:
        problems.append(Problem(f"{origin}: host.cloud_metadata", "instance metadata not fully read: "
                                + "; ".join(str(e)[:200] for e in errors[:5]), "warning"))
    provider = raw.get("provider") if raw.get("provider") in PROVIDERS else None
    _, host_id = instance_facts(raw)
    if provider is None or host_id is None:
        return None, problems
    dmi = host_raw.get("dmi") if isinstance(host_raw.get("dmi"), Mapping) else {}
    uuid = canonical(dmi.get("product_uuid"))
    if uuid is None:
        problems.append(Problem(f"{origin}: host.dmi.product_uuid", f"on dedicated host {host_id!r} but the DMI "
                                "UUID is unreadable (the collector needs root): the guest cannot be placed",
                                "warning"))
        return None, problems
    source = f"instance metadata on {inventory_name}"
    server = PhysicalServer(key=f"{provider}-dedicated:{host_id}", name=host_id, platform=f"{provider}-dedicated",
                            source=source)
    guest = GuestVM(bios_uuid=uuid, name=inventory_name, server=server.key, source=source, vcpus=vcpus,
                    state="running")
    return Topology(servers=(server,), guests=(guest,)), problems
