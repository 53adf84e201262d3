"""Figure 3: the overhead of the fleetsam.sam.collector callback.

200 inventory hosts (QUICK: 8) with ``ansible_connection=local`` run
``playbooks/scan.yml`` (the collector) without the callback and with it
(spooling each result, then ingest, store, reconcile, findings and report at the
end). Each round runs, one after the other: without the callback; with it as a
first scan (no store, no recognition cache); with it again into the store the
first scan left (a new scan: the nightly case, the store's recognition cache
warm). Three rounds; each figure is the median of the rounds' ratios, with
their range. forks 25 (ansible.cfg).

    callback         wall(with callback, first scan) / wall(without)   target 1.05
    callback_repeat  wall(with callback, repeat scan) / wall(without)  target 1.05
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, VENV_BIN, ansible_env, emit_rounds, median, note, quick, run  # noqa: E402


def inventory(path: Path, hosts: int) -> None:
    lines = ["all:", "  vars:", "    ansible_connection: local", f"    ansible_python_interpreter: {sys.executable}",
             "  hosts:"]
    lines += [f"    bench{n:04d}:" for n in range(hosts)]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    hosts, rounds = (8, 3) if quick() else (200, 3)
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
        withouts, withs, repeats = [], [], []
        for _ in range(rounds):
            withouts.append(run(argv, env=without_env, log=tmp / "without.log")["wall"])
            for name in ("store.json", "store.json.recognition"):  # a first scan: no store, no recognition cache
                (tmp / name).unlink(missing_ok=True)
            first = run(argv, env=with_env, log=tmp / "with.log")
            withs.append(first["wall"])
            repeats.append(run(argv, env=with_env, log=tmp / "repeat.log")["wall"])
        summary = [ln for ln in (tmp / "with.log").read_text().splitlines() if ln.startswith("fleetsam:")]
        stored = (tmp / "store.json").exists()
    without = median(withouts)
    emit_rounds("callback", withs, withouts, 1.05, hosts=hosts, with_s=median(withs), without_s=without,
                overhead_s=median(withs) - without, rss_mb=round(first["rss_mb"]), stored=stored)
    emit_rounds("callback_repeat", repeats, withouts, 1.05, hosts=hosts, with_s=median(repeats), without_s=without,
                overhead_s=median(repeats) - without)
    for line in summary[:3]:
        note(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
