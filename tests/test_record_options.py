"""Where sessions are recorded: ``--record FILE``, ``--no-record``, the default directory; the app says where."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from tpstui.commands.options import add_record_options, record_path_from_args
from tpstui.errors import UserError
from tpstui.paths import default_recordings_dir
from tpstui.stream.recording import SUFFIX, new_recording_path, read_recording


def parse(by_default: bool, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    add_record_options(parser, by_default=by_default)
    return parser.parse_args(list(argv))


def test_default_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TPSTUI_RECORDINGS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_recordings_dir() == tmp_path / "data" / "tpstui" / "recordings"
    monkeypatch.setenv("TPSTUI_RECORDINGS_DIR", str(tmp_path / "mine"))
    assert default_recordings_dir() == tmp_path / "mine"


def test_run_records_by_default_and_bench_does_not(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TPSTUI_RECORDINGS_DIR", str(tmp_path))
    path = record_path_from_args(parse(True, "--model", "Qwen/Qwen2.5-0.5B-Instruct"), by_default=True)
    assert path is not None and path.parent == tmp_path
    assert path.name.endswith(f"-Qwen2.5-0.5B-Instruct{SUFFIX}")
    assert record_path_from_args(parse(True, "--no-record"), by_default=True) is None
    assert record_path_from_args(parse(True, "--record", "x.jsonl.zst"), by_default=True) == Path("x.jsonl.zst")
    assert record_path_from_args(parse(False), by_default=False) is None
    assert record_path_from_args(parse(False, "--record", "y.jsonl.zst"), by_default=False) == Path("y.jsonl.zst")
    with pytest.raises(UserError, match="not both"):
        record_path_from_args(parse(True, "--record", "x.jsonl.zst", "--no-record"), by_default=True)


def test_new_names_never_collide(tmp_path: Path) -> None:
    first = new_recording_path(tmp_path, "my model/v1")
    first.write_bytes(b"")
    second = new_recording_path(tmp_path, "my model/v1")
    assert second != first and second.name.endswith(f"-2{SUFFIX}") and "my-model-v1" in second.name


def test_the_live_app_says_where_it_records(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions
    from tpstui.ui.app import TpsApp

    settings = RunSettings(model=str(tiny_model_dir), device="cpu", max_new_tokens=4, runs=1, warmup=0)
    path = tmp_path / "live.jsonl.zst"
    source = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="none"), record=path)
    app = TpsApp(source)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.1)
            assert any(str(path) in n.message for n in app._notifications)
            await pilot.press("q")

    asyncio.run(run())
    source.join(5)
    recording = read_recording(path)
    assert recording.complete and recording.events[0].settings["max_new_tokens"] == 4  # type: ignore[union-attr]


def test_a_recording_that_fails_is_shown_at_once_in_a_notice_that_stays(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The disk fills up mid-session (the recording's file descriptor now points at /dev/full)."""
    import os

    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions
    from tpstui.ui.app import PERSISTENT_S, TpsApp

    settings = RunSettings(model=str(tiny_model_dir), device="cpu", prompt_tokens=8, max_new_tokens=200,
                           ignore_eos=True, loop=True, runs=1, warmup=0)  # fmt: skip
    path = tmp_path / "live.jsonl.zst"
    source = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="none"), record=path)
    assert source.recorder is not None
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, source.recorder._file.fileno())  # every later write: ENOSPC
    os.close(full)
    app = TpsApp(source)

    def notices() -> list[str]:
        return [f"{n.title}: {n.message}" for n in app._notifications if n.timeout >= PERSISTENT_S]

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(400):  # a deadline, not a timing
                if notices():
                    break
                await pilot.pause(0.05)
            assert notices() == [f"recording failed: {path}: {source.recording_error}"]
            assert "No space left on device" in notices()[0]
            assert app.is_running  # the session goes on
            await pilot.press("q")

    asyncio.run(run())
    source.join(5)
    assert app.return_code == 1


def test_two_sessions_that_pick_the_same_default_name_both_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two ``tpstui run`` started in the same second: both compute the default name before either
    creates it (the race), and both record, to different files."""
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    monkeypatch.setenv("TPSTUI_RECORDINGS_DIR", str(tmp_path))
    args = parse(True)
    for _ in range(20):  # the two names must fall in the same second
        first, second = record_path_from_args(args, by_default=True), record_path_from_args(args, by_default=True)
        if first == second:
            break
    assert first is not None and first == second
    sessions = [
        LiveSession(TransformersEngine(RunSettings()), TelemetryOptions(backend="none"), record=path, unique_name=True)
        for path in (first, second)
    ]
    paths = [s.recording_path for s in sessions]
    for session in sessions:
        session.close()
    assert paths[0] == first and paths[1] is not None and paths[1].name == first.name.replace(SUFFIX, f"-2{SUFFIX}")
    assert all(read_recording(p).complete for p in paths if p is not None)


def test_a_name_the_user_gave_is_never_renamed_or_overwritten(tmp_path: Path) -> None:
    from tpstui.stream.recording import Recorder

    taken = tmp_path / "mine.jsonl.zst"
    taken.write_bytes(b"precious")
    with pytest.raises(UserError, match="already exists"):
        Recorder(taken)
    assert taken.read_bytes() == b"precious"
