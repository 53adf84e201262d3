"""Which rules recognition tries on a title and a record: the first-word index and the prefilters.

The first-word index: a rule whose title pattern fixes the whole first word of
every title it matches (a literal ``Microsoft ...``, or alternatives and optional
parts of literals: ``(Microsoft )?Visio``) is listed under each such word and only
tried on titles starting with one; every other rule is tried on every title
(``always``).

The prefilters: one regular expression call in place of one per rule. Most
distinct titles match none of the rules of ``always`` their publisher and source
leave, and most records none of the per-record steps their title left (a winget
``origin`` rule on a dpkg package); each try was a ``fullmatch`` and a turn of a
Python loop. An ``Alternation`` joins one field's patterns of an ordered list of
rules into one alternation, each alternative in a numbered group of its own (its
own groups made non-capturing): the group that matched names the first rule
whose pattern matches the whole text (an alternation is tried in order, and a
full match backtracks into the next alternative). The rules before it cannot
match on that field and are dropped; that rule and every rule after it are still
tried one by one, exactly as before, so the first rule that matches wins and its
groups come from its own patterns. ``TitlePrefilter`` does this for the title
patterns of a list of candidate rules, ``StepPrefilter`` for the first per-record
field of each step of a plan.

A rule is kept, never dropped, when its pattern cannot join: a backreference or
a conditional (they count groups), global inline flags, other flags than the
first pattern's, verbose mode, or a pattern that reads differently once its
groups are non-capturing (``joinable`` compares the parse trees); a wildcard
(``(?P<name>.+)``) stays out too, as it would end every search. A prefilter
never adds a match, it only skips rules whose pattern provably fails.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Any, Hashable, Sequence

try:  # the regex parser: a pattern's leading literal words, and the check that a rewritten one is the same
    import re._parser as _sre_parse  # type: ignore[import-not-found]  # Python 3.11+
    import re._constants as _sre_constants  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]
    import sre_constants as _sre_constants  # type: ignore[no-redef]

_WORD = re.compile(r"[^\W_]*")  # a run of letters and digits

Index = tuple[dict[str, list[tuple[int, int]]], list[tuple[int, int]]]


def first_word(text: str) -> str:
    return _WORD.match(text).group()  # type: ignore[union-attr]


def literal_word(pattern: str) -> str | None:
    """The whole first word every title matching ``pattern`` starts with, when the pattern fixes it."""
    items = list(_sre_parse.parse(pattern))
    literal = list(itertools.takewhile(lambda item: item[0] is _sre_parse.LITERAL, items))
    prefix = "".join(chr(arg) for _, arg in literal).lower()
    word = first_word(prefix)
    return None if not word or (len(word) == len(prefix) and len(literal) < len(items)) else word


def _word_closed(prefix: str) -> bool:
    """Whether ``prefix`` already holds a whole first word (a non-word character follows it)."""
    return len(first_word(prefix)) < len(prefix)


def _expand_prefixes(prefixes: list[str], items: list) -> list[str] | None:
    """The lower-cased literal prefixes ``items`` (parsed regex) can start a title with, grown from
    ``prefixes`` until each one's first word is closed; None when that is not knowable."""
    for op, av in items:
        growing = [p for p in prefixes if not _word_closed(p)]
        if not growing:
            return prefixes
        closed = [p for p in prefixes if _word_closed(p)]
        if op is _sre_parse.LITERAL:
            growing = [p + chr(av).lower() for p in growing]
        elif op is _sre_parse.AT:  # an anchor: no character
            continue
        elif op is _sre_parse.SUBPATTERN:
            growing = _expand_prefixes(growing, list(av[-1]))
        elif op is _sre_parse.BRANCH:
            alternatives = [_expand_prefixes(growing, list(alt)) for alt in av[1]]
            growing = None if None in alternatives else [p for alt in alternatives for p in alt]
        elif op in (_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            once = _expand_prefixes(growing, list(av[2]))  # an optional part: without it, or once
            growing = None if once is None else growing + once
        else:  # a class, a repeat, any character...: the word of a growing prefix is not fixed
            return None
        if growing is None or len(closed) + len(growing) > 64:
            return None
        prefixes = closed + growing
    return prefixes


def first_words(pattern: str) -> frozenset[str] | None:
    """Every whole first word a title matching ``pattern`` can start with, when the pattern fixes
    them through leading literals, optional parts and alternatives (``(Microsoft )?Visio``:
    ``microsoft`` or ``visio``); None otherwise. ``literal_word`` covers the single-word case."""
    try:
        prefixes = _expand_prefixes([""], list(_sre_parse.parse(pattern)))
    except Exception:  # noqa: BLE001 - an unusual pattern is simply not indexed
        return None
    if not prefixes:
        return None
    words = {first_word(p) for p in prefixes}  # a prefix the pattern ends on is the whole title
    return None if "" in words else frozenset(words)


def build_index(entries: Sequence[Any]) -> Index:
    """``(by_word, always)``: per first word the rules (``(entry position, rule number)``, in the
    order they are tried) it selects, and the rules tried on every title."""
    by_word: dict[str, list[tuple[int, int]]] = {}
    always: list[tuple[int, int]] = []
    for pos, entry in enumerate(entries):
        for n, rule in enumerate(entry.rules):
            title = dict(rule).get("title")
            word = literal_word(title.pattern) if title is not None else None
            words = {word} if word else first_words(title.pattern) if title is not None else None
            if not words:
                always.append((pos, n))
            for word in sorted(words or ()):
                by_word.setdefault(word, []).append((pos, n))
    return by_word, always


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


@lru_cache(maxsize=256)  # lists of rules share their patterns: plans of steps, what publishers leave
def _alternation(texts: tuple[str, ...], flags: int) -> re.Pattern | None:
    try:
        return re.compile("|".join(f"({text})" for text in texts), flags)
    except (re.error, RecursionError, OverflowError):  # too big or deep to join: every rule is tried
        return None


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
        self._regex = _alternation(tuple(text for _, text in parts), flags) if len(parts) > 1 else None
        self.joined = tuple(key for key, _ in parts) if self._regex is not None else ()

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
        self._after: dict[int, tuple] = {}

    def candidates(self, title: str) -> tuple:
        """The rules still to try on ``title``, in order."""
        first = self._titles.first(title)
        kept = self._after.get(first)
        if kept is None:
            dropped = set(self._titles.joined[:first])
            kept = self._after[first] = tuple(k for k in self.keys if k not in dropped)
        return kept


class StepPrefilter:
    """The entry positions and per-record parts of a plan's rules (each rule's fields and patterns
    after its title, publisher and source), in the order they are tried, with an alternation per
    field that parts test first. Plans of the same rules share one."""

    __slots__ = ("positions", "rests", "_fields", "_all", "_after")

    def __init__(self, positions: Sequence[int], rests: Sequence[tuple]):
        self.positions, self.rests = tuple(positions), tuple(rests)
        firsts: dict[str, list[tuple[int, Any]]] = {}
        for n, rest in enumerate(self.rests):
            firsts.setdefault(rest[0][0], []).append((n, rest[0][1]))
        alternations = ((name, Alternation([n for n, _ in tried], [p for _, p in tried]))
                        for name, tried in firsts.items())
        self._fields = tuple((name, alt) for name, alt in alternations if alt.joined)
        self._all = tuple(range(len(self.rests)))
        self._after: dict[tuple[int, ...], tuple[int, ...]] = {}

    def kept(self, fields: dict[str, str | None]) -> tuple[int, ...]:
        """The numbers of the steps a record with these per-record ``fields`` can still match."""
        if not self._fields:
            return self._all
        firsts = tuple(alt.first(fields[name]) for name, alt in self._fields)
        kept = self._after.get(firsts)
        if kept is None:
            dropped = {n for (_, alt), first in zip(self._fields, firsts) for n in alt.joined[:first]}
            kept = self._after[firsts] = tuple(n for n in self._all if n not in dropped)
        return kept


class StepPlan:
    """One distinct title's steps, ``(entry position, per-record fields and patterns, static groups)``
    in the order they are tried, and the ``StepPrefilter`` of their rules."""

    __slots__ = ("steps", "_prefilter")

    def __init__(self, steps: tuple, prefilter: StepPrefilter):
        self.steps, self._prefilter = steps, prefilter

    def candidates(self, fields: dict[str, str | None]) -> list[tuple]:
        """The steps a record with these per-record ``fields`` can still match, in order."""
        steps = self.steps
        return [steps[n] for n in self._prefilter.kept(fields)]


class Prefilters:
    """A catalogue's prefilters, each built on first use and kept: a ``TitlePrefilter`` per named list
    of rules (``(entry position, rule number)`` keys in the order they are tried) and a
    ``StepPrefilter`` per distinct list of rules that plans of steps share (``steps``)."""

    def __init__(self, entries: Sequence[Any]):
        self._entries = entries
        self._titles: dict[Hashable, TitlePrefilter] = {}
        self._steps: dict[tuple, StepPrefilter] = {}

    def of(self, name: Hashable, keys: Sequence[tuple[int, int]]) -> TitlePrefilter:
        found = self._titles.get(name)
        if found is None:
            titles = [dict(self._entries[pos].rules[n]).get("title") for pos, n in keys]
            found = self._titles[name] = TitlePrefilter(keys, titles)
        return found

    def steps(self, rules: list[tuple[int, int, int]], groups: list[dict]) -> StepPlan | tuple:
        """The plan of the steps ``rules`` (each ``(entry position, rule number, index of its first
        per-record field)``) with the static ``groups`` of each; () for none."""
        if not rules:
            return ()
        key = tuple(rules)
        prefilter = self._steps.get(key)
        if prefilter is None:
            prefilter = self._steps[key] = StepPrefilter([pos for pos, _, _ in key],
                                                         [self._entries[pos].rules[n][k:] for pos, n, k in key])
        return StepPlan(tuple(zip(prefilter.positions, prefilter.rests, groups)), prefilter)
