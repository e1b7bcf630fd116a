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
