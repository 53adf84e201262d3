"""Figure 1b: the agent-based anchor, an agentless collection against an inventory agent run locally.

What a host pays for one collection, against what it pays for an agent run: the
payload Ansible ships for ``fleetsam.sam.software_facts`` (the AnsiballZ file of a real
``ansible localhost -m fleetsam.sam.software_facts`` run, kept with
``ANSIBLE_KEEP_REMOTE_FILES``) run by the host's python, against
``fusioninventory-agent --local DIR``. Wall times alternate (QUICK: 2 rounds, full: 5);
the figure is the median of the rounds' ratios, with the packages each one found:

    agent_anchor  wall(the software_facts payload on the host)
                  / wall(fusioninventory-agent --local DIR)          target 1

The controller's side of a collection (the ``ansible`` command's start-up, inventory,
module build and result parsing) is Ansible's own: ``ping_vs_agent`` shows that one
``ansible -m ping`` already takes longer than the whole agent run on this machine. It is
printed, not targeted: the whole command against the agent (``command_vs_agent``) and
against ``ansible -m ping`` (``command_vs_ping``); per host in a fleet scan, where the
start-up is shared, it is bench/fleet_rate.py's figure (controller CPU against ``ping``,
target 1.2). Beside them: ``ansible localhost -m ansible.builtin.package_facts`` and
``dpkg-query -W``. software_facts' apt origin cache (module_utils/apt_origin_cache.py)
is warm in the rounds; one run after removing it first gives the cold figure (the first
scan after ``apt update``). The agent, Debian's fusioninventory-agent, is installed by
``tests/integration/install-deps.sh fusioninventory-agent`` (``make bench`` runs it);
without it the agent figures are reported as missing, not guessed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, VENV_BIN, ansible_env, emit_rounds, median, note, quick  # noqa: E402

AGENT = "fusioninventory-agent"
HOST_PYTHON = "/usr/bin/python3"  # the host's own python, as on a scanned host
ORIGIN_CACHE = Path("/var/cache/fleetsam/apt-origins.json")  # root's (apt_origin_cache.ROOT_CACHE)


def timed(argv: list, env: dict | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(a) for a in argv], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, proc.stdout


def adhoc_result(stdout: str) -> dict:
    """The result of ``ansible localhost -m X`` as its default (minimal) stdout callback prints it."""
    return json.loads(stdout[stdout.index("{"):])


def counts(outputs: dict) -> dict:
    sf = adhoc_result(outputs["software_facts"])
    pf = adhoc_result(outputs["package_facts"])["ansible_facts"]["packages"]
    payload = json.loads(outputs["payload"])
    found = {"software_facts": len(json.loads(sf["software_json"])), "payload": len(json.loads(payload["software_json"])),
             "package_facts": sum(len(v) for v in pf.values()),
             "dpkg_query": len(outputs["dpkg_query"].splitlines())}
    if outputs.get("agent"):
        found["agent"] = len(re.findall(r"<SOFTWARES>", outputs["agent"]))
    return found


def shipped_payload(command: list, env: dict, tmp: Path) -> Path:
    """The AnsiballZ file a real ``ansible localhost -m fleetsam.sam.software_facts`` run ships to the
    host (its arguments inside), kept where Ansible wrote it: without pipelining it is a file."""
    remote = tmp / "remote"
    timed(command, {**env, "ANSIBLE_PIPELINING": "False", "ANSIBLE_KEEP_REMOTE_FILES": "1",
                  "ANSIBLE_REMOTE_TMP": str(remote)})
    found = sorted(remote.glob("*/AnsiballZ_software_facts.py"))
    if len(found) != 1:
        raise RuntimeError(f"expected one kept AnsiballZ_software_facts.py under {remote}, found {len(found)}")
    return found[0]


def main() -> int:
    rounds = 2 if quick() else 5
    agent = shutil.which(AGENT)
    with tempfile.TemporaryDirectory(prefix="fleetsam-bench-anchor-") as tmp:
        tmp = Path(tmp)
        env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal")
        adhoc = [VENV_BIN / "ansible", "localhost", "-c", "local", "-e", f"ansible_python_interpreter={HOST_PYTHON}"]
        collect = adhoc + ["-m", "fleetsam.sam.software_facts", "-a", "software_format=json"]
        commands = {
            "software_facts": collect,
            "payload": [HOST_PYTHON, shipped_payload(collect, env, tmp)],
            "package_facts": adhoc + ["-m", "ansible.builtin.package_facts"],
            "ping": adhoc + ["-m", "ansible.builtin.ping"],
            "dpkg_query": ["dpkg-query", "-W"],
        }
        if agent:
            commands["agent"] = [agent, "--local", tmp / "agent"]
        ORIGIN_CACHE.unlink(missing_ok=True)  # the host's own cache file: the next run rebuilds it
        cold, _ = timed(commands["software_facts"], env)
        walls, outputs = {name: [] for name in commands}, {}
        for _ in range(rounds):
            for name, argv in commands.items():
                if name == "agent":
                    shutil.rmtree(tmp / "agent", ignore_errors=True)
                    (tmp / "agent").mkdir()
                wall, outputs[name] = timed(argv, env)
                walls[name].append(wall)
        outputs["agent"] = "".join(p.read_text(errors="replace") for p in (tmp / "agent").glob("*.ocs"))
    found = counts(outputs)
    med = {name: median(values) for name, values in walls.items()}
    if found["payload"] != found["software_facts"]:
        raise RuntimeError(f"the kept payload found {found['payload']} packages, the ansible run {found['software_facts']}")
    if agent:
        emit_rounds("agent_anchor", walls["payload"], walls["agent"], 1.0,
                    payload_s=med["payload"], agent_s=med["agent"], software_facts_s=med["software_facts"],
                    package_facts_s=med["package_facts"], dpkg_query_s=med["dpkg_query"], ping_s=med["ping"],
                    cold_cache_s=cold, load1=round(os.getloadavg()[0], 2),
                    command_vs_agent=round(med["software_facts"] / med["agent"], 3),
                    command_vs_ping=round(med["software_facts"] / med["ping"], 3),
                    ping_vs_agent=round(med["ping"] / med["agent"], 3))  # Ansible's own floor against the agent
    else:
        note(f"{AGENT} is not installed (tests/integration/install-deps.sh fusioninventory-agent): no agent_anchor figure")
    for name in commands:
        note(f"{name}: {med[name]:.3f} s (range {min(walls[name]):.3f}-{max(walls[name]):.3f}), "
             f"packages found: {found.get(name, '-')}")
    note(f"software_facts with its apt origin cache removed first: {cold:.3f} s")
    return 0 if agent else 1


if __name__ == "__main__":
    sys.exit(main())
