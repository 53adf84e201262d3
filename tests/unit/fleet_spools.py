"""Spools of small made-up fleets, for the findings, notification and check tests.

``write_run(root, scan_id, hosts)`` writes what the collector callback writes
for one run; ``hosts`` maps an inventory name to ``Host(groups, packages)``
(packages as ``(name, version, vendor)`` dpkg records) or to ``None`` for an
unreachable host.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool as spool_files

TEAMVIEWER = ("teamviewer", "15.49.2", "TeamViewer GmbH <support@teamviewer.com>")
ANYDESK = ("anydesk", "6.3.0", "philandro Software GmbH <info@anydesk.com>")
BASH = ("bash", "5.2.15-2+b7", "Matthias Klose <doko@debian.org>")


@dataclass
class Host:
    groups: tuple[str, ...] = ()
    packages: tuple[tuple[str, str, str], ...] = (BASH,)
    extra: dict = field(default_factory=dict)


def module_result(name: str, packages, when: str = "2026-06-30T01:00:00Z") -> dict:
    """The Linux collector's result; one person (``user-NAME``) logged in at ``when``, so per-user
    products count one person per host."""
    login = int(dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())
    return {
        "changed": False,
        "software": [{"source": "dpkg", "name": n, "version": v, "arch": "amd64", "vendor": vendor,
                      "install_time": 1700000000, "package_id": f"dpkg:{n}:amd64", "location": None, "extra": {}}
                     for n, v, vendor in packages],
        "host": {"machine_id": f"mid-{name}", "hostname": name, "lscpu": "0,0,0\n1,0,1\n", "system": "Linux"},
        "users": {"passwd": f"root:x:0:0:root:/root:/bin/bash\nuser-{name}:x:1000:1000::/home/u:/bin/bash\n",
                  "login_defs": None, "wtmp": [{"user": f"user-{name}", "line": "pts/0", "host": "", "time": login}],
                  "lastlog": []},
    }


def write_run(root: Path, scan_id: str, hosts: dict[str, Host | None], when: str = "2026-06-30T01:00:00Z") -> Path:
    spool = Path(root) / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": when, "finished": when,
                                                "playbook": "scan.yml"}))
    for name, host in hosts.items():
        doc = {"inventory_name": name, "status": "ok" if host else "unreachable",
               "result": module_result(name, host.packages, when) if host else None,
               "error": None if host else "ssh: connect to host: Connection refused",
               "collected_at": when, "groups": list(host.groups) if host else []}
        path = str(spool / "hosts" / f"{name}.json")
        if host:  # the package list as the collectors hand it over: JSON text, spooled behind a header
            raw = json.dumps(doc["result"]["software"], separators=(",", ":"))
            spool_files.write_json(path, spool_files.bulk_doc(doc, "software", raw), raw)
        else:
            spool_files.write_json(path, doc)
    return spool


def store_run(root: Path, store: str, scan_id: str, hosts: dict[str, Host | None], **kw) -> None:
    """Store one run's scan as the pipeline's ingest and store stages do (no reconcile, no reports)."""
    from sam_engine.ingest import spool as ingest
    from sam_engine.ingest import host_scans
    from sam_engine.store import open_store

    run, _ = ingest.read_spool(write_run(root, scan_id, hosts, **kw))
    with open_store(store) as st:
        scan, _ = host_scans.build_scan(run, st.last_inventory, last_source=st.last_source)
        st.save_scan(scan)
