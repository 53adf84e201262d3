"""Version strings: one comparable normal form, a sort key, and version ranges.

``normalise_version`` gives the form shown and compared everywhere (the raw
string stays on the ``Installation``):

- surrounding whitespace goes, inner runs of whitespace become one space and
  spaces around dots go (``1 . 2 . 2`` is ``1.2.2``); letters are lower-cased,
  so ``6.4Beta`` and ``6.4beta`` are one version; a leading ``v`` before a digit
  goes (``v1.10`` is ``1.10``);
- a package epoch (``1:2.3-4``, ``2000:1.8.0_211-fcs``) is dropped: it only
  orders a package's own history, and licences are written against upstream
  versions;
- for package-manager sources (dpkg, rpm, apk, pacman) the distribution
  revision after the last ``-`` is dropped too (``2.31.1-0.4ubuntu3.1`` is
  ``2.31.1``, ``3.2.0-r22`` is ``3.2.0``). Other sources keep it: a Windows
  ``2.4.x-build-26`` or ``6.0.5-30`` is the vendor's own version.

``version_key`` orders versions: digit runs compare as numbers (``8u202`` <
``8u211``, ``17.0.12`` < ``17.0.13``, ``10`` > ``9``; Windows' four-part
``10.0.19041.1`` likewise), trailing ``.0`` parts of the leading numbers do not
count (``17.0.12.0`` == ``17.0.12``), the pre-release words ``alpha beta rc pre
preview dev ea snapshot cr`` and a ``~`` sort before the release (``6.4beta`` <
``6.4``, ``2.0rc1`` < ``2.0``, ``2.0.0-beta`` < ``2.0.0``, ``1.2~git1`` < ``1.2``)
and any other letters sort after it (``8`` < ``8u211``, ``1.0.2`` < ``1.0.2a``,
as OpenSSL numbers its fix releases).

``package_version_key(raw, source)`` orders a package manager's own version
strings exactly as that manager does: dpkg's algorithm (epoch, upstream,
revision; ``~`` before anything, letters before other characters) for
``dpkg``, rpm's ``rpmvercmp`` over epoch, version and release for ``rpm``;
other sources fall back to ``version_key``. Both are plain tuples, so sorting
thousands of rows stays cheap.

Range syntax (``version_in_range``, also used by entitlements' ``version_range``
and downgrade rights): comparisons joined by ``,`` must all hold; ``||``
separates alternatives. Operators: ``>= <= > < == = !=``; a bare version means
``==``; ``==17.*`` or ``17.*`` is a prefix match on whole parts; ``*`` or an
empty spec matches any known version. Examples: ``>=2016,<2020``,
``<=8u202``, ``>=17,<=17.0.12 || >=21``. An unknown version (None) is in no
range except ``*``.
"""

from __future__ import annotations

import functools
import re

PACKAGE_SOURCES = frozenset({"dpkg", "rpm", "apk", "pacman"})
PRERELEASE = frozenset({"alpha", "beta", "rc", "pre", "preview", "dev", "ea", "snapshot", "cr"})

_EPOCH = re.compile(r"^\d+:(?=\d)")
_TOKEN = re.compile(r"\d+|[a-z]+|~")
_CLAUSE = re.compile(r"^(>=|<=|==|!=|>|<|=)?\s*(.+?)\s*$")
_END = (1, 0, "")


def normalise_version(raw: str | None, source: str | None = None) -> str | None:
    """The comparable normal form of ``raw`` (see the module docstring), or None if empty."""
    if raw is None:
        return None
    text = " ".join(str(raw).split()).lower()
    text = re.sub(r"\s*\.\s*", ".", text)
    if len(text) > 1 and text[0] == "v" and text[1].isdigit():
        text = text[1:]
    text = _EPOCH.sub("", text)
    if source in PACKAGE_SOURCES and "-" in text:
        text = text.rsplit("-", 1)[0]
    return text or None


def _parts(version: str) -> list[tuple[int, int, str]]:
    parts = []
    for token in _TOKEN.findall(version):
        if token.isdigit():
            parts.append((2, int(token), ""))
        elif token in PRERELEASE or token == "~":
            parts.append((0, 0, token))
        else:
            parts.append((3, 0, token))
    return parts


def _release_trimmed(parts: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop the zero parts that end the leading run of numbers: ``2.0rc1`` compares as ``2rc1``
    and ``2.0`` as ``2``, so the pre-release meets the release's end marker and sorts first."""
    end = next((n for n, part in enumerate(parts) if part[0] != 2), len(parts))
    cut = end
    while cut > 0 and parts[cut - 1] == (2, 0, ""):
        cut -= 1
    return parts[:cut] + parts[end:]


@functools.lru_cache(maxsize=65536)
def version_key(version: str | None) -> tuple:
    """A sort key for ``version`` (normalised first); None sorts before every version."""
    norm = normalise_version(version)
    if norm is None:
        return ()
    parts = _release_trimmed(_parts(norm))
    while parts and parts[-1] == (2, 0, ""):
        parts.pop()
    return tuple(parts) + (_END,)


# --- package managers' own orders ----------------------------------------------------------

_DPKG_PART = re.compile(r"(\D*)(\d*)")
_DPKG_PAD = ((0,), 0)  # what a shorter version compares as: an empty text part and the number 0


def _dpkg_weight(char: str) -> int:
    """dpkg's order of one non-digit character: ``~`` < end of part < letters < everything else."""
    if char == "~":
        return -1
    return ord(char) if char.isascii() and char.isalpha() else ord(char) + 256


def _dpkg_string_key(text: str) -> tuple:
    """dpkg's verrevcmp as a key: (non-digit run, number) pairs, each run ending in a 0 weight
    (the end of a run outranks ``~`` and loses to any other character)."""
    pairs = [(tuple(_dpkg_weight(c) for c in letters) + (0,), int(digits or 0))
             for letters, digits in _DPKG_PART.findall(text) if letters or digits]
    pairs = pairs or [_DPKG_PAD]
    while len(pairs) > 1 and pairs[-1] == _DPKG_PAD:  # only the first pair can equal the padding
        pairs.pop()
    return tuple(pairs) + (_DPKG_PAD,)


def _split_evr(version: str) -> tuple[int, str, str]:
    """``[epoch:]version[-release]`` as dpkg and rpm both write it: the epoch (0 when absent), the
    version, and the release after the last ``-`` ("" when none)."""
    text = version.strip()
    epoch, colon, rest = text.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", text
    ver, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
    return int(epoch), ver, release


def dpkg_key(version: str) -> tuple:
    """Sort key of a full Debian version ``[epoch:]upstream[-revision]``, as ``dpkg --compare-versions``."""
    epoch, upstream, revision = _split_evr(version)
    return epoch, _dpkg_string_key(upstream), _dpkg_string_key(revision)


_RPM_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+|~|\^")
_RPM_END = (1,)


def _rpm_string_key(text: str) -> tuple:
    """rpmvercmp as a key; separators (anything but ASCII letters, digits, ``~`` and ``^``) are skipped.
    Token order: ``~`` < end < ``^`` < letters (byte order) < numbers (by value)."""
    key = []
    for token in _RPM_TOKEN.findall(text):
        if token == "~":
            key.append((0,))
        elif token == "^":
            key.append((2,))
        elif token.isdigit():
            key.append((4, int(token)))
        else:
            key.append((3, token))
    return tuple(key) + (_RPM_END,)


def rpm_key(version: str) -> tuple:
    """Sort key of an rpm ``[epoch:]version[-release]``, as rpm's ``rpmvercmp`` over epoch, version, release."""
    epoch, ver, release = _split_evr(version)
    return epoch, _rpm_string_key(ver), _rpm_string_key(release)


_PACKAGE_KEYS = {"dpkg": dpkg_key, "rpm": rpm_key}
PACKAGE_ORDERS = frozenset(_PACKAGE_KEYS)  # the sources whose records package_version_key orders exactly


def package_version_key(raw: str | None, source: str | None) -> tuple:
    """The package manager's own order of ``raw`` for dpkg and rpm records, else ``version_key``.
    Keys of different sources are not comparable with each other: compare within one source."""
    if raw is None:
        return ()
    rule = _PACKAGE_KEYS.get(source or "")
    return rule(raw) if rule else version_key(raw)


@functools.lru_cache(maxsize=1024)
def parse_range(spec: str | None) -> tuple[tuple[tuple[str, tuple, bool], ...], ...]:
    """Parse a range spec into alternatives of clauses; raise ValueError if it is malformed."""
    if spec is None or str(spec).strip() in ("", "*"):
        return ()
    alternatives = []
    for alternative in str(spec).split("||"):
        clauses = []
        for clause in alternative.split(","):
            match = _CLAUSE.match(clause.strip())
            if not match:
                raise ValueError(f"version range {spec!r}: empty comparison")
            op, text = match.group(1) or "==", match.group(2)
            op = "==" if op == "=" else op
            prefix = text.endswith(".*")
            if prefix:
                if op not in ("==", "!="):
                    raise ValueError(f"version range {spec!r}: '.*' only goes with == or !=")
                text = text[:-2]
            norm = normalise_version(text)
            if norm is None or not _TOKEN.search(norm) or any(c in norm for c in "<>=!*"):
                raise ValueError(f"version range {spec!r}: bad version {text!r}")
            key = tuple(_parts(norm)) if prefix else version_key(norm)
            clauses.append((op, key, prefix))
        alternatives.append(tuple(clauses))
    return tuple(alternatives)


def _holds(key: tuple, parts: list, op: str, bound: tuple, prefix: bool) -> bool:
    if prefix:
        padded = parts + [(2, 0, "")] * (len(bound) - len(parts))
        equal = tuple(padded[: len(bound)]) == bound
        return equal if op == "==" else not equal
    return {
        ">=": key >= bound, "<=": key <= bound, ">": key > bound,
        "<": key < bound, "==": key == bound, "!=": key != bound,
    }[op]


def version_in_range(version: str | None, spec: str | None) -> bool:
    """Whether ``version`` lies in ``spec`` (syntax in the module docstring)."""
    alternatives = parse_range(spec)
    if not alternatives:
        return True
    norm = normalise_version(version)
    if norm is None:
        return False
    key, parts = version_key(norm), _parts(norm)
    return any(all(_holds(key, parts, *clause) for clause in alt) for alt in alternatives)
