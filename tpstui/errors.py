"""User-facing errors: one line, exit code 2, never a traceback."""

from __future__ import annotations

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "UserError", "error_line", "first_line"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
