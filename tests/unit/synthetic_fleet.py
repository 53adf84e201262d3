"""A synthetic fleet report model, built without scanning: for the report size test and bench/report_open.py.

``synthetic_model(hosts=10_000)`` makes two ``Scan``s in memory (no spool, no
store), reconciles them with the real catalogue and metric rules, and builds
the report model with history, changes, findings-free. Shape, per host:

- 40 free packages every host shares, and 2 whose version differs per host;
- one package only that host has (a site-specific build: an unrecognised title
  per host, the worst case for the unrecognised list);
- licensable software on subsets: Red Hat Enterprise Linux (40%), TeamViewer
  (30%), Sublime Text (20%), MATLAB (5%), Oracle Database EE (5%, 2 × 16 cores);
- 1% of the hosts unreachable (stale); between the scans 10% of the hosts
  upgraded a package and 1% installed TeamViewer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sam_engine.report import model as report
from sam_engine.licensing.catalogue import load_catalogue
from sam_engine.model import Entitlement, Hardware, Host, HostScan, HostStatus, Installation, Scan, Virtualization
from sam_engine.licensing.position import build_position
from sam_engine.store.interface import scan_info

AS_OF = dt.date(2026, 6, 30)
FREE = [("bash", "5.2.15-2+b7"), ("coreutils", "9.1-1"), ("openssl", "3.0.13-1~deb12u1"), ("curl", "7.88.1-10"),
        ("python3", "3.11.2-1+b1"), ("perl", "5.36.0-7+deb12u1"), ("systemd", "252.26-1~deb12u2"),
        ("vim", "2:9.0.1378-2"), ("git", "1:2.39.2-1.1"), ("firefox-esr", "115.12.0esr-1~deb12u1")]
FREE += [(f"lib{name}{n}", f"{n}.{n % 7}.{n % 3}-1") for n, name in enumerate(
    ["ssl", "xml2", "z", "curl", "ffi", "gcc-s", "stdc++", "pcre2-", "sqlite", "bz2", "lzma", "zstd", "uuid", "blkid",
     "mount", "selinux", "systemd", "udev", "cap", "acl", "attr", "audit", "pam", "crypt", "gmp", "mpfr", "nettle",
     "hogweed", "tasn", "idn2"], 1)]
LICENSED = {  # title, version, vendor, source, share of hosts (every n-th host)
    "rhel": ("redhat-release", "9.4-0.5.el9", "Red Hat, Inc.", "rpm", (2, 5)),
    "teamviewer": ("teamviewer", "15.49.2", "TeamViewer GmbH", "dpkg", (3, 10)),
    "sublime": ("sublime-text", "4169", "Sublime HQ", "dpkg", (1, 5)),
    "matlab": ("matlab", "R2023b", "MathWorks", "dpkg", (1, 20)),
    "oracle": ("oracle-database-ee-19c", "19.3-1", "Oracle Corporation", "rpm", (1, 20)),
}
ENTITLEMENTS = (
    Entitlement("ent-rhel", "Red Hat", "Red Hat Enterprise Linux", "device", 3500, "synthetic", unit_cost="349.00",
                currency="USD", keys=("RHEL-0000-1111-2222-3333",)),
    Entitlement("ent-sublime", "Sublime HQ", "Sublime Text", "device", 2500, "synthetic", unit_cost="99.00",
                currency="USD"),
    Entitlement("ent-oracle", "Oracle", "Oracle Database", "processor", 4000, "synthetic",
                edition="Enterprise Edition", unit_cost="47500.00", currency="USD", keys=("CSI-20849117",)),
)


def _has(i: int, share: tuple[int, int]) -> bool:
    part, whole = share
    return i % whole < part


def _installations(i: int, upgraded: bool, extra_teamviewer: bool) -> tuple[Installation, ...]:
    out = [Installation("dpkg", n, v, "amd64", "Debian", 1700000000, f"dpkg:{n}:amd64") for n, v in FREE]
    kernel = f"6.1.{90 + i % 7 + (1 if upgraded else 0)}-1"
    out.append(Installation("dpkg", "linux-image-amd64", kernel, "amd64", "Debian Kernel Team", None,
                            "dpkg:linux-image-amd64:amd64"))
    out.append(Installation("dpkg", "ca-certificates", f"2023{i % 12:02d}01", "all", "Debian", None,
                            "dpkg:ca-certificates:all"))
    out.append(Installation("dpkg", f"site-config-{i:05d}", "1.0", "all", "Example Ops <ops@example.com>", None,
                            f"dpkg:site-config-{i:05d}:all"))
    for key, (title, version, vendor, source, share) in LICENSED.items():
        if _has(i, share) or (key == "teamviewer" and extra_teamviewer):
            out.append(Installation(source, title, version, "x86_64", vendor, None, f"{source}:{title}:x86_64",
                                    "/opt/" + title))
    return tuple(out)


def _host_scan(scan_id: str, i: int, upgraded: bool = False, extra: bool = False,
               unreachable: bool = False) -> HostScan:
    name = f"host{i:05d}.example.com"
    oracle = _has(i, LICENSED["oracle"][4])
    hw = Hardware(sockets=2 if oracle else 1, cores=32 if oracle else 4, threads=64 if oracle else 8,
                  cpu_vendor="GenuineIntel", cpu_model="Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
                  virtualization=Virtualization.PHYSICAL if oracle else Virtualization.VM,
                  hypervisor=None if oracle else "KVM", memory_mb=65536)
    host = Host(f"machine-id:{i:032x}", name, "machine-id", hostname=name.split(".")[0], fqdn=name,
                os_family="Linux", os_name="Debian GNU/Linux", os_version="12", kernel="6.1.0", hardware=hw)
    status = HostStatus.UNREACHABLE if unreachable else HostStatus.OK
    return HostScan(scan_id, name, status, host, _installations(i, upgraded, extra),
                    inventory_scan_id="s1" if unreachable else scan_id, collected_at="2026-06-30T01:00:00Z")


def synthetic_scans(hosts: int = 10_000) -> tuple[Scan, Scan]:
    first = Scan("s1", "2026-06-29T01:00:00Z", "2026-06-29T01:40:00Z", "0.1.0", "scan.yml",
                 tuple(_host_scan("s1", i) for i in range(hosts)))
    second = Scan("s2", "2026-06-30T01:00:00Z", "2026-06-30T01:40:00Z", "0.1.0", "scan.yml",
                  tuple(_host_scan("s2", i, upgraded=i % 10 == 0, extra=i % 100 == 5, unreachable=i % 100 == 7)
                        for i in range(hosts)))
    return first, second


def synthetic_model(hosts: int = 10_000) -> dict[str, Any]:
    """The report model of the second of two synthetic scans of ``hosts`` hosts."""
    first, second = synthetic_scans(hosts)
    catalogue, _ = load_catalogue(today=AS_OF)
    positions = [build_position(s.hosts, catalogue.recognise, ENTITLEMENTS, AS_OF, suites=catalogue.suite_components,
                                metric_hint=catalogue.metric_hint) for s in (first, second)]
    history = [scan_info(first), scan_info(second)]
    summaries = {"s1": {"scan_id": "s1", "non_compliant": 3}}
    return report.build(second, history, positions[1], entitlements=ENTITLEMENTS, previous=first,
                        previous_position=positions[0], summaries=summaries)
