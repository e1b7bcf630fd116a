"""``tpstui bench --endpoint`` against a real server: ``transformers serve`` on CPU with the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.endpoint_servers import served_model_dir, transformers_server
from tpstui.stream.recording import read_recording

__all__ = ["served_model_dir", "transformers_server"]

pytestmark = pytest.mark.slow


def _bench(url: str, tmp_path: Path, *options: str) -> dict[str, object]:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "tpstui", "bench", "--endpoint", url, "--telemetry", "none", "--quiet",
               "--json", str(out), *options]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Serving Benchmark Result" in done.stdout
    report: dict[str, object] = json.loads(out.read_text())
    return report


@pytest.mark.parametrize("concurrency", [1, 2])
def test_bench_against_transformers_serve(transformers_server: str, tmp_path: Path, concurrency: int) -> None:
    record = tmp_path / "serve.jsonl.zst"
    report = _bench(transformers_server, tmp_path, "--concurrency", str(concurrency), "--num-requests", "2",
                    "-n", "8", "--prompt-tokens", "48", "--record", str(record))  # fmt: skip
    assert report["completed"] == 2 and report["failed"] == 0
    assert report["max_concurrency"] == concurrency
    serving = report["serving"]
    assert isinstance(serving, dict)
    # tokens per chunk from the tokenizer; transformers serve reports usage once, at the end
    assert serving["server_output_tokens"] == report["total_output_tokens"]
    assert serving["multi_token_chunks"] == 0
    assert report["input_lens"] == [48, 48]  # the server's usage.prompt_tokens: exactly --prompt-tokens
    runs = [r for r in report["runs"] if not r["warmup"]]  # type: ignore[attr-defined]
    for run in runs:
        metrics = run["metrics"]
        assert run["status"] in ("length", "eos")
        assert 0 < metrics["ttft_s"] < 30
        assert metrics["itl_s"]["n"] == run["new_tokens"] - 1
        assert 0 < metrics["itl_s"]["median"] < 5  # a 135M model on CPU: tens of ms per token
        assert metrics["latency_s"] >= metrics["ttft_s"]
    mean_ttft, mean_itl = report["mean_ttft_ms"], report["mean_itl_ms"]
    assert isinstance(mean_ttft, float) and isinstance(mean_itl, float) and mean_ttft > 0 and mean_itl > 0
    if concurrency == 2:  # transformers serve (no --continuous-batching) answers one request at a time
        assert report["max_concurrent_requests"] == 2
    recording = read_recording(record)
    assert sum(1 for e in recording.events if type(e).__name__ == "RunFinished") == 3  # warm-up included


def test_completions_api_against_transformers_serve(transformers_server: str, tmp_path: Path) -> None:
    report = _bench(transformers_server, tmp_path, "--api", "completions", "--num-requests", "1", "-n", "6",
                    "--warmup-requests", "0", "--ignore-eos")  # fmt: skip
    assert report["completed"] == 1
    model = report["model"]
    assert isinstance(model, dict) and model["source"] == "endpoint"
    # transformers serve refuses ignore_eos (HTTP 422): the probe dropped it; it takes stream_options
    environment = report["environment"]
    assert isinstance(environment, dict)
    assert environment["versions"]["extras"] == "stream_options"
    assert environment["versions"]["usage"] == "at the end"
