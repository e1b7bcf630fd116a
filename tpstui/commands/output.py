"""A command's output on stdout: a full disk or a closed terminal is one line and exit 2, and the
files a command writes are written whatever happens to stdout (and the other way round)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO

__all__ = ["print_result", "say", "silence_stdout"]


def print_result(text: str) -> str | None:
    """Print ``text`` on stdout and flush it; the one-line reason when that failed (else None)."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (`| head`): not an error of ours
        silence_stdout()
    except OSError as error:
        silence_stdout()
        return f"cannot write to stdout: {error.strerror or error}."
    return None


def silence_stdout() -> None:
    """What is left in stdout's buffer goes nowhere (no second error when Python exits)."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (tests capture stdout)
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fileno)


def say(line: str, stream: TextIO | None = None) -> None:
    """A line on stderr (or ``stream``), flushed; nothing when it is gone (a closed terminal)."""
    with contextlib.suppress(OSError):
        print(line, file=stream or sys.stderr, flush=True)
