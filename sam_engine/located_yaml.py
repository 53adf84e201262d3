"""Located reading of small YAML configuration files (``policy.yml``, ``notify.yml``).

Configuration is read from the YAML node tree, not from plain Python values,
so every mistake points at its place in the file::

    policy.yml:7:17: thresholds.stale_days: expected a number, got "a week"

``ConfigReader`` collects every problem of a file instead of stopping at the
first one; the caller raises ``ConfigError`` (the CLI exits 2) once reading
is done. Values are checked for type only here; what they mean (a known
finding type, a valid SMTP URL) is checked by the module that owns them,
through ``ConfigReader.fail``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from sam_engine.model import Problem

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


def _position(problem: Problem) -> tuple[int, int]:
    parts = problem.source.rsplit(":", 2)
    return (int(parts[1]), int(parts[2])) if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else (0, 0)


class ConfigError(Exception):
    """A configuration file was rejected; ``problems`` say where and why."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(f"{p.source}: {p.message}" for p in self.problems))


class ConfigReader:
    """Typed, located access to one YAML file's nodes; problems are collected in ``problems``."""

    def __init__(self, path: str | Path, text: str | None = None):
        self.path = Path(path)
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None
        try:
            source = self.path.read_text(encoding="utf-8") if text is None else text
        except OSError as exc:
            self.problems.append(Problem(str(self.path), f"cannot read: {exc.strerror or exc}"))
            return
        try:
            self.root = yaml.compose(source, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{self.path}:{mark.line + 1}:{mark.column + 1}" if mark else str(self.path)
            self.problems.append(Problem(where, f"not valid YAML: {exc.problem or exc.context}"))
        except yaml.YAMLError as exc:
            self.problems.append(Problem(str(self.path), f"not valid YAML: {exc}"))

    # -- locations and problems ------------------------------------------------------------

    def at(self, node: yaml.Node | None) -> str:
        if node is None:
            return str(self.path)
        mark = node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def fail(self, node: yaml.Node | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.at(node), f"{field}: {message}"))

    def check(self) -> None:
        """Raise ``ConfigError`` when anything was wrong."""
        if self.problems:
            raise ConfigError(sorted(self.problems, key=_position))

    @staticmethod
    def _shown(node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return f'"{node.value}"'
        return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"

    @staticmethod
    def is_null(node: yaml.Node | None) -> bool:
        return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL)

    # -- structure -------------------------------------------------------------------------

    def mapping(self, node: yaml.Node | None, field: str, known: Iterable[str]) -> dict[str, yaml.Node]:
        """The keys of a mapping node (``{}`` for an empty/absent one); unknown keys are problems."""
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, field or "(top level)", f"expected a mapping, got {self._shown(node)}")
            return {}
        known = tuple(known)
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            where = f"{field}.{name}" if field else name
            if known and name not in known:
                self.fail(key, where, f"unknown field; expected one of {', '.join(known)}")
            elif name in out:
                self.fail(key, where, "given twice")
            else:
                out[name] = value
        return out

    def sequence(self, node: yaml.Node | None, field: str) -> list[yaml.Node]:
        if self.is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, field, f"expected a list, got {self._shown(node)}")
            return []
        return list(node.value)

    # -- scalars ---------------------------------------------------------------------------

    def text(self, node: yaml.Node | None, field: str, default: str | None = None) -> str | None:
        if self.is_null(node):
            return default
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL:
            self.fail(node, field, f"expected a text, got {self._shown(node)}")
            return default
        value = node.value.strip()
        if not value:
            self.fail(node, field, "expected a text, got an empty one")
            return default
        return value

    def text_list(self, node: yaml.Node | None, field: str) -> tuple[str, ...]:
        """A list of texts; a single text is a list of one."""
        if isinstance(node, yaml.ScalarNode) and not self.is_null(node):
            one = self.text(node, field)
            return (one,) if one else ()
        items = [self.text(item, f"{field}[{n}]") for n, item in enumerate(self.sequence(node, field))]
        return tuple(i for i in items if i)

    def number(self, node: yaml.Node | None, field: str, default: Decimal, minimum: Decimal = Decimal(0),
               whole: bool = False) -> Decimal:
        if self.is_null(node):
            return default
        kind = "a whole number" if whole else "a number"
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL:
            self.fail(node, field, f"expected {kind} >= {minimum}, got {self._shown(node)}")
            return default
        try:
            value = Decimal(node.value.strip().replace("_", ""))
        except InvalidOperation:
            self.fail(node, field, f'expected {kind} >= {minimum}, got "{node.value}"')
            return default
        if not value.is_finite() or value < minimum or (whole and value != value.to_integral_value()):
            self.fail(node, field, f'expected {kind} >= {minimum}, got "{node.value}"')
            return default
        return value

    def integer(self, node: yaml.Node | None, field: str, default: int, minimum: int = 0) -> int:
        return int(self.number(node, field, Decimal(default), Decimal(minimum), whole=True))

    def boolean(self, node: yaml.Node | None, field: str, default: bool) -> bool:
        if self.is_null(node):
            return default
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return node.value.lower() in ("true", "yes", "on", "y")
        self.fail(node, field, f"expected true or false, got {self._shown(node)}")
        return default

    def choice(self, node: yaml.Node | None, field: str, choices: Sequence[str], default: str | None) -> str | None:
        value = self.text(node, field)
        if value is None:
            return default
        if value not in choices:
            self.fail(node, field, f'expected one of {", ".join(choices)}, got "{value}"')
            return default
        return value
