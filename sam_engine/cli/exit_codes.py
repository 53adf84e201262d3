"""The exit codes of every ``fleetsam`` subcommand, defined here only.

CI jobs and ``playbooks/enforce.yml`` read them: 1 must mean "the check found
something" and nothing else, so a fault (a missing data file, a broken
install, a bug) exits 2 like bad input, never 1.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a ``fleetsam`` exit status means (``MEANING`` says it in words)."""

    OK = 0
    VIOLATIONS = 1
    BAD_INPUT = 2
    OUTPUT_CLOSED = 141  # 128 + SIGPIPE, what cat or grep end with when the reader goes away


MEANING = {
    ExitCode.OK: "done (check: no violations; audit-pack --verify: the pack is intact)",
    ExitCode.VIOLATIONS: "check: the policy was violated; audit-pack --verify: the pack failed verification",
    ExitCode.BAD_INPUT: "bad input, no store or scan, or a fault: nothing was judged",
    ExitCode.OUTPUT_CLOSED: "the reader of the output went away (| head): the output was cut short",
}


class BadInput(Exception):
    """A mistake in a command's arguments (no such entitlement, say): its message, then exit 2."""


def describe() -> str:
    """The exit codes as lines for ``fleetsam --help``."""
    return "exit codes:\n" + "\n".join(f"  {code.value}  {MEANING[code]}" for code in ExitCode)
