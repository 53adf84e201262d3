"""Figure 3: the overhead of the fleetsam.sam.collector callback.

500 inventory hosts (QUICK: 8) with ``ansible_connection=local`` run
``playbooks/scan.yml`` (the collector) without the callback and with it
(spooling each result, then ingest, store, reconcile, findings and report at the
end), alternately, twice each (QUICK: once); the fastest of each counts.
Each run with the callback is a first scan (no store, no recognition cache);
then the same runs again with the callback into the store the last one left
(a new scan: the nightly case, the store's recognition cache warm).
forks 25 (ansible.cfg).

    callback         wall(with callback, first scan) / wall(without)   target 1.05
    callback_repeat  wall(with callback, repeat scan) / wall(without)  target 1.05
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, VENV_BIN, ansible_env, emit, note, quick, run  # noqa: E402


def inventory(path: Path, hosts: int) -> None:
    lines = ["all:", "  vars:", "    ansible_connection: local", f"    ansible_python_interpreter: {sys.executable}",
             "  hosts:"]
    lines += [f"    bench{n:04d}:" for n in range(hosts)]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    hosts, reps = (8, 1) if quick() else (500, 2)
    with tempfile.TemporaryDirectory(prefix="fleetsam-bench-callback-") as tmp:
        tmp = Path(tmp)
        inventory(tmp / "inventory.yml", hosts)
        argv = [VENV_BIN / "ansible-playbook", "-i", tmp / "inventory.yml", REPO / "playbooks" / "scan.yml"]
        common = dict(FLEETSAM_STORE=str(tmp / "store.json"), FLEETSAM_REPORT_DIR=str(tmp / "reports"),
                      FLEETSAM_SPOOL_DIR=str(tmp / "spool"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default",
                      FLEETSAM_LICENCES=str(REPO / "examples" / "licences"))  # reconciled against some entitlements
        # a stdout-type callback in the list is skipped: this enables no extra callback at all
        without_env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.minimal", **common)
        with_env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="fleetsam.sam.collector", **common)
        withouts, withs = [], []
        for _ in range(reps):  # alternate; the fastest of each counts (noise on a shared machine only adds)
            withouts.append(run(argv, env=without_env, log=tmp / "without.log"))
            for name in ("store.json", "store.json.recognition"):  # every run with the callback is a first scan
                (tmp / name).unlink(missing_ok=True)
            withs.append(run(argv, env=with_env, log=tmp / "with.log"))
        repeat = run(argv, env=with_env, log=tmp / "repeat.log")
        without, with_cb = min(withouts, key=lambda r: r["wall"]), min(withs, key=lambda r: r["wall"])
        summary = [ln for ln in (tmp / "with.log").read_text().splitlines() if ln.startswith("fleetsam:")]
        stored = (tmp / "store.json").exists()
    emit("callback", with_cb["wall"], without["wall"], 1.05, hosts=hosts, reps=reps, with_s=with_cb["wall"],
         without_s=without["wall"], overhead_s=with_cb["wall"] - without["wall"], rss_mb=round(with_cb["rss_mb"]),
         rss_mb_without=round(without["rss_mb"]), stored=stored)
    emit("callback_repeat", repeat["wall"], without["wall"], 1.05, hosts=hosts, with_s=repeat["wall"],
         without_s=without["wall"], overhead_s=repeat["wall"] - without["wall"])
    for line in summary[:3]:
        note(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
