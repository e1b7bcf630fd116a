"""Damaged recordings: kill -9 of the recording process, truncation at every byte, corrupt frames."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.recording_scripts import scripted_events
from tpstui.sources.replay import ReplaySource
from tpstui.stream.events import Tokens
from tpstui.stream.recording import Recorder, RecordingError, read_recording, read_recording_bytes

CHILD = textwrap.dedent(
    """
    import sys, time
    from tpstui.stream.events import EventBus, RunStarted, SessionStarted, Tokens
    from tpstui.stream.recording import Recorder

    bus = EventBus()
    bus.subscribe(Recorder(sys.argv[1]))
    bus.publish(SessionStarted(time.perf_counter_ns(), time.time()))
    bus.publish(RunStarted(time.perf_counter_ns(), 0, False, 4, 1, 10**9))
    i = 0
    started = time.monotonic()
    while True:
        bus.publish(Tokens(time.perf_counter_ns(), 0, [i % 50000], 1, 1, " tok"))
        i += 1
        if i == 300:
            print("running", flush=True)
        time.sleep(0.005)
    """
)


def _frames_file(tmp_path: Path, flush_seconds: float = 0.0) -> tuple[Path, list[object]]:
    """A recording whose events are spread over many frames (flush after every event)."""
    events = scripted_events()
    path = tmp_path / "s.jsonl.zst"
    recorder = Recorder(path, flush_seconds=flush_seconds)
    for event in events:
        recorder(event)
        if flush_seconds == 0.0:
            time.sleep(0.001)
    recorder.close()
    return path, list(events)


def test_kill_minus_9_loses_at_most_a_second(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl.zst"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "running\n"
        time.sleep(0.7)
        killed_at = time.perf_counter_ns()  # CLOCK_MONOTONIC: the child's clock too
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    recording = read_recording(path)
    assert not recording.complete
    tokens = [e for e in recording.events if isinstance(e, Tokens)]
    assert len(tokens) >= 300
    assert [t.ids[0] for t in tokens] == list(range(len(tokens)))  # nothing missing in between
    assert killed_at - tokens[-1].t_ns <= 1_000_000_000
    replay = ReplaySource(recording, paused=True)
    replay.jump_to_end()
    replay.pump()
    view = replay.session.run(0)
    assert view.finished is None and len(view.arrivals) == len(tokens)


def test_every_truncation_reads_a_prefix_or_fails_cleanly(tmp_path: Path) -> None:
    path, events = _frames_file(tmp_path)
    data = path.read_bytes()
    boundaries = {0}
    header_end = None
    for cut in range(1, len(data) + 1):
        try:
            recording = read_recording_bytes(data[:cut])
        except RecordingError as error:
            assert header_end is None, f"cut at {cut}: {error}"
            assert "before its header" in str(error) or "empty" in str(error)
            continue
        header_end = header_end or cut
        got = recording.events
        assert got == events[: len(got)]
        frame_warnings = [w for w in recording.warnings if "ends without its session end" not in w]
        assert len(frame_warnings) < len(recording.warnings) or recording.complete  # a cut is always said
        if frame_warnings:
            assert "incomplete frame" in frame_warnings[0]
        else:
            boundaries.add(cut)
    assert header_end is not None and len(boundaries) > len(events) // 2  # many frames: many clean cuts
    assert read_recording_bytes(data).events == events


def test_a_damaged_frame_in_the_middle_is_skipped(tmp_path: Path) -> None:
    path, events = _frames_file(tmp_path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    recording = read_recording_bytes(bytes(data))
    assert any("damaged" in w for w in recording.warnings)
    got = recording.events
    assert 0 < len(got) < len(events)
    assert got[0] == events[0] and got[-1] == events[-1]  # frames after the damage are kept
    assert all(e in events for e in got)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello world\n", "not a tpstui recording"),
        (b'{"format": "something-else"}\n', "not a tpstui recording"),
        (b'{"format": "tpstui-recording", "schema": "2.0", "created": 0}\n', "newer than this tpstui reads"),
        (b'{"format": "tpstui-recording", "schema": "one", "created": 0}\n', "unreadable schema"),
        (b"\x28\xb5\x2f\xfd\x00", "before its header"),
    ],
)
def test_not_a_recording(content: bytes, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        read_recording_bytes(content)


def test_newer_major_in_a_compressed_file(tmp_path: Path) -> None:
    import zstandard

    data = zstandard.ZstdCompressor().compress(b'{"format":"tpstui-recording","schema":"3.1","created":0}\n')
    with pytest.raises(RecordingError, match=r"schema 3\.1, newer than this tpstui reads \(1\.x\); upgrade"):
        read_recording_bytes(data)


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file"):
        read_recording(tmp_path / "nope.jsonl.zst")
    with pytest.raises(RecordingError, match="directory"):
        read_recording(tmp_path)
