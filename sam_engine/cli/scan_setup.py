"""What ``fleetsam scan`` hands to ansible-runner: the playbook and collection it runs, the
environment, the extra vars (as private files) and the hosts the run targets.

The scan playbook is the collection's ``playbooks/scan.yml``, found in the
checkout's ``collections/`` (where ``fleetsam`` is installed from the
repository) or else on Ansible's configured collections path (a collection
installed with ``ansible-galaxy``, as in an execution environment).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from sam_engine.cli.exit_codes import BadInput

COLLECTOR_CALLBACK = "fleetsam.sam.collector"
PLAYBOOK_IN_COLLECTION = Path("ansible_collections", "fleetsam", "sam", "playbooks", "scan.yml")
# awx_display copies each module result into its job event; the scan needs only the host and the
# task, so results over this many characters are left out of the events (the collector callback
# still gets them whole, in the ansible-playbook process)
EVENT_RESULT_LIMIT = "16384"


def _ansible_config():
    """Ansible's settings as ansible-playbook will read them here (ansible.cfg, ANSIBLE_* variables)."""
    from ansible import constants

    return constants


def find_playbook() -> tuple[Path, Path]:
    """``(playbook, collections folder)``: the fleetsam collection's ``scan.yml`` and the folder to
    put on the collections path so that its role resolves. Raises ``BadInput`` when not installed."""
    checkout = Path(__file__).resolve().parents[2] / "collections"
    places = [checkout, *(Path(p) for p in _ansible_config().COLLECTIONS_PATHS)]
    for place in places:
        root = place.parent if place.name == "ansible_collections" else place
        if (root / PLAYBOOK_IN_COLLECTION).is_file():
            return (root / PLAYBOOK_IN_COLLECTION).resolve(), root
    raise BadInput("the fleetsam.sam collection (its playbooks/scan.yml) is not installed: looked in "
                   + ", ".join(str(p) for p in places) + "; install it with "
                   "'ansible-galaxy collection install fleetsam-sam-*.tar.gz' or run from the checkout")


def _unique(items) -> list[str]:
    return list(dict.fromkeys(str(i) for i in items if str(i)))


def runner_env(collections: Path, spool_parent: Path) -> dict[str, str]:
    """The variables ansible-playbook runs with, beside the caller's environment (which ansible-runner
    passes on): the collection on the collections path, the collector callback enabled but only
    spooling into ``spool_parent`` (this command runs the engine), and host key checking as
    configured (ansible-runner would otherwise turn it off)."""
    config = _ansible_config()
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(_unique([collections, *config.COLLECTIONS_PATHS])),
        "ANSIBLE_CALLBACKS_ENABLED": ",".join(_unique([*config.CALLBACKS_ENABLED, COLLECTOR_CALLBACK])),
        "ANSIBLE_HOST_KEY_CHECKING": str(bool(config.HOST_KEY_CHECKING)),
        "FLEETSAM_ENGINE": "false",
        "FLEETSAM_SPOOL_DIR": str(spool_parent),
        "MAX_EVENT_RES": os.environ.get("MAX_EVENT_RES", EVENT_RESULT_LIMIT),
    }
    tools = Path(sys.executable).parent  # the ansible-playbook installed beside fleetsam comes first
    if (tools / "ansible-playbook").exists():
        env["PATH"] = os.pathsep.join([str(tools), os.environ.get("PATH", "")])
    elif not shutil.which("ansible-playbook"):
        raise BadInput("ansible-playbook is not installed (pip install ansible-core)")
    return env


def extra_vars_args(values: list[str], folder: Path) -> list[str]:
    """``-e @FILE`` arguments for the ``-e`` values, in order: inline values are written to files
    only this user can read (``folder``), so that a secret passed with ``-e`` never shows on a
    command line, in a process list or in ansible-runner's artifacts. ``@FILE`` is passed on."""
    from ansible.parsing.splitter import parse_kv

    args: list[str] = []
    for n, value in enumerate(values):
        text = value.strip()
        if text.startswith("@"):
            args += ["-e", value]
            continue
        if not text.startswith(("{", "[")):  # key=value pairs, as ansible-playbook reads them
            pairs = parse_kv(text)
            if "_raw_params" in pairs or not pairs:
                raise BadInput(f"-e {value!r}: expected key=value pairs, a YAML/JSON mapping or @FILE")
            text = json.dumps(pairs)
        path = folder / f"extra-vars-{n}.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        args += ["-e", f"@{path}"]
    return args


def parse_list_hosts(text: str) -> list[str]:
    """The hosts ``ansible-playbook --list-hosts`` prints (every play's, each once, in order)."""
    hosts: list[str] = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        head = line.strip()
        if head.startswith("hosts (") and head.endswith("):"):
            count = int(head[len("hosts ("):-2])
            hosts += [h.strip() for h in lines[n + 1:n + 1 + count]]
    return _unique(hosts)


def list_hosts(argv: list[str], env: dict[str, str]) -> list[str] | None:
    """The hosts the scan targets (after ``--limit`` and the play's host pattern, with its extra
    vars), as ansible-playbook itself selects them; None when it cannot say (its error then shows
    in the scan itself)."""
    import ansible_runner

    out, _err, rc = ansible_runner.run_command(executable_cmd="ansible-playbook", cmdline_args=[*argv, "--list-hosts"],
                                               envvars=env, quiet=True, runner_mode="subprocess", input_fd=None)
    return parse_list_hosts(out) if rc == 0 else None
