"""Figure 1: fleetsam.sam.software_facts against ansible.builtin.package_facts on one host.

Both run through ansible-playbook in the same run, over the same (local)
connection and interpreter (/usr/bin/python3, which has the apt bindings
package_facts uses), alternating ``software_facts`` / ``package_facts`` pairs
(the first pair is warm-up). ``bench_timer`` records each task's wall time from
its start to its result: module transfer, execution and result included.

    collector  software_facts / package_facts per pair: the median of the pairs, with their range   target 0.5

It also checks "more fields": the record keys each returns.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH, VENV_BIN, ansible_env, emit_rounds, median, note, quick, run  # noqa: E402

PYTHON = "/usr/bin/python3"


def main() -> int:
    reps = 2 if quick() else 8
    with tempfile.TemporaryDirectory(prefix="fleetsam-bench-collector-") as tmp:
        tmp = Path(tmp)
        (tmp / "inventory.yml").write_text(
            f"all:\n  hosts:\n    bench-local:\n      ansible_connection: local\n"
            f"      ansible_python_interpreter: {PYTHON}\n")
        times = tmp / "times.jsonl"
        env = ansible_env(ANSIBLE_CALLBACK_PLUGINS=str(BENCH / "callback_plugins"),
                          ANSIBLE_CALLBACKS_ENABLED="bench_timer", FLEETSAM_BENCH_TIMES=str(times))
        result = run([VENV_BIN / "ansible-playbook", "-i", tmp / "inventory.yml",
                      BENCH / "playbooks" / "collector.yml", "-e", f"bench_reps={reps}",
                      "-e", f"bench_out={tmp / 'fields.json'}"], env=env)
        rows = [json.loads(line) for line in times.read_text().splitlines()]
        pf = [r["wall"] for r in rows if r["action"] == "ansible.builtin.package_facts"][1:]
        sf = [r["wall"] for r in rows if r["action"] == "fleetsam.sam.software_facts"][1:]
        fields = json.loads((tmp / "fields.json").read_text())
    more = len(fields["software_facts_fields"]) > len(fields["package_facts_fields"])
    emit_rounds("collector", sf, pf, 0.5, software_facts_s=median(sf), package_facts_s=median(pf),
                records=fields["software_facts_records"], packages=fields["package_facts_packages"],
                fields=f"{len(fields['software_facts_fields'])}+host:{len(fields['software_facts_host_facts'])}"
                       f"_vs_{len(fields['package_facts_fields'])}", more_fields=more, rss_mb=round(result["rss_mb"]))
    note(f"software_facts record: {', '.join(fields['software_facts_fields'])}; "
         f"package_facts: {', '.join(fields['package_facts_fields'])}")
    return 0 if more else 1


if __name__ == "__main__":
    sys.exit(main())
