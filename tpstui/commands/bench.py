"""``tpstui bench``: the measurement, headless. Progress on stderr, the table on stdout."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, TextIO

from tpstui.commands.options import (
    add_endpoint_options,
    add_record_options,
    add_run_options,
    engine_from_args,
    record_path_from_args,
    telemetry_options_from_args,
)
from tpstui.errors import EXIT_INTERRUPTED, UserError
from tpstui.stream.events import Event, RunFailed, RunFinished, RunStarted

if TYPE_CHECKING:
    from tpstui.sources.live import LiveSession

__all__ = ["add_parser", "run_bench"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure headless: warm-up, N runs, a table and JSON/CSV",
        description="Measure generation speed without the UI: warm-up runs, then N measured runs.",
    )
    add_run_options(parser, runs_default=3, warmup_default=1)
    add_endpoint_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the full report (raw per-token timestamps) as JSON")
    out.add_argument("--csv", metavar="PATH", help="write one row per run as CSV")
    out.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    add_record_options(parser, by_default=False)
    parser.set_defaults(handler=run_bench)


class _Progress:
    """Prints loading stages and one line per finished run to stderr."""

    def __init__(self, stream: TextIO, total: int, warmup: int, quiet: bool) -> None:
        self.stream = stream
        self.total = total
        self.warmup = warmup
        self.quiet = quiet
        self._last_stage = ""
        self._started_at: dict[int, int] = {}

    def stage(self, fraction: float, stage: str) -> None:
        headline = stage.split(" (")[0]  # "de-quantising (12/272)" → one line, not 50
        if self.quiet or headline == self._last_stage:
            return
        self._last_stage = headline
        print(f"[{fraction * 100:3.0f}%] {stage}", file=self.stream, flush=True)

    def on_event(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, RunStarted):
            self._started_at[event.run] = event.t_ns
        elif isinstance(event, RunFinished):
            start = self._started_at.get(event.run, event.t_ns)
            seconds = (event.t_ns - start) / 1e9
            kind = "warm-up" if event.run < self.warmup else f"run {event.run - self.warmup + 1}/{self.total}"
            rate = event.tokens / seconds if seconds > 0 else 0.0
            print(
                f"{kind}: {event.tokens} tokens in {seconds:.2f} s ({rate:.1f} tok/s overall, {event.reason})",
                file=self.stream,
                flush=True,
            )
        elif isinstance(event, RunFailed) and event.run >= 0:
            print(f"run {event.run} failed: {event.error}", file=self.stream, flush=True)


def run_bench(args: argparse.Namespace) -> int:
    from tpstui.commands.serving_progress import ServingProgress
    from tpstui.reports.bench import build_report, table_text, write_report
    from tpstui.sources.live import LiveSession

    engine = engine_from_args(args)
    telemetry = telemetry_options_from_args(args)
    _check_output_paths(args.json, args.csv)
    live = LiveSession(engine, telemetry, record=record_path_from_args(args, by_default=False))
    progress: _Progress | ServingProgress
    if args.endpoint:
        progress = ServingProgress(sys.stderr, args.quiet)
    else:
        progress = _Progress(sys.stderr, engine.plan.runs, engine.plan.warmup, args.quiet)
    live.bus.subscribe(progress.on_event)
    interrupted = False
    try:
        model = live.open(progress.stage)
        for note in live.notes:
            progress.stage(1.0, f"telemetry: skipped {note}")
        progress.stage(
            1.0,
            (f"ready: {model.name} at {model.device} ({model.load_seconds:.1f} s)" if args.endpoint
             else f"loaded {model.name} in {model.load_seconds:.1f} s")
            + (" (from the conversion cache)" if model.cached else ""),
        )  # fmt: skip
        live.request_planned_runs()
        engine = live.engine
        try:
            while not engine.wait_idle(0.2):
                pass
        except KeyboardInterrupt:
            interrupted = True
            progress.stage(1.0, "interrupted: stopping the current run" + ("s" if args.endpoint else ""))
            engine.stop()
            deadline = time.monotonic() + 5
            while not engine.wait_idle(0.2) and time.monotonic() < deadline:
                pass
    finally:
        live.close()
    failures = [v for v in live.session.runs(include_warmup=True) if v.error]
    if isinstance(progress, ServingProgress) and not args.quiet:
        progress.line()
    report = build_report(
        live.session,
        live.recorded_settings(),
        {"interrupted": interrupted, "load_seconds": live.model.load_seconds if live.model else None},
    )
    write_report(report, args.json, args.csv)
    print(table_text(report))
    _report_recording(live, args.quiet)
    if interrupted:
        return EXIT_INTERRUPTED
    if failures:
        what = "request(s)" if args.endpoint else "run(s)"
        print(f"tpstui: error: {len(failures)} {what} failed: {failures[0].error}", file=sys.stderr)
        return 1
    return 0


def _report_recording(live: LiveSession, quiet: bool) -> None:
    recorder = live.recorder
    if recorder is None:
        return
    if recorder.error:
        print(f"tpstui: warning: recording to {recorder.path} failed: {recorder.error}", file=sys.stderr)
    elif not quiet:
        print(f"recorded {recorder.events_written} events to {recorder.path}", file=sys.stderr)


def _check_output_paths(*paths: str | None) -> None:
    """Fail before measuring, not after, when an output file cannot be written."""
    import os

    for path in paths:
        if not path:
            continue
        parent = os.path.dirname(os.path.abspath(path)) or "."
        if os.path.isdir(path):
            raise UserError(f"{path} is a directory; give a file name.")
        existing = parent
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.access(existing, os.W_OK):
            raise UserError(f"cannot write {path}: {existing} is not writable.")
