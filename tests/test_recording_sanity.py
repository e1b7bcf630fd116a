"""Recordings that read cleanly but say impossible things: detected, said in a warning, the runs
marked, and never turned into negative or absurd statistics (nor a crash of the replay app)."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import numpy as np

from tpstui.reports.export import export_report
from tpstui.sources.replay import ReplaySource
from tpstui.stream.events import (
    Event,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    Tokens,
)
from tpstui.stream.recording import Recording, read_recording, read_recording_bytes
from tpstui.stream.recording.format import Header
from tpstui.stream.recording.sanity import INTERRUPTED
from tpstui.stream.recording.writer import FrameWriter
from tpstui.ui.app import TpsApp
from tpstui.ui.timeline import Timeline

T0 = 7_000_000_000_000
MS = 1_000_000
TOKENS = 32


def session(t0: int = T0, tokens: int = TOKENS) -> list[Event]:
    """One measured run of ``tokens`` tokens, 10 ms apart, and a sample every 50 ms."""
    events: list[Event] = [
        SessionStarted(t0, 1_700_000_000.0, settings={"max_new_tokens": tokens, "batch_size": 1}),
        ModelLoaded(t0 + MS, "m", "local", 1000, "float32", "cpu", 0.1, 4000),
        RunStarted(t0 + 10 * MS, 0, False, 4, 1, tokens),
    ]
    for i in range(tokens):
        events.append(Tokens(t0 + (20 + 10 * i) * MS, 0, [i], 1, 1, "x"))
        if i % 5 == 0:
            events.append(TelemetrySample(t0 + (25 + 10 * i) * MS, "cpu", {"util_pct": 50.0}))
    events.append(RunFinished(t0 + (30 + 10 * tokens) * MS, 0, "length", tokens, tokens))
    events.append(SessionEnded(t0 + (40 + 10 * tokens) * MS))
    return events


def frames(events: list[Event], per_frame: int = 8) -> tuple[bytes, list[int]]:
    """A recording written ``per_frame`` events to a frame; the offset where each frame starts."""
    buffer = io.BytesIO()
    writer = FrameWriter(buffer)  # the header is the first frame
    offsets = [buffer.tell()]
    for start in range(0, len(events), per_frame):
        for event in events[start : start + per_frame]:
            writer.add(event)
        writer.flush()
        offsets.append(buffer.tell())
    return buffer.getvalue(), offsets


def run_entry(recording: Recording) -> dict[str, object]:
    (entry,) = export_report(recording)["runs"]
    return entry


def test_a_clean_recording_has_no_warnings() -> None:
    recording = read_recording_bytes(frames(session())[0])
    assert recording.warnings == [] and recording.runs == {}
    assert run_entry(recording)["warnings"] == []


def test_a_frame_written_twice_counts_its_tokens_once() -> None:
    data, offsets = frames(session())
    repeated = data[: offsets[3]] + data[offsets[2] : offsets[3]] + data[offsets[3] :]
    recording = read_recording_bytes(repeated)
    entry = run_entry(recording)
    assert entry["new_tokens"] == TOKENS  # not 32 + the repeated ones
    assert entry["status"] == "length" and entry["warnings"]
    assert any("run 0:" in w and "left out" in w for w in recording.warnings)
    assert any("cpu:" in w for w in recording.warnings)  # the frame's repeated sample too


def test_a_time_of_zero_or_a_jump_is_left_out_and_the_statistics_stay_sane() -> None:
    events = session()
    tokens = [i for i, e in enumerate(events) if isinstance(e, Tokens)]
    bad = list(events)
    bad[tokens[10]] = Tokens(0, 0, [10], 1, 1, "x")  # a damaged time that still parses
    bad[tokens[20]] = Tokens(T0 + 3_600_000 * MS, 0, [20], 1, 1, "x")  # an hour ahead
    recording = read_recording_bytes(frames(bad)[0])
    entry = run_entry(recording)
    metrics = entry["metrics"]
    assert entry["new_tokens"] == TOKENS - 2
    assert 0 < metrics["itl_s"]["p99"] < 0.05 and metrics["itl_s"]["min"] > 0  # gaps of 10-20 ms, none absurd
    assert 0 < metrics["ttft_s"] < 0.05
    assert entry["warnings"] == ["2 token event(s) out of order, repeated or outside the run were left out"]


def test_two_recordings_joined_together_read_as_the_first_with_a_warning(tmp_path: Path) -> None:
    first, second = frames(session(T0 + 10**12))[0], frames(session(T0))[0]  # the second's clock is earlier
    joined = tmp_path / "joined.jsonl.zst"
    joined.write_bytes(first + second)
    recording = read_recording(joined)
    assert any("holds 2 sessions" in w for w in recording.warnings)
    assert recording.complete and run_entry(recording)["new_tokens"] == TOKENS
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "replay", str(joined), "--summary"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "holds 2 sessions" in result.stderr and "Traceback" not in result.stderr


def test_a_recording_without_its_session_start_is_said() -> None:
    recording = read_recording_bytes(frames(session()[1:])[0])
    assert any("does not begin with its session start" in w for w in recording.warnings)


def test_a_recording_cut_by_a_crash_says_so_and_marks_the_run_interrupted() -> None:
    events = session()
    cut = next(i for i, e in enumerate(events) if isinstance(e, Tokens) and e.ids == [20])
    data, _ = frames(events[:cut], per_frame=4)
    recording = read_recording_bytes(data)  # ends at a frame boundary: nothing torn, still cut short
    assert any("ends without its session end" in w and "run 0 is marked interrupted" in w for w in recording.warnings)
    assert recording.runs == {0: [INTERRUPTED]}
    report = export_report(recording)
    assert report["interrupted"] is True
    assert report["runs"][0]["status"] == "interrupted" and report["runs"][0]["warnings"] == [INTERRUPTED]


def _replay_to_the_end(recording: Recording) -> TpsApp:
    source = ReplaySource(recording, paused=True)
    app = TpsApp(source)

    async def run() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            source.jump_to_end()
            for _ in range(6):
                app.tick(force=True)
                await pilot.pause(0.02)
            await pilot.press("q")

    asyncio.run(run())
    return app


def test_the_replay_app_takes_token_times_that_go_backwards() -> None:
    """Even events that skipped the reader's checks (a Recording built in memory) cannot crash it."""
    events = session()
    tokens = [i for i, e in enumerate(events) if isinstance(e, Tokens)]
    jumped = list(events)
    jumped[tokens[3]] = Tokens(T0 + 600_000 * MS, 0, [3], 1, 1, "x")  # 10 minutes ahead, then back
    app = _replay_to_the_end(Recording("mem", Header("tpstui-recording", "1.0", 0.0), jumped))
    assert app.return_code == 0
    checked = read_recording_bytes(frames(jumped)[0])
    assert checked.runs and _replay_to_the_end(checked).return_code == 0


def test_the_timeline_takes_arrivals_out_of_order() -> None:
    timeline = Timeline(T0)
    timeline.add(None, np.array([T0 + 10 * 10**9, T0 + 10**9]), np.array([1, 1]))  # 10 s, then back to 1 s
    columns = timeline.columns(T0 + 11 * 10**9, 40)
    assert columns.filled > 0
