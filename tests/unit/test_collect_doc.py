"""fleetsam.sam.collect's RETURN documentation against what the module returns.

The keys each platform's collector can put in collect's result are listed in
``RETURNED`` and checked against the code: real runs of the action plugin on this
machine (local connection, a scratch root for the Linux collector, a stand-in
``virsh`` for hypervisor_facts), the role's own call included; the macOS
collector's assembly function, the hand-over the callback uses, and the
Windows and vCenter modules' sources for the collectors that cannot run here.
Every key returned must be documented with its type, and every documented key
must be one the code returns.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.fleetsam.sam.plugins.action import collect as collect_action
from ansible_collections.fleetsam.sam.plugins.action import macos_software_facts
from ansible_collections.fleetsam.sam.plugins.module_utils.macos_args import ARGUMENT_SPEC as MACOS_SPEC
from ansible_collections.fleetsam.sam.plugins.plugin_utils import spool

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = REPO / "plugins" / "modules"
# keys of every module result that RETURN does not document (Ansible's own, and the failure message)
COMMON = {"changed", "failed", "msg", "warnings", "deprecations", "invocation", "exception", "skipped"}
# platform -> the keys its collector can put in collect's result (besides COMMON)
RETURNED = {
    "posix": {"software_json", "software", "origins", "sources", "host", "users", "hypervisor", "hypervisor_error",
              spool.HANDOFF_KEY},
    "windows": {"windows", spool.HANDOFF_KEY},
    "macos": {"macos", spool.HANDOFF_KEY},
    "vcenter": {"vcenter"},
}
TYPES = {"str": str, "list": list, "dict": dict, "int": int, "bool": bool, "float": float}


def module_constant(path: Path, name: str) -> str:
    """The string constant ``name`` assigned at the top of the module file ``path``."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name}: no {name}")


@pytest.fixture(scope="module")
def documented() -> dict:
    doc = yaml.safe_load(module_constant(MODULES / "collect.py", "RETURN"))
    assert isinstance(doc, dict) and doc
    return doc


def test_every_documented_key_is_well_formed(documented):
    """What validate-modules asks of a return value: description, returned and type; a sample of that type."""
    for key, spec in documented.items():
        assert spec.get("description") and spec.get("returned") and spec.get("type") in TYPES, key
        assert isinstance(spec["sample"], TYPES[spec["type"]]), f"{key}: sample is not a {spec['type']}"
        if spec["type"] == "list":
            assert spec.get("elements") in TYPES, f"{key}: a list names its elements"
            assert all(isinstance(x, TYPES[spec["elements"]]) for x in spec["sample"]), key


def test_the_documented_keys_are_the_returned_ones(documented):
    assert set(documented) == set().union(*RETURNED.values())
    # the hand-over replaces each bulk field, all documented
    assert set(spool.RAW_FIELDS) | {spool.HANDOFF_KEY} <= set(documented)


# --- posix (and macOS on this Linux machine): real runs of the action plugin ---------------------------------

FAKE_VIRSH = """#!/bin/sh
# virsh -r -c URI COMMAND...: a host with no domains; the URI qemu:///broken cannot be read
[ "$3" = qemu:///broken ] && { echo "error: failed to connect to the hypervisor" >&2; exit 1; }
case "$4" in
  nodeinfo) printf 'CPU model:           x86_64\\nCPU(s):              4\\nCPU socket(s):       1\\n' ;;
  capabilities) printf '<capabilities><host><uuid>4c4c4544-0042-3510-8051-b4c04f4a4d32</uuid></host></capabilities>\\n' ;;
  hostname) echo kvm01 ;;
esac
"""


def playbook(tasks: list[dict], out: Path) -> list[dict]:
    """One play on localhost running ``tasks`` (each registered, failures ignored), then writing the
    registered results to ``out``."""
    names = [f"r{n}" for n in range(len(tasks))]
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        *({**task, "register": name, "ignore_errors": True} for task, name in zip(tasks, names)),
        {"ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % ", ".join(names), "dest": str(out)}}]}]
    return plays


def run(tmp: Path, name: str, tasks: list[dict], env: dict | None = None) -> list[dict]:
    """Run ``tasks`` with ansible-playbook (no callback plugin: nothing spools unless ``env`` says so)."""
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n"
                                     "interpreter_python = auto_silent\nretry_files_enabled = False\n")
    (tmp / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    out = tmp / f"{name}.json"
    (tmp / f"{name}.yml").write_text(yaml.safe_dump(playbook(tasks, out), sort_keys=False))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FLEETSAM_", "ANSIBLE_"))}
    environ.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), PATH=f"{tmp / 'bin'}{os.pathsep}{BIN}{os.pathsep}"
                   f"{environ.get('PATH', '')}", **(env or {}))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", "hosts.ini", f"{name}.yml"], cwd=tmp, env=environ,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def posix_runs(tmp_path_factory) -> dict[str, dict]:
    """collect's results on this machine: the role's own call (software_format json), records, a
    host with no package source, a hypervisor that answers and one that does not, macOS asked of a
    Linux host, and the role's call while the collector callback would spool the run."""
    tmp = tmp_path_factory.mktemp("collect")
    root = tmp / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b7\n\n")
    (tmp / "empty").mkdir()
    (tmp / "bin").mkdir()
    (tmp / "bin" / "virsh").write_text(FAKE_VIRSH)
    (tmp / "bin" / "virsh").chmod(0o755)
    (task,) = yaml.safe_load((REPO / "roles" / "software_inventory" / "tasks" / "main.yml").read_text())
    role_args = task["fleetsam.sam.collect"]
    assert role_args["software_facts"]["software_format"] == "json", "the role's call, as the RETURN doc says"

    def collect(software_facts=None, base=role_args, **args):
        merged = {**base, **args}
        merged["software_facts"] = {**base.get("software_facts", {}), "cloud_metadata": False, **(software_facts or {})}
        return {"fleetsam.sam.collect": merged}

    cases = {
        "role": collect({"root": str(root)}, hypervisor_facts={"uri": "qemu:///system"}),
        "records": collect({"root": str(root), "software_format": "records"},
                           hypervisor_facts={"uri": "qemu:///broken"}),
        "no_source": collect({"root": str(tmp / "empty")}),
        "macos": {"fleetsam.sam.collect": {"platform": "macos"}},
    }
    results = dict(zip(cases, run(tmp, "plain", list(cases.values()))))
    handoff = tmp / "handoff"
    handoff.mkdir()
    (results["handoff"],) = run(tmp, "handoff", [cases["role"]], {spool.HANDOFF_ENV: str(handoff)})
    return results


def returned(result: dict) -> set[str]:
    return {k for k in result if k not in COMMON and not k.startswith("_ansible")}


def test_the_runs_took_the_paths_they_stand_for(posix_runs):
    r = posix_runs
    assert not r["role"].get("failed") and isinstance(r["role"]["software_json"], str)
    assert json.loads(r["role"]["software_json"])[0]["name"] == "bash"
    assert r["role"]["hypervisor"]["hostname"] == "kvm01"
    assert r["records"]["failed"] and r["records"]["software"][0]["name"] == "bash"
    assert "qemu:///broken" in r["records"]["hypervisor_error"]
    assert r["no_source"]["failed"] and r["no_source"]["msg"] == "No package source could be read on this host"
    assert r["macos"]["failed"] and "not a macOS host" in r["macos"]["msg"]
    ref = r["handoff"][spool.HANDOFF_KEY]
    assert ref["field"] == "software_json" and "software_json" not in r["handoff"]


def test_posix_returns_only_documented_keys_of_the_documented_types(posix_runs, documented):
    seen = set()
    for case, result in posix_runs.items():
        keys = returned(result)
        seen |= keys
        assert keys <= set(documented), f"{case}: undocumented {sorted(keys - set(documented))}"
        for key in keys:
            assert isinstance(result[key], TYPES[documented[key]["type"]]), f"{case}: {key}"
    assert seen - {"macos"} == RETURNED["posix"]
    assert "macos" in seen <= RETURNED["posix"] | RETURNED["macos"]


# --- macOS, Windows and vCenter: the code that assembles their results -----------------------------------------

def test_macos_result(tmp_path, documented):
    args = {name: spec.get("default") for name, spec in MACOS_SPEC.items()}

    def execute(command):
        return {"rc": 0, "stdout": "#fleetsam-cmd uname\nDarwin 23.4.0 arm64\n", "stderr": ""}

    result = macos_software_facts.collect(execute, args)
    assert not result.get("failed") and returned(result) == {"macos"}
    assert isinstance(result["macos"], TYPES[documented["macos"]["type"]])
    handed = spool.hand_off(result, "mac1", str(tmp_path))
    assert returned(handed) == {spool.HANDOFF_KEY} and handed[spool.HANDOFF_KEY]["field"] == "macos"
    assert RETURNED["macos"] == {"macos", spool.HANDOFF_KEY}


def test_windows_result(tmp_path):
    """The PowerShell module (no pwsh here) sets one key of its result; the action plugin hands it over."""
    source = (MODULES / "win_software_facts.ps1").read_text()
    assert set(re.findall(r"\$module\.Result\.(\w+)\s*=", source)) == {"windows"}
    assert "$module.Result[" not in source
    handed = spool.hand_off({"changed": False, "windows": {"uninstall": []}}, "win1", str(tmp_path))
    assert returned(handed) == {spool.HANDOFF_KEY} == RETURNED["windows"] - {"windows"}


def test_vcenter_result():
    """vcenter_facts (no vCenter here) exits with these keys; collect returns them as they are (no hand-over)."""
    tree = ast.parse((MODULES / "vcenter_facts.py").read_text())
    exits = [{kw.arg for kw in node.keywords} for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "exit_json"]
    assert exits and set().union(*exits) - COMMON == RETURNED["vcenter"]
    assert "vcenter" not in spool.RAW_FIELDS


def test_the_hypervisor_keys_are_the_action_plugins():
    ok = collect_action.with_hypervisor({"changed": False}, {"changed": False, "hypervisor": {"platform": "libvirt"}})
    failed = collect_action.with_hypervisor({"changed": False}, {"failed": True, "msg": "no virsh"})
    assert returned(ok) | returned(failed) == {"hypervisor", "hypervisor_error"} <= RETURNED["posix"]
