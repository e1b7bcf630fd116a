"""``tpstui export FILE --csv DIR | --json PATH``: a recording as tables and the bench report."""

from __future__ import annotations

import argparse
import os
import sys

from tpstui.errors import UserError

__all__ = ["add_parser", "run_export"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a recording: per-token and telemetry tables, per-run summary",
        description="Export a recording. --csv DIR writes tokens.csv, telemetry.csv, runs.csv (the bench CSV) "
        "and throttle.csv; --json PATH writes the bench report with the tokens and telemetry_samples tables.",
    )
    parser.add_argument("file", metavar="FILE", help="a recording (.jsonl.zst)")
    parser.add_argument("--csv", metavar="DIR", help="write CSV tables into DIR (created if missing)")
    parser.add_argument("--json", metavar="PATH", help="write one JSON file")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from tpstui.commands.replay import print_warnings
    from tpstui.reports.export import export_report, write_csv_dir, write_json
    from tpstui.stream.recording import read_recording

    if not args.csv and not args.json:
        raise UserError("give --csv DIR and/or --json PATH (what to export to).")
    if args.csv and os.path.exists(args.csv) and not os.path.isdir(args.csv):
        raise UserError(f"{args.csv} is a file; --csv takes a directory.")
    if args.json and os.path.isdir(args.json):
        raise UserError(f"{args.json} is a directory; --json takes a file name.")
    recording = read_recording(args.file)
    print_warnings(recording.warnings)
    report = export_report(recording)
    try:
        if args.csv:
            for path in write_csv_dir(recording, args.csv, report):
                print(f"wrote {path}", file=sys.stderr)
        if args.json:
            write_json(recording, args.json, report)
            print(f"wrote {args.json}", file=sys.stderr)
    except OSError as error:
        raise UserError(f"cannot write the export: {error.strerror or error} ({error.filename}).") from None
    return 0
