"""NVML telemetry in a whole session: the generation thread never calls NVML, and ``tpstui bench``
on the embedded model reports the scripted throttling of the fake GPU in its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.env import FakeGpus, nvml_caller_tids, reset_nvml_callers
from tpstui.reports.bench import build_report
from tpstui.settings import RunSettings
from tpstui.sources.generation.engine import TransformersEngine
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions


class RecordThread:
    """A logits processor: it runs on the generation thread, so it learns that thread's id."""

    def __init__(self) -> None:
        self.tids: set[int] = set()

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.tids.add(threading.get_native_id())
        time.sleep(0.02)  # a few samples per decode step
        return scores


@pytest.mark.parametrize("sampler", ["inline", "process"])
def test_no_nvml_call_on_the_generation_thread(
    monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, sampler: str
) -> None:
    library = FakeGpus(monkeypatch).nvml("nvml_steady.txt", at=1.0)
    monkeypatch.setenv("TPSTUI_SAMPLER", sampler)
    reset_nvml_callers(library)
    settings = RunSettings(
        model=str(tiny_model_dir), device="cpu", max_new_tokens=12, ignore_eos=True, runs=1, warmup=0
    )
    recorder = RecordThread()
    telemetry = TelemetryOptions(backend="nvml", sample_hz=50.0, peak_bw_gbs=10.0)
    live = LiveSession(TransformersEngine(settings, [recorder]), telemetry)
    try:
        live.open()
        engine = live.engine
        engine.request_runs(1, 0)
        assert engine.wait_idle(60)
    finally:
        live.close()
    assert live.sampler is not None and live.sampler._thread is not None
    callers = nvml_caller_tids(library)
    assert recorder.tids and not recorder.tids & callers
    if sampler == "inline":  # opening and sampling: every call on the backend's driver thread
        assert callers == {live.sampler.driver.driver_thread_id}
    else:
        assert callers == set()  # every NVML call happened in the sampler process
    report = build_report(live.session, settings.as_dict())
    (run,) = report["runs"]
    assert run["telemetry"]["devices"]["gpu0"]["samples"] >= 3
    assert run["telemetry"]["devices"]["gpu0"]["metrics"]["temp_c"]["mean"] == 55
    mbu = run["telemetry"]["mbu"]
    assert mbu["peak_source"] == "--peak-bw" and mbu["peak_gbs"] == 10.0
    assert mbu["mbu"] == pytest.approx(mbu["achieved_gbs"] / 10.0)
    assert mbu["achieved_gbs"] == pytest.approx(mbu["bytes_per_step"] * run["metrics"]["output_tps"] / 1e9)


@pytest.mark.slow
def test_bench_reports_the_throttle_spans_of_the_fake_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    FakeGpus(monkeypatch).nvml("nvml_throttle_cycle.txt")  # thermal slowdown half of every second
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "bench", "-n", "24", "--runs", "1", "--warmup", "0", "--ignore-eos",
         "--telemetry", "nvml", "--sample-hz", "20", "--peak-bw", "25", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gpu0 throttled" in result.stdout and "HwThermalSlowdown" in result.stdout
    report = json.loads(out.read_text())
    assert report["settings"]["telemetry"] == "nvml" and report["settings"]["peak_bw_gbs"] == 25
    spans = report["telemetry"]["throttle_spans"]
    assert {s["reason"] for s in spans} == {"SwThermalSlowdown", "HwThermalSlowdown"}
    assert all(s["device"] == "gpu0" for s in spans)
    thermal = sorted(s["start_ns"] for s in spans if s["reason"] == "HwThermalSlowdown")
    assert len(thermal) >= 2  # it turned on, off and on again
    (run,) = report["runs"]
    telemetry = run["telemetry"]
    assert telemetry["throttle_s"]["gpu0"]["HwThermalSlowdown"] > 0
    assert telemetry["throttled_s"] > 0
    metrics = telemetry["devices"]["gpu0"]["metrics"]
    assert metrics["sm_clock_mhz"]["min"] < 1980 <= metrics["sm_clock_mhz"]["max"]
    assert metrics["temp_c"]["max"] <= metrics["temp_slowdown_c"]["max"] == 89
    assert telemetry["energy_j"] > 0 and telemetry["joules_per_token"] > 0
    assert telemetry["tokens_per_joule"] == pytest.approx(1 / telemetry["joules_per_token"])
    assert telemetry["mbu"]["mbu"] == pytest.approx(telemetry["mbu"]["achieved_gbs"] / 25)
    assert report["aggregate"]["mbu"]["n"] == 1
