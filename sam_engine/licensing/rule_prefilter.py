"""One regular expression call in place of one per rule: the prefilters of recognition.

Most distinct titles match none of the rules ``Catalogue._match_static`` tries on
every title (those without a literal first word), and most records none of the
per-record steps their title left (a winget ``origin`` rule on a dpkg package);
each try was a ``fullmatch`` and a turn of a Python loop. An ``Alternation``
joins one field's patterns of an ordered list of rules into one alternation,
each alternative in a numbered group of its own (its own groups made
non-capturing): the group that matched names the first rule whose pattern
matches the whole text (an alternation is tried in order, and a full match
backtracks into the next alternative). The rules before it cannot match on that
field and are dropped; that rule and every rule after it are still tried one by
one, exactly as before, so the first rule that matches wins and its groups come
from its own patterns. ``TitlePrefilter`` does this for the title patterns of a
list of candidate rules, ``StepPrefilter`` for the first per-record field of
each step of a plan.

A rule is kept, never dropped, when its pattern cannot join: a backreference or
a conditional (they count groups), global inline flags, other flags than the
first pattern's, verbose mode, or a pattern that reads differently once its
groups are non-capturing (``joinable`` compares the parse trees); a wildcard
(``(?P<name>.+)``) stays out too, as it would end every search. A prefilter
never adds a match, it only skips rules whose pattern provably fails.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Hashable, Sequence

try:  # the regex parser: the check that a rewritten pattern is the same expression
    import re._parser as _sre_parse  # type: ignore[import-not-found]  # Python 3.11+
    import re._constants as _sre_constants  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    import sre_constants as _sre_constants  # type: ignore[no-redef]

_FLAG_LETTERS = frozenset("aiLmsux-")
_COUNTING = (_sre_constants.GROUPREF, _sre_constants.GROUPREF_EXISTS)


def _non_capturing(pattern: str) -> str | None:
    """``pattern`` with each ``(`` and ``(?P<name>`` written ``(?:``; None at a construct that
    names or numbers a group (``(?P=``, ``(?(``) or sets global flags (``(?i)``)."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        elif c == "[":  # a class: a "(" in it is a character; "]" first (after "^") is one too
            j = i + 1 + (pattern[i + 1:i + 2] == "^")
            j += pattern[j:j + 1] == "]"
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(pattern[i:j + 1])
            i = j + 1
        elif c != "(":
            out.append(c)
            i += 1
        elif not pattern.startswith("(?", i):
            out.append("(?:")
            i += 1
        elif pattern.startswith("(?P<", i):
            end = pattern.find(">", i)
            if end < 0:
                return None
            out.append("(?:")
            i = end + 1
        elif pattern.startswith("(?#", i):  # a comment, to its ")"
            end = pattern.find(")", i)
            if end < 0:
                return None
            out.append(pattern[i:end + 1])
            i = end + 1
        elif pattern[i + 2:i + 3] in ("", "P", "("):
            return None
        elif pattern[i + 2] in ":=!<>":
            out.append(pattern[i:i + 3])
            i += 3
        else:  # inline flags: scoped "(?i:" joins, global "(?i)" cannot
            j = i + 2
            while j < n and pattern[j] in _FLAG_LETTERS:
                j += 1
            if pattern[j:j + 1] != ":":
                return None
            out.append(pattern[i:j + 1])
            i = j + 1
    return "".join(out)


def _shape(items: Any) -> tuple:
    """A parse tree with group numbers left out and flagless groups spliced into their sequence
    (the parser inlines a non-capturing group under a repeat); ValueError at a group reference."""
    shaped: list = []
    for op, av in items:
        if op in _COUNTING:
            raise ValueError("a group reference")
        if op is _sre_constants.SUBPATTERN and not av[1] and not av[2]:
            shaped.extend(_shape(av[3]))
        elif op is _sre_constants.SUBPATTERN:
            shaped.append((op, av[1], av[2], _shape(av[3])))
        else:
            shaped.append((op, _plain(av)))
    return tuple(shaped)


def _plain(value: Any) -> Any:
    if isinstance(value, _sre_parse.SubPattern):
        return _shape(value)
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


@lru_cache(maxsize=4096)  # pure; a catalogue's rules share the lists they are in
def joinable(pattern: str, flags: int) -> str | None:
    """``pattern`` rewritten without capturing groups, when it is provably the same expression
    under ``flags`` (its parse tree, group numbers aside, is unchanged); None otherwise."""
    if flags & re.VERBOSE:
        return None
    rewritten = _non_capturing(pattern)
    if rewritten is None:
        return None
    try:
        after = _sre_parse.parse(rewritten, flags)
        same = after.state.groups == 1 and _shape(_sre_parse.parse(pattern, flags)) == _shape(after)
    except (re.error, ValueError, RecursionError, OverflowError):
        return None
    return rewritten if same else None


_WILDCARDS = frozenset({".+", ".*", "(?:.+)", "(?:.*)"})  # patterns nearly every text matches


class Alternation:
    """One field's patterns of ordered rules (``keys``; a pattern is an object with ``pattern`` and
    ``flags``: ``re.Pattern`` or ``catalogue_cache.LazyPattern``, or None) joined; ``joined``: the
    keys it holds, in order."""

    __slots__ = ("joined", "_regex")

    def __init__(self, keys: Sequence[Hashable], patterns: Sequence[Any]):
        flags = next((p.flags for p in patterns if p is not None), 0)
        parts = [(key, joinable(p.pattern, flags)) for key, p in zip(keys, patterns)
                 if p is not None and p.flags == flags]
        parts = [(key, text) for key, text in parts if text is not None and text not in _WILDCARDS]
        self.joined: tuple = ()
        self._regex = None
        if len(parts) > 1:
            try:
                self._regex = re.compile("|".join(f"({text})" for _, text in parts), flags)
            except (re.error, RecursionError, OverflowError):  # too big or deep to join: every rule is tried
                return
            self.joined = tuple(key for key, _ in parts)

    def first(self, text: str | None) -> int:
        """How many of ``joined`` come before the first whose pattern matches the whole ``text`` (all
        of them when none does or ``text`` is None: a missing field matches nothing)."""
        if self._regex is None:
            return 0
        found = self._regex.fullmatch(text) if text is not None else None
        return len(self.joined) if found is None else found.lastindex - 1


class TitlePrefilter:
    """Candidate rules (``keys``, in the order they are tried) and, for a title, those that can still
    match it: the rules the alternation of their ``titles`` does not hold, and of those it holds the
    first whose title matches and all after it."""

    __slots__ = ("keys", "_titles", "_after")

    def __init__(self, keys: Sequence[Hashable], titles: Sequence[Any]):
        self.keys = tuple(keys)
        self._titles = Alternation(self.keys, titles)
        self._after: dict[tuple[int, frozenset], tuple] = {}

    def candidates(self, title: str, out: frozenset = frozenset()) -> tuple:
        """The rules still to try on ``title``, in order, without the rules ``out`` (ruled out by
        their other fields)."""
        first = self._titles.first(title)
        kept = self._after.get((first, out))
        if kept is None:
            dropped = out.union(self._titles.joined[:first])
            kept = self._after[(first, out)] = tuple(k for k in self.keys if k not in dropped)
        return kept


class StepPrefilter:
    """A plan's steps, ``(entry position, per-record fields and patterns, static groups)`` in the order
    they are tried, with an alternation per field that steps test first: ``candidates`` gives the
    steps a record can still match."""

    __slots__ = ("steps", "_fields", "_after")

    def __init__(self, steps: Sequence[tuple]):
        self.steps = tuple(steps)
        firsts: dict[str, list[tuple[int, Any]]] = {}
        for n, (_, rest, _) in enumerate(self.steps):
            firsts.setdefault(rest[0][0], []).append((n, rest[0][1]))
        alternations = ((name, Alternation([n for n, _ in tried], [p for _, p in tried]))
                        for name, tried in firsts.items())
        self._fields = tuple((name, alt) for name, alt in alternations if alt.joined)
        self._after: dict[tuple[int, ...], tuple] = {}

    def candidates(self, fields: dict[str, str | None]) -> tuple:
        if not self._fields:
            return self.steps
        firsts = tuple(alt.first(fields[name]) for name, alt in self._fields)
        kept = self._after.get(firsts)
        if kept is None:
            dropped = {n for (_, alt), first in zip(self._fields, firsts) for n in alt.joined[:first]}
            kept = self._after[firsts] = tuple(s for n, s in enumerate(self.steps) if n not in dropped)
        return kept


class Prefilters:
    """A catalogue's prefilters, each built on first use and kept: a ``TitlePrefilter`` per named list
    of rules (``(entry position, rule number)`` keys in the order they are tried) and a shared
    ``StepPrefilter`` per distinct plan of steps (``steps``)."""

    def __init__(self, entries: Sequence[Any]):
        self._entries = entries
        self._titles: dict[Hashable, TitlePrefilter] = {}
        self._plans: dict[tuple, StepPrefilter] = {}

    def of(self, name: Hashable, keys: Sequence[tuple[int, int]]) -> TitlePrefilter:
        found = self._titles.get(name)
        if found is None:
            titles = [dict(self._entries[pos].rules[n]).get("title") for pos, n in keys]
            found = self._titles[name] = TitlePrefilter(keys, titles)
        return found

    def steps(self, steps: Sequence[tuple[int, int, int, dict]]) -> StepPrefilter | tuple:
        """The plan of ``steps``, each ``(entry position, rule number, index of its first per-record
        field, static groups)``; () for none."""
        if not steps:
            return ()
        key = tuple((pos, n, k, tuple(groups.items())) for pos, n, k, groups in steps)
        found = self._plans.get(key)
        if found is None:
            found = self._plans[key] = StepPrefilter(
                [(pos, self._entries[pos].rules[n][k:], groups) for pos, n, k, groups in steps])
        return found
