"""The report model: everything a report shows, computed once, as plain data.

Templates and machine formats format this model and compute nothing. The
model is JSON-serialisable as it is; ``report.json`` is this model verbatim,
versioned by ``schema_version``.
"""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any, Sequence

from . import __version__
from .model import HostScan, HostStatus, Problem, Scan
from .position import LicencePosition, position_to_rows
from .store import ScanInfo

SCHEMA_VERSION = "1.0"


def _when(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _host(hs: HostScan) -> dict[str, Any]:
    host, hw = hs.host, hs.host.hardware if hs.host else None
    packages = sorted(hs.installations, key=lambda i: (i.name.lower(), i.source, i.version or ""))
    by_source = Counter(i.source for i in hs.installations)
    return {
        "inventory_name": hs.inventory_name,
        "status": hs.status.value,
        "stale": hs.stale,
        "error": hs.error,
        "host_id": host.host_id if host else None,
        "identity_source": host.identity_source if host else None,
        "hostname": host.hostname if host else None,
        "fqdn": host.fqdn if host else None,
        "os": " ".join(p for p in (host.os_name, host.os_version) if p) if host else None,
        "kernel": host.kernel if host else None,
        "sockets": hw.sockets if hw else None,
        "cores": hw.cores if hw else None,
        "threads": hw.threads if hw else None,
        "cpu_model": hw.cpu_model if hw else None,
        "virtualization": hw.virtualization.value if hw else None,
        "hypervisor": hw.hypervisor if hw else None,
        "memory_mb": hw.memory_mb if hw else None,
        "inventory_scan_id": hs.inventory_scan_id,
        "collected_at": hs.collected_at,
        "warnings": list(hs.warnings),
        "package_count": len(packages),
        "sources": dict(sorted(by_source.items())),
        "packages": [
            {
                "name": i.name,
                "version": i.version,
                "arch": i.arch,
                "vendor": i.vendor,
                "source": i.source,
                "package_id": i.package_id,
                "installed": _when(i.install_time),
                "location": i.location,
            }
            for i in packages
        ],
    }


# Most urgent first: what an auditor would find, then what costs money for nothing.
STATUS_ORDER = ("under-licensed", "unlicensed", "over-licensed", "compliant", "no licence needed", "unrecognised")


def _position(position: LicencePosition | None, problems: Sequence[Problem]) -> dict[str, Any] | None:
    if position is None:
        return None
    rows = position_to_rows(position.products, detail=True)
    rows.sort(key=lambda r: (STATUS_ORDER.index(r["status"]), (r["publisher"] or "").lower(), r["product"].lower()))
    counts = Counter(r["status"] for r in rows)
    return {
        "as_of": position.as_of.isoformat(),
        "status_counts": {s: counts[s] for s in STATUS_ORDER if counts[s]},
        "licensable": [r for r in rows if r["status"] != "no licence needed"],
        "free": [r for r in rows if r["status"] == "no licence needed"],
        "unrecognised": position_to_rows(position.unrecognised, detail=True),
        "cost_totals": {currency: str(amount) for currency, amount in position.cost_totals},
        "total_cost": None if position.total_cost is None else str(position.total_cost),
        "notes": list(position.notes),
        "problems": [str(p) for p in problems],
    }


def build(scan: Scan, history: list[ScanInfo], position: LicencePosition | None = None,
          problems: Sequence[Problem] = ()) -> dict[str, Any]:
    """The report model of one scan, with the scan history and the licence position."""
    hosts = sorted((_host(h) for h in scan.hosts), key=lambda h: h["inventory_name"])
    distinct = {(p["source"], p["name"]) for h in hosts for p in h["packages"]}
    return {
        "schema_version": SCHEMA_VERSION,
        "tool_version": __version__,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scan": {
            "scan_id": scan.scan_id,
            "started": scan.started,
            "finished": scan.finished,
            "playbook": scan.playbook,
        },
        "summary": {
            "hosts": len(hosts),
            "hosts_ok": scan.count(HostStatus.OK),
            "hosts_unreachable": scan.count(HostStatus.UNREACHABLE),
            "hosts_failed": scan.count(HostStatus.FAILED),
            "hosts_stale": sum(1 for h in hosts if h["stale"]),
            "installations": sum(h["package_count"] for h in hosts),
            "distinct_packages": len(distinct),
        },
        "history": [
            {
                "scan_id": i.scan_id,
                "finished": i.finished,
                "hosts_ok": i.hosts_ok,
                "hosts_unreachable": i.hosts_unreachable,
                "hosts_failed": i.hosts_failed,
                "installations": i.installations,
            }
            for i in history
        ],
        "position": _position(position, problems),
        "hosts": hosts,
    }
