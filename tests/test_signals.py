"""SIGTERM and SIGHUP (``kill``, ``timeout``, systemd, SLURM, a closed terminal) end a session as
cleanly as ``q`` / Ctrl-C: the terminal restored, the recording closed with its end event, the
finished runs written, exit code 128 + the signal. The real ``tpstui`` in a real pseudo-terminal."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.terminal import RESTORE_SEQUENCES, Terminal
from tpstui.stream.events import RunFinished, RunStarted, SessionEnded, Tokens
from tpstui.stream.recording import RecordingError, read_recording

DEADLINE_S = 60.0
"""How long a test waits for tpstui to get somewhere (a deadline, never a timing assertion)."""


def live_args(model: Path, record: Path) -> list[str]:
    return ["run", "--model", str(model), "--device", "cpu", "--telemetry", "none", "--loop",
            "--prompt-tokens", "16", "-n", "200", "--ignore-eos", "--record", str(record)]  # fmt: skip


def recorded_tokens(path: Path) -> int:
    try:
        return sum(isinstance(e, Tokens) for e in read_recording(path).events)
    except RecordingError:  # not created yet, or nothing flushed yet
        return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_ends_the_live_app_like_q(signum: int, tiny_model_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl.zst"
    terminal = Terminal(live_args(tiny_model_dir, record))
    try:
        terminal.wait_for(lambda: recorded_tokens(record) > 0, DEADLINE_S, "tokens in the recording")
        sent_at = len(terminal.text())
        terminal.signal(signum)
        code = terminal.finish()
        assert code == 128 + signum, terminal.tail()
        written = terminal.text()[sent_at:]
        for what, sequence in RESTORE_SEQUENCES.items():
            assert sequence in written, f"{what}: {sequence!r} not written after the signal"
        assert terminal.restored(), "the terminal was left in raw mode"
        assert b"Traceback" not in terminal.text()
        assert b"tpstui: recorded to" in written
    finally:
        terminal.close()
    recording = read_recording(record)
    assert recording.complete and isinstance(recording.events[-1], SessionEnded)
    assert not recording.warnings
    started = {e.run for e in recording.events if isinstance(e, RunStarted)}
    ended = {e.run for e in recording.events if isinstance(e, RunFinished)}
    assert started == ended  # the run going on was stopped at its next decode step, and ended


def test_closing_the_terminal_ends_the_app_and_closes_the_recording(tiny_model_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl.zst"
    terminal = Terminal(live_args(tiny_model_dir, record))
    try:
        terminal.wait_for(lambda: recorded_tokens(record) > 0, DEADLINE_S, "tokens in the recording")
        terminal.hang_up()  # the kernel sends SIGHUP; every later write to the terminal fails
        assert terminal.finish() == 128 + signal.SIGHUP
    finally:
        terminal.close()
    recording = read_recording(record)
    assert recording.complete and not recording.warnings


LIMIT_BYTES = 8 * 1024


def _limit_file_size() -> None:  # in the child: a file stops at 8 KiB (EFBIG), as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def _stopped_growing(path: Path, sizes: list[int]) -> bool:
    """True once the file holds tokens and has not grown for 2 s (frames are written every 0.5 s
    while a --loop session generates: writes are failing)."""
    if not sizes and recorded_tokens(path) == 0:
        return False  # still loading: the file does not grow yet either
    sizes.append(path.stat().st_size)
    recent = sizes[-40:]  # polled every 50 ms
    return len(recent) == 40 and recent[0] == recent[-1]


def test_a_recording_that_fails_is_said_at_exit_and_in_the_exit_code(tiny_model_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl.zst"
    terminal = Terminal(live_args(tiny_model_dir, record), preexec=_limit_file_size)
    sizes: list[int] = []
    try:
        terminal.wait_for(lambda: _stopped_growing(record, sizes), DEADLINE_S, "the recording to hit the limit")
        assert terminal.process.poll() is None  # the session goes on
        terminal.send(b"q")
        code = terminal.finish()
        output = terminal.text()
    finally:
        terminal.close()
    assert code == 1
    message = output[output.rfind(b"tpstui: error: recording to") :].decode()
    assert "failed: File too large" in message and "recording stopped at" in message
    assert b"recorded to" not in output
    recording = read_recording(record)  # what was written before the disk filled up is readable
    assert any(isinstance(e, Tokens) for e in recording.events)


def test_sigterm_ends_bench_with_the_finished_runs_written(tiny_model_dir: Path, tmp_path: Path) -> None:
    """(SIGHUP takes the same path: both raise ``Interrupted`` in the main thread.)"""
    signum = signal.SIGTERM
    out, record = tmp_path / "bench.json", tmp_path / "bench.jsonl.zst"
    process = subprocess.Popen(
        [sys.executable, "-m", "tpstui", "bench", "--model", str(tiny_model_dir), "--device", "cpu",
         "--telemetry", "none", "--runs", "500", "--warmup", "0", "--prompt-tokens", "16", "-n", "200",
         "--ignore-eos", "--json", str(out), "--record", str(record)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:  # until the first run has finished
        if line.startswith("run 1/500"):
            break
    else:
        raise AssertionError("bench ended before its first run finished")
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and f"stopped by {signal.Signals(signum).name}" in stderr
    report = json.loads(out.read_text())
    assert report["interrupted"] is True
    finished = [r for r in report["runs"] if r["status"] == "length"]
    assert finished and finished[0]["new_tokens"] == 200
    assert "decode tok/s" in stdout  # the table of the finished runs
    recording = read_recording(record)
    assert recording.complete and not recording.warnings
