"""Located reading of the engine's YAML files: every mistake a ``Problem`` at ``file:line:col``.

One reader serves every kind of YAML file the engine loads: the catalogue,
the metric rules (``core_factors.yml``, ``metric_rules.yml``), licence and
procurement mapping files, the users file, ``policy.yml`` and ``notify.yml``. The document is
composed (``yaml.compose``), not constructed, so each value keeps its line and
column and scalars stay the text that was written (``1.10`` is not the number
1.1, ``2025-01-31`` not yet a date). A mistake reads::

    policy.yml:7:17: thresholds.stale_days: expected a whole number >= 0, got "a week"

``YamlFile`` collects every problem of a file instead of stopping at the first
one: a syntax error, a wrong type, an unknown or repeated key. The typed
accessors return a default after reporting, so a loader reads on and finds the
next mistake too; it tells a rejected value by ``problems`` having grown.
Values are checked for type only here; what they mean (a known metric, a valid
SMTP URL) is checked by the loader that owns them, through ``fail``. Loaders
return their problems; ``policy.yml`` and ``notify.yml`` raise ``ConfigError``
through ``check`` because nothing of a half-read configuration is used.
"""

from __future__ import annotations

import codecs
import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Iterable, Sequence

import yaml

from sam_engine.model import Problem
from sam_engine.plain_text import one_line

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
MAX_DEPTH = 64  # deeper nesting is no data file of ours, and would exhaust the reading's recursion
# Values aliases may add to a file, beyond its own nodes: ten nested lists of ten aliases each ("billion
# laughs", 420 bytes) would otherwise expand to 10**10 values when read.
MAX_ALIAS_VALUES = 100_000
SHOWN_CHARS = 60  # a longer value is cut in messages


def quoted(text: str, conceal: Callable[[str], str] | None = None) -> str:
    """``text`` quoted for a message, as one inert line (``plain_text``), cut past ``SHOWN_CHARS``;
    ``conceal`` (a key mask) is applied to the whole text first, so the cut shows nothing it hides."""
    text = conceal(text) if conceal else text
    if len(text) > SHOWN_CHARS:
        return one_line(json.dumps(text[:SHOWN_CHARS - 20], ensure_ascii=False)) + f"... ({len(text)} characters)"
    return one_line(json.dumps(text, ensure_ascii=False))


def undecodable_at(data: bytes, error: UnicodeDecodeError, encoding: str) -> tuple[int, int, int]:
    """Offset in ``data``, line and byte of that line (1-based) of the byte ``error`` stopped at."""
    # utf-8-sig counts error positions after the byte order mark it skipped
    at = error.start + (len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0)
    return at, data.count(b"\n", 0, at) + 1, at - (data.rfind(b"\n", 0, at) + 1) + 1


def _position(problem: Problem) -> tuple[int, int]:
    parts = problem.source.rsplit(":", 2)
    return (int(parts[1]), int(parts[2])) if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else (0, 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _unreadable_shape(root: yaml.Node) -> tuple[yaml.Node, str] | None:
    """A node no loader could walk, and why: an alias inside its own anchor (a structure that
    contains itself), nesting deeper than ``MAX_DEPTH``, or aliases that expand the file by more than
    ``MAX_ALIAS_VALUES`` values. Walked without recursion; an alias is its anchor's node again."""
    on_path, sizes = {id(root)}, {}  # sizes: values each finished node expands to, aliases included
    kids = _children(root)
    stack = [(root, kids, iter(kids))]
    while stack:
        node, kids, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in kids)
        elif id(child) in on_path:
            return child, "an alias inside its own anchor (a structure that contains itself)"
        elif len(stack) >= MAX_DEPTH:
            return child, f"nested deeper than {MAX_DEPTH} levels"
        elif id(child) not in sizes:
            on_path.add(id(child))
            kids = _children(child)
            stack.append((child, kids, iter(kids)))
    if sizes[id(root)] - len(sizes) <= MAX_ALIAS_VALUES:
        return None
    node = root  # point at the innermost structure that alone expands past the limit
    while (bigger := next((c for c in _children(node) if sizes[id(c)] > MAX_ALIAS_VALUES), None)) is not None:
        node = bigger
    return node, f"its aliases expand to more than {MAX_ALIAS_VALUES} values; write the data out instead"


class ConfigError(Exception):
    """A configuration file was rejected; ``problems`` say where and why."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(f"{one_line(p.source)}: {one_line(p.message)}" for p in self.problems))


class Fields(dict):
    """A mapping's value nodes by key; ``key_nodes`` holds each key's own node (to point at the key)."""

    def __init__(self) -> None:
        super().__init__()
        self.key_nodes: dict[str, yaml.Node] = {}


class YamlFile:
    """One YAML file's node tree (``root``) with typed, located access; problems collect in ``problems``.

    ``label`` is how the file is named in problems and origins (default: ``path``); ``kind``
    names what the file is in the problem of a file that cannot be read or parsed. ``conceal``
    masks the values problems quote, for files that may hold secrets (licence keys).
    """

    def __init__(self, path: str | Path, *, label: str | None = None, kind: str = "",
                 conceal: Callable[[str], str] | None = None):
        self.path = Path(path)
        self.label = label or str(path)
        self.conceal = conceal
        self.problems: list[Problem] = []
        self.root: yaml.Node | None = None
        cannot = f"cannot read {kind}" if kind else "cannot read"
        try:
            data = self.path.read_bytes()
            source = data.decode("utf-8-sig")
        except OSError as exc:
            self.problems.append(Problem(self.label, f"{cannot}: {exc.strerror or exc}"))
            return
        except UnicodeDecodeError as exc:
            at, line, column = undecodable_at(data, exc, "utf-8-sig")
            self.problems.append(Problem(f"{self.label}:{line}:{column}", f"{cannot}: not UTF-8 text (byte "
                                         f"0x{data[at]:02x}, offset {at} in the file); save it as UTF-8"))
            return
        invalid = f"{kind} is not valid YAML" if kind else "not valid YAML"
        try:
            root = yaml.compose(source, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{self.label}:{mark.line + 1}:{mark.column + 1}" if mark else self.label
            self.problems.append(Problem(where, f"{invalid}: {exc.problem or exc.context}"))
            return
        except yaml.YAMLError as exc:
            self.problems.append(Problem(self.label, f"{invalid}: {exc}"))
            return
        bad = _unreadable_shape(root) if root is not None else None
        if bad:
            self.problems.append(Problem(self.at(bad[0]), f"{invalid}: {bad[1]}"))
        else:
            self.root = root

    @property
    def unreadable(self) -> bool:
        """The file could not be read or parsed at all (its problem is already in ``problems``)."""
        return self.root is None and bool(self.problems)

    # -- locations and problems ------------------------------------------------------------

    def at(self, node: yaml.Node | None) -> str:
        """``file:line:col`` of ``node`` (1-based); the file alone for no node."""
        if node is None:
            return self.label
        mark = node.start_mark
        return f"{self.label}:{mark.line + 1}:{mark.column + 1}"

    def line(self, node: yaml.Node | None) -> str:
        """``file:line`` of ``node``: the origin a record loaded from it carries."""
        return self.label if node is None else f"{self.label}:{node.start_mark.line + 1}"

    def fail(self, node: yaml.Node | None, field: str, message: str) -> None:
        self.problems.append(Problem(self.at(node), f"{field}: {message}" if field else message))

    def expected(self, node: yaml.Node | None, field: str, what: str) -> None:
        """Report ``field: expected <what>, got <what node holds>`` at ``node``."""
        self.fail(node, field, f"expected {what}, got {self.shown(node, self.conceal)}")

    def check(self) -> None:
        """Raise ``ConfigError`` when anything was wrong."""
        if self.problems:
            raise ConfigError(self.located())

    @staticmethod
    def is_null(node: yaml.Node | None) -> bool:
        return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL)

    @classmethod
    def shown(cls, node: yaml.Node | None, conceal: Callable[[str], str] | None = None) -> str:
        """What ``node`` holds, for a message: a scalar ``quoted`` (cut, concealed), else its kind."""
        if cls.is_null(node):
            return "nothing"
        if isinstance(node, yaml.ScalarNode):
            return quoted(node.value, conceal)
        return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"

    @classmethod
    def plain(cls, node: yaml.Node | None):
        """A node as plain data: scalars as the text written, nulls as None (for loaders that parse text);
        a key that is a list or a mapping becomes its description, which no field accepts."""
        if cls.is_null(node):
            return None
        if isinstance(node, yaml.ScalarNode):
            return node.value
        if isinstance(node, yaml.SequenceNode):
            return [cls.plain(item) for item in node.value]
        return {cls.plain(k) if isinstance(k, yaml.ScalarNode) else cls.shown(k): cls.plain(v) for k, v in node.value}

    # -- structure -------------------------------------------------------------------------

    def mapping(self, node: yaml.Node | None, field: str, known: Iterable[str] = (),
                what: str = "a mapping") -> Fields:
        """The fields of a mapping node (none for an empty/absent one); keys outside a non-empty
        ``known``, repeated keys and keys that are not names are problems and left out. Merge keys
        (``<<: *base``) are honoured: the mapping's own keys win over merged ones."""
        out = Fields()
        if self.is_null(node):
            return out
        if not isinstance(node, yaml.MappingNode):
            self.expected(node, field or "(top level)", what)
            return out
        known = tuple(known)
        merged: list[Fields] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == _MERGE:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.append(self.mapping(source, field, known))
                    else:
                        self.expected(source, f"{field}.<<" if field else "<<", "a mapping to merge")
                continue
            if not isinstance(key, yaml.ScalarNode) or self.is_null(key):
                self.expected(key, field, "a field name")
                continue
            name = key.value
            where = f"{field}.{name}" if field else name
            if known and name not in known:
                self.fail(key, where, f"unknown field; expected one of {', '.join(known)}")
            elif name in out:
                self.fail(key, where, f"given twice (first at {self.at(out.key_nodes[name])})")
            else:
                out[name] = value
                out.key_nodes[name] = key
        for fields in merged:  # the first merged mapping that has a key wins, as YAML says
            for name, value in fields.items():
                if name not in out:
                    out[name] = value
                    out.key_nodes[name] = fields.key_nodes[name]
        return out

    def located(self) -> list[Problem]:
        """``problems`` in the order of the file (by line and column)."""
        return sorted(self.problems, key=_position)

    def sequence(self, node: yaml.Node | None, field: str, what: str = "a list") -> list[yaml.Node]:
        if self.is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.expected(node, field, what)
            return []
        return list(node.value)

    def required(self, fields: Fields, name: str, parent: yaml.Node, field: str, what: str) -> yaml.Node | None:
        """The node of field ``name``; a missing or empty one (``expected <what>, got nothing``) is
        reported at ``parent`` and None returned, unless ``parent`` is not a mapping at all (which
        ``mapping`` has reported already)."""
        node = fields.get(name)
        if self.is_null(node) and (isinstance(parent, yaml.MappingNode) or self.is_null(parent)):
            self.fail(node if name in fields else parent, f"{field}.{name}" if field else name,
                      f"expected {what}, got nothing")
        return None if self.is_null(node) else node

    # -- scalars ---------------------------------------------------------------------------

    def text(self, node: yaml.Node | None, field: str, default: str | None = None) -> str | None:
        """A scalar's text, stripped; a boolean, a list, a mapping or an empty text is a problem."""
        if self.is_null(node):
            return default
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL:
            self.expected(node, field, "a text")
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

    def number(self, node: yaml.Node | None, field: str, default: Decimal | None, minimum: Decimal = Decimal(0),
               whole: bool = False, above: bool = False) -> Decimal | None:
        """A decimal number >= ``minimum`` (> with ``above``), whole with ``whole``; exact as written."""
        if self.is_null(node):
            return default
        expected = f"{'a whole number' if whole else 'a number'} {'>' if above else '>='} {minimum}"
        if not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL:
            self.expected(node, field, expected)
            return default
        try:
            value = Decimal(node.value.strip().replace("_", ""))
        except InvalidOperation:
            self.expected(node, field, expected)
            return default
        if (not value.is_finite() or value < minimum or (above and value == minimum)
                or (whole and value != value.to_integral_value())):
            self.expected(node, field, expected)
            return default
        return value

    def integer(self, node: yaml.Node | None, field: str, default: int | None, minimum: int = 0) -> int | None:
        value = self.number(node, field, None if default is None else Decimal(default), Decimal(minimum), whole=True)
        return None if value is None else int(value)

    def boolean(self, node: yaml.Node | None, field: str, default: bool) -> bool:
        if self.is_null(node):
            return default
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL:
            return node.value.lower() in ("true", "yes", "on", "y")
        self.expected(node, field, "true or false")
        return default

    def choice(self, node: yaml.Node | None, field: str, choices: Sequence[str], default: str | None) -> str | None:
        value = self.text(node, field)
        if value is None:
            return default
        if value not in choices:
            self.fail(node, field, f'expected one of {", ".join(choices)}, got {quoted(value, self.conceal)}')
            return default
        return value

    def date(self, node: yaml.Node | None, field: str) -> date | None:
        value = self.text(node, field)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(node, field, f"expected a date YYYY-MM-DD, got {quoted(value, self.conceal)}")
            return None

    def pattern(self, node: yaml.Node | None, field: str, flags: int = 0) -> re.Pattern | None:
        """A compiled regular expression; the text is taken as written (spaces matter in a pattern)."""
        if self.is_null(node) or not isinstance(node, yaml.ScalarNode) or node.tag == _BOOL:
            self.expected(node, field, "a regular expression")
            return None
        try:
            return re.compile(node.value, flags)
        except re.error as exc:
            self.fail(node, field, f'expected a regular expression, got "{node.value}" ({exc})')
            return None
