"""``tpstui compare A B [...]``: recordings side by side, with differences and which is better."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from tpstui.errors import UserError

if TYPE_CHECKING:
    from tpstui.reports.compare import Comparison
    from tpstui.stream.recording.reader import Recording

__all__ = ["add_parser", "run_compare"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare recordings side by side (TTFT, TPS, ITL, throttling, energy)",
        description="Compare two or more recordings: TTFT, the TPS kinds, ITL percentiles, time throttled and "
        "energy per token, with differences against the first and which is better.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="two or more recordings (.jsonl.zst)")
    parser.add_argument("--json", metavar="PATH", help="also write the comparison as JSON")
    parser.add_argument(
        "--html", metavar="PATH", help="also write one HTML file overlaying the recordings (plotly, opens offline)"
    )
    parser.add_argument("--app", action="store_true", help="show the comparison as a screen in the app")
    parser.add_argument("--theme", default="dark", metavar="NAME", help="the app's theme (with --app)")
    parser.set_defaults(handler=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from tpstui.commands.replay import print_warnings
    from tpstui.reports.compare import compare, comparison_text
    from tpstui.stream.recording import read_recording

    if len(args.files) < 2:
        raise UserError("compare needs at least two recordings.")
    if args.html:
        from tpstui.commands.report import check_html_path

        check_html_path(args.html)
    recordings = [read_recording(path) for path in args.files]
    for recording in recordings:
        print_warnings(recording.warnings)
    comparison = compare(recordings)
    if args.json and Path(args.json).is_dir():
        raise UserError(f"{args.json} is a directory; --json takes a file name.")
    if args.app:
        import sys

        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UserError("tpstui compare --app needs a terminal; without --app it prints the table.")
    problems = [_write_json(comparison.as_dict(), Path(args.json))] if args.json else []
    if args.html:
        problems.append(_write_html(recordings, comparison, args.html))
    if args.app:
        from tpstui.ui.screens.compare import run_compare_app

        code = run_compare_app(comparison, theme=args.theme)
    else:
        from tpstui.commands.output import print_result

        problems.append(print_result(comparison_text(comparison)))
        code = 0
    said = [p for p in problems if p]
    if said:  # every output was tried; say what failed
        raise UserError(" ".join(said))
    return code


def _write_html(recordings: list[Recording], comparison: Comparison, path: str) -> str | None:
    from tpstui.reports.html import compare_report_html, write_html

    try:
        write_html(compare_report_html(recordings, comparison), path)
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}."
    return None


def _write_json(data: object, path: Path) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}."
    return None
