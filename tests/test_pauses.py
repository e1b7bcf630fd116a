"""The monitor's own pauses: garbage collections and UI stalls become events and are counted."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import numpy as np
import pytest

from tpstui.reports.bench import build_report, table_text
from tpstui.sources.pauses import PauseWatch
from tpstui.sources.replay import ReplaySource
from tpstui.sources.scripted import Script, ScriptedSource, scripted_events
from tpstui.state.pauses import pause_stats, touched_arrivals
from tpstui.state.session import Session
from tpstui.stream.events import Event, EventBus, RunStarted, SessionEnded, Stall, Tokens
from tpstui.stream.recording import Recorder, read_recording
from tpstui.ui.app import TpsApp
from tpstui.ui.frames import FrameWatch

MS = 1_000_000
ROOT = Path(__file__).resolve().parents[1]


def test_a_token_is_touched_when_its_gap_overlaps_a_pause() -> None:
    start = 1000 * MS
    arrivals = np.array([1100, 1200, 1300, 1400], dtype=np.int64) * MS
    pauses = [Stall(1050 * MS, 1060 * MS, "gc"), Stall(1250 * MS, 1350 * MS, "ui"), Stall(2000 * MS, 2100 * MS, "gc")]
    # first gap [1000, 1100] holds the GC; [1200, 1300] and [1300, 1400] both overlap the UI stall
    assert touched_arrivals(start, arrivals, pauses).tolist() == [True, False, True, True]
    stats = pause_stats(pauses, start, 1500 * MS, arrivals, np.array([1, 1, 2, 1]))
    assert stats.count == {"gc": 1, "ui": 1}  # the third pause is after the run
    assert stats.seconds == pytest.approx({"gc": 0.010, "ui": 0.100})
    assert stats.longest_s == pytest.approx(0.1)
    assert stats.arrivals_after_pause == 3 and stats.tokens_after_pause == 1 + 2 + 1


def test_frame_watch_reports_late_timers_and_long_frames() -> None:
    watch = FrameWatch(0.1, threshold_ns=30 * MS)
    assert watch.check(0, 5 * MS) == []  # the first frame has nothing to compare with
    assert watch.check(100 * MS, 110 * MS) == []  # on time, short
    late = watch.check(260 * MS, 270 * MS)  # due at 200 ms, started at 260
    assert late == [(200 * MS, 260 * MS, "frame timer 60 ms late")]
    assert watch.check(360 * MS, 400 * MS) == [(360 * MS, 400 * MS, "frame 40 ms")]
    watch.reset()
    assert watch.check(900 * MS, 905 * MS) == []


def test_a_real_garbage_collection_becomes_a_stall_event() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    watch = PauseWatch(bus, gc_threshold_ns=0)
    watch.start()
    before = time.perf_counter_ns()
    gc.collect()
    after = time.perf_counter_ns()
    watch.stop()
    stalls = [e for e in seen if isinstance(e, Stall)]
    assert watch._on_gc not in gc.callbacks
    full = [s for s in stalls if s.detail == "generation 2" and before <= s.t_ns <= s.end_ns <= after]
    assert full and all(s.kind == "gc" for s in stalls)


def _with_stalls() -> tuple[list[Event], list[Stall]]:
    events = scripted_events(Script(runs=2, warmup=1, tokens=30, tps=20, gpu=False))
    starts = {e.run: e.t_ns for e in events if isinstance(e, RunStarted)}
    tokens = [e.t_ns for e in events if isinstance(e, Tokens) and e.run == 1]
    stalls = [
        Stall(tokens[4] + MS, tokens[5] - MS, "gc", "generation 2"),  # inside the gap before token 5
        Stall(tokens[9] + MS, tokens[11] - MS, "ui", "frame 90 ms"),  # spans the gaps before tokens 10 and 11
        Stall(starts[0] + 10 * MS, starts[0] + 20 * MS, "gc", "generation 2"),  # during the warm-up
    ]
    return sorted([*events, *stalls], key=lambda e: e.t_ns), stalls


def test_the_report_counts_tokens_after_a_pause_per_run() -> None:
    events, stalls = _with_stalls()
    session = Session.from_events(events)
    assert session.stalls() == sorted(stalls, key=lambda s: s.t_ns)
    report = build_report(session, {})
    runs = {r["run"]: r["monitor_pauses"] for r in report["runs"]}
    assert runs[0]["count"] == {"gc": 1} and runs[0]["tokens_after_pause"] == 1  # the warm-up's first token
    assert runs[1]["count"] == {"gc": 1, "ui": 1} and runs[1]["tokens_after_pause"] == 3
    assert runs[2]["count"] == {} and runs[2]["tokens_after_pause"] == 0
    assert "monitor pauses" in table_text(report) and "3 token(s) arrived after" in table_text(report)


def test_the_stats_panel_shows_the_tokens_after_a_pause() -> None:
    events, _ = _with_stalls()
    source = ScriptedSource(events)
    app = TpsApp(source)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(3):
                app.tick(force=True)
                await pilot.pause(0.02)
            assert app.stats.values["after pause"] == ("0 tok", "3 tok · 1 GC 1 UI")

    asyncio.run(run())


def test_the_app_records_a_frame_that_held_its_thread() -> None:
    source = ScriptedSource(scripted_events(Script(runs=1, warmup=0, tokens=200, tps=40, gpu=False)), realtime=True)
    app = TpsApp(source)
    slept: list[int] = []

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(400):
                if source.session.total_tokens >= 10:
                    break
                await pilot.pause(0.05)
            original = app.model.update

            def slow_update(session: Session, now_ns: int) -> None:
                if not slept:
                    slept.append(time.perf_counter_ns())
                    time.sleep(0.12)  # the injected stall: this frame holds the main thread
                original(session, now_ns)

            app.model.update = slow_update  # type: ignore[method-assign]
            for _ in range(400):
                if any(s.kind == "ui" and s.detail.startswith("frame ") for s in source.session.stalls()):
                    break
                await pilot.pause(0.05)
            await pilot.press("q")

    asyncio.run(run())
    frames = [s for s in source.session.stalls() if s.detail.startswith("frame ")]
    assert slept and frames
    assert frames[0].end_ns - frames[0].t_ns >= 120 * MS  # on the scripted clock (speed 1)


def test_stalls_round_trip_through_a_recording_and_replay(tmp_path: Path) -> None:
    events, stalls = _with_stalls()
    path = tmp_path / "with-stalls.jsonl.zst"
    recorder = Recorder(path)
    for event in [*events, SessionEnded(events[-1].t_ns + 1)]:
        recorder(event)
    recorder.close()
    recording = read_recording(path)
    assert recording.warnings == [] and [e for e in recording.events if isinstance(e, Stall)] == sorted(
        stalls, key=lambda s: s.t_ns
    )
    replay = ReplaySource(recording, paused=True)
    replay.jump_to_end()
    replay.pump()
    assert build_report(replay.session, {}) == build_report(Session.from_events(events), {})


def test_recordings_from_before_stall_events_still_replay() -> None:
    recording = read_recording(ROOT / "recordings" / "smollm2-135m-cpu.jsonl.zst")
    assert recording.header.schema == "1.0" and recording.warnings == []
    replay = ReplaySource(recording, paused=True)
    replay.jump_to_end()
    replay.pump()
    session = replay.session
    assert session.stalls() == []
    report = build_report(session, {})
    assert all(r["monitor_pauses"]["tokens_after_pause"] == 0 for r in report["runs"])
    assert session.run_ids()


def test_a_live_session_freezes_the_loaded_heap_and_watches_its_collections(tiny_model_dir: Path) -> None:
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    settings = RunSettings(model=str(tiny_model_dir), device="cpu", max_new_tokens=4, runs=1, warmup=0)
    live = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="none"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        live.open()
        assert gc.get_freeze_count() > 0  # the model's objects are out of the collector's reach
        assert live.pauses is not None and live.pauses._on_gc in gc.callbacks
        live.request_planned_runs()
        assert live.engine.wait_idle(60)
    finally:
        live.close()
    assert live.pauses is not None and live.pauses._on_gc not in gc.callbacks
    assert "monitor_pauses" in build_report(live.session, {})["runs"][0]
