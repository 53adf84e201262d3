"""Synthetic fleets with realistic shapes, written as a collector spool (see sam_engine/ingest/spool.py).

Shape (deterministic for a seed; host ``i`` is the same in every fleet size, so a
smaller fleet is a prefix of a larger one):

- 64% Linux hosts with 500-2,500 dpkg/rpm packages: a core every host shares,
  then a long tail drawn by Zipf-like popularity. Titles are this machine's own
  dpkg list (name, version, arch, maintainer) and plausible derivatives of it
  (``-dev``, ``-doc``, ``python3-``, ``lib...``), plus the catalogue's Linux examples.
- 36% Windows hosts with 150-300 raw Uninstall entries (the ``win_software_facts``
  result, read by ``sam_engine.platforms.windows``): the catalogue's examples (Office, SQL
  Server, Acrobat, Visual Studio, ...) and a long tail of shared vendor products.
- About 10% of the distinct titles are commercial (catalogue ``licence: required``).
- Versions: most hosts run a title's current version, some one or two older ones.
- Install times: Linux packages from the host's image share its build time, the
  rest were installed or upgraded later; Windows ``InstallDate`` is a day.
- 0.5% of the hosts are unreachable.

``python bench/fleetgen.py SPOOL --hosts N`` writes ``SPOOL/run.json`` and
``SPOOL/hosts/*.json`` exactly as the collector callback does.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GENERATOR_VERSION = 5  # 5: the package list laid out a record per line, as software_json writes it
_SUFFIXES = ("", "-dev", "-doc", "-common", "-data", "-utils", "-tools", "-dbg", "-plugins", "-locales")
_FALLBACK_PACKAGES = ("bash", "coreutils", "openssl", "libssl3", "python3", "perl", "systemd", "curl", "vim",
                      "openssh-server", "gzip", "tar", "zlib1g", "libc6", "grep", "sed", "util-linux")
_WIN_VENDORS = ("Contoso Ltd.", "Fabrikam, Inc.", "Northwind Traders", "Tailspin Toys", "Litware, Inc.",
                "Adventure Works", "Wingtip Toys", "Proseware, Inc.", "Woodgrove Bank", "Lucerne Publishing",
                "Graphic Design Institute", "Humongous Insurance", "Trey Research", "Blue Yonder Airlines")
_WIN_WORDS = ("Backup Agent", "Remote Desktop Helper", "PDF Printer", "VPN Client", "Monitoring Agent",
              "Update Service", "Runtime", "Toolkit", "Viewer", "Driver Package", "Sync Client",
              "Security Suite", "Scanner Utility", "Font Pack", "Redistributable", "Plug-in", "Connector")


def _dpkg_pool() -> list[tuple[str, str, str, str]]:
    """(name, version, arch, maintainer) of this machine's installed dpkg packages."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\t${Maintainer}\n"],
                             capture_output=True, text=True, check=True).stdout
        rows = [tuple(line.split("\t")) for line in out.splitlines() if line.count("\t") == 3]
    except (OSError, subprocess.CalledProcessError):
        rows = []
    if len(rows) < 50:
        rows = [(n, f"{1 + i % 7}.{i % 13}.{i % 5}-1", "amd64", "Debian Maintainers <pkg@debian.org>")
                for i, n in enumerate(_FALLBACK_PACKAGES)]
    return sorted(rows)


def _catalogue_examples() -> list[dict]:
    from sam_engine.licensing.catalogue import load_catalogue

    catalogue, _ = load_catalogue([])
    out = []
    for entry in catalogue.entries:
        for ex in entry.examples:
            out.append({"title": ex["title"], "publisher": ex.get("publisher"), "version": ex.get("version"),
                        "source": ex.get("source"), "package_id": ex.get("package_id"),
                        "required": entry.licence.value == "required"})
    return out


def _bump(version: str | None, rng: random.Random, step: int) -> str | None:
    """An older version: the last number lowered by ``step`` (never below 0)."""
    if not version:
        return version
    match = re.search(r"(\d+)(?!.*\d)", version)
    if not match:
        return version
    n = max(0, int(match.group(1)) - step)
    return version[:match.start(1)] + str(n) + version[match.end(1):]


class Pools:
    """Every title a host can draw, built once per generator version from real names."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        dpkg = _dpkg_pool()
        examples = _catalogue_examples()
        linux: list[dict] = []
        seen: set[str] = set()
        for suffix in _SUFFIXES:
            for name, version, arch, maintainer in dpkg:
                title = name + suffix if suffix else name
                if title in seen:
                    continue
                seen.add(title)
                linux.append({"name": title, "version": version, "arch": "all" if suffix in ("-doc", "-data") else arch,
                              "vendor": maintainer})
        for name, version, arch, maintainer in dpkg:
            for title in (f"python3-{name}", f"lib{name}{len(name) % 4}"):
                if title not in seen:
                    seen.add(title)
                    linux.append({"name": title, "version": version, "arch": arch, "vendor": maintainer})
        self.linux_core = linux[: min(350, len(linux) // 4)]
        self.linux_tail = linux[len(self.linux_core):]
        rng.shuffle(self.linux_tail)
        self.linux_tail = self.linux_tail[:5600]
        # commercial and free catalogue titles; commercial ones are most of the named products
        self.linux_named = [e for e in examples if e["source"] in ("rpm", "dpkg")]
        win_named = [e for e in examples if e["source"] in (None, "windows")]
        self.win_required = [e for e in win_named if e["required"]]
        self.win_free = [e for e in win_named if not e["required"]]
        self.win_tail = []
        for n in range(900):
            vendor = _WIN_VENDORS[n % len(_WIN_VENDORS)]
            word = _WIN_WORDS[(n * 7) % len(_WIN_WORDS)]
            company = vendor.split(",")[0].split(" ")[0]
            self.win_tail.append({"title": f"{company} {word} {1 + n // 60}", "publisher": vendor,
                                  "version": f"{1 + n // 60}.{n % 10}.{(n * 37) % 1000}"})
        guids = random.Random(seed + 1)
        for item in self.win_required + self.win_free + self.win_tail:
            item["key"] = "{%08X-%04X-%04X-%04X-%012X}" % (guids.getrandbits(32), guids.getrandbits(16),
                                                          guids.getrandbits(16), guids.getrandbits(16),
                                                          guids.getrandbits(48))
        self.linux_cum = list(itertools.accumulate(1.0 / (1 + r) ** 0.7 for r in range(len(self.linux_tail))))
        self.win_tail_cum = list(itertools.accumulate(1.0 / (1 + r) ** 0.9 for r in range(len(self.win_tail))))
        self.fragments: dict[tuple, tuple[str, str]] = {}


def _version(rng: random.Random, version: str | None) -> str | None:
    roll = rng.random()
    return version if roll < 0.8 else _bump(version, rng, 1 if roll < 0.95 else 2)


def _sample(rng: random.Random, pool: list, cum_weights: list[float], k: int) -> list:
    picked: dict[int, None] = {}
    while len(picked) < min(k, len(pool)):
        for i in rng.choices(range(len(pool)), cum_weights=cum_weights, k=k - len(picked)):
            picked[i] = None
    return [pool[i] for i in picked]


_dumps = json.JSONEncoder(separators=(",", ":")).encode
_SOFTWARE = "\x00software\x00"  # placeholder replaced by the pre-encoded record list


def _linux_fragments(t: dict, rpm: bool, version: str | None) -> tuple[str, str]:
    """The JSON text of one package record before and after its install time (encoded once), the time
    last as ``software_json`` (plugins/module_utils/pkg_common.py) writes it."""
    if rpm:
        arch = {"amd64": "x86_64", "all": "noarch"}.get(t["arch"], t["arch"])
        rec = {"source": "rpm", "name": t["name"], "version": version, "arch": arch, "vendor": "Red Hat, Inc.",
               "package_id": f"rpm:{t['name']}-{version}.{arch}", "location": None,
               "extra": {"epoch": None, "release": (version or "").rpartition("-")[2] or None}}
    else:
        rec = {"source": "dpkg", "name": t["name"], "version": version, "arch": t["arch"], "vendor": t["vendor"],
               "package_id": f"dpkg:{t['name']}:{t['arch']}", "location": None,
               "extra": {"status": "install ok installed"}}
    return _dumps(rec)[:-1] + ',"install_time":', "}"


def linux_result(i: int, pools: Pools, rng: random.Random) -> tuple[dict, str]:
    """The module result (with a placeholder) and its ``software`` list as JSON text."""
    rpm = i % 5 == 0  # a fifth of the Linux hosts are RPM based
    n = rng.randint(500, 2500)
    image_time = 1_600_000_000 + (i % 12) * 5_000_000  # a dozen base images
    titles = pools.linux_core + _sample(rng, pools.linux_tail, pools.linux_cum, n - len(pools.linux_core))
    parts = []
    cache = pools.fragments
    random_ = rng.random
    for t in titles:
        roll = random_()
        variant = 0 if roll < 0.8 else 1 if roll < 0.95 else 2
        key = (t["name"], rpm, variant)
        frag = cache.get(key)
        if frag is None:
            frag = cache[key] = _linux_fragments(t, rpm, t["version"] if not variant else _bump(t["version"], rng, variant))
        when = image_time + int(random_() * 90_000_000) + 86_400 if random_() < 0.35 else image_time
        parts.append(f"{frag[0]}{when}{frag[1]}")
    for ex in rng.sample(pools.linux_named, k=min(len(pools.linux_named), rng.randint(0, 3))):
        src = ex["source"]
        parts.append(_dumps({"source": src, "name": ex["title"], "version": ex["version"], "arch": "x86_64",
                             "vendor": ex["publisher"], "package_id": ex["package_id"] or f"{src}:{ex['title']}",
                             "location": None, "extra": {}, "install_time": image_time + 3600}))
    cores = rng.choice((2, 4, 8, 16, 32))
    lscpu = "# Socket,Core,CPU\n" + "".join(f"0,{c},{c}\n" for c in range(cores))
    return {
        "changed": False,
        "software": _SOFTWARE,
        "sources": {"rpm" if rpm else "dpkg": {"status": "ok", "count": len(parts)}},
        "host": {
            "hostname": f"lin{i:05d}", "fqdn": f"lin{i:05d}.example.com", "system": "Linux",
            "kernel": "6.1.0-18-amd64", "machine": "x86_64", "machine_id": f"{i:032x}",
            "os_release": 'PRETTY_NAME="Red Hat Enterprise Linux 9.3"\nNAME="Red Hat Enterprise Linux"\nVERSION_ID="9.3"\nID=rhel\n'
            if rpm else 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
            "dmi": {"product_uuid": None, "product_serial": None, "sys_vendor": "QEMU",
                    "product_name": "Standard PC (Q35 + ICH9, 2009)", "board_vendor": None, "bios_vendor": "SeaBIOS",
                    "chassis_type": "1"},
            "cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\nhypervisor\t: yes",
            "lscpu": lscpu, "detect_virt": "kvm", "container_markers": [], "memtotal_kb": 16_384_000,
        },
    }, "[\n" + ",\n".join(parts) + "\n]"


def windows_result(i: int, pools: Pools, rng: random.Random) -> dict:
    n = rng.randint(150, 300)
    n_required = rng.randint(3, 12)
    n_free = min(len(pools.win_free), rng.randint(20, 60))
    chosen = (rng.sample(pools.win_required, k=min(n_required, len(pools.win_required)))
              + rng.sample(pools.win_free, k=n_free))
    chosen += _sample(rng, pools.win_tail, pools.win_tail_cum, max(0, n - len(chosen)))
    day = 20190101 + (i % 4) * 10000 + (i % 12) * 100 + i % 28
    entries = []
    for t in chosen:
        hive = "HKLM32" if rng.random() < 0.3 else "HKLM64"
        entries.append({"hive": hive, "sid": None, "key": t["key"], "DisplayName": t["title"],
                        "DisplayVersion": _version(rng, t.get("version")), "Publisher": t.get("publisher"),
                        "InstallDate": str(day + rng.randint(0, 27) if rng.random() < 0.5 else day),
                        "InstallLocation": None if rng.random() < 0.6 else f"C:\\Program Files\\{t['title'][:24]}",
                        "SystemComponent": None, "ParentKeyName": None, "ReleaseType": None,
                        "WindowsInstaller": 1})
    sockets = rng.choice((1, 1, 2))
    return {
        "changed": False,
        "windows": {
            "uninstall": entries, "user_hives": [], "sql_instances": [], "office": [], "appx": [], "swid_tags": [],
            "os": {"Caption": "Microsoft Windows Server 2022 Standard", "Version": "10.0.20348", "UBR": 2340,
                   "EditionID": "ServerStandard", "hostname": f"WIN{i:05d}", "domain": "corp.example.com"},
            "licensing": [],
            "hardware": {
                "processors": [{"Name": "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Manufacturer": "GenuineIntel",
                                "NumberOfCores": 8, "NumberOfLogicalProcessors": 16} for _ in range(sockets)],
                "computer_system": {"Manufacturer": "Dell Inc.", "Model": "PowerEdge R740",
                                    "TotalPhysicalMemory": 68_719_476_736, "DNSHostName": f"WIN{i:05d}"},
                "product": {"UUID": "4C4C4544-%04X-%04X-%04X-%012X" % (i >> 16, i & 0xFFFF, i % 97, i),
                            "IdentifyingNumber": f"SRV{i:07d}", "Vendor": "Dell Inc.", "Name": "PowerEdge R740"},
            },
        },
        "warnings": [],
    }


def is_windows(i: int) -> bool:
    return (i * 37) % 100 < 36  # 36% Windows: 1,000 installations per host on average


def host_name(i: int) -> str:
    return f"{'win' if is_windows(i) else 'lin'}{i:05d}.example.com"


def host_entry(i: int, pools: Pools, seed: int) -> tuple[str, str]:
    """(inventory name, the spool file's JSON text) of host ``i``."""
    rng = random.Random(seed * 1_000_003 + i)
    windows = is_windows(i)
    name = host_name(i)
    if rng.random() < 0.005:
        return name, _dumps({"inventory_name": name, "status": "unreachable", "result": None,
                             "error": "Failed to connect to the host via ssh", "collected_at": "2026-01-05T02:00:00Z"})
    if windows:
        result = windows_result(i, pools, rng)
        field, raw = "windows", _dumps(result["windows"])
    else:
        result, raw = linux_result(i, pools, rng)
        field = "software"
    # the callback's layout (plugin_utils/spool.py: bulk_doc): a header naming the bulk, the bulk last
    data = raw.encode("utf-8")
    doc = {"bulk": {"field": field, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
           "inventory_name": name, "status": "ok", "error": None, "collected_at": "2026-01-05T02:00:00Z",
           "result": {**{k: v for k, v in result.items() if k != field}, field: _SOFTWARE}}
    return name, _dumps(doc).replace(_dumps(_SOFTWARE), raw)


def write_spool(spool: Path, hosts: int, seed: int = 7, start: int = 0, step: int = 1) -> Path:
    """Write hosts ``start, start+step, ... < hosts`` of the fleet ``seed`` into ``spool``."""
    (spool / "hosts").mkdir(parents=True, exist_ok=True)
    run = spool / "run.json"
    if not run.exists():
        tmp = spool / f".run.json.{os.getpid()}"
        tmp.write_text(json.dumps({"scan_id": f"20260105T020000Z-bench{seed}", "started": "2026-01-05T02:00:00Z",
                                   "finished": "2026-01-05T02:40:00Z", "playbook": "playbooks/scan.yml",
                                   "tool_version": "bench"}))
        os.replace(tmp, run)
    pools = Pools(seed)
    for i in range(start, hosts, step):
        name, text = host_entry(i, pools, seed)
        path = spool / "hosts" / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return spool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spool", type=Path)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--step", type=int, default=1)
    args = parser.parse_args(argv)
    write_spool(args.spool, args.hosts, args.seed, args.start, args.step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
