"""Text from the fleet as one inert line for a terminal or a log.

Package names, versions, host names and collector errors come from the hosts:
anyone who can install software or name a machine writes them. Printed as
they are, an escape sequence in one can clear the screen or retitle the
terminal (ESC, and C1 controls that some terminals read as ESC [), a line
break can forge a line of output, a bidirectional override can make a name
read as another, and a lone surrogate makes the UTF-8 encoder of stdout fail.
``one_line`` writes each of those as a visible backslash escape (``\\x1b``,
``\\n``, ``\\u202e``, ``\\udc80``), which an operator can still read and search
for; everything else is kept as it is.

The file formats have their own rules (``report.formats``: CSV cells, XML
text, Markdown), and the HTML report escapes markup; this is for the
command line's tables and the problems every command prints.
"""

from __future__ import annotations

import re
from typing import Any

# the bidirectional marks, embeddings, overrides and isolates (the body of a regular expression's character
# class): one in a name reorders the text after it, so every output for people makes them inert
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 and C1 controls, DEL, the line and paragraph separators, the bidirectional controls, lone surrogates
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}\ud800-\udfff]")


def _escaped(match: re.Match) -> str:
    return match.group().encode("unicode_escape", "backslashreplace").decode("ascii")


def one_line(value: Any) -> str:
    """``value`` as text: one line, every unsafe character written as its backslash escape."""
    text = "" if value is None else str(value)
    return text if text.isprintable() else _UNSAFE.sub(_escaped, text)


def one_line_fields(row: dict) -> dict:
    """``row`` with every text value, and every text in a list value, made ``one_line`` (for a table)."""
    return {k: one_line(v) if isinstance(v, str) else [one_line(x) if isinstance(x, str) else x for x in v]
            if isinstance(v, list) else v for k, v in row.items()}
