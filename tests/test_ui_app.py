"""Pilot tests of the live app on real scripted sources (known timestamps, a real Session)."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from tests.pilot import settle
from tpstui.sources.base import Unrecorded
from tpstui.sources.scripted import NS, T0_NS, Script, ScriptedSource, SyntheticSource, scripted_events
from tpstui.state import metrics
from tpstui.state.session import Session
from tpstui.stream.events import Event, LoadProgress, RunFailed, SessionStarted
from tpstui.ui import format as fmt
from tpstui.ui.app import TpsApp, run_app
from tpstui.ui.screens.help import HelpScreen
from tpstui.ui.widgets.stats import across_latency, across_rate


def run_async(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    """Run an async test on a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(test)
    def wrapper() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    return wrapper


DEADLINE_S = 20.0
"""How long a test waits for a real-time source before failing (never asserted as a timing)."""



async def wait_for(pilot: Pilot[int], condition: Callable[[], bool]) -> None:
    loops = int(DEADLINE_S / 0.05)
    for _ in range(loops):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached before the deadline")


@run_async
async def test_stats_shown_equal_the_metrics_module() -> None:
    source = ScriptedSource(scripted_events())
    app = TpsApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        session = source.session
        last = session.run_ids()[-1]
        run = metrics.run_metrics(*_run_args(session, last))
        shown = app.stats.values
        assert shown["TTFT"][0] == fmt.seconds_ms(run.ttft_s)
        assert shown["output TPS"][0] == fmt.rate(run.output_tps)
        assert shown["total TPS"][0] == fmt.rate(run.total_tps)
        assert run.itl_s is not None
        assert shown["ITL p50"][0] == fmt.seconds_ms(run.itl_s.p50)
        assert shown["ITL p90"][0] == fmt.seconds_ms(run.itl_s.p90)
        assert shown["ITL p99"][0] == fmt.seconds_ms(run.itl_s.p99)
        assert shown["tokens"][0] == fmt.count(run.tokens)
        measured = [metrics.run_metrics(*_run_args(session, r)) for r in session.run_ids()[1:]]
        assert shown["output TPS"][1] == across_rate(metrics.across_runs([m.output_tps for m in measured]))
        assert shown["TTFT"][1] == across_latency(metrics.across_runs([m.ttft_s for m in measured]))
        p99 = metrics.across_runs([m.itl_s.p99 if m.itl_s else None for m in measured])
        assert shown["ITL p99"][1] == across_latency(p99)
        assert shown["tokens"][1] == fmt.count(sum(m.tokens for m in measured))
        assert app.stats.head == ("run 3", "3 runs")
        assert "134.5M params" in app.header.facts and app.header.status.startswith("done")
        assert app.chart.mean_tps == run.output_tps


def _run_args(session: Session, run: int) -> tuple[int, object, object]:
    view = session.run(run)
    return view.started.t_ns, view.arrivals, view.counts


@run_async
async def test_telemetry_panel_shows_values_against_limits_na_and_throttle_reasons() -> None:
    events = scripted_events()
    throttle_on = next(e.t_ns for e in events if type(e).__name__ == "ThrottleChanged")
    source = ScriptedSource(events, at_ns=throttle_on + NS // 20)
    app = TpsApp(source)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        rows = {key: text for key, _, text, _ in app.telemetry.rows["gpu0"]}
        assert rows["sm_clock_mhz"] == "1,410/1,980 MHz"
        assert rows["power_w"] == "300/300 W"
        cpu = {key: text for key, _, text, _ in app.telemetry.rows["cpu"]}
        assert cpu["temp_c"] == "n/a"  # the scripted CPU has no sensor
        assert any("SwPowerCap" in line.plain for line in app.telemetry.text_lines)
        lanes = [key for key, _ in app.chart.lanes_shown]
        assert lanes[:2] == ["tps", "gpu0:sm_clock_mhz"] and lanes[-1] == "throttle"


@run_async
async def test_keys_run_again_theme_and_help() -> None:
    source = ScriptedSource(scripted_events(Script(runs=1, warmup=0, tokens=12)))
    app = TpsApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert source.session.run_ids() == [0]
        await pilot.press("r")
        await settle(pilot)
        assert source.reruns == 1 and source.session.run_ids() == [0, 1]
        assert app.stats.head[0] == "run 2"
        await pilot.press("t")
        assert app.theme == "light"
        await pilot.press("t", "t")
        assert app.theme == "dark"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await settle(pilot)  # frames keep coming with the help screen gone


@run_async
async def test_stop_key_ends_the_running_run() -> None:
    source = ScriptedSource(scripted_events(Script(runs=2, warmup=0, tokens=400, tps=50)), realtime=True)
    app = TpsApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: source.session.total_tokens >= 5)
        await pilot.press("s")
        await settle(pilot)
        view = source.session.run(0)
        assert view.finished is not None and view.finished.reason == "stopped"
        assert source.session.run_ids() == [0]  # the queued run was dropped
        assert app.header.status.startswith("done")


@run_async
async def test_quitting_mid_run_is_clean() -> None:
    source = ScriptedSource(scripted_events(Script(runs=3, warmup=0, tokens=400, tps=50)), realtime=True)
    app = TpsApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: source.session.total_tokens >= 5)
        assert source.thread_alive
        await pilot.press("q")
    assert app.return_code == 0
    assert source.closed and not source.thread_alive


def _failed_load() -> list[Event]:
    return [
        SessionStarted(T0_NS, 0.0, settings={"model": "/no/such/model"}),
        LoadProgress(T0_NS + 1, 0.02, "importing torch and transformers"),
        RunFailed(T0_NS + 2, -1, "/no/such/model: no such file or directory."),
    ]


@run_async
async def test_a_load_error_is_shown_and_q_exits_with_code_2() -> None:
    source = ScriptedSource(_failed_load())
    app = TpsApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "no such file" in str(app.load_panel.query_one("#load-stage").render())
        assert app.header.status == "load failed" and app.header.error
        await pilot.press("q")
    assert app.return_code == 2


def test_run_app_closes_the_source_and_returns_the_exit_code() -> None:
    source = ScriptedSource(scripted_events(Script(runs=1, warmup=0, tokens=8)))

    async def press_q(pilot: Pilot[int]) -> None:
        await pilot.pause(0.1)
        await pilot.press("q")

    assert run_app(source, headless=True, auto_pilot=press_q) == 0
    assert source.started and source.closed


class ScriptedReplay(Unrecorded):
    """A real replay-like source: seeking backwards swaps in a fresh session (as replays do)."""

    kind = "replay"

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.t0 = events[0].t_ns
        self._speed, self._paused = 1.0, False
        self._position = events[-1].t_ns - self.t0
        self._session = Session()
        self.calls: list[str] = []

    @property
    def session(self) -> Session:
        return self._session

    def now_ns(self) -> int:
        return self.t0 + self._position

    def start(self) -> None:
        self.seek(self._position)

    def close(self) -> None:
        self.calls.append("close")

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def duration_ns(self) -> int:
        return self.events[-1].t_ns - self.t0

    @property
    def position_ns(self) -> int:
        return self._position

    def set_speed(self, speed: float) -> None:
        self._speed = speed

    def toggle_pause(self) -> None:
        self._paused = not self._paused

    def step(self) -> None:
        self.calls.append("step")

    def seek(self, offset_ns: int) -> None:
        self._position = offset_ns
        self._session = Session()
        for event in self.events:
            if event.t_ns - self.t0 <= offset_ns:
                self._session.apply(event)

    def seek_next_throttle(self) -> None:
        self.calls.append("next_throttle")

    def jump_to_end(self) -> None:
        self.seek(self.duration_ns)


@run_async
async def test_a_replay_source_gets_replay_keys_and_status() -> None:
    source = ScriptedReplay(scripted_events())
    app = TpsApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.header.status.startswith("replay ▶ 1×")
        tokens_at_end = app.stats.values["tokens"][1]
        await pilot.press("space", "plus", "plus")
        await settle(pilot)
        assert source.paused and source.speed == 4.0
        assert app.header.status.startswith("replay paused")
        await pilot.press("left", "left")  # 10 s back: a fresh session replayed up to there
        await settle(pilot)
        assert source.position_ns == source.duration_ns - 10 * NS
        assert app.model.session is source.session
        assert app.stats.values["tokens"][1] != tokens_at_end
        await pilot.press("full_stop", "n", "end")
        await settle(pilot)
        assert source.calls[:2] == ["step", "next_throttle"] and source.position_ns == source.duration_ns
        await pilot.press("r", "s")  # live-only keys do nothing on a replay
        assert app.check_action("rerun", ()) is False
        await pilot.press("q")
    assert "close" in source.calls


@run_async
async def test_stats_count_every_token_of_a_fast_synthetic_source() -> None:
    source = SyntheticSource(rate=5_000, seconds=0.5)
    app = TpsApp(source, fps=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, source.done.is_set)
        await settle(pilot)
        assert app.stats.values["tokens"][0] == fmt.count(source.published)
        assert app.model.timeline is not None and app.model.timeline.total_tokens == source.published


def test_the_ui_path_does_not_import_torch() -> None:
    code = (
        "import sys, tpstui.ui.app, tpstui.sources.live, tpstui.commands.run;"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--theme", "neon"], "unknown theme 'neon'"),
        (["run", "--fps", "0"], "--fps must be between 1 and 60"),
        (["run", "--runs", "0"], "--runs must be at least 1"),
        (["run", "--no-record"], "needs a terminal"),
    ],
)
def test_bad_run_options_are_one_line_errors(args: list[str], message: str) -> None:
    env = os.environ | {"TPSTUI_RECORDINGS_DIR": "/nonexistent-should-not-be-created"}
    out = subprocess.run(
        [sys.executable, "-m", "tpstui", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
    )
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


@run_async
async def test_throttle_rows_equal_the_summary_module() -> None:
    """Time throttled and TPS while throttled versus not, as tpstui.state.telemetry computes them."""
    from tpstui.state.throttle import throttle_seconds, throttled_intervals, tps_split
    from tpstui.ui.widgets.stats import split_rates, throttled_time

    events = scripted_events()
    throttle_on = next(e.t_ns for e in events if type(e).__name__ == "ThrottleChanged")
    source = ScriptedSource(events, at_ns=throttle_on + NS // 2)
    app = TpsApp(source)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        session = source.session
        view = session.run(session.run_ids()[-1])
        end = session.latest_ns
        spans = session.throttle_spans()
        split = tps_split(view.arrivals, view.counts, throttled_intervals(spans, view.started.t_ns, end))
        assert split["throttled_s"] > 0 and split["tps_throttled"] is not None
        throttled, rates = app.stats.values["throttled"][0], app.stats.values["TPS thr/ok"][0]
        assert rates == f"{fmt.rate(split['tps_throttled'])}/{fmt.rate(split['tps_unthrottled'])}"
        assert throttled.startswith(fmt.duration(split["throttled_s"]))
        seconds = throttle_seconds(spans, view.started.t_ns, end)["gpu0"]["SwPowerCap"]
        assert app.stats.reasons == f"SwPowerCap {fmt.duration(seconds)}"
        assert throttled_time(None) == split_rates(None) == fmt.NA
