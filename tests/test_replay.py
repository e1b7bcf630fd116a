"""ReplaySource: the session at replay position t is the live session at t; speed, pause, step, seek."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.recording_scripts import MS, T0, scripted_events
from tpstui.reports.bench import build_report
from tpstui.sources.base import ReplayControls, SessionSource
from tpstui.sources.replay import ReplaySource
from tpstui.state.session import Session
from tpstui.stream.recording import Recorder, Recording, read_recording


class FakeClock:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    path = tmp_path_factory.mktemp("replay") / "s.jsonl.zst"
    recorder = Recorder(path)
    for event in scripted_events():
        recorder(event)
    recorder.close()
    return read_recording(path)


def state_at(events: list[object], offset_ms: float) -> dict[str, object]:
    """What a live Session fed every event published by T0 + offset holds."""
    session = Session()
    for event in events:
        if event.t_ns <= T0 + offset_ms * MS:  # type: ignore[attr-defined]
            session.apply(event)  # type: ignore[arg-type]
    return summary(session)


def summary(session: Session) -> dict[str, object]:
    return {
        "events": session.events,
        "tokens": session.total_tokens,
        "runs": [(v.run, len(v.arrivals), v.finished is not None) for v in session.runs(include_warmup=True)],
        "spans": [(s.start_ns, s.end_ns) for s in session.throttle_spans()],
        "samples": len(session.samples("gpu0")),
    }


def make(recording: Recording, **kwargs: object) -> tuple[ReplaySource, FakeClock]:
    clock = FakeClock()
    return ReplaySource(recording, clock=clock, **kwargs), clock  # type: ignore[arg-type]


def test_implements_the_app_contract(recording: Recording) -> None:
    source, _ = make(recording)
    assert isinstance(source, SessionSource) and isinstance(source, ReplayControls)
    assert source.kind == "replay"
    assert source.duration_ns == 2300 * MS
    assert source.t0_ns == T0


def test_real_time_shows_what_live_showed(recording: Recording) -> None:
    source, clock = make(recording)
    source.pump()
    assert source.now_ns() == T0 and summary(source.session) == state_at(recording.events, 0)
    for step_ms in (99, 1, 50, 1000, 105, 5, 40, 500, 1000):
        clock.advance(step_ms / 1000)
        source.pump()
        position_ms = source.position_ns / MS
        assert summary(source.session) == state_at(recording.events, position_ms)
        assert source.now_ns() == T0 + source.position_ns
    assert source.position_ns == source.duration_ns and source.paused  # stops at the end


def test_speed_pause_and_resume(recording: Recording) -> None:
    source, clock = make(recording, speed=4)
    clock.advance(0.25)
    assert source.position_ns == 1000 * MS
    source.set_speed(0.5)
    clock.advance(0.2)
    assert source.position_ns == 1100 * MS
    source.toggle_pause()
    assert source.paused
    clock.advance(10)
    source.pump()
    assert source.position_ns == 1100 * MS
    assert summary(source.session) == state_at(recording.events, 1100)
    source.toggle_pause()
    clock.advance(0.1)
    assert source.position_ns == 1150 * MS


def test_step_advances_token_by_token(recording: Recording) -> None:
    source, clock = make(recording)
    source.step()
    assert source.paused
    positions = []
    for _ in range(4):
        source.step()
        source.pump()
        positions.append(source.position_ns // MS)
        clock.advance(1)  # paused: the clock does not move the replay
    assert positions == [160, 1100, 1120, 1150]
    assert source.session.run(1).arrivals.size == 3


def test_seek_backwards_rebuilds_a_fresh_session(recording: Recording) -> None:
    source, _ = make(recording, paused=True)
    source.seek(2050 * MS)
    source.pump()
    late = source.session
    assert summary(late) == state_at(recording.events, 2050)
    source.seek(1120 * MS)
    source.pump()
    assert source.session is not late
    assert summary(source.session) == state_at(recording.events, 1120)
    source.seek(-5)
    source.pump()
    assert source.position_ns == 0 and summary(source.session) == state_at(recording.events, 0)


def test_seek_next_throttle_and_jump_to_end(recording: Recording) -> None:
    source, _ = make(recording, paused=True)
    assert source.throttle_offsets_ns == [1150 * MS, 1170 * MS]
    source.seek_next_throttle()
    source.pump()
    assert source.position_ns == 1150 * MS
    assert source.session.active_reasons() == {"gpu0": ["HwThermalSlowdown"]}
    source.seek_next_throttle()
    assert source.position_ns == 1170 * MS
    source.seek_next_throttle()  # none left: stays
    assert source.position_ns == 1170 * MS
    source.jump_to_end()
    source.pump()
    assert source.at_end
    assert build_report(source.session, {}) == build_report(Session.from_events(recording.events), {})


def test_resume_at_the_end_plays_again(recording: Recording) -> None:
    source, clock = make(recording)
    source.jump_to_end()
    source.pump()
    assert source.paused
    source.toggle_pause()
    clock.advance(0.5)
    source.pump()
    assert source.position_ns == 500 * MS
    assert summary(source.session) == state_at(recording.events, 500)


def test_speed_is_validated(recording: Recording) -> None:
    with pytest.raises(ValueError):
        make(recording, speed=0)
    source, _ = make(recording)
    source.set_speed(10**9)
    assert source.speed == 10_000


def test_thread_plays_to_the_end(recording: Recording, tmp_path: Path) -> None:
    source = ReplaySource(recording, speed=10_000)
    source.start()
    try:
        deadline = time.monotonic() + 30
        while not source.at_end and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    finally:
        source.close()
    assert source.at_end
    assert summary(source.session) == summary(Session.from_events(recording.events))


def test_publish_order_is_kept_when_timestamps_are_not_monotonic() -> None:
    """A sample stamped before a token but published after it appears with it, never before it."""
    from tpstui.stream.events import RunStarted, SessionStarted, TelemetrySample, Tokens

    events = [
        SessionStarted(T0, 0.0),
        RunStarted(T0 + 10 * MS, 0, False, 1, 1, 5),
        Tokens(T0 + 30 * MS, 0, [1], 1, 1, "a"),
        TelemetrySample(T0 + 20 * MS, "cpu", {"util_pct": 5.0}),  # stamped mid-read, published later
        Tokens(T0 + 40 * MS, 0, [2], 1, 1, "b"),
    ]
    from tpstui.stream.recording.format import Header

    source, _ = make(Recording("mem", Header("tpstui-recording", "1.0", 0.0), events), paused=True)  # type: ignore[arg-type]
    source.seek(25 * MS)
    source.pump()
    assert source.session.events == 2
    source.seek(30 * MS)
    source.pump()
    assert source.session.events == 4 and len(source.session.samples("cpu")) == 1
    source.jump_to_end()
    assert source.duration_ns == 40 * MS
