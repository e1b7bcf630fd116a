"""``tpstui report FILE --html OUT``: one self-contained HTML report of a recording (plotly, offline)."""

from __future__ import annotations

import argparse
import os
import sys

from tpstui.errors import UserError

__all__ = ["add_parser", "check_html_path", "run_report"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a recording as one HTML file to share: timeline, diagnosis, runs, metadata",
        description="Write one self-contained HTML file (plotly.js embedded: it opens offline) with the session's "
        "stacked, zoomable timeline (tokens/s, clocks, temperatures, power, bandwidth, throttle spans), the "
        "throttling diagnosis, the per-run table and the session's metadata.",
    )
    parser.add_argument("file", metavar="FILE", help="a recording (.jsonl.zst)")
    parser.add_argument("--html", metavar="PATH", required=True, help="the HTML file to write")
    parser.set_defaults(handler=run_report)


def check_html_path(path: str) -> None:
    """A one-line error before any work when ``path`` cannot be the HTML file."""
    if os.path.isdir(path):
        raise UserError(f"{path} is a directory; --html takes a file name.")


def run_report(args: argparse.Namespace) -> int:
    from tpstui.commands.replay import print_warnings
    from tpstui.reports.html import session_report_html, write_html
    from tpstui.stream.recording import read_recording

    check_html_path(args.html)
    recording = read_recording(args.file)
    print_warnings(recording.warnings)
    text = session_report_html(recording)
    try:
        path = write_html(text, args.html)
    except OSError as error:
        raise UserError(f"cannot write {args.html}: {error.strerror or error}.") from None
    print(f"wrote {path} ({len(text.encode()) / 1e6:.1f} MB)", file=sys.stderr)
    return 0
