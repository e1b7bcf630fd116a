"""The timeline (lanes, zoom, pan), "throttled now" as one state, and the fixes of issue 10's items 1-7 in the app."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from tests.pilot import settle
from tpstui.sources.scenario import throttle_scenario_events
from tpstui.sources.scripted import NS, T0_NS, Script, ScriptedSource, scripted_events
from tpstui.state import metrics
from tpstui.stream.events import (
    Event,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionStarted,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)
from tpstui.ui.app import TpsApp
from tpstui.ui.axis import TimeAxis
from tpstui.ui.lane_layout import allocate
from tpstui.ui.lanes import GaugeLane, Lane, LaneContext, ThrottleLane, TpsLane
from tpstui.ui.screens.diagnosis import DiagnosisScreen
from tpstui.ui.timeline import GaugeSeries, Timeline


def run_async(test: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    @functools.wraps(test)
    def wrapper() -> None:
        asyncio.run(test())  # type: ignore[arg-type]

    return wrapper



def cycle_events(seconds: int = 8) -> list[Event]:
    """A run at 20 tok/s while a GPU, sampled every 0.1 s, is thermally throttled for the second
    half of every second (a 1 Hz on/off cycle, as the fake NVML's nvml_throttle_cycle.txt)."""
    events: list[Event] = [
        SessionStarted(T0_NS, 0.0, settings={"runs": 1}),
        ModelLoaded(T0_NS, "cycle", "hub", 1, "float32", "cuda:0", 0.0, 0),
        RunStarted(T0_NS + NS // 2, 0, False, 8, 1, 10_000),
    ]
    events += [Tokens(T0_NS + NS + i * NS // 20, 0, [1], 1, 1, "x") for i in range(20 * seconds)]
    was = False
    for k in range(10 * (seconds + 1)):
        t = T0_NS + k * NS // 10 + NS // 20
        on = (k % 10) >= 5
        events.append(
            TelemetrySample(t, "gpu0", {"sm_clock_mhz": 1500.0 if on else 1980.0}, ["HwThermalSlowdown"] if on else [])
        )
        if on != was:
            events.append(ThrottleChanged(t, "gpu0", "HwThermalSlowdown", on))
            was = on
    return sorted(events, key=lambda e: e.t_ns)


def fake_nvml_cycle_events(monkeypatch: pytest.MonkeyPatch, seconds: float = 4.0) -> list[Event]:
    """The issue's case: the real nvidia-ml-py on the fake NVML's 1 Hz on/off scenario
    (nvml_throttle_cycle.txt), sampled by the real Sampler every 0.1 s, around a 20 tok/s run."""
    from tests.conftest import Collector
    from tests.fakes.env import FakeGpus
    from tpstui.sources.telemetry.nvml import NvmlBackend
    from tpstui.sources.telemetry.sampler import Sampler

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("TPSTUI_SAMPLER", raising=False)
    FakeGpus(monkeypatch).nvml("nvml_throttle_cycle.txt", at=0.0)
    collector = Collector()
    sampler = Sampler(NvmlBackend(), collector.bus, 10)
    t0 = time.perf_counter_ns()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    telemetry = [e for e in collector.events if isinstance(e, TelemetrySample | ThrottleChanged)]
    events: list[Event] = [
        SessionStarted(t0, 0.0, settings={"runs": 1}),
        ModelLoaded(t0, "cycle", "hub", 1, "float32", "cuda:0", 0.0, 0),
        RunStarted(t0 + NS // 4, 0, False, 8, 1, 10_000),
        *(Tokens(t0 + NS // 2 + i * NS // 20, 0, [1], 1, 1, "x") for i in range(int(20 * (seconds - 0.5)))),
    ]
    return sorted(events + telemetry, key=lambda e: e.t_ns)


@pytest.mark.parametrize("where", ["scripted", "fake NVML"])
def test_badge_lanes_and_telemetry_row_agree_at_every_frame(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 4: polled at 10 frames/s (each panel at its own rate), never a frame where they differ."""
    events = cycle_events() if where == "scripted" else fake_nvml_cycle_events(monkeypatch)
    asyncio.run(_agree_at_every_frame(events, frames=79 if where == "scripted" else 38))


async def _agree_at_every_frame(events: list[Event], frames: int) -> None:
    start_ns = events[0].t_ns
    source = ScriptedSource(events, at_ns=start_ns)
    app = TpsApp(source, fps=10)
    on_frames = {"badge": 0, "row": 0, "lane": 0, "session": 0}
    async with app.run_test(size=(100, 30)) as pilot:
        app.frame_timer.pause()  # this test drives the frames
        await settle(pilot)
        for step in range(1, frames + 1):
            source.advance(start_ns + step * NS // 10)
            app.tick()
            truth = bool(source.session.active_reasons())
            badge = app.header.throttle.throttled and "THROTTLED" in app.header.badge(100)
            row = app.telemetry.throttle_rows.get("gpu0", "none") != "none"
            lane = app.chart.throttled
            assert badge == row == lane == truth, f"frame {step}: badge {badge} row {row} lane {lane} truth {truth}"
            on_frames["badge"] += badge
            on_frames["row"] += row
            on_frames["lane"] += lane
            on_frames["session"] += truth
            await pilot.pause(0)
    assert on_frames["badge"] == on_frames["row"] == on_frames["lane"] == on_frames["session"] > frames // 3
    assert on_frames["session"] < frames * 2 // 3  # it turned off again too (the 1 Hz cycle)


def _scenario_app(at_s: float, theme: str = "dark") -> tuple[ScriptedSource, TpsApp]:
    source = ScriptedSource(throttle_scenario_events(), at_ns=T0_NS + int(at_s * NS))
    return source, TpsApp(source, theme=theme)


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (160, 48), (200, 60)])
def test_nothing_needed_is_behind_a_scrollbar(size: tuple[int, int]) -> None:
    """Items 1-3: the throttle row and the reason names are on screen, no telemetry row is cut."""

    async def check() -> None:
        _, app = _scenario_app(28.0)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            screen = "\n".join("".join(s.text for s in strip) for strip in app.screen._compositor.render_strips())
            assert "THROTTLED" in screen  # item 2: the badge at every width
            assert "HwThermalSlowdown" in screen  # the reason names somewhere, always
            assert app.telemetry.throttle_rows["gpu0"] == "HwThermalSlowdown, SwThermalSlowdown"
            assert any("throttle" in line.plain and "HwThermal" in line.plain for line in app.telemetry.text_lines)
            assert len(app.telemetry.text_lines) <= app.telemetry.size.height  # item 1: fits, no scrollbar
            assert not [w for w in app.screen.query("*") if w.show_vertical_scrollbar]  # no scrollbar anywhere
            assert "SwThermalSlowdown" in "\n".join(line.plain for line in app.stats._text_lines())  # item 3: wraps
            lanes = [key for key, _ in app.chart.lanes_shown]
            assert lanes[0] == "tps" and "gpu0:sm_clock_mhz" in lanes and lanes[-1] == "throttle"
            if size == (200, 60):  # every lane at a large size
                assert app.chart.hidden_lanes == 0 and len(lanes) == 10  # tok/s, 6 GPU, 2 CPU, throttle
                assert app.telemetry.mode == "full"
            families = app.chart.families  # the power cap at 12-14 s (0) and the thermal limit from 20 s (1)
            assert (families == 0).any() and (families == 1).any() and families[app.chart.families.size - 1] != 0

    asyncio.run(check())


@run_async
async def test_hotspot_is_drawn_against_its_own_limit_only() -> None:
    """Item 5: NVML reports no hotspot limit, so the hotspot is never against the core's slowdown."""
    _, app = _scenario_app(28.0)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        rows = {key: (text, fraction) for key, _, text, fraction in app.telemetry.rows["gpu0"]}
        assert rows["temp_hotspot_c"] == ("97.0°C", None)
        assert rows["temp_c"][0] == "88.0/89.0°C" and rows["temp_mem_c"][0] == "93.0/95.0°C"
        lines = [line.plain for line in app.telemetry.text_lines]
        assert any(line.startswith("pwr capped ") for line in lines)  # item 9: labels are never cut
        assert sum("DRAM" in line for line in lines) == 1 and any("GB/s" in line and "%" in line for line in lines)
        lane = GaugeLane("gpu0", "temp_hotspot_c", False, 30)
        assert lane.limit(app.model) is None
        assert GaugeLane("gpu0", "temp_mem_c", False, 40).limit(app.model) == 95.0


@run_async
async def test_peak_is_exact_and_never_below_now() -> None:
    """Item 6: the peak is the run's highest 1 s rate at an arrival, whatever the width or scale."""
    events = throttle_scenario_events()
    for width in (80, 200):
        source = ScriptedSource(events, at_ns=T0_NS + 9 * NS)
        app = TpsApp(source)
        async with app.run_test(size=(width, 30)) as pilot:
            await settle(pilot)
            current = app.model.current
            assert current is not None
            view = source.session.run(current.run)
            settled = view.arrivals[view.arrivals - view.arrivals[0] >= NS // 4]
            expected = metrics.rolling_tps_series(view.arrivals, settled, NS, view.counts).max()
            assert app.chart.peak_tps == pytest.approx(expected)
            assert app.chart.current_tps is not None and app.chart.current_tps <= app.chart.peak_tps


@run_async
async def test_stopped_runs_are_named_elapsed_is_run_time_and_sets_count() -> None:
    """Item 7: a run stopped with s is named in "all runs", whose elapsed is the runs' own time; r starts set 2."""
    source = ScriptedSource(scripted_events(Script(runs=2, warmup=1, tokens=12)))
    app = TpsApp(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        session = source.session
        started = {r: session.run(r).started for r in session.run_ids()}
        assert [started[r].request for r in sorted(started)] == [0, 0, 0, 1, 1]
        current = app.model.current
        assert current is not None and app.model.set_index(current) == (2, 2)
        measured = [session.run(r) for r in session.measured_run_ids()]
        total = sum((v.end_ns - v.started.t_ns) / NS for v in measured if v.end_ns is not None)
        assert app.stats.values["elapsed"][1] == f"{total:.1f} s"
        assert app.stats.head[1] == "4 runs"
    # a run stopped mid-way is named
    live = ScriptedSource(scripted_events(Script(runs=2, warmup=0, tokens=400, tps=50)), realtime=True)
    app = TpsApp(live)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(400):
            if live.session.total_tokens >= 5:
                break
            await pilot.pause(0.05)
        await pilot.press("s")
        await settle(pilot)
        assert app.stats.head == ("run 1 stopped", "1 run, 1 stopped")


@run_async
async def test_zoom_pan_follow_keys_move_the_window() -> None:
    _, app = _scenario_app(28.0)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.chart.window == (T0_NS, 30 * NS)
        await pilot.press("z")
        await settle(pilot)
        assert app.chart.window == (T0_NS + 8 * NS, 20 * NS)  # the last 20 s, following the end
        await pilot.press("z", "left_square_bracket")
        await settle(pilot)
        assert app.chart.window == (T0_NS + 31 * NS // 2, 10 * NS)  # panned back a quarter: 15.5 s to 25.5 s
        assert not app.model.axis.following
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert app.model.axis.following  # back at the end: follows it again
        await pilot.press("f")
        await settle(pilot)
        assert app.chart.window == (T0_NS, 30 * NS) and app.model.axis.whole
        await pilot.press("d")
        await pilot.pause(0.3)
        assert isinstance(app.screen, DiagnosisScreen)
        for _ in range(40):
            if app.screen.diagnosis is not None:
                break
            await pilot.pause(0.1)
        assert app.screen.diagnosis is not None and "fell" in app.screen.diagnosis.verdict
        await pilot.press("escape")
        assert not isinstance(app.screen, DiagnosisScreen)


def test_time_axis_zoom_pan_and_follow() -> None:
    axis = TimeAxis()
    origin, now = 0, 100 * NS
    assert axis.window(origin, now) == (0, 120 * NS)  # the whole session in a nice span
    assert not axis.pan(-1, origin, now)  # nothing to pan: zoom first
    axis.zoom_in(origin, now)
    assert axis.window(origin, now) == (40 * NS, 60 * NS) and axis.following
    axis.pan(-1, origin, now)
    assert axis.window(origin, now) == (25 * NS, 60 * NS) and not axis.following
    assert axis.window(origin, 200 * NS) == (25 * NS, 60 * NS)  # stays put while time goes on
    axis.pan(1, origin, 200 * NS)
    assert axis.window(origin, 200 * NS) == (40 * NS, 60 * NS)
    axis.zoom_out(origin, now)
    assert axis.window(origin, now)[1] == 120 * NS and axis.whole  # as large as the whole session: whole


def test_gauge_series_min_max_mean_at_any_zoom() -> None:
    series = GaugeSeries(0, capacity=64, base_width_ns=NS // 10)
    times = np.arange(0, 20 * NS, NS // 10, dtype=np.int64)
    values = np.where((times >= 5 * NS) & (times < 6 * NS), 1410.0, 1980.0)
    series.add(times, values)
    assert series.width_ns >= 20 * NS // 64 and series.samples == 200
    zoomed_out = series.columns(0, 20 * NS, 4, 20 * NS, "min")
    assert zoomed_out.tolist() == [1980.0, 1410.0, 1980.0, 1980.0]  # the dip survives the zoom-out
    assert series.columns(0, 20 * NS, 4, 20 * NS, "max").tolist() == [1980.0] * 4
    zoomed_in = series.columns(5 * NS, NS, 10, 20 * NS, "mean")
    # buckets are 0.4 s wide here: [5.2, 5.6) is all dip, over four columns; [4.8, 5.2) is half of it
    assert zoomed_in[2:6].tolist() == [1410.0] * 4 and zoomed_in[0] == pytest.approx((1980 + 1410) / 2)


def test_timeline_columns_of_a_zoomed_window_match_the_whole() -> None:
    timeline = Timeline(T0_NS)
    arrivals = T0_NS + NS + np.arange(400, dtype=np.int64) * (NS // 20)
    timeline.add(None, arrivals, np.ones(400, dtype=np.int64))
    whole = timeline.columns(T0_NS + 21 * NS, 30)
    window = timeline.columns(T0_NS + 21 * NS, 10, T0_NS + 5 * NS, 10 * NS)
    assert whole.span_ns == 30 * NS and window.span_ns == 10 * NS
    assert window.per_token == pytest.approx([20.0] * 10)
    assert window.rolling[-1] == pytest.approx(20.0)


def test_allocate_fits_the_lanes_to_the_height() -> None:
    lanes: list[Lane] = [
        TpsLane(),
        *(GaugeLane("gpu0", k, False, 10 * (i + 1)) for i, k in enumerate(("sm_clock_mhz", "temp_c", "power_w"))),
        ThrottleLane(),
    ]
    shown, hidden = allocate(lanes, 6)
    assert [(lane.key, rows) for lane, rows in shown] == [
        ("tps", 2),
        ("gpu0:sm_clock_mhz", 1),
        ("gpu0:temp_c", 1),
        ("gpu0:power_w", 1),
        ("throttle", 1),
    ]
    assert hidden == 0
    shown, hidden = allocate(lanes, 4)
    assert [lane.key for lane, _ in shown] == ["tps", "gpu0:sm_clock_mhz", "throttle"] and hidden == 2
    shown, _ = allocate(lanes, 20)
    rows = dict((lane.key, r) for lane, r in shown)
    assert rows["gpu0:sm_clock_mhz"] == 2 and rows["throttle"] == 1 and sum(rows.values()) == 20


@run_async
async def test_devanagari_keeps_the_output_border_in_place() -> None:
    """Item 9: lines with spacing marks are padded to the width a wcwidth terminal gives them."""
    from tpstui.ui.widgets.stream import terminal_width

    text = "नमस्ते दुनिया, यह एक परीक्षण है। कृपया ध्यान दीजिए कि मात्राएँ सही जगह रहें। " * 6
    events = scripted_events(Script(runs=1, warmup=0, tokens=8))
    first = next(i for i, e in enumerate(events) if isinstance(e, Tokens))
    token = events[first]
    assert isinstance(token, Tokens)
    events[first] = Tokens(token.t_ns, token.run, token.ids, token.n, token.n_all, text)
    app = TpsApp(ScriptedSource(events))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        width = app.stream.size.width
        shown = ["".join(segment.text for segment in strip) for strip in app.stream._lines]
        assert any("ि" in line for line in shown)
        assert all(terminal_width(line) == width for line in shown)
        assert not any(line[:1] in "ािीुूेैोौंँः्" and line[:1] for line in shown)  # no line starts with a mark


def cluster_events(seconds: int = 6) -> list[Event]:
    """A local GPU, a serving engine's scraped metrics (device "server") and two DCGM nodes'
    GPUs (``<node>/gpuN``), node 2's GPU thermally throttled from 3 s on."""
    events: list[Event] = [
        SessionStarted(T0_NS, 0.0, settings={"runs": 1}),
        ModelLoaded(T0_NS, "cluster", "hub", 1, "float32", "cuda:0", 0.0, 0),
        RunStarted(T0_NS + NS // 2, 0, False, 8, 1, 10_000),
    ]
    events += [Tokens(T0_NS + NS + i * NS // 20, 0, [1], 1, 1, "x") for i in range(20 * (seconds - 1))]
    for k in range(4 * seconds):
        t = T0_NS + k * NS // 4 + 1
        hot = t >= T0_NS + 3 * NS
        events.append(TelemetrySample(t, "gpu0", {"sm_clock_mhz": 1980.0, "sm_clock_max_mhz": 1980.0, "temp_c": 60.0}))
        events.append(
            TelemetrySample(t, "server", {"requests_running": 3.0, "requests_waiting": 1.0, "kv_cache_pct": 41.5})
        )
        for node in ("node1:9400", "node2:9400"):
            throttled = hot and node.startswith("node2")
            values = {"sm_clock_mhz": 1410.0 if throttled else 1980.0, "temp_c": 88.0 if throttled else 70.0}
            events.append(TelemetrySample(t, f"{node}/gpu1", values, ["HwThermalSlowdown"] if throttled else []))
        if k == 12:
            events.append(ThrottleChanged(t, "node2:9400/gpu1", "HwThermalSlowdown", True))
    return sorted(events, key=lambda e: e.t_ns)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_server_and_dcgm_devices_in_the_lanes_and_the_telemetry_panel(size: tuple[int, int]) -> None:
    """Issue 13's devices: "server" gets lanes of its own (running, waiting, KV cache), its own rows
    in the telemetry panel and no throttle row; each DCGM GPU gets lanes tagged with its node; the
    throttle on node 2 shows."""
    from tpstui.ui.lane_layout import build_lanes
    from tpstui.ui.lanes import device_tag

    assert device_tag("gpu3") == "3" and device_tag("node1:9400/gpu0") == "node1/0"
    assert device_tag("a-very-long-hostname:9400/gpu12") == "a-ve/12"

    async def scenario() -> None:
        app = TpsApp(ScriptedSource(cluster_events(), at_ns=T0_NS + 6 * NS))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            keys = [lane.key for lane in build_lanes(app.model)]
            server = [key for key in keys if key.startswith("server:")]
            assert server == ["server:requests_running", "server:requests_waiting", "server:kv_cache_pct"]
            by_key = {lane.key: lane for lane in build_lanes(app.model)}
            assert by_key["server:requests_running"].priority > by_key["gpu0:sm_clock_mhz"].priority
            assert {"node1:9400/gpu1:sm_clock_mhz", "node2:9400/gpu1:sm_clock_mhz", "throttle"} <= set(keys)
            gauges = [lane for lane in build_lanes(app.model) if isinstance(lane, GaugeLane)]
            assert {lane.tag for lane in gauges if lane.device != "server"} == {"0", "node1/1", "node2/1"}
            assert {lane.label for lane in gauges if lane.device == "server"} == {"running", "waiting", "KV cache"}
            rows = {key for key, *_ in app.telemetry.rows["server"]}
            assert {"requests_running", "requests_waiting", "kv_cache_pct"} <= rows
            assert not rows & {"temp_c", "sm_clock_mhz", "power_w"}  # no GPU rows that would read n/a
            assert "server" not in app.telemetry.throttle_rows or app.telemetry.throttle_rows["server"] == "none"
            assert app.telemetry.throttle_rows["node2:9400/gpu1"] == "HwThermalSlowdown"
            assert app.model.throttle.throttled and app.model.throttle.reasons == ("HwThermalSlowdown",)
            shown = dict(app.chart.lanes_shown)
            assert "tps" in shown and "throttle" in shown

    asyncio.run(scenario())


def test_a_reading_holds_until_the_next_one_but_a_long_silence_stays_a_gap() -> None:
    series = GaugeSeries(0)
    times = np.array([0, NS // 4, NS // 2, 6 * NS, 6 * NS + NS // 4], dtype=np.int64)
    series.add(times, np.array([10.0, 20.0, 30.0, 40.0, 50.0]))
    columns = series.columns(0, 7 * NS, 70, now_ns=7 * NS)  # 0.1 s columns, readings every 0.25 s
    assert np.isfinite(columns[:25]).all() and columns[3] == 20.0  # 0.3 s: the 0.25 s reading holds
    assert np.isnan(columns[30:60]).all()  # 3 s .. 6 s: more than HOLD_NS without a reading
    assert np.isnan(columns[63:]).all()  # after the newest reading: nothing is made up


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_rss_is_explained_and_the_load_stage_shows_the_whole_cache_path(size: tuple[int, int]) -> None:
    """Item 9: RSS above "memory used" gets a word on why; a long loading message wraps, never cut."""
    from tpstui.stream.events import LoadProgress

    path = "/home/someone/.cache/tpstui/gguf/SmolLM2-135M-Instruct-Q8_0-0123456789abcdef/model.safetensors"
    events: list[Event] = [
        SessionStarted(T0_NS, 0.0, settings={"runs": 1}),
        TelemetrySample(T0_NS + 1, "cpu", {"util_pct": 50.0, "mem_used_mb": 900.0, "rss_mb": 1400.0}),
        LoadProgress(T0_NS + 2, 0.4, f"first start: converting the GGUF into the cache {path}"),
    ]

    async def scenario() -> None:
        app = TpsApp(ScriptedSource(events, at_ns=T0_NS + NS))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            region = app.load_panel.query_one("#load-stage").region
            strips = ["".join(s.text for s in strip) for strip in app.screen._compositor.render_strips()]
            shown = "".join(strips[y][region.x : region.right].strip() for y in range(region.y, region.bottom))
            assert shown.endswith(path)  # wrapped over lines, the whole path on screen
            telemetry = " ".join(" ".join(line.plain for line in app.telemetry.text_lines).split())
            assert 'RSS counts mapped model files, which "used" leaves out' in telemetry or (
                app.telemetry.mode != "full" and telemetry.endswith("RSS includes mapped model files")
            )

    asyncio.run(scenario())


def test_requests_in_flight_per_column_against_hand_computed_values() -> None:
    from tpstui.ui.lane_layout import in_flight_columns

    # request A in flight 0..4 s, B 1..3 s, C 2 s..(still going, cut at 5 s); columns of 1 s
    starts = np.array([0, 1, 2], dtype=np.int64) * NS
    ends = np.array([4, 3, 5], dtype=np.int64) * NS
    edges = np.arange(6, dtype=np.int64) * NS
    assert in_flight_columns(starts, ends, edges).tolist() == pytest.approx([1, 2, 3, 2, 1])
    half = np.array([0, NS // 2, NS], dtype=np.int64)  # B over half of the first half-second column
    assert in_flight_columns(np.array([NS // 4]), np.array([3 * NS // 4]), half).tolist() == pytest.approx([0.5, 0.5])


def test_an_endpoint_session_gets_an_in_flight_lane() -> None:
    from tpstui.ui.lane_layout import build_lanes

    events: list[Event] = [SessionStarted(T0_NS, 0.0, settings={"engine": "endpoint", "runs": 4})]
    for request in range(4):  # four requests of 2 s, sent 0.5 s apart
        start = T0_NS + request * NS // 2
        events.append(RunStarted(start, request, False, 8, 1, 10))
        events += [Tokens(start + NS // 10 + i * NS // 10, request, [1], 1, 1, "x") for i in range(19)]
        events.append(RunFinished(start + 2 * NS, request, "length", 19, 19))
    source = ScriptedSource(sorted(events, key=lambda e: e.t_ns), at_ns=T0_NS + 4 * NS)

    async def scenario() -> None:
        app = TpsApp(source)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            lanes = build_lanes(app.model)
            assert [lane.key for lane in lanes][:2] == ["tps", "inflight"]
            assert "inflight" in dict(app.chart.lanes_shown)
            inflight = lanes[1]
            start, span = app.chart.window
            n = 80
            ctx = LaneContext(app.model, start, span, app.model.now_ns, n, None, np.full(n, -1))
            cells = inflight.cells(ctx, 2)
            assert cells.labels[:2] == ["in fl.", "/4"]  # at most four at once (1.5 s .. 2 s)
            assert (cells.chars != " ").any()

    asyncio.run(scenario())


def test_the_monitors_own_pauses_are_marked_on_the_tokens_lane() -> None:
    from tpstui.stream.events import Stall
    from tpstui.ui.lanes import PAUSE_MARK

    events = [*cluster_events(), Stall(T0_NS + 2 * NS, T0_NS + 2 * NS + 300_000_000, "gc", "generation 2")]
    source = ScriptedSource(sorted(events, key=lambda e: e.t_ns), at_ns=T0_NS + 6 * NS)

    async def scenario() -> None:
        app = TpsApp(source)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            start, span = app.chart.window
            n = 100
            assert app.model.timeline is not None
            columns = app.model.timeline.columns(app.model.now_ns, n, start, span)
            ctx = LaneContext(app.model, start, span, app.model.now_ns, n, columns, np.full(n, -1))
            top = TpsLane().cells(ctx, 4).chars[0]
            marked = np.flatnonzero(top == PAUSE_MARK)
            assert marked.size >= 1
            at = start + int(marked[0]) * span // n
            assert T0_NS + 2 * NS - span // n <= at <= T0_NS + 2 * NS + 300_000_000
            legend = app.chart.render_line(0).text
            assert "pause" in legend

    asyncio.run(scenario())
