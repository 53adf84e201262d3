"""Figure: the size of one host's job event under ansible-runner's ``awx_display`` (what AWX stores).

``playbooks/scan.yml`` runs through ``ansible_runner.run`` (a private data
dir, this machine over the local connection: its own dpkg database), with the
``fleetsam.sam.collector`` callback, as an AWX job runs it. The figure is the
``runner_on_ok`` event of the collector task, as runner writes it to
``artifacts/<ident>/job_events/`` (the JSON AWX receives), against 8 KB.

For comparison, the same job without the collector callback (so nothing is
handed over: the module's whole result is in the event, as before the
hand-over) is measured too (``inline_bytes``).

    job_event_size   event bytes / 8,192   target 1

QUICK and full are the same run: one host, a few seconds each.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, VENV_BIN, ansible_env, emit, note  # noqa: E402

TARGET_BYTES = 8 * 1024
COLLECTOR = "fleetsam.sam.collect"  # the role's one task


def collector_event(work: Path, callbacks: bool) -> tuple[dict, Path]:
    """The collector task's runner_on_ok event of one ansible-runner job, as runner stored it."""
    import ansible_runner

    private = work / ("private" if callbacks else "private-inline")
    private.mkdir()
    config = REPO / "ansible.cfg"
    if not callbacks:  # the project's configuration without the collector callback
        text = config.read_text().replace("callbacks_enabled = fleetsam.sam.collector\n", "")
        text = text.replace("./", f"{REPO}/")
        config = work / "ansible-inline.cfg"
        config.write_text(text)
    env = ansible_env(ANSIBLE_CONFIG=str(config), FLEETSAM_STORE=str(work / "store.json"),
                      FLEETSAM_SPOOL_DIR=str(work / "spool"), FLEETSAM_INSTALLATIONS_CSV="false")
    result = ansible_runner.run(private_data_dir=str(private), project_dir=str(REPO), playbook="playbooks/scan.yml",
                                inventory=str(work / "hosts.ini"), quiet=True,
                                envvars={k: v for k, v in env.items() if k.startswith(("ANSIBLE_", "FLEETSAM_"))})
    if result.status != "successful":
        raise SystemExit(f"ansible-runner job {result.status}: {result.stdout.read()[-2000:]}")
    artifacts = Path(result.config.artifact_dir)
    for path in sorted((artifacts / "job_events").glob("*.json")):
        event = json.loads(path.read_text())
        if event["event"] == "runner_on_ok" and event["event_data"].get("resolved_action") == COLLECTOR:
            return event, path
    raise SystemExit("no runner_on_ok event of the collector task")


def main() -> int:
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # runner finds ansible-playbook there
    with tempfile.TemporaryDirectory(prefix="fleetsam-bench-events-") as tmp:
        work = Path(tmp)
        (work / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        event, path = collector_event(work, callbacks=True)
        inline, inline_path = collector_event(work, callbacks=False)
        size, before = path.stat().st_size, inline_path.stat().st_size
        res = event["event_data"]["res"]
        packages = sum(s["count"] for s in res["sources"].values())
        largest = max(((k, len(json.dumps(v))) for k, v in res.items()), key=lambda kv: kv[1])
    emit("job_event_size", size, TARGET_BYTES, 1, event_bytes=size, target_bytes=TARGET_BYTES, inline_bytes=before,
         packages=packages, handed_over_bytes=res["fleetsam_handoff"]["bytes"], largest_field=f"{largest[0]}:{largest[1]}")
    note(f"one host's runner_on_ok event: {size:,} B with the collector callback, {before:,} B with the whole "
         f"result in it ({packages} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
