"""``tpstui bench --endpoint`` on the command line: bad input, errors during the session, goodput, the recording."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.endpoint_servers import FakeServer, fake_sse, free_port
from tpstui.cli import main
from tpstui.reports.bench import build_report
from tpstui.sources.endpoint.engine import EndpointEngine
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.state.session import Session
from tpstui.stream.recording import read_recording

__all__ = ["fake_sse"]


def _bench(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["bench", "--telemetry", "none", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--request-rate", "-1"], "--request-rate must be above 0"),
        (["--burstiness", "0"], "--burstiness must be above 0"),
        (["--num-requests", "0"], "--num-requests must be at least 1"),
        (["--goodput", "ttft"], "--goodput takes KEY:MS"),
        (["--goodput", "ttft:fast"], "is not a number of milliseconds"),
        (["--batch-size", "2"], "--batch-size does not apply to --endpoint (use --concurrency)"),
        (["--model", "x"], "--model does not apply to --endpoint"),
        (["--same-process"], "--same-process does not apply to --endpoint"),
        (["--range-ratio", "1.5"], "--range-ratio must be in [0, 1)"),
    ],
)
def test_bad_endpoint_options_are_one_line(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    code, _, err = _bench(capsys, "--endpoint", "http://127.0.0.1:9/v1", *arguments)
    assert code == 2
    assert err.count("\n") == 1 and message in err, err


def test_endpoint_options_need_an_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _bench(capsys, "--concurrency", "4")
    assert (code, err) == (2, "tpstui: error: --concurrency needs --endpoint URL.\n")


def test_a_url_that_is_not_a_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _bench(capsys, "--endpoint", "localhost:8000")
    assert code == 2 and "must be an http:// or https:// URL" in err


def test_unreachable_server_before_the_session(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    record = tmp_path / "r.jsonl.zst"
    code, _, err = _bench(capsys, "--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--quiet",
                          "--record", str(record))  # fmt: skip
    assert code == 2
    assert err.startswith("tpstui: error: cannot reach http://127.0.0.1:") and err.count("\n") == 1
    recording = read_recording(record)  # what happened is recorded: the session and the failed load
    assert [type(e).__name__ for e in recording.events][-2:] == ["RunFailed", "SessionEnded"]


def test_errors_during_the_session_are_counted_by_kind(
    fake_sse: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "b.json"
    code, table, err = _bench(capsys, "--endpoint", fake_sse.url("status500-ok2"), "--num-requests", "3",
                              "--json", str(out))  # fmt: skip
    assert code == 1  # one warm-up streamed; the three measured requests got HTTP 500
    assert "3 request(s) failed: HTTP 500" in err
    report = json.loads(out.read_text())
    assert (report["completed"], report["failed"]) == (0, 3)
    assert report["serving"]["errors_by_kind"] == {"http_500": 3}
    assert "errors by kind: http_500 3" in table


def test_goodput_and_the_vllm_fields(fake_sse: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    code, table, _ = _bench(capsys, "--endpoint", fake_sse.url("steady-gap3-n10-k2"), "--num-requests", "4",
                            "-c", "2", "--goodput", "ttft:10000", "e2el:1", "--json", str(out))  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    for name in ("date", "backend", "model_id", "num_prompts", "request_rate", "burstiness", "max_concurrency",
                 "duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
                 "request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
                 "max_output_tokens_per_s", "max_concurrent_requests", "input_lens", "output_lens", "ttfts",
                 "itls", "start_times", "generated_texts", "errors"):  # fmt: skip
        assert name in report, name
    for metric in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "std", "p99"):
            assert isinstance(report[f"{stat}_{metric}_ms"], float)
    assert report["backend"] == "openai-chat" and report["model_id"] == "fake-model"
    assert report["completed"] == 4 and report["total_output_tokens"] == 80
    assert report["request_goodput"] == 0.0  # nobody finishes a 10-chunk stream within 1 ms
    assert report["output_throughput"] == pytest.approx(80 / report["duration"])
    counts = report["runs"][1]["token_counts"]  # tpstui's own fields are all still there: two tokens a
    assert sum(counts) == 20 and all(c % 2 == 0 for c in counts)  # chunk, two chunks if read together
    assert "Request goodput (req/s):" in table and "of which 40 carried more than one token" in table


def test_a_server_that_dies_mid_session_keeps_the_recording(tmp_path: Path) -> None:
    server = FakeServer()
    record = tmp_path / "dies.jsonl.zst"
    settings = EndpointSettings(url=server.url("steady-gap20-n500"), num_requests=4, concurrency=2,
                                warmup_requests=0, timeout_s=5)  # fmt: skip
    live = LiveSession(EndpointEngine(settings), TelemetryOptions(backend="none"), record=record)
    try:
        live.open()
        live.request_planned_runs()
        deadline = time.monotonic() + 10
        while live.session.total_tokens < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        threading.Thread(target=server.process.kill).start()
        assert live.engine.wait_idle(10)
    finally:
        live.close()
        server.stop()
    views = live.session.runs()
    assert all(v.error_kind in ("disconnect", "connect") for v in views), [v.error_kind for v in views]
    delivered = live.session.total_tokens
    assert delivered >= 10
    replayed = Session.from_events(read_recording(record).events)
    assert replayed.total_tokens == delivered
    report = build_report(replayed, replayed.started.settings if replayed.started else {})
    assert report["failed"] == len(views) and report["completed"] == 0


def test_replay_and_export_of_an_endpoint_recording(
    fake_sse: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    record, out = tmp_path / "e.jsonl.zst", tmp_path / "e.json"
    code, _, _ = _bench(capsys, "--endpoint", fake_sse.url("steady-gap2-n8"), "--num-requests", "3", "-c", "3",
                            "--record", str(record), "--quiet")  # fmt: skip
    assert code == 0
    assert main(["replay", str(record), "--summary"]) == 0
    summary = capsys.readouterr().out
    assert "Serving Benchmark Result" in summary
    assert summary.split("Successful requests:")[1].split()[0] == "3"
    assert "diagnosis (README: Diagnosis):" in summary and "verdict: no throttling" in summary
    assert main(["export", str(record), "--json", str(out)]) == 0
    exported = json.loads(out.read_text())
    assert exported["completed"] == 3 and exported["max_concurrency"] == 3
    # every token of the three requests and the warm-up (a loaded machine may read two chunks at once)
    assert sum(row["n"] for row in exported["tokens"]) == 3 * 8 + 8
