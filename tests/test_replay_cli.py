"""The CLI around recordings: ``bench --record`` then ``replay --summary``; bad input exits 2 in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

from tests.recording_scripts import scripted_events
from tpstui.cli import main
from tpstui.stream.recording import Recorder


def tpstui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpstui", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "s.jsonl.zst"
    recorder = Recorder(path)
    for event in scripted_events():
        recorder(event)
    recorder.close()
    return path


def test_bench_record_then_replay_summary_prints_the_same_table(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = tmp_path / "bench.jsonl.zst"
    bench = tpstui(
        "bench", "--model", str(tiny_model_dir), "--device", "cpu", "--prompt-tokens", "8", "--chat-template", "off",
        "-n", "5", "--ignore-eos", "--runs", "2", "--warmup", "1", "--telemetry", "cpu", "--record", str(path),
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    assert f"to {path}" in bench.stderr
    replay = tpstui("replay", str(path), "--summary")
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout == bench.stdout
    again = tpstui("bench", "--model", str(tiny_model_dir), "--record", str(path))
    assert again.returncode == 2 and "already exists" in again.stderr and again.stderr.count("\n") == 1


def bad_files(folder: Path, recorded: Path) -> dict[str, Path]:
    data = recorded.read_bytes()
    files = {
        "not a recording": folder / "notes.txt",
        "truncated": folder / "cut.jsonl.zst",
        "random": folder / "random.bin",
        "newer": folder / "newer.jsonl.zst",
        "empty": folder / "empty.jsonl.zst",
    }
    files["not a recording"].write_text("just some notes\n")
    files["truncated"].write_bytes(data[:20])
    files["random"].write_bytes(os.urandom(4096))
    files["newer"].write_bytes(
        zstandard.ZstdCompressor().compress(b'{"format":"tpstui-recording","schema":"2.0","created":0}\n')
    )
    files["empty"].write_bytes(b"")
    return files


def test_bad_input_exits_2_with_one_line(recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = bad_files(tmp_path, recorded)
    expected = {
        "not a recording": "not a tpstui recording",
        "truncated": "cut off before its header",
        "random": "not a tpstui recording",
        "newer": "newer than this tpstui reads",
        "empty": "empty",
    }
    for name, path in files.items():
        for argv in (["replay", str(path)], ["export", str(path), "--json", str(tmp_path / "x.json")]):
            assert main(argv) == 2, (name, argv)
            err = capsys.readouterr().err
            assert err.startswith("tpstui: error: ") and err.count("\n") == 1, err
            assert expected[name] in err, err
    assert main(["replay", str(tmp_path / "missing.jsonl.zst")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_input_in_a_real_process(recorded: Path, tmp_path: Path) -> None:
    result = tpstui("replay", str(bad_files(tmp_path, recorded)["random"]))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    result = tpstui("replay", str(recorded), "--speed", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_replay_summary_of_a_torn_recording_warns(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "frames.jsonl.zst"
    recorder = Recorder(whole, flush_seconds=0.0)  # a frame per event, or nearly
    for event in scripted_events():
        recorder(event)
        time.sleep(0.001)
    recorder.close()
    torn = tmp_path / "torn.jsonl.zst"
    torn.write_bytes(whole.read_bytes()[:-7])
    assert main(["replay", str(torn), "--summary"]) == 0
    captured = capsys.readouterr()
    assert "tpstui: warning:" in captured.err and "incomplete frame" in captured.err
    assert "decode tok/s" in captured.out
