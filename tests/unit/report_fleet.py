"""A small mixed fleet scanned twice, for the report, history, audit-pack and browser tests.

``scanned_twice(root)`` writes two collector spools and runs the real pipeline
on them (ingest, store, reconcile, findings, render) with licence files and a
user catalogue of its own:

- the recorded Windows and macOS module outputs (tests/fixtures/recorded/);
- Linux hosts generated here: ``db1`` (2 × 16-core Xeon) and ``db2`` (1 × 8)
  running Oracle Database EE, 16 Processor licences owned -> under-licensed by
  4, 190000 USD; ``web1``/``web2`` with TeamViewer (no entitlement:
  unlicensed) and a product whose publisher and name carry HTML/JS payloads
  (``PAYLOADS``), recognised by the user catalogue so it reaches every part of
  the page (position table, chart label, drill-down, host view);
- between the scans: ``web1`` gains TeamViewer and a package, ``web2`` upgrades
  TeamViewer, ``db2`` becomes unreachable (stale), ``app1`` joins with MATLAB
  (unlicensed: one more non-compliant product).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sam_engine import pipeline
from sam_engine.licensing.context import LicenceSettings

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
AS_OF = dt.date(2026, 6, 30)
PWNED = "window.__pwned=1"
LOGIN = int(dt.datetime(2026, 6, 28, 9, tzinfo=dt.timezone.utc).timestamp())
PAYLOADS = (
    f"<img src=x onerror={PWNED}>",
    f"</script><script>{PWNED}</script>",
    f'"><svg onload={PWNED}>',
)
EVIL_PUBLISHER = f'"><svg onload={PWNED}> Corp'
EVIL_PRODUCT = f"<img src=x onerror={PWNED}> Suite"

XEON = "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"

USER_CATALOGUE = """\
- id: evil-suite
  publisher: '"><svg onload=window.__pwned=1> Corp'
  product: '<img src=x onerror=window.__pwned=1> Suite'
  licence: required
  match:
    - {source: dpkg, title: 'evil-suite'}
"""

LICENCES = """\
entitlements:
  - publisher: Oracle
    product: Oracle Database
    edition: Enterprise Edition
    metric: processor
    quantity: 16
    term_start: 2021-09-30
    vendor: Oracle (direct)
    po_number: PO-2021-1190
    invoice: ORA-INV-5521907
    purchase_date: 2021-09-28
    unit_cost: 47500.00
    currency: USD
    keys: [ABCDE-FGHIJ-KLMNO-PQRST-7H3KQ]
  - publisher: Sublime HQ
    product: Sublime Text
    metric: device
    quantity: 10
    term_start: 2024-01-01
    unit_cost: 99.00
    currency: USD
"""


def lscpu(sockets: int, cores: int, threads_per_core: int = 1) -> str:
    lines, cpu = [], 0
    for s in range(sockets):
        for c in range(cores):
            for _ in range(threads_per_core):
                lines.append(f"{s},{s * cores + c},{cpu}")
                cpu += 1
    return "\n".join(lines) + "\n"


def package(name: str, version: str, vendor: str, source: str = "dpkg", location: str | None = None) -> dict:
    arch = "x86_64" if source == "rpm" else "amd64"
    return {"source": source, "name": name, "version": version, "arch": arch, "vendor": vendor,
            "install_time": 1750000000, "package_id": f"{source}:{name}:{arch}", "location": location, "extra": {}}


def linux(name: str, packages: list[dict], sockets: int = 1, cores: int = 2) -> dict:
    return {
        "changed": False,
        "software": packages,
        "sources": {"dpkg": {"status": "ok", "count": len(packages)}},
        "host": {"machine_id": f"mid-{name}", "hostname": name, "lscpu": lscpu(sockets, cores), "system": "Linux",
                 "cpuinfo": f"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: {XEON}\n",
                 "os_release": 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\n', "detect_virt": "none"},
        # one person per host, logged in the day before the scans: TeamViewer counts per named user
        "users": {"passwd": f"root:x:0:0:root:/root:/bin/bash\nops-{name}:x:1000:1000::/home/ops:/bin/bash\n"
                            + (f"{PAYLOADS[0]}:x:1001:1001::/home/p:/bin/sh\n" if name == "web1" else ""),
                  "login_defs": None, "wtmp": [{"user": f"ops-{name}", "line": "pts/0", "host": "", "time": LOGIN}],
                  "lastlog": []},
    }


BASE = [package("bash", "5.2.15-2+b7", "Matthias Klose <doko@debian.org>"),
        package("coreutils", "9.1-1", "Michael Stone <mstone@debian.org>"),
        package("=HYPERLINK(\"http://x\")", "1.0", "@evil", location="-cmd")]
ORACLE = package("oracle-database-ee-19c", "19.3-1", "Oracle Corporation", "rpm", "/opt/oracle/product/19c/dbhome_1")
TEAMVIEWER = package("teamviewer", "15.49.2", "TeamViewer GmbH")
EVIL = [package("evil-suite", "6.6.6", "Evil"), *(package(p, "1.0", p) for p in PAYLOADS)]


def recorded(name: str) -> dict:
    doc = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def write_spool(root: Path, scan_id: str, finished: str, hosts: dict[str, dict | None]) -> Path:
    spool = root / "spool" / scan_id
    (spool / "hosts").mkdir(parents=True)
    (spool / "run.json").write_text(json.dumps({"scan_id": scan_id, "started": finished, "finished": finished,
                                                 "playbook": "scan.yml"}))
    for name, result in hosts.items():
        doc = {"inventory_name": name, "status": "ok" if result else "unreachable", "result": result,
               "error": None if result else "ssh: connect to host: Connection refused", "collected_at": finished}
        (spool / "hosts" / f"{name}.json").write_text(json.dumps(doc))
    return spool


def first_scan() -> dict[str, dict | None]:
    return {
        "db1": linux("db1", [*BASE, ORACLE], sockets=2, cores=16),
        "db2": linux("db2", [*BASE, ORACLE], sockets=1, cores=8),
        "web1": linux("web1", [*BASE, *EVIL]),
        "web2": linux("web2", [*BASE, TEAMVIEWER, package("sublime-text", "4169", "Sublime HQ")]),
        "win1": recorded("windows_composite-host.json"),
        "mac1": recorded("macos_arm64-sample6.json"),
    }


def second_scan() -> dict[str, dict | None]:
    hosts = first_scan()
    hosts["db2"] = None
    hosts["web1"] = linux("web1", [*BASE, *EVIL, TEAMVIEWER, package("curl", "7.88.1-10", "Debian")])
    hosts["web2"] = linux("web2", [*BASE, dict(TEAMVIEWER, version="15.51.5"),
                                   package("sublime-text", "4169", "Sublime HQ")])
    hosts["app1"] = linux("app1", [*BASE, TEAMVIEWER, package("matlab", "R2023b", "MathWorks")])
    return hosts


def settings(root: Path) -> LicenceSettings:
    licences, catalogue = root / "licences", root / "catalogue-extra.yml"
    licences.mkdir(exist_ok=True)
    (licences / "fleet.yml").write_text(LICENCES)
    catalogue.write_text(USER_CATALOGUE)
    return LicenceSettings(licences_dir=licences, catalogue_extra=(catalogue,))


def scanned_twice(root: Path) -> tuple[str, Path]:
    """Run the pipeline on both scans; return the store location and the report directory."""
    store, reports = str(root / "store.json"), root / "reports"
    conf = settings(root)
    pipeline.process_spool(write_spool(root, "s1", "2026-06-29T01:00:00Z", first_scan()), store=store,
                           report_dir=reports, settings=conf, as_of=AS_OF)
    pipeline.process_spool(write_spool(root, "s2", "2026-06-30T01:00:00Z", second_scan()), store=store,
                           report_dir=reports, settings=conf, as_of=AS_OF)
    return store, reports
