"""Files replaced whole: written under a temporary name beside the target and renamed over it.

A reader sees the old file or the new one, never half of one, and a writer that
fails leaves the old file. The store, the recognition cache and the reports are
written this way; the temporary names start with ``temp_prefix`` so that the
store's next writer can remove what a killed one left
(``tinydb_store.remove_stale_temps``).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def temp_prefix(path: Path) -> str:
    """The start of the temporary names written beside ``path``."""
    return f".{path.name}."


@contextmanager
def atomic_open(path: Path, *, encoding: str = "utf-8", newline: str | None = None, errors: str = "strict",
                mode: int | None = None, durable: bool = False) -> Iterator[IO[str]]:
    """A text file that replaces ``path`` when the ``with`` block ends without an exception.

    ``mode``: the new file's permission bits (None: 0600, mkstemp's). ``durable``: the file and its
    folder are synced to disk before the block returns, so a crash right after leaves the new file.
    """
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline, errors=errors) as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
