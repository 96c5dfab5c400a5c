"""Files written whole or not at all, and the clean-up of what killed runs left.

A file is written under the temporary name ``.NAME.partial-PID`` beside its final ``NAME``
(``PID``: the writing process) and renamed over ``NAME`` only once complete, so ``NAME`` is
never half-written. An exception, Ctrl-C or SIGTERM removes the temporary file on the way
out; SIGKILL, an out-of-memory kill or a power cut cannot, so the next writer of ``NAME``
removes every temporary file of it whose process is gone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def partial_path(final: Path, suffix: str = "") -> Path:
    """This process's temporary name for ``final``; ``suffix`` (e.g. ``.png``) is appended
    for writers that choose a format by extension."""
    return final.with_name(f".{final.name}.partial-{os.getpid()}{suffix}")


def remove_stale_partials(final: Path) -> list[Path]:
    """Remove the temporary files of ``final`` whose writing process no longer runs.

    Those of running processes (another run writing the same file) are left alone.

    Returns:
        The files removed.
    """
    pattern = re.compile(rf"\.{re.escape(final.name)}\.partial-(\d+)(\.\w+)?")
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    for candidate in final.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match and not psutil.pid_exists(int(match[1])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


@contextmanager
def written_atomically(final: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write ``final`` to; rename it over ``final`` when the block
    ends normally, remove it when the block raises. Stale temporary files of ``final`` are
    removed first."""
    remove_stale_partials(final)
    temporary = partial_path(final, suffix)
    try:
        yield temporary
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    with written_atomically(path) as temporary:
        temporary.write_text(text)
