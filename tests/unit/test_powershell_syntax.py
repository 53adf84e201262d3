"""Every PowerShell module parses: no PowerShell runs here, so tree-sitter-powershell checks the syntax.

The grammar (PyPI ``tree-sitter-powershell``, with ``tree-sitter``) reports a
false ERROR for comma-separated command arguments (``Get-Foo -Name a, b``),
which PowerShell accepts. The modules are written around it - an explicit
array, ``-Name @('a', 'b')`` - so every ERROR or MISSING node fails the test;
``test_known_false_positive`` records the grammar's limitation, and fails
once a grammar release fixes it, so this note can go.
"""

from pathlib import Path

import pytest
import tree_sitter as ts  # a missing parser is a failure, not a skip: `pip install -e '.[test]'`
import tree_sitter_powershell as ts_powershell

MODULES = sorted((Path(__file__).resolve().parents[2] / "plugins" / "modules").glob("*.ps1"))
PARSER = ts.Parser(ts.Language(ts_powershell.language()))


def syntax_errors(source: bytes) -> list[str]:
    """``line:column: ERROR|MISSING <text>`` for each bad node, 1-based."""
    found, stack = [], [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, col = node.start_point
            kind = f"MISSING {node.type}" if node.is_missing else "ERROR"
            text = source[node.start_byte:node.end_byte].decode("utf-8", "replace").splitlines() or [""]
            found.append(f"{row + 1}:{col + 1}: {kind} {text[0][:60]!r}")
        elif node.has_error:
            stack.extend(node.children)
    return sorted(found, key=lambda s: tuple(int(n) for n in s.split(":")[:2]))


def test_there_are_modules_to_check():
    assert [m.name for m in MODULES if m.name == "win_software_facts.ps1"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_parses(path):
    errors = syntax_errors(path.read_bytes())
    assert not errors, f"{path.name}: " + "; ".join(errors) + (
        " (a comma-separated command argument? write it as an array: -Name @('a', 'b'))")


@pytest.mark.parametrize("source", [
    "Function Foo {\n    if ($a) {\n        $b = 1\n}\n",  # a brace never closed
    "try { 1 } catch { 2\n",
    "$x = @{ a = 1\n$y = (1 +\n",
])
def test_broken_code_is_caught(source):
    assert syntax_errors(source.encode())


def test_known_false_positive():
    assert syntax_errors(b"Get-Foo -Name a, b\n")
    assert not syntax_errors(b"Get-Foo -Name @('a', 'b')\n$c = $d.Method('a', 'b')\n")
