"""The ``tpstui`` command line: ``run`` (default) and the other ``COMMANDS``.

Only argparse is imported up front, so ``tpstui`` starts fast; each command imports what it needs.
Every user error ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from tpstui import __version__
from tpstui.errors import EXIT_INTERRUPTED, EXIT_USAGE, UserError

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
    try:
        return int(handler(args))
    except UserError as error:
        print(f"tpstui: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("tpstui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `tpstui ... | head`: the reader left; no traceback, no flush error at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _has(command: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"tpstui.commands.{command}") is not None


def entry_point() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
