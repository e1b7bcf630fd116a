"""User-facing errors: one line, exit code 2, never a traceback; and how a signal ends a command."""

from __future__ import annotations

import signal

__all__ = [
    "ENDING_SIGNALS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Interrupted",
    "UserError",
    "error_line",
    "first_line",
    "interrupted_exit_code",
]

EXIT_FAILED = 1
"""Something failed while measuring (a run, the recording): the results say what."""
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""128 + SIGINT (Ctrl-C); a SIGTERM ends with 143 and a SIGHUP with 129."""

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that end a session as cleanly as ``q``: Ctrl-C, ``kill`` / ``timeout`` / systemd / SLURM,
and a closed terminal."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C's ``KeyboardInterrupt``, so every
    command stops the same way; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupted_exit_code(interrupt: BaseException) -> int:
    """128 + the signal that ended the command (Ctrl-C's ``KeyboardInterrupt``: 130)."""
    return 128 + getattr(interrupt, "signum", signal.SIGINT)


class UserError(Exception):
    """Bad input or an unusable environment. ``str(error)`` is the whole message: what is wrong
    and what to do about it, on one line."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error).strip().splitlines()
    return (text[0].strip() if text else type(error).__name__)[:limit]


def error_line(error: BaseException) -> str:
    """``"ExceptionType: first line of the message"``: how an unexpected error is shown and recorded."""
    name = type(error).__name__
    line = first_line(error)
    return name if line == name else f"{name}: {line}"
