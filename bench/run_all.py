"""Run every benchmark in turn and print each figure line (``make bench``; ``QUICK=1`` reduced).

    NAME ratio=X target=Y met|MISSED key=value ...

Results are also appended, one JSON object per figure, to
``.cache/bench/results-quick.jsonl`` / ``results-full.jsonl`` (for BENCHMARKS.md).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, CACHE, quick  # noqa: E402

SCRIPTS = ("collector.py", "agent_anchor.py", "job_events.py", "fleet.py", "fleet_rate.py", "callback.py", "engine.py",
           "engine_pg.py", "report_render.py", "report_open.py", "fleet_days.py", "store_kills.py")


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal:")), 0)
    return f"nproc={os.cpu_count()} cpu={cpu!r} memory={mem / 2**20:.1f}GiB python={platform.python_version()}"


def main() -> int:
    CACHE.mkdir(parents=True, exist_ok=True)
    results = CACHE / f"results-{'quick' if quick() else 'full'}.jsonl"
    results.unlink(missing_ok=True)
    env = {**os.environ, "FLEETSAM_BENCH_RESULTS": str(results), "PYTHONUNBUFFERED": "1"}
    print(f"# fleetsam benchmarks ({'QUICK' if quick() else 'full'}): {machine()}", flush=True)
    failed, lines, t0 = [], [], time.perf_counter()
    for script in SCRIPTS:
        path = BENCH / script
        if not path.exists():
            continue
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            print(line, end="", flush=True)
            if " ratio=" in line and not line.startswith(" "):
                lines.append(line.rstrip())
        if proc.wait() != 0:
            failed.append(script)
        print(f"  # {script}: {time.perf_counter() - started:.0f} s", flush=True)
    print(f"# all figures ({time.perf_counter() - t0:.0f} s):")
    for line in lines:
        print(line)
    if failed:
        print(f"# benchmark scripts that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
