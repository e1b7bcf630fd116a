"""``tpstui compare A B [...]``: recordings side by side, with differences and which is better."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tpstui.errors import UserError

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
    if args.json:
        path = Path(args.json)
        if path.is_dir():
            raise UserError(f"{path} is a directory; --json takes a file name.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(comparison.as_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot write {path}: {error.strerror or error}.") from None
    if args.html:
        from tpstui.reports.html import compare_report_html, write_html

        try:
            write_html(compare_report_html(recordings, comparison), args.html)
        except OSError as error:
            raise UserError(f"cannot write {args.html}: {error.strerror or error}.") from None
    if args.app:
        import sys

        from tpstui.ui.screens.compare import run_compare_app

        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UserError("tpstui compare --app needs a terminal; without --app it prints the table.")
        return run_compare_app(comparison, theme=args.theme)
    print(comparison_text(comparison))
    return 0
