"""`tpstui bench` end to end: the embedded model, the JSON and CSV it writes, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tpstui.state import metrics


def tpstui(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tpstui", *args], capture_output=True, text=True, timeout=600, **kwargs
    )  # type: ignore[call-overload]


@pytest.mark.slow
def test_bench_embedded_model_writes_json_and_csv(tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "out" / "bench.json", tmp_path / "bench.csv"
    result = tpstui(
        "bench", "-n", "8", "--runs", "2", "--warmup", "1", "--ignore-eos",
        "--json", str(out_json), "--csv", str(out_csv),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "decode tok/s" in result.stdout
    assert "run 2/2" in result.stderr  # progress on stderr
    report = json.loads(out_json.read_text())
    assert report["schema"] == "tpstui.bench/1"
    assert report["model"]["source"] == "embedded"
    assert 130e6 < report["model"]["parameters"] < 140e6
    assert report["model"]["dtype"] == "float32" and report["model"]["device"] == "cpu"
    assert report["environment"]["versions"]["torch"]
    assert report["environment"]["versions"]["transformers"]
    assert report["settings"]["max_new_tokens"] == 8 and report["settings"]["ignore_eos"] is True
    runs = report["runs"]
    assert [r["warmup"] for r in runs] == [True, False, False]
    for run in runs:
        assert run["status"] == "length"
        assert run["new_tokens"] == 8
        times = run["token_times_ns"]
        assert len(times) == 8 and times == sorted(times) and times[0] > 0
        recomputed = metrics.run_metrics(0, times)
        assert run["metrics"]["ttft_s"] == pytest.approx(recomputed.ttft_s)
        assert run["metrics"]["output_tps"] == pytest.approx(recomputed.output_tps)
        assert run["text"]  # coherent text is a human judgement; here: some text was decoded
        assert run["telemetry"]["devices"]["cpu"]["samples"] > 0
    measured = [r["metrics"]["output_tps"] for r in runs[1:]]
    assert report["aggregate"]["output_tps"]["n"] == 2
    assert report["aggregate"]["output_tps"]["mean"] == pytest.approx(sum(measured) / 2)
    assert report["metric_definitions"]["ttft_s"]
    rows = list(csv.DictReader(out_csv.open()))
    assert [row["run"] for row in rows] == ["0", "1", "2"]
    assert float(rows[1]["output_tps"]) == pytest.approx(runs[1]["metrics"]["output_tps"])


def test_ctrl_c_stops_promptly_and_prints_finished_runs(tiny_model_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tpstui", "bench", "--model", str(tiny_model_dir), "--device", "cpu",
         "--runs", "1000", "--warmup", "0", "-n", "120", "--ignore-eos", "--telemetry", "none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    lines = []
    while True:  # wait until two runs have finished
        line = process.stderr.readline()
        assert line, "bench ended before two runs finished"
        lines.append(line)
        if line.startswith("run 2/"):
            break
    interrupted_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    elapsed = time.monotonic() - interrupted_at
    assert process.returncode == 130, stderr
    assert elapsed < 10, f"stopping took {elapsed:.1f} s"
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    finished = [line for line in stdout.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert len(finished) >= 2  # the finished runs are in the table
    assert os.linesep.join(lines)
