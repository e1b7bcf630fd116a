"""A driver call that blocks (the fake NVML's scripted ``hang``): every wait is bounded.

A slow read gives a sample stamped at the middle of the read and marked late; a call that never
returns drops the backend (reported), the run goes on; start-up, ``tpstui bench`` and
``tpstui devices`` never wait on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Collector
from tests.fakes.env import FakeGpus
from tpstui.sources.telemetry.bounded import LATE_S, TIMEOUT_ENV
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend
from tpstui.stream.events import BackendFailed, TelemetrySample

DEADLINE_S = 90.0


def test_a_slow_read_is_stamped_across_the_read_and_marked_late(
    monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    gpus = FakeGpus(monkeypatch)
    gpus.nvml("nvml_slow_read.txt", at=0.3)  # the temperature call blocks 1.5 s at t = 1.0 s
    backend, _ = open_backend("nvml", TelemetryOptions(gpus=()))
    assert backend is not None
    sampler = Sampler(backend, collector.bus, hz=20)
    sampler.start()
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not any(isinstance(e, TelemetrySample) and e.t_ns > gpus.scenario_ns(2.8) for e in collector.events):
            assert time.monotonic() < deadline, "sampling did not go on after the slow read"
            time.sleep(0.05)
    finally:
        sampler.stop(5)
    samples = [e for e in collector.events if isinstance(e, TelemetrySample)]
    late = [s for s in samples if s.late_ns > 1e9]  # (a starved machine may make others a little late)
    assert len(late) == 1, [(s.t_ns, s.late_ns) for s in samples]
    (slow,) = late
    assert 1.4e9 <= slow.late_ns < 3e9  # how long the read took
    assert gpus.scenario_ns(1.0) <= slow.t_ns - slow.late_ns // 2  # stamped from the read's start ...
    assert slow.t_ns + slow.late_ns // 2 <= gpus.scenario_ns(2.8)  # ... to its end, at the middle
    assert abs(slow.t_ns - gpus.scenario_ns(1.75)) < 0.3e9
    blocked = [s for s in samples if gpus.scenario_ns(1.1) < s.t_ns < gpus.scenario_ns(2.4) and not s.late]
    assert blocked == []  # while the call hung there was no (stale or made-up) sample
    assert not [e for e in collector.events if isinstance(e, BackendFailed)]
    assert slow.late_ns > LATE_S * 1e9 and slow.late


def _bench(model: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "bench", "--model", str(model), "--device", "cpu", "--telemetry", "nvml",
         "--gpus", "all", "--runs", "2", "--warmup", "0", "-n", "100", "--prompt-tokens", "16", "--ignore-eos",
         "--json", str(out)],
        capture_output=True, text=True, timeout=DEADLINE_S, env={**os.environ, TIMEOUT_ENV: "2"},
    )  # fmt: skip
    return result, json.loads(out.read_text()) if out.exists() else {}


@pytest.mark.parametrize(
    ("scenario", "said"),
    [
        ("nvml_hung_open.txt", "nvml did not finish opening within 2 s (a driver call hung)"),
        ("nvml_hung_read.txt", "nvml stopped answering: a driver call has not returned for 2 s"),
    ],
    ids=["hangs while opening", "hangs while sampling"],
)
def test_bench_finishes_its_runs_whatever_the_driver_does(
    scenario: str, said: str, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path
) -> None:
    FakeGpus(monkeypatch).nvml(scenario)
    result, report = _bench(tiny_model_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"telemetry: nvml: {said}" in result.stderr
    assert [r["status"] for r in report["runs"]] == ["length", "length"]
    (failure,) = report["telemetry"]["failures"]
    assert failure["device"] == "nvml" and failure["message"].startswith(said)


def test_devices_reports_a_hung_driver_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeGpus(monkeypatch).nvml("nvml_hung_open.txt")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "devices", "--json"],
        capture_output=True, text=True, timeout=DEADLINE_S, env={**os.environ, TIMEOUT_ENV: "2"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    devices = json.loads(result.stdout)
    assert devices["nvml"]["available"] is False
    assert "did not answer within 2 s" in devices["nvml"]["reason"] or "opening" in devices["nvml"]["reason"]
    assert devices["cpu"]["available"] is True  # the other backends are still listed
    assert time.monotonic() - started < DEADLINE_S


def test_a_late_sample_reads_na_in_the_app_and_is_left_out_of_the_summaries() -> None:
    from tpstui.reports.bench import build_report
    from tpstui.state.session import Session
    from tpstui.stream.events import RunFinished, RunStarted, Tokens
    from tpstui.ui.model import DeviceState
    from tpstui.ui.widgets.telemetry import _title, device_rows

    t0 = 10**12
    on_time = TelemetrySample(t0 + 100, "gpu0", {"temp_c": 60.0, "power_w": 200.0})
    late = TelemetrySample(t0 + 500, "gpu0", {"temp_c": 99.0, "power_w": 999.0}, late_ns=3_000_000_000)
    state = DeviceState("gpu0")
    state.add([on_time, late])
    assert {key: text for key, _, text, _ in device_rows(state)}["temp_c"] == "n/a"
    assert _title("gpu0", state) == "GPU0 (late reading: 3.0 s)"
    assert list(state.history.get("temp_c", [])) == [60.0]
    session = Session.from_events(
        [RunStarted(t0, 0, False, 8, 1, 4), on_time, Tokens(t0 + 200, 0, [1], 1, 1, "a"), late,
         Tokens(t0 + 600, 0, [2], 1, 1, "b"), RunFinished(t0 + 700, 0, "length", 2, 2)]
    )  # fmt: skip
    (run,) = build_report(session, {"max_new_tokens": 4, "batch_size": 1})["runs"]
    gpu = run["telemetry"]["devices"]["gpu0"]
    assert gpu["samples"] == 1 and gpu["metrics"]["temp_c"]["max"] == 60.0
