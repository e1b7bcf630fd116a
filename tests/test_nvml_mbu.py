"""MBU, bandwidth peaks, per-run energy and the GPU selection rules (pure functions, no library)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tpstui.errors import UserError
from tpstui.sources.telemetry.bandwidth import cached_cpu_bandwidth, cpu_peak_bandwidth
from tpstui.sources.telemetry.gpus import parse_gpu_list, select_gpus, visible_gpus
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend
from tpstui.state import metrics
from tpstui.state.mbu import mbu_for_run, peak_for_run
from tpstui.state.telemetry import energy_joules, summarize_run_telemetry
from tpstui.stream.events import ModelLoaded, TelemetrySample

UUIDS = ["GPU-aaaa", "GPU-bbbb", "GPU-cccc"]


def model(device: str = "cuda:0") -> ModelLoaded:
    return ModelLoaded(
        t_ns=0, name="m", source="hub", parameters=10**9, dtype="bfloat16", device=device, load_seconds=1.0,
        weight_bytes=2 * 10**9, n_layers=16, n_kv_heads=8, head_dim=64, kv_bytes_per_elem=2,
    )  # fmt: skip


def test_mbu_is_bytes_per_step_times_steps_per_second_over_the_peak() -> None:
    result = mbu_for_run(model(), 512, 256, 1, 50.0, {"gpu0": 1000.0})
    assert result is not None
    per_step = metrics.bytes_per_decode_step(2 * 10**9, 16, 8, 64, 2, 512 + 128, 1)
    assert result["bytes_per_step"] == per_step
    assert result["kv_bytes_per_step"] == metrics.kv_cache_bytes(16, 8, 64, 640, 2)
    assert result["achieved_gbs"] == pytest.approx(per_step * 50 / 1e9)
    assert result["mbu"] == pytest.approx(per_step * 50 / 1000e9)
    assert result["peak_devices"] == ["gpu0"]
    batch = mbu_for_run(model(), 512, 256, 4, 50.0, {"gpu0": 1000.0})
    assert batch is not None and batch["kv_bytes_per_step"] == pytest.approx(4 * result["kv_bytes_per_step"])
    assert mbu_for_run(model(), 512, 1, 1, None, {"gpu0": 1000.0}) is None  # no decode rate: no MBU


def test_peak_follows_where_the_model_runs() -> None:
    peaks = {"gpu0": 2000.0, "gpu1": 3000.0, "cpu": 40.0}
    assert peak_for_run(peaks, "cuda:0,cuda:1")[:1] == (2500.0,)  # a device_map: one GPU at a time
    assert peak_for_run(peaks, "cpu") == (40.0, "CPU copy probe", ["cpu"])
    assert peak_for_run({"gpu0": 2000.0}, "cpu")[0] is None  # GPU peaks say nothing about a CPU run
    assert peak_for_run({}, "cuda:0", 123.0) == (123.0, "--peak-bw", [])
    unknown = mbu_for_run(model(), 10, 10, 1, 5.0, {})
    assert unknown is not None and unknown["mbu"] is None and unknown["achieved_gbs"] > 0


def sample(t_s: float, energy: float, device: str = "gpu0", **values: float) -> TelemetrySample:
    return TelemetrySample(int(t_s * 1e9), device, {"energy_j": energy, **values})


def test_run_energy_is_interpolated_at_the_run_boundaries() -> None:
    samples = [sample(0, 0), sample(1, 100), sample(2, 200), sample(3, 300)]
    assert energy_joules(samples, int(0.5e9), int(1.5e9)) == pytest.approx(100)
    assert energy_joules(samples) == 300
    assert energy_joules(samples[:1]) is None


def test_run_summary_has_energy_per_token_throttle_split_and_mbu() -> None:
    samples = {"gpu0": [sample(t, 300 * t, bw_peak_gbs=1000.0, temp_c=60 + t) for t in range(5)]}
    arrivals = np.array([int(t * 1e9) for t in (1.0, 1.5, 2.0, 2.5, 3.0)], dtype=np.int64)
    counts = np.ones(5, dtype=np.int64)

    class Span:
        device, reason, start_ns, end_ns = "gpu0", "SwPowerCap", int(2e9), int(3e9)

    summary = summarize_run_telemetry(
        samples, [Span()], int(0.5e9), int(3e9), arrivals, counts, 5,
        model=model(), prompt_tokens=100, decode_tps=2.0,
    )  # fmt: skip
    assert summary["energy_j"] == pytest.approx(750)  # 300 W × 2.5 s
    assert summary["joules_per_token"] == pytest.approx(150) and summary["tokens_per_joule"] == pytest.approx(1 / 150)
    assert summary["throttle_s"] == {"gpu0": {"SwPowerCap": pytest.approx(1.0)}}
    assert summary["tps_throttled"] == pytest.approx(2.0) and summary["tps_unthrottled"] == pytest.approx(2.0)
    assert summary["devices"]["gpu0"]["metrics"]["temp_c"] == {"min": 61.0, "max": 63.0, "mean": 62.0}
    assert summary["mbu"]["peak_gbs"] == 1000.0 and summary["mbu"]["mbu"] == pytest.approx(
        summary["mbu"]["achieved_gbs"] / 1000
    )


def test_idle_and_configured_clock_reasons_are_not_throttling() -> None:
    arrivals = np.array([0, int(1e9), int(2e9)], dtype=np.int64)

    class Idle:
        device, reason, start_ns, end_ns = "gpu0", "GpuIdle", 0, int(2e9)

    summary = summarize_run_telemetry({}, [Idle()], 0, int(2e9), arrivals, np.ones(3, dtype=np.int64), 3)
    assert summary["throttle_s"] == {"gpu0": {"GpuIdle": 2.0}} and summary["throttled_s"] == 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [(None, [0, 1, 2]), ("2,0", [2, 0]), ("1,7,0", [1]), ("GPU-cc,GPU-aa", [2, 0]), ("GPU-", []), ("", [])],
)
def test_visible_gpus_follow_cuda_visible_devices(spec: str | None, expected: list[int]) -> None:
    env = {} if spec is None else {"CUDA_VISIBLE_DEVICES": spec}
    assert visible_gpus(UUIDS, ("CUDA_VISIBLE_DEVICES",), env) == expected


def test_rocm_visibility_variables_come_first() -> None:
    env = {"HIP_VISIBLE_DEVICES": "2", "CUDA_VISIBLE_DEVICES": "0"}
    assert select_gpus(UUIDS, None, "auto", ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"), env) == [2]


def test_gpu_list_option() -> None:
    assert parse_gpu_list(None) is None and parse_gpu_list("all") == () and parse_gpu_list("1, 0,1") == (1, 0)
    with pytest.raises(UserError, match="GPU indices"):
        parse_gpu_list("first")
    assert select_gpus(UUIDS, (), "cuda:1", env={}) == [0, 1, 2]
    assert select_gpus(UUIDS, None, "cuda:1", env={"CUDA_VISIBLE_DEVICES": "2,1"}) == [1]


def test_cpu_peak_is_probed_once_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(tmp_path))
    assert cached_cpu_bandwidth() is None
    measured = cpu_peak_bandwidth()
    assert measured > 0 and cached_cpu_bandwidth() == measured == cpu_peak_bandwidth()
    backend, _ = open_backend("cpu", TelemetryOptions(probe_cpu_bandwidth=True))
    assert backend is not None
    try:
        (reading,) = backend.sample()
        assert reading.values["bw_peak_gbs"] == measured
        assert "bw_peak_gbs" in backend.devices()[0].supported
    finally:
        backend.close()
    backend, _ = open_backend("cpu", TelemetryOptions(peak_bw_gbs=12.5))  # --peak-bw: no probe
    assert backend is not None and backend.sample()[0].values["bw_peak_gbs"] == 12.5
    backend.close()
