"""Shared helpers of the benchmarks: figure lines, timed child processes, peak RSS.

Every benchmark prints one line per figure::

    NAME ratio=X target=Y key=value ...

``ratio`` is the measured value divided by a baseline measured in the same run
(or, for memory, by the limit); the figure is met when ``ratio <= target``.
Absolute times are seconds, memory is MiB (peak resident set size).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
VENV_BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("FLEETSAM_BENCH_CACHE") or REPO / ".cache" / "bench")
RESULTS: list[dict] = []


@contextlib.contextmanager
def work_dir(name: str):
    """A work directory of this run alone under the cache (removed afterwards): runs started side
    by side never share a store or report directory."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=CACHE))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def cache_lock(name: str):
    """An exclusive lock on one shared cache entry (a generated fleet) while it is made or extended."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def quick() -> bool:
    return os.environ.get("QUICK", "") not in ("", "0")


def emit(name: str, value: float, baseline: float, target: float, **extra) -> dict:
    """Print one figure line: ``value / baseline`` against ``target``; returns the record."""
    return _figure(name, value / baseline if baseline else float("inf"), target, extra)


def emit_rounds(name: str, values, baselines, target: float, **extra) -> dict:
    """One figure from rounds that measured value and baseline side by side: the median of the
    rounds' ratios, with ``rounds=N range=LOW-HIGH`` (a baseline may be a fixed limit)."""
    ratios = sorted(v / b if b else float("inf") for v, b in zip(values, baselines, strict=True))
    spread = {"rounds": len(ratios), "range": f"{ratios[0]:.3f}-{ratios[-1]:.3f}"}
    return _figure(name, median(ratios), target, {**spread, **extra})


def _figure(name: str, ratio: float, target: float, extra: dict) -> dict:
    shown = " ".join(f"{k}={_fmt(v)}" for k, v in extra.items())
    status = "met" if ratio <= target else "MISSED"
    print(f"{name} ratio={ratio:.3f} target={target:g} {status} {shown}".rstrip(), flush=True)
    record = {"name": name, "ratio": round(ratio, 4), "target": target, "met": ratio <= target, **extra}
    RESULTS.append(record)
    out = os.environ.get("FLEETSAM_BENCH_RESULTS")
    if out:
        with open(out, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    return record


def note(text: str) -> None:
    print(f"  # {text}", flush=True)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


class Timeout(Exception):
    pass


def run(argv: list[str], env: dict | None = None, cwd: Path | None = None, check: bool = True,
        log: Path | None = None, timeout: float | None = None) -> dict:
    """Run a command; wall time (s), peak RSS of its largest process (MiB), return code.

    The child runs under ``bench/_rss.py``, which waits for it and reads
    ``RUSAGE_CHILDREN``: the peak of the biggest process of the command's tree.
    On ``timeout`` the command's own process group (started here) is killed: ``Timeout``.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(BENCH / "_rss.py"), *map(str, argv)], env=env, cwd=cwd or REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this call created: the command and its children
        proc.communicate()
        raise Timeout(f"{' '.join(map(str, argv))}: no result within {timeout:.0f} s") from None
    wall = time.perf_counter() - t0
    lines = stdout.splitlines()
    stats = json.loads(lines[-1]) if lines and lines[-1].startswith("{\"rss_kb\"") else {"rss_kb": 0}
    output = "\n".join(lines[:-1])
    if log:
        log.write_text(output)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{output[-4000:]}")
    return {"wall": wall, "rss_mb": stats["rss_kb"] / 1024, "rc": proc.returncode, "output": output}


def python_job(code: str, *args: str, env: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (peak RSS is then its own); its last stdout line is JSON."""
    result = run([sys.executable, "-c", code, *args], env=env)
    lines = [ln for ln in result["output"].splitlines() if ln.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    data.setdefault("rss_mb", result["rss_mb"])
    data["process_wall"] = result["wall"]
    return data


def script_job(script: Path, *args, env: dict | None = None, timeout: float | None = None) -> dict:
    """Run a bench script in a fresh interpreter; its last JSON stdout line, plus its peak RSS."""
    result = run([sys.executable, str(script), *map(str, args)], env=env, timeout=timeout)
    lines = [ln for ln in result["output"].splitlines() if ln.startswith("{")]
    data = json.loads(lines[-1]) if lines else {}
    data.setdefault("rss_mb", result["rss_mb"])
    data["process_wall"] = result["wall"]
    return data


def median(values) -> float:
    return statistics.median(values)


def self_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ansible_env(**extra: str) -> dict:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0", "ANSIBLE_DEPRECATION_WARNINGS": "0"}
    env.update(extra)
    return env
