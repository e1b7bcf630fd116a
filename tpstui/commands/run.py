"""``tpstui run`` (also plain ``tpstui``): the live monitor app on a local model or an endpoint.

The app opens at once: loading (torch, the model: in the generation child process unless
``--same-process``) happens while the app shows a progress bar. Only the option parsing and the
checks that need no torch happen before it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from tpstui.commands.options import (
    add_endpoint_options,
    add_record_options,
    add_run_options,
    engine_from_args,
    record_path_from_args,
    telemetry_options_from_args,
)
from tpstui.errors import UserError

__all__ = ["add_parser", "run_live"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the live monitor (default command): tokens/s, TTFT, ITL and telemetry as they happen",
        description="Open the live monitor and measure generation as it happens: "
        "warm-up, then N runs (or --loop until stopped). Keys: q quit, r run again, s stop, t theme, ? help.",
    )
    add_run_options(parser, runs_default=3, warmup_default=1)
    add_endpoint_options(parser)
    app = parser.add_argument_group("app")
    app.add_argument("--loop", action="store_true", help="repeat runs until stopped (soak runs that expose throttling)")
    app.add_argument(
        "--exit-when-done",
        action="store_true",
        help="leave the app once the requested runs are done (scripted sessions, demos, benchmarks)",
    )
    app.add_argument("--theme", default="dark", metavar="NAME", help="dark (default), light, high-contrast, ...")
    app.add_argument("--fps", type=float, default=10.0, metavar="HZ", help="frames per second (default: 10)")
    app.add_argument(
        "--ui-cpu",
        type=float,
        default=1.5,
        metavar="PCT",
        help="share of one core the app may use while a run generates (default: 1.5)",
    )
    add_record_options(parser, by_default=True)
    parser.set_defaults(handler=run_live)


def run_live(args: argparse.Namespace) -> int:
    from tpstui.sources.live import LiveSession

    engine = engine_from_args(args, loop=args.loop, quiet=True)  # the app owns the terminal
    telemetry = telemetry_options_from_args(args)
    if not 1 <= args.fps <= 60:
        raise UserError(f"--fps must be between 1 and 60 (got {args.fps:g}).")
    if not 0 < args.ui_cpu <= 100:
        raise UserError(f"--ui-cpu must be above 0 and at most 100 (got {args.ui_cpu:g}).")
    from tpstui.ui.app import available_theme_names, run_app

    if args.theme not in available_theme_names():
        raise UserError(f"unknown theme {args.theme!r}; use one of: {', '.join(available_theme_names())}.")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("tpstui run needs a terminal; for headless measurement use: tpstui bench")
    record = record_path_from_args(args, by_default=True)
    source = LiveSession(engine, telemetry, record=record, unique_name=not args.record)
    code = run_app(
        source, theme=args.theme, fps=args.fps, cpu_budget=args.ui_cpu / 100, exit_when_done=args.exit_when_done
    )
    if source.recording_path is not None:
        from tpstui.stream.recording import display_path

        where = display_path(source.recording_path)
        error = source.recording_error
        with contextlib.suppress(OSError):  # stderr is gone with a closed terminal
            if error is not None:
                print(f"tpstui: error: recording to {where} failed: {error}", file=sys.stderr)
            else:
                print(f"tpstui: recorded to {where}", file=sys.stderr)
    if not source.join(0.1):
        # A decode step (or torch's import) is still running on a daemon thread: the session is
        # closed and the recording flushed, so leave now rather than let interpreter shutdown
        # abort inside torch ("terminate called without an active exception").
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
