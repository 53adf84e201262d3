"""The ``fleetsam`` command line's entry point: the fault boundary around every subcommand.

Exit codes are ``cli.exit_codes.ExitCode``. Anything a subcommand did not
expect (a missing data file in a broken install, a bug) is one line on stderr
and exit 2, never a traceback and never 1, which CI reads as "violations";
``--debug`` (or ``-v``) adds the traceback.

Only the standard library is imported before the boundary, so a fault while
importing the engine is caught as well.
"""

from __future__ import annotations

import os
import sys
import traceback

from sam_engine.cli import DEBUG_FLAGS
from sam_engine.cli.exit_codes import ExitCode
from sam_engine.plain_text import one_line


def _one_line(exc: BaseException) -> str:
    text = one_line(" ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = any(a in DEBUG_FLAGS for a in argv)  # read before parsing: loading the parser may be what fails
    try:
        from sam_engine.cli.commands import build_parser, run

        code = run(build_parser().parse_args(argv))
        sys.stdout.flush()  # here, inside the boundary: a reader gone away is met now, not at exit
        return code
    except BrokenPipeError:  # `fleetsam position --format csv | head -1`: end quietly, as cat or grep do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more for the closed pipe
        return ExitCode.OUTPUT_CLOSED
    except Exception as exc:  # noqa: BLE001 - the boundary: every fault becomes exit 2
        if debug:
            traceback.print_exc()
        print(f"fleetsam: error: {_one_line(exc)}; run with --debug for the traceback", file=sys.stderr)
        return ExitCode.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
