"""``tpstui replay FILE``: the live app fed from a recording (real time, or ``--speed`` times faster)."""

from __future__ import annotations

import argparse
import sys

from tpstui.errors import UserError

__all__ = ["add_parser", "parse_speed", "parse_time", "print_warnings", "run_replay"]


def parse_speed(text: str) -> float:
    """``4``, ``0.5``, ``4x`` or ``max``; an argparse error (exit 2) otherwise."""
    from tpstui.sources.replay import MAX_SPEED, MIN_SPEED

    if text.strip().lower() == "max":
        return MAX_SPEED
    try:
        speed = float(text.strip().lower().removesuffix("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (use e.g. 4, 0.5 or max)") from None
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g} (got {text})")
    return speed


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay a recording in the live app",
        description="Open a recording in the live app: real time by default; keys change the speed, "
        "pause, step, seek (to a time, to the next throttle event) and jump to the end.",
    )
    parser.add_argument("file", metavar="FILE", help="a recording (.jsonl.zst) made by tpstui run/bench --record")
    parser.add_argument(
        "--speed",
        type=parse_speed,
        default=1.0,
        metavar="X",
        help="playback speed: 1 = real time (default), 4, 0.5, max",
    )
    parser.add_argument("--paused", action="store_true", help="open paused")
    parser.add_argument(
        "--start", type=parse_time, default=0.0, metavar="TIME", help="start at TIME into the recording: 90, 1:30, 2.5s"
    )
    parser.add_argument(
        "--summary", action="store_true", help="no app: print the final statistics (the bench table) and exit"
    )
    app = parser.add_argument_group("app")
    app.add_argument("--theme", default="dark", metavar="NAME", help="dark (default), light, high-contrast, ...")
    app.add_argument("--fps", type=float, default=20.0, metavar="HZ", help="frames per second (default: 20)")
    parser.set_defaults(handler=run_replay)


def parse_time(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``1:30`` or ``1:02:03``; an argparse error otherwise."""
    from tpstui.ui.format import parse_offset

    try:
        return parse_offset(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use e.g. 90, 1:30 or 2.5s)") from None


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"tpstui: warning: {warning}", file=sys.stderr)


def run_replay(args: argparse.Namespace) -> int:
    from tpstui.sources.replay import ReplaySource

    source = ReplaySource.open(args.file, speed=args.speed, paused=args.paused)
    print_warnings(source.warnings)
    if args.summary:
        from tpstui.commands.output import print_result
        from tpstui.reports.bench import table_text
        from tpstui.reports.export import export_report

        problem = print_result(table_text(export_report(source.recording)))
        if problem:
            raise UserError(problem)
        return 0
    if args.start:
        source.seek(int(args.start * 1e9))
    from tpstui.sources.pauses import freeze_heap
    from tpstui.ui.app import run_app

    freeze_heap()  # the recording's events live as long as the app: keep full collections off them

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("tpstui replay needs a terminal; without one use --summary, or tpstui export.")
    return run_app(source, theme=args.theme, fps=args.fps)
