"""The long ``kill -9`` loop over store commits (#18; the suite runs a short one).

Stores a ``fleetgen.py`` fleet once, then starts ``--kills`` real ``fleetsam
ingest`` processes on spools of it (a new scan id each, the host files linked,
not copied) and kills each with SIGKILL at a random moment of its run. After
every kill the store must open and every stored scan must load whole; a last
run goes to its end and must leave no temporary file beside the store.

Prints one JSON line: kills, how many fell inside a run, scans stored, the
temporary files found before the last run (left by killed commits) and after
it (must be 0). Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sam_engine.store import open_store

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import quick  # noqa: E402


def _spool(base: Path, scan_id: str, day: int) -> Path:
    """A copy of ``base`` under a new scan id: run.json rewritten, host files hard-linked."""
    spool = base.parent / scan_id
    (spool / "hosts").mkdir(parents=True)
    meta = json.loads((base / "run.json").read_text())
    when = f"2026-{1 + day // 28:02}-{1 + day % 28:02}T01:00:00Z"
    (spool / "run.json").write_text(json.dumps({**meta, "scan_id": scan_id, "started": when, "finished": when}))
    for path in (base / "hosts").iterdir():
        os.link(path, spool / "hosts" / path.name)
    return spool


def _check(store: Path) -> int:
    """The number of stored scans; raises when one does not load whole."""
    with open_store(str(store), create=False, readonly=True) as st:
        infos = st.scans()
        for info in infos:
            run = st.load_run(info.scan_id)
            if len(run.hosts) != info.hosts_ok + info.hosts_unreachable + info.hosts_failed:
                raise AssertionError(f"scan {info.scan_id}: {len(run.hosts)} hosts stored, its record says otherwise")
    return len(infos)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10 if quick() else 100)
    parser.add_argument("--hosts", type=int, default=40 if quick() else 200)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fleetsam-kills-"))
    try:
        base = work / "spools" / "base"
        subprocess.run([sys.executable, str(HERE / "fleetgen.py"), str(base), "--hosts", str(args.hosts)],
                       check=True, stdout=subprocess.DEVNULL)
        store = work / "store" / "db.json"
        env = {**os.environ, "FLEETSAM_REPORT_DIR": str(work / "reports"), "FLEETSAM_INGEST_WORKERS": "1"}

        def ingest(k: int) -> subprocess.Popen:
            spool = _spool(base, f"k{k:04}", k)
            return subprocess.Popen([sys.executable, "-m", "sam_engine.cli.main", "--store", str(store), "ingest",
                                     str(spool), "--no-installations-csv"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        started = time.monotonic()
        if ingest(0).wait() != 0:
            raise AssertionError("the first run failed")
        one_run = time.monotonic() - started
        inside = 0
        for k in range(1, args.kills + 1):
            proc = ingest(k)
            time.sleep(rng.uniform(0.5, 1.5) * one_run)  # around the end of a run, where the commit is
            if proc.poll() is None:
                proc.kill()  # this process only
                inside += 1
            proc.wait()
            _check(store)
        left = [p.name for p in store.parent.iterdir() if p.name.startswith(".db.json.")]
        if ingest(args.kills + 1).wait() != 0:
            raise AssertionError("the last run failed")
        after = [p.name for p in store.parent.iterdir() if p.name.startswith(".db.json.")]
        print(json.dumps({"kills": args.kills, "inside_a_run": inside, "scans_stored": _check(store),
                          "temp_files_before_last_run": len(left), "temp_files_after": len(after),
                          "one_run_s": round(one_run, 2)}))
        return 0 if not after else 1
    except AssertionError as exc:
        print(f"store_kills: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
