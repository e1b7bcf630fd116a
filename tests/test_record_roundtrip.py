"""Recording round trips: what is written is read back identically, from one thread or several,
and a live session recorded and replayed ends with the same report."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zstandard

from tests.recording_scripts import T0, scripted_events
from tpstui.errors import UserError
from tpstui.reports.bench import build_report
from tpstui.sources.replay import ReplaySource
from tpstui.state.session import Session
from tpstui.stream.events import SCHEMA_VERSION, EventBus, SessionStarted, TelemetrySample, Tokens
from tpstui.stream.recording import Recorder, read_recording, read_recording_bytes
from tpstui.stream.recording.format import FORMAT_NAME


def record(path: Path, events: list[Any], **kwargs: Any) -> Path:
    recorder = Recorder(path, **kwargs)
    for event in events:
        recorder(event)
    recorder.close()
    assert recorder.error is None
    return path


def test_round_trip_gives_identical_events(tmp_path: Path) -> None:
    events = scripted_events()
    path = record(tmp_path / "s.jsonl.zst", events)
    recording = read_recording(path)
    assert recording.events == events
    assert recording.warnings == []
    assert recording.complete
    assert recording.header.format == FORMAT_NAME and recording.header.schema == SCHEMA_VERSION
    assert recording.header.events["tok"] == ["t_ns", "run", "ids", "n", "n_all", "text"]
    assert recording.header.array_events == ["tok"]


def test_readable_without_tpstui(tmp_path: Path) -> None:
    """Plain zstd + json: concatenated frames are one zstd stream of JSON lines."""
    path = record(tmp_path / "s.jsonl.zst", scripted_events())
    with path.open("rb") as handle:
        text = zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True).read()
    lines = [json.loads(line) for line in text.decode().splitlines()]
    assert lines[0]["format"] == "tpstui-recording" and lines[0]["schema"] == SCHEMA_VERSION
    assert lines[1]["type"] == "session"
    tokens = [line for line in lines if isinstance(line, list)]
    assert tokens[0][0] == "tok" and tokens[0][1] > T0
    assert len(tokens) == 11


def test_uncompressed_copy_is_read_too(tmp_path: Path) -> None:
    events = scripted_events()
    data = record(tmp_path / "s.jsonl.zst", events).read_bytes()
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        plain = reader.read()
    assert read_recording_bytes(plain).events == events


def test_readable_while_being_written(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl.zst"
    recorder = Recorder(path, flush_seconds=0.01)
    events = scripted_events()
    for event in events[:20]:
        recorder(event)
    seen: list[Any] = []
    for _ in range(500):  # wait (at most 5 s) for the writer thread to flush; not a timing assertion
        seen = read_recording(path).events
        if len(seen) == 20:
            break
        time.sleep(0.01)
    assert seen == events[:20]
    for event in events[20:]:
        recorder(event)
    recorder.close()
    assert read_recording(path).events == events


def test_subscriber_only_enqueues(tmp_path: Path) -> None:
    """Nothing is written on the publishing thread: with no flush due, the file holds just the header."""
    path = tmp_path / "s.jsonl.zst"
    recorder = Recorder(path, flush_seconds=3600)
    header_size = path.stat().st_size
    for i in range(1000):
        recorder(Tokens(T0 + i, 0, [i], 1, 1, "x"))
    assert path.stat().st_size == header_size
    recorder.close()
    assert recorder.events_written == 1000
    assert len(read_recording(path).events) == 1000


def test_recorded_events_from_two_threads(tmp_path: Path) -> None:
    """A pump thread and a sampler thread publish at once; each thread's order survives."""
    bus = EventBus()
    seen: list[Any] = []
    lock = threading.Lock()

    def collect(event: Any) -> None:
        with lock:
            seen.append(event)

    recorder = Recorder(tmp_path / "s.jsonl.zst", flush_seconds=0.01)
    bus.subscribe(collect)
    bus.subscribe(recorder)
    events = scripted_events()
    token_like = [e for e in events if not isinstance(e, TelemetrySample)]
    once = [e for e in events if isinstance(e, TelemetrySample)]
    samples = [msgspec.structs.replace(e, t_ns=e.t_ns + k * 10**10) for k in range(50) for e in once]
    threads = [threading.Thread(target=lambda evs=evs: [bus.publish(e) for e in evs]) for evs in (token_like, samples)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    recorded = read_recording(recorder.path).events
    assert sorted(map(repr, recorded)) == sorted(map(repr, seen))
    assert [e for e in recorded if not isinstance(e, TelemetrySample)] == token_like
    assert [e for e in recorded if isinstance(e, TelemetrySample)] == samples


def test_non_finite_telemetry_is_left_out_not_lost(tmp_path: Path) -> None:
    sample = TelemetrySample(T0, "gpu0", {"power_w": float("nan"), "temp_c": 61.0, "x": float("inf")}, ["SwPowerCap"])
    events = read_recording(record(tmp_path / "s.jsonl.zst", [sample])).events
    assert events == [TelemetrySample(T0, "gpu0", {"temp_c": 61.0}, ["SwPowerCap"])]


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = record(tmp_path / "s.jsonl.zst", scripted_events())
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        Recorder(path)
    assert path.read_bytes() == before
    with pytest.raises(UserError, match="directory"):
        Recorder(tmp_path)


def test_newer_minor_schema_is_read_and_unknown_events_skipped(tmp_path: Path) -> None:
    header = {"format": FORMAT_NAME, "schema": "1.9", "created": 0.0, "future_field": {"a": 1}}
    lines = [
        header,
        {"type": "session_end", "t_ns": 5, "added_in_1_9": True},
        {"type": "gpu_topology", "t_ns": 6, "links": []},
        ["tok2", 7, 0],
        ["tok", 8, 0, [1], 1, 1, "a"],
    ]
    data = b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
    recording = read_recording_bytes(zstandard.ZstdCompressor().compress(data))
    assert recording.header.schema == "1.9"
    assert [type(e).__name__ for e in recording.events] == ["SessionEnded", "Tokens"]
    assert any("2 event(s) of types this tpstui does not know" in w for w in recording.warnings)


def test_live_session_recorded_then_replayed_ends_with_the_same_report(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The app's code path: a Session fed by ReplaySource to the end equals the live Session."""
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    settings = RunSettings(
        model=str(tiny_model_dir), device="cpu", prompt_tokens=8, chat_template="off",
        max_new_tokens=6, ignore_eos=True, runs=2, warmup=1,
    )  # fmt: skip
    path = tmp_path / "live.jsonl.zst"
    live = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="cpu", sample_hz=50), record=path)
    try:
        live.open()
        engine = live.engine
        engine.request_runs(settings.runs, settings.warmup)
        assert engine.wait_idle(120)
    finally:
        live.close()
    assert live.recorder is not None and live.recorder.error is None
    replay = ReplaySource.open(path, paused=True)
    replay.jump_to_end()
    replay.pump()
    assert replay.recording.complete and replay.warnings == []
    live_report = build_report(live.session, settings.as_dict())
    replay_report = build_report(replay.session, settings.as_dict())
    assert replay_report == live_report
    assert [r["new_tokens"] for r in replay_report["runs"]] == [6, 6, 6]
    assert replay.session.samples("cpu") == live.session.samples("cpu") != []  # sampled while loading, at least
    assert replay.session.total_tokens == live.session.total_tokens
    fresh = Session.from_events(replay.recording.events)
    assert build_report(fresh, {}) == build_report(live.session, {})


def test_older_lines_with_fewer_fields_are_read_with_defaults() -> None:
    """What an older 1.x writer produced (fields added since are missing) still reads."""
    lines = [
        {"format": FORMAT_NAME, "schema": "1.0", "created": 0.0},
        {"type": "session", "t_ns": 1, "wall_time": 1_700_000_000.0},
        {"type": "sample", "t_ns": 2, "device": "gpu0", "values": {"temp_c": 50}},
    ]
    data = b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
    events = read_recording_bytes(zstandard.ZstdCompressor().compress(data)).events
    assert events[0] == SessionStarted(1, 1_700_000_000.0)
    assert events[1] == TelemetrySample(2, "gpu0", {"temp_c": 50.0}, [])
