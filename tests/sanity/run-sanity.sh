#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection, offline but for the package index.
# ansible-test needs the collection under ansible_collections/<ns>/<name>: copy the
# collection's content there (a symlinked path resolves back to the repository root).
# The collection is what ansible-galaxy builds: plugins, roles, playbooks, meta and
# docs; the engine (sam_engine/) is a Python package checked by its own test suite.
# validate-modules inspects a PowerShell module's argument spec with pwsh, which this
# machine does not have: the Windows module is left out of that one test (its
# documentation is still checked by the ansible-doc test, its syntax by
# tests/unit/test_powershell_syntax.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${VENV:-$repo/.venv}
work=$repo/build/sanity/ansible_collections/fleetsam/sam
pip_version=$("$venv/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages as g; from types import SimpleNamespace as N; print(g(N(version="3.11"))["pip"])')
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
cp "$repo/tests/sanity/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"
rm -rf "$repo/build/sanity"
mkdir -p "$work"
content=(plugins roles playbooks meta changelogs galaxy.yml README.md LICENSE)
(cd "$repo" && git ls-files --cached --others --exclude-standard -z -- "${content[@]}" | xargs -0 cp --parents -t "$work")
cd "$work"
printf "/tests/output/\n" > .gitignore   # ansible-test's own work files
git init -q . && git add -A   # ansible-test asks git which files belong to the collection
test=("$venv/bin/ansible-test" sanity --venv --python 3.11 "$@")
"${test[@]}" --skip-test validate-modules
"${test[@]}" --test validate-modules --exclude plugins/modules/win_software_facts.ps1
