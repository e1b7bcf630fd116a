"""The live monitor: a Textual app that renders a ``SessionSource`` at a fixed frame rate.

The app never receives one message per token. A timer (``fps``, 10 by default) pulls
``source.session``, folds what is new into the ``ViewModel`` (O(new events)) and hands it to
the panels that are due (``ui.schedule``: each at its own rate and, while a run generates, within
a ``CpuBudget`` of 1.5 % of a core by default; a frame with nothing to draw leaves the session
alone), which redraw only the lines that changed, so watching never slows the run much. Heavy
statistics of very long runs go to a worker thread. Works with any source: live
(``LiveControls``: r / s) or replay (``ReplayControls``).
"""

from __future__ import annotations

import contextlib
import sys
import time
from functools import partial
from typing import ClassVar

from textual.app import AutopilotCallbackType, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from tpstui.errors import EXIT_FAILED, UserError
from tpstui.sources.base import LiveControls, ReplayControls, SessionSource
from tpstui.state.session import Session
from tpstui.ui import format as fmt
from tpstui.ui.budget import DEFAULT_FRACTION, CpuBudget
from tpstui.ui.frames import FrameWatch
from tpstui.ui.model import FullStats, ViewModel, compute_full
from tpstui.ui.replay_keys import REPLAY_ACTIONS, ReplayKeys
from tpstui.ui.schedule import RedrawSchedule
from tpstui.ui.screens.help import HelpScreen
from tpstui.ui.serving import ServingView, is_serving_session
from tpstui.ui.signals import SignalCatcher
from tpstui.ui.themes import DEFAULT_THEME, THEME_ORDER, app_variable_defaults, load_themes
from tpstui.ui.widgets import HeaderBar, LoadPanel, StatsPanel, StreamText, TelemetryPanel, TimelinePanel
from tpstui.ui.widgets.header import model_facts
from tpstui.ui.widgets.requests import RequestsPanel

__all__ = ["TpsApp", "run_app"]

LIVE_ACTIONS = frozenset({"rerun", "stop"})
PERSISTENT_S = 24 * 3600.0
"""How long a notice that must not be missed (the recording failed) stays up: for good."""


class TpsApp(ReplayKeys):
    """tpstui's live view of one session source (see the module docstring and ``run_app``)."""

    CSS_PATH = "app.tcss"
    TITLE = "tpstui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-wider")]  # noqa: RUF012 (Textual's declaration)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("r", "rerun", "run again"),
        Binding("s", "stop", "stop"),
        Binding("space", "pause", "pause"),
        Binding("plus,equals_sign", "faster", "faster"),
        Binding("minus", "slower", "slower"),
        Binding("left", "seek(-5)", "-5s", show=False),
        Binding("right", "seek(5)", "+5s", show=False),
        Binding("full_stop", "step", "step", show=False),
        Binding("n", "next_throttle", "next throttle"),
        Binding("home", "seek_start", "start", show=False),
        Binding("end", "seek_end", "end", show=False),
        Binding("g", "goto", "go to", show=False),
        Binding("z", "zoom_in", "zoom"),
        Binding("x", "zoom_out", "zoom out", show=False),
        Binding("left_square_bracket", "pan(-1)", "pan", show=False),
        Binding("right_square_bracket", "pan(1)", "pan", show=False),
        Binding("f", "follow", "follow", show=False),
        Binding("d", "diagnosis", "diagnosis"),
        Binding("t", "next_theme", "theme"),
        Binding("question_mark", "help", "help"),
    ]

    def __init__(
        self,
        source: SessionSource,
        *,
        theme: str = DEFAULT_THEME,
        fps: float = 10.0,
        exit_when_done: bool = False,
        cpu_budget: float = DEFAULT_FRACTION,
    ) -> None:
        super().__init__()
        if not 1 <= fps <= 60:
            raise UserError(f"frame rate must be between 1 and 60 per second (got {fps:g}).")
        if not 0 < cpu_budget <= 1:
            raise UserError(f"the UI CPU budget must be in (0, 100] % of a core (got {cpu_budget * 100:g}).")
        self.source = source
        self.fps = fps
        self.exit_when_done = exit_when_done
        self.model = ViewModel()
        self.serving = ServingView()
        """Request-level figures of an endpoint session (see ``ui.serving``)."""
        self.frame_seconds: list[float] = []
        """Duration of each frame's update (for benchmarks/ui_ingest.py)."""
        self._full_pending = False
        self._source_closed = False
        self._idle_frames = 0
        self._generating = False
        """Whether a run generated at the last frame that pulled the session."""
        self.schedule = RedrawSchedule(fps, CpuBudget(cpu_budget))
        self.frames = FrameWatch(1 / fps)
        self._model_ready = False
        self.signal_received: int | None = None
        """The signal (SIGINT, SIGTERM, SIGHUP) that ended the app, if one did."""
        self._signals: SignalCatcher | None = None
        self._recording_error_shown = False
        self._cycle = [name for name in load_themes() if name in THEME_ORDER] or [DEFAULT_THEME]
        for registered in load_themes().values():
            self.register_theme(registered)
        if theme not in self.available_themes:
            raise UserError(f"unknown theme {theme!r}; use one of: {', '.join(available_theme_names())}.")
        self.theme = theme

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield LoadPanel(id="load")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield TimelinePanel(id="chart")
                yield StreamText(id="stream")
            with Vertical(id="right"):
                yield StatsPanel(id="stats")
                yield RequestsPanel(id="requests")
                yield TelemetryPanel(id="telemetry")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        titles = {
            "#chart": ("timeline", "▇ token ⠒ 1s ┊ run · z x zoom [ ] pan f follow"),
            "#stream": ("output", ""),
            "#stats": ("stats", ""),
            "#requests": ("requests", "▸ followed in output"),
            "#telemetry": ("telemetry", ""),
        }
        for selector, (title, subtitle) in titles.items():
            widget = self.query_one(selector)
            widget.add_class("panel")
            widget.border_title = title
            widget.border_subtitle = subtitle
        self.header = self.query_one(HeaderBar)
        self.load_panel = self.query_one(LoadPanel)
        self.chart = self.query_one(TimelinePanel)
        self.stream = self.query_one(StreamText)
        self.stats = self.query_one(StatsPanel)
        self.requests = self.query_one(RequestsPanel)
        self.requests.display = False  # shown once the session turns out to be an endpoint's
        self.telemetry = self.query_one(TelemetryPanel)
        if self.source.recording_path is not None:  # tpstui run records by default: say where
            self.notify(f"recording to {self.source.recording_path}", title="recording", timeout=8)
        self.frame_timer = self.set_interval(1 / self.fps, self.tick, name="frame")
        self._signals = SignalCatcher(self.on_signal)
        self.call_after_refresh(self.source.start)

    def on_signal(self, signum: int) -> None:
        """Ctrl-C, SIGTERM or SIGHUP: leave as ``q`` does; the exit code is 128 + the signal."""
        self.signal_received = signum
        self.quit_now()

    # -- the frame -------------------------------------------------------------------------------
    def tick(self, force: bool = False) -> None:
        """Pull the session, update the model and the widgets that are due (one frame).

        ``force`` redraws every widget now (tests and snapshots); otherwise each redraws at most
        at its ``WIDGET_HZ`` rate, which is what keeps the app's share of the CPU small.
        """
        if self._source_closed or not self.is_running:
            return
        started = time.perf_counter_ns()
        self.schedule.start_frame()
        session = self.source.session
        if not force and self.schedule.idle(self._generating) and not self.model.throttle_behind(session):
            self._watch_frame(started, self._generating)  # nothing could be drawn: leave the model too
            return
        self.model.update(session, self.source.now_ns())
        if is_serving_session(session):
            self.serving.update(session, self.model, self.source.now_ns())
        current = self.model.current
        generating = isinstance(self.source, LiveControls) and current is not None and not current.tail.done
        self._generating = generating
        self._show(session, force, generating)
        self._watch_frame(started, generating)
        self._check_recording()
        if self.exit_when_done and self._finished(session):
            self.quit_now()

    def _watch_frame(self, started: int, generating: bool) -> None:
        """Keep the frame's duration; while a run generates, report a frame that held the thread."""
        ended = time.perf_counter_ns()
        self.frame_seconds.append((ended - started) / 1e9)
        if generating:
            for stall_start, stall_end, what in self.frames.check(started, ended):
                self.source.note_pause(stall_start, stall_end, what)
        else:
            self.frames.reset()

    def _check_recording(self) -> None:
        """A recording that failed (a full disk) is said at once, in a notice that stays."""
        error = self.source.recording_error
        if error is not None and not self._recording_error_shown:
            self._recording_error_shown = True
            self.notify(f"{self.source.recording_path}: {error}", title="recording failed", severity="error",
                        timeout=PERSISTENT_S)  # fmt: skip

    def _full_stats(self, session: Session) -> None:
        model = self.model
        if not model.full_due() or self._full_pending:
            return
        if not model.full_in_background:
            model.refresh_full()
            return
        assert model.current is not None
        self._full_pending = True
        work = partial(_compute_in_worker, session, model.current.run)
        self.run_worker(work, thread=True, exclusive=True, group="full-stats", exit_on_error=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "full-stats" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self._full_pending = False
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            session, full, started = event.worker.result
            if session is self.model.session:
                self.model.accept_full(full, started)
        elif event.state == WorkerState.ERROR:
            self.notify(f"statistics failed: {event.worker.error}", severity="error")

    def _show(self, session: Session, force: bool, generating: bool) -> None:
        """Redraw the panels the schedule says are due, most live first, while the CPU budget allows."""
        for name in self.schedule.redraws(force, generating, self.model.throttle_version):
            self._draw(name, session)

    def _draw(self, name: str, session: Session) -> None:
        model = self.model
        error = session.load_error
        if name == "header":
            settings = session.started.settings if session.started is not None else {}
            self.header.show(
                model_facts(model.model, settings), self.status(session), error is not None, model.throttle
            )
            ready = model.model is not None and error is None
            if ready != self._model_ready:
                self._model_ready = ready
                self.refresh_bindings()
            if ready:
                self.load_panel.add_class("-done")
            else:
                self.load_panel.show(model.load, error)
        elif name == "chart":
            self.chart.show(model, self._waiting(session))
        elif name == "stream" and model.current is not None:
            tail = model.current.tail
            note = f"run failed: {tail.error}" if tail.error else ""
            self.stream.show(tail.started.prompt_text, model.current.text, note)
        elif name == "stats":
            self._full_stats(session)
            self.stats.show(model)
        elif name == "requests" and is_serving_session(session):
            self.requests.display = True
            following = model.current.run if model.current is not None else None
            self.requests.show(self.serving, self.serving.latest(model, 40), following)
        elif name == "telemetry":
            self.telemetry.notes = self.source.notes  # known once telemetry has started
            self.telemetry.show(model, session.failures)

    def _waiting(self, session: Session) -> str:
        if session.load_error is not None:
            return "model not loaded"
        if session.model is None:
            load = session.load
            return f"loading the model ({load.fraction * 100:.0f}%)" if load is not None else "starting"
        return "waiting for the first token"

    def status(self, session: Session) -> str:
        """The header's right-hand side: loading, run k of N, done, or the replay position."""
        source, model = self.source, self.model
        if isinstance(source, ReplayControls):
            state = "paused" if source.paused else f"▶ {source.speed:g}×"
            position = f"{fmt.duration(source.position_ns / 1e9)} / {fmt.duration(source.duration_ns / 1e9)}"
            return f"replay {state}  {position}"
        if session.load_error is not None:
            return "load failed"
        if session.model is None:
            return f"loading {session.load.fraction * 100:.0f}%" if session.load is not None else "starting"
        current = model.current
        if current is None:
            return "ready"
        settings = session.started.settings if session.started is not None else {}
        if is_serving_session(session):
            serving = self.serving
            planned = "" if settings.get("loop") or settings.get("duration_s") else f"/{settings.get('runs')}"
            busy = isinstance(source, LiveControls) and source.busy
            state = f"{serving.in_flight} in flight" if busy or serving.in_flight else "done"
            return f"{serving.completed + serving.failed}{planned} requests · {state}"
        index = model.measured_index(current)
        if not current.tail.done:
            if index == 0:
                return "warm-up"
            if settings.get("loop"):
                return f"run {index} (loop)"
            in_set, set_number = model.set_index(current)
            runs = settings.get("runs")
            shown = f"run {in_set}/{runs}" if runs and in_set <= runs else f"run {index}"
            return shown + (f" · set {set_number}" if set_number > 1 else "")
        if current.tail.error is not None:
            return "run failed"
        if isinstance(source, LiveControls) and source.busy:
            return "next run"
        return "done · r runs again" if isinstance(source, LiveControls) else "done"

    def _finished(self, session: Session) -> bool:
        if session.load_error is not None:
            return True
        if isinstance(self.source, ReplayControls):
            return self.source.position_ns >= self.source.duration_ns and session.ended is not None
        current = self.model.current
        busy = isinstance(self.source, LiveControls) and self.source.busy
        settled = current is not None and current.tail.done and not busy
        self._idle_frames = self._idle_frames + 1 if settled else 0
        return self._idle_frames >= 3

    # -- actions -----------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in LIVE_ACTIONS:
            if not isinstance(self.source, LiveControls):
                return False
            return True if self._model_ready else None  # shown dimmed until the model is loaded
        if action in REPLAY_ACTIONS:
            return isinstance(self.source, ReplayControls)
        return True

    def exit_code(self) -> int:
        """128 + the signal that ended the app; 2: loading failed; 1: a run or the recording failed."""
        if self.signal_received is not None:
            return 128 + self.signal_received
        session = self.source.session
        if session.load_error is not None:
            return 2
        failed = any(self.model.runs[r].tail.error for r in self.model.run_order)
        return 1 if failed or self.source.recording_error is not None else 0

    def close_source(self) -> None:
        """Stop the source (bounded by the source, < 1 s); safe to call twice."""
        if not self._source_closed:
            self._source_closed = True
            self.source.close()

    def quit_now(self) -> None:
        """Ask a live run to stop (it ends at its next decode step) and leave with ``exit_code()``.

        The source is closed on unmount, by which time the run has usually ended already.
        """
        if isinstance(self.source, LiveControls) and not self._source_closed:
            self.source.stop_run()
        code = self.exit_code()
        self.exit(code, return_code=code)

    def on_unmount(self) -> None:
        if self._signals is not None:
            self._signals.restore()
        self.close_source()

    async def action_quit(self) -> None:
        self.quit_now()

    def action_rerun(self) -> None:
        source = self.source
        if not isinstance(source, LiveControls):
            return
        if source.busy:
            self.notify("a run is in progress: s stops it", timeout=2)
            return
        if not source.ready:
            self.notify("the model is not loaded yet", timeout=2)
            return
        source.rerun()

    def action_stop(self) -> None:
        if isinstance(self.source, LiveControls):
            self.source.stop_run()

    def action_next_theme(self) -> None:
        names = self._cycle
        index = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[index % len(names)]
        self.notify(f"theme: {self.theme}", timeout=1.5)

    def _axis_bounds(self) -> tuple[int, int] | None:
        origin = self.model.origin_ns
        return (origin, self.model.now_ns) if origin is not None else None

    def action_zoom_in(self) -> None:
        if (bounds := self._axis_bounds()) is not None:
            self.model.axis.zoom_in(*bounds)
            self.tick(force=True)

    def action_zoom_out(self) -> None:
        if (bounds := self._axis_bounds()) is not None:
            self.model.axis.zoom_out(*bounds)
            self.tick(force=True)

    def action_pan(self, direction: int) -> None:
        if (bounds := self._axis_bounds()) is not None:
            if not self.model.axis.pan(int(direction), *bounds):
                self.notify("the whole session is shown: z zooms in first", timeout=2)
            self.tick(force=True)

    def action_follow(self) -> None:
        self.model.axis.follow()
        self.tick(force=True)

    def action_diagnosis(self) -> None:
        from tpstui.ui.screens.diagnosis import DiagnosisScreen

        if not isinstance(self.screen, DiagnosisScreen):
            self.push_screen(DiagnosisScreen(self.source))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(replay=isinstance(self.source, ReplayControls)))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return app_variable_defaults(self.current_theme)


def _compute_in_worker(session: Session, run: int) -> tuple[Session, FullStats, float]:
    started = time.monotonic()
    return session, compute_full(session, run), started


def available_theme_names() -> list[str]:
    """Theme names ``--theme`` accepts: tpstui's theme files, then Textual's built-in themes."""
    from textual.theme import BUILTIN_THEMES

    return [*load_themes(), *sorted(BUILTIN_THEMES)]


def run_app(
    source: SessionSource,
    *,
    theme: str = DEFAULT_THEME,
    fps: float = 10.0,
    exit_when_done: bool = False,
    cpu_budget: float = DEFAULT_FRACTION,
    headless: bool = False,
    auto_pilot: AutopilotCallbackType | None = None,
) -> int:
    """Run the app on ``source`` until the user quits; returns the exit code.

    0: fine; 1: a run or the recording failed; 2: loading failed (the error is also printed on
    stderr after the app closes); 128 + N: signal N (Ctrl-C, SIGTERM, SIGHUP) ended it.
    Raises ``UserError`` for an unknown theme or frame rate before anything starts.
    The source is started by the app (after the first frame) and always closed.
    ``exit_when_done`` leaves once every requested run has finished (benchmarks, demos);
    ``cpu_budget`` is the share of one core the app may use for drawing while a run generates;
    ``headless`` / ``auto_pilot`` are passed to ``App.run`` (tests).
    """
    app = TpsApp(source, theme=theme, fps=fps, exit_when_done=exit_when_done, cpu_budget=cpu_budget)
    try:
        result = app.run(headless=headless, auto_pilot=auto_pilot)
    finally:
        app.close_source()
    error = source.session.load_error
    if error is not None:
        with contextlib.suppress(OSError):  # stderr is gone with a closed terminal
            print(f"tpstui: error: {error}", file=sys.stderr)
    code = int(result) if result is not None else app.exit_code()
    if code == 0 and source.recording_error is not None:  # the last frame failed as the source closed
        code = EXIT_FAILED
    return code
