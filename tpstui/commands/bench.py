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
from tpstui.commands.output import print_result, say
from tpstui.errors import EXIT_FAILED, EXIT_USAGE, Interrupted, UserError, interrupted_exit_code
from tpstui.stream.events import BackendFailed, Event, RunFailed, RunFinished, RunStarted

if TYPE_CHECKING:
    from tpstui.commands.serving_progress import ServingProgress
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

    def say(self, line: str) -> None:
        """A line on stderr (even with --quiet); nothing when stderr is gone (a closed terminal)."""
        say(line, self.stream)

    def stage(self, fraction: float, stage: str) -> None:
        headline = stage.split(" (")[0]  # "de-quantising (12/272)" → one line, not 50
        if stage.startswith("warning: "):
            self.say(f"tpstui: {stage}")
            return
        if self.quiet or headline == self._last_stage:
            return
        self._last_stage = headline
        self.say(f"[{fraction * 100:3.0f}%] {stage}")

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
            self.say(f"{kind}: {event.tokens} tokens in {seconds:.2f} s ({rate:.1f} tok/s overall, {event.reason})")
        elif isinstance(event, RunFailed) and event.run >= 0:
            self.say(f"run {event.run} failed: {event.error}")
        elif isinstance(event, BackendFailed):
            self.say(f"telemetry: {event.device}: {event.message}")


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
        interrupt = _wait_for_runs(live, progress)
    finally:
        live.close()
    runs = live.session.runs(include_warmup=True)
    failures = [v for v in runs if v.error]
    planned = engine.plan.warmup + engine.plan.runs
    missing = 0 if interrupt or args.endpoint or engine.plan.loop else planned - sum(v.done for v in runs)
    if isinstance(progress, ServingProgress) and not args.quiet:
        progress.line()
    report = build_report(
        live.session,
        live.recorded_settings(),
        {"interrupted": interrupt is not None, "load_seconds": live.model.load_seconds if live.model else None},
    )
    problems = write_report(report, args.json, args.csv)
    problems += [p for p in [print_result(table_text(report))] if p]
    recording_failed = _report_recording(live, args.quiet)
    for problem in problems:
        progress.say(f"tpstui: error: {problem}")
    if interrupt is not None:
        return interrupted_exit_code(interrupt)
    if problems:
        return EXIT_USAGE
    if failures or missing:
        what = failures[0].error if failures else "the generation threads stopped before they were done"
        what_failed = "request(s)" if args.endpoint else "run(s)"
        progress.say(f"tpstui: error: {len(failures) + max(missing, 0)} {what_failed} failed: {what}")
        return EXIT_FAILED
    return EXIT_FAILED if recording_failed else 0


def _wait_for_runs(live: LiveSession, progress: _Progress | ServingProgress) -> KeyboardInterrupt | None:
    """Wait until the planned runs are done; Ctrl-C, SIGTERM or SIGHUP stop the current run at its
    next decode step (the runs finished so far are reported) and are returned."""
    engine = live.engine
    try:
        while not engine.wait_idle(0.2):
            if not engine.alive:  # the engine's threads are gone: the runs left are reported missing
                return None
    except KeyboardInterrupt as interrupt:
        progress.stage(1.0, f"{'stopped by ' + str(interrupt) if isinstance(interrupt, Interrupted) else 'interrupted'}"
                       ": stopping the current run")  # fmt: skip
        engine.stop()
        deadline = time.monotonic() + 5
        while not engine.wait_idle(0.2) and time.monotonic() < deadline:
            pass
        return interrupt
    return None


def _report_recording(live: LiveSession, quiet: bool) -> bool:
    """Say where the session was recorded, or why recording failed (True)."""
    recorder = live.recorder
    if recorder is None:
        return False
    if recorder.error:
        say(f"tpstui: error: recording to {recorder.path} failed: {recorder.error}")
        return True
    if not quiet:
        say(f"recorded {recorder.events_written} events to {recorder.path}")
    return False


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
