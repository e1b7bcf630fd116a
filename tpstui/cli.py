"""The ``tpstui`` command line: ``run`` (default) and the other ``COMMANDS``.

Only argparse is imported up front, so ``tpstui`` starts fast; each command imports what it needs.
Every user error ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

from tpstui import __version__
from tpstui.commands.output import silence_stdout
from tpstui.errors import EXIT_USAGE, Interrupted, UserError, interrupted_exit_code

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = ("run", "bench", "replay", "export", "report", "compare", "devices")
"""The subcommands, in help order (each a module of ``tpstui.commands``)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tpstui",
        description="Live monitor for LLM generation speed: tokens/s, TTFT, ITL and the telemetry behind them.",
    )
    parser.add_argument("--version", action="version", version=f"tpstui {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        module.add_parser(subparsers)
    return parser


def _command_modules() -> list[Any]:
    """The subcommand modules present in this build, in help order."""
    import importlib

    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"tpstui.commands.{name}"))
        except ModuleNotFoundError as error:
            if error.name != f"tpstui.commands.{name}":
                raise
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(COMMANDS)
    if (not arguments or arguments[0] not in commands | {"-h", "--help", "--version"}) and _has("run"):
        arguments.insert(0, "run")
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    with _signals_interrupt() as finished:
        try:
            code = int(handler(args))
        except UserError as error:
            _say(f"tpstui: error: {error}")
            code = error.exit_code
        except KeyboardInterrupt as interrupt:
            _say(f"tpstui: stopped by {interrupt}" if isinstance(interrupt, Interrupted) else "tpstui: interrupted")
            code = interrupted_exit_code(interrupt)
        except BrokenPipeError:  # `tpstui ... | head`: the reader left; no traceback, no flush error at exit
            silence_stdout()
            code = 1
        finished.set()
        return _flushed(code)


@contextmanager
def _signals_interrupt() -> Iterator[threading.Event]:
    """SIGTERM and SIGHUP raise ``Interrupted`` in the main thread (once), like Ctrl-C does; every
    command then stops as it stops for Ctrl-C (the live app catches them itself while it runs).
    Set the event it yields once the command has returned: a signal after that changes nothing."""
    finished = threading.Event()

    def interrupt(signum: int, frame: object) -> None:
        if not finished.is_set():  # a second signal while stopping is ignored: the stop is bounded anyway
            finished.set()
            raise Interrupted(signum)

    previous: dict[int, Any] = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, interrupt)
    except ValueError:  # not the main thread (tests): leave the signals alone
        pass
    try:
        yield finished
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _flushed(code: int) -> int:
    """Flush stdout now, so a full disk or a closed terminal is one line and exit 2, not a traceback at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        return code or 1
    except OSError as error:
        silence_stdout()
        _say(f"tpstui: error: cannot write to stdout: {error.strerror or error}.")
        return EXIT_USAGE
    return code


def _say(line: str) -> None:
    """A line on stderr; nothing when stderr is gone too (the terminal was closed)."""
    with suppress(OSError):
        print(line, file=sys.stderr)


def _has(command: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"tpstui.commands.{command}") is not None


def entry_point() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
