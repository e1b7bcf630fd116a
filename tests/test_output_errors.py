"""Outputs that cannot be written after the measurement (/dev/full, a full stdout): one line, exit 2,
and every other output is still written. The real command in a subprocess, each time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
FULL = "/dev/full"


def tpstui(*args: str, stdout_to_full: bool = False) -> subprocess.CompletedProcess[str]:
    if stdout_to_full:
        with open(FULL, "w") as full:
            return subprocess.run([sys.executable, "-m", "tpstui", *args], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)  # fmt: skip
    return subprocess.run([sys.executable, "-m", "tpstui", *args], capture_output=True, text=True, timeout=120)


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tpstui: error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def bench_args(model: Path) -> list[str]:
    return ["bench", "--model", str(model), "--device", "cpu", "--telemetry", "none", "--runs", "2",
            "--warmup", "0", "-n", "8", "--prompt-tokens", "8", "--quiet"]  # fmt: skip


@pytest.mark.skipif(not Path(FULL).exists(), reason="needs /dev/full")
def test_bench_outputs_that_cannot_be_written_leave_the_others_written(tiny_model_dir: Path, tmp_path: Path) -> None:
    """--json to a full device and the table to a full stdout: a line for each, exit 2, the CSV written."""
    out_csv = tmp_path / "runs.csv"
    result = tpstui(*bench_args(tiny_model_dir), "--json", FULL, "--csv", str(out_csv), stdout_to_full=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("tpstui: error:")]
    assert errors == [
        f"tpstui: error: cannot write {FULL}: No space left on device.",
        "tpstui: error: cannot write to stdout: No space left on device.",
    ]
    assert len(out_csv.read_text().splitlines()) == 3  # header + 2 runs


@pytest.mark.skipif(not Path(FULL).exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["devices"],
        ["replay", str(RECORDINGS / "smollm2-135m-cpu.jsonl.zst"), "--summary"],
        [
            "compare",
            str(RECORDINGS / "smollm2-135m-cpu.jsonl.zst"),
            str(RECORDINGS / "simulated-gpu-thermal-throttle.jsonl.zst"),
        ],
    ],
    ids=["devices", "replay --summary", "compare"],
)
def test_every_command_that_prints_says_so_when_stdout_is_full(args: list[str]) -> None:
    one_error_line(tpstui(*args, stdout_to_full=True), "cannot write to stdout: No space left on device")


@pytest.mark.skipif(not Path(FULL).exists(), reason="needs /dev/full")
def test_compare_json_to_a_full_device_still_prints_the_table() -> None:
    files = [RECORDINGS / "smollm2-135m-cpu.jsonl.zst", RECORDINGS / "simulated-gpu-thermal-throttle.jsonl.zst"]
    result = tpstui("compare", *map(str, files), "--json", FULL)
    one_error_line(result, f"cannot write {FULL}: No space left on device")
    assert "TTFT" in result.stdout
