"""The NVML backend through the real nvidia-ml-py, against a fake libnvidia-ml.so.1 built from C.

Each scenario file (tests/fakes/scenarios) scripts a device over time; ``at=`` positions the
scenario's clock, so most tests read a known moment without sleeping.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Collector
from tests.fakes.env import FakeGpus
from tpstui.errors import UserError
from tpstui.sources.telemetry.base import BackendUnavailable
from tpstui.sources.telemetry.nvml import CLOCK_EVENT_REASONS, NvmlBackend, decode_reasons, peak_bandwidth_gbs
from tpstui.sources.telemetry.process import ProcessBackend
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend
from tpstui.stream.events import BackendFailed, TelemetrySample, ThrottleChanged
from tpstui.stream.fields import REASONS, field, reason_description

THERMAL = {"HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown"}


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> FakeGpus:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("TPSTUI_SAMPLER", raising=False)
    return FakeGpus(monkeypatch)


def run_sampler(backend: NvmlBackend, collector: Collector, hz: float, until: object, timeout: float = 10.0) -> None:
    """Sample on the sampler's own thread until ``until(events)`` holds (or the timeout)."""
    sampler = Sampler(backend, collector.bus, hz)
    sampler.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(collector.events):  # type: ignore[operator]
            time.sleep(0.02)
    finally:
        sampler.stop()


def samples_of(collector: Collector, device: str) -> list[TelemetrySample]:
    return [e for e in collector.events if isinstance(e, TelemetrySample) and e.device == device]


def test_steady_device_reads_every_metric(gpus: FakeGpus) -> None:
    gpus.nvml("nvml_steady.txt", at=5.0)
    backend = NvmlBackend()
    try:
        (info,) = backend.devices()
        first = backend.sample()[0]
        read_by = (time.perf_counter_ns() - gpus.scenario_ns(5.0)) / 1e9
        time.sleep(0.15)  # GPM bandwidth needs two samples at least 100 ms apart
        second = backend.sample()[0]
    finally:
        backend.close()
    assert info.device == "gpu0" and info.name == "NVIDIA H100 80GB HBM3" and info.backend == "nvml"
    assert info.details["driver"] == "550.54.15" and info.details["NVML"] == "12.550.54.15"
    assert info.details["CUDA driver API"] == "12.4" and info.details["nvidia-ml-py"]
    assert info.details["GPM (DRAM bandwidth)"] == "yes"
    assert "HwThermalSlowdown" in info.details["throttle reasons"]
    v = first.values
    assert first.error is None and first.reasons == []
    assert (v["temp_c"], v["temp_hotspot_c"], v["temp_mem_c"]) == (55, 63, 60)
    assert (v["temp_slowdown_c"], v["temp_shutdown_c"], v["temp_mem_max_c"]) == (89, 92, 95)
    assert (v["sm_clock_mhz"], v["sm_clock_max_mhz"], v["mem_clock_mhz"], v["mem_clock_max_mhz"]) == (
        1980,
        1980,
        2619,
        2619,
    )
    assert v["power_w"] == pytest.approx(350) and v["power_limit_w"] == 700
    assert (v["util_pct"], v["mem_used_mb"], v["mem_total_mb"]) == (97, 2100, 81559)
    # energy counter: 5000 J at the scenario's start plus 350 W for 5 s
    assert 5000 + 350 * 5 - 0.1 <= v["energy_j"] <= 5000 + 350 * (5 + read_by) + 0.1
    # peak bandwidth from bus width × max memory clock; H100 SXM: 3352 GB/s
    assert v["bw_peak_gbs"] == pytest.approx(peak_bandwidth_gbs(2619, 5120)) == pytest.approx(3352.32)
    # utilization.memory is the memory controller's busy time, never called bandwidth ...
    assert v["mem_busy_pct"] == 58 and field("mem_busy_pct").label == "memory controller busy"
    # ... the bandwidth comes from GPM DRAM_BW_UTIL (% of peak), once two GPM samples exist
    assert "bw_util_pct" not in v
    assert second.values["bw_util_pct"] == pytest.approx(72)
    assert second.values["bw_gbs"] == pytest.approx(0.72 * 3352.32)
    assert set(info.supported) >= set(second.values) - {"bw_util_pct", "bw_gbs"}
    assert {"bw_util_pct", "bw_gbs", "reasons"} <= set(info.supported)


def test_thermal_ramp_throttle_span_starts_at_the_first_sample_after_onset(
    gpus: FakeGpus, collector: Collector
) -> None:
    gpus.nvml("nvml_thermal_ramp.txt", at=0.9)  # the scripted onset is 0.6 s from now
    onset_ns = gpus.scenario_ns(1.5)
    backend = NvmlBackend()
    run_sampler(backend, collector, 20, lambda ev: sum(isinstance(e, ThrottleChanged) for e in ev) >= 3)
    changes = [e for e in collector.events if isinstance(e, ThrottleChanged)]
    assert {c.reason for c in changes} == THERMAL and all(c.active and c.device == "gpu0" for c in changes)
    samples = samples_of(collector, "gpu0")
    first = next(i for i, s in enumerate(samples) if s.reasons)
    assert set(samples[first].reasons) == THERMAL and first > 0
    before, at = samples[first - 1], samples[first]
    assert all(c.t_ns == at.t_ns for c in changes)  # the change is stamped with the sample that saw it
    # the sample before did not see it and was taken before the onset, the one that saw it after
    # (a sample is stamped at the middle of its read, which takes well under 20 ms even on a
    # busy machine): the span starts within one sample period of the scripted onset
    slack = 20_000_000
    assert before.t_ns < onset_ns + slack and onset_ns <= at.t_ns + slack
    assert at.t_ns - onset_ns <= at.t_ns - before.t_ns + slack
    # the ramp: temperature climbs while the SM clock starts to fall at the onset
    temps = [s.values["temp_c"] for s in samples]
    assert temps == sorted(temps) and temps[0] >= 60 and temps[-1] <= 90
    assert samples[0].values["sm_clock_mhz"] == 1980
    spans = collector.session.throttle_spans()
    assert {s.reason for s in spans} == THERMAL and all(s.start_ns == at.t_ns for s in spans)


def test_power_cap_reason_violation_time_and_clock(gpus: FakeGpus) -> None:
    gpus.nvml("nvml_power_cap.txt", at=2.0)  # SwPowerCap since 1.0 s, clock down since 1.5 s
    backend = NvmlBackend()
    try:
        (reading,) = backend.sample()
        (info,) = backend.devices()
    finally:
        backend.close()
    v = reading.values
    assert reading.reasons == ["SwPowerCap"]
    assert v["power_w"] == pytest.approx(299) and v["power_limit_w"] == 300
    assert v["sm_clock_mhz"] == 1650 < v["sm_clock_max_mhz"]
    assert v["violation_power_s"] == pytest.approx(1.0, abs=0.1) and v["violation_thermal_s"] == 0
    assert v["bw_peak_gbs"] == pytest.approx(300.05, abs=0.01)  # L4: 2 × 6251 MHz × 192 bit
    assert "bw_util_pct" not in v and "bw_util_pct" not in info.supported  # no GPM before Hopper
    assert info.details["GPM (DRAM bandwidth)"] == "no"


def test_a_lost_gpu_is_reported_once_and_the_others_go_on(gpus: FakeGpus, collector: Collector) -> None:
    gpus.nvml("nvml_lost.txt", at=0.7)  # gpu1 is lost 0.3 s from now
    backend = NvmlBackend()

    def enough(events: list[object]) -> bool:
        failed = [i for i, e in enumerate(events) if isinstance(e, BackendFailed)]
        later = failed and [e for e in events[failed[0] :] if isinstance(e, TelemetrySample)]
        return bool(later) and len(later) >= 4

    run_sampler(backend, collector, 20, enough)
    failures = [e for e in collector.events if isinstance(e, BackendFailed)]
    assert len(failures) == 1
    assert failures[0].device == "gpu1" and "GPU is lost" in failures[0].message
    assert collector.session.failures == failures
    after = [e for e in collector.events if isinstance(e, TelemetrySample) and e.t_ns > failures[0].t_ns]
    assert after and {e.device for e in after} == {"gpu0"}  # gpu0 goes on, gpu1 is not read again
    assert samples_of(collector, "gpu1")  # it was sampled until it was lost
    assert failures[0].t_ns >= gpus.scenario_ns(1.0) - 20_000_000  # not before the scripted loss


def test_two_gpus_each_with_its_own_reasons(gpus: FakeGpus) -> None:
    gpus.nvml("nvml_two_gpus.txt", at=1.0)
    backend = NvmlBackend()
    try:
        readings = {r.device: r for r in backend.sample()}
    finally:
        backend.close()
    assert set(readings) == {"gpu0", "gpu1"}
    assert readings["gpu0"].reasons == [] and readings["gpu1"].reasons == ["SwPowerCap"]
    assert readings["gpu0"].values["power_limit_w"] == 400 and readings["gpu1"].values["power_limit_w"] == 250


@pytest.mark.parametrize(
    ("visible", "device", "requested", "expected"),
    [
        (None, "auto", None, ["gpu0", "gpu1"]),  # accelerate's device_map uses every visible GPU
        ("1", "auto", None, ["gpu1"]),
        ("GPU-a1000001", "cuda:0", None, ["gpu1"]),  # cuda:0 is the first visible one, named by UUID
        ("1,0", "cuda:1", None, ["gpu0"]),
        (None, "cuda:1", None, ["gpu1"]),
        ("1", "auto", (0,), ["gpu0"]),  # --gpus overrides
        (None, "cpu", (), ["gpu0", "gpu1"]),  # --gpus all
    ],
)
def test_gpus_of_the_run(
    gpus: FakeGpus,
    monkeypatch: pytest.MonkeyPatch,
    visible: str | None,
    device: str,
    requested: tuple[int, ...] | None,
    expected: list[str],
) -> None:
    gpus.nvml("nvml_two_gpus.txt")
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    backend = NvmlBackend(requested, device)
    try:
        assert [d.device for d in backend.devices()] == expected
    finally:
        backend.close()


def test_unknown_gpu_index_is_a_user_error(gpus: FakeGpus) -> None:
    gpus.nvml("nvml_two_gpus.txt")
    with pytest.raises(UserError, match="no GPU 5; this machine has 2"):
        open_backend("nvml", TelemetryOptions(gpus=(5,)))


def test_unsupported_metrics_are_absent_and_the_rest_goes_on(gpus: FakeGpus, tmp_path: Path) -> None:
    text = (Path(__file__).parent / "fakes" / "scenarios" / "nvml_steady.txt").read_text()
    scenario = tmp_path / "consumer.txt"
    scenario.write_text(text.replace("gpm=1", "gpm=1 unsupported=hotspot,mem_temp,energy,gpm,violation,power_fields"))
    gpus.nvml(scenario, at=1.0)
    backend = NvmlBackend()
    try:
        (info,) = backend.devices()
        (reading,) = backend.sample()
    finally:
        backend.close()
    missing = {"temp_hotspot_c", "temp_mem_c", "energy_j", "bw_util_pct", "bw_gbs", "violation_power_s"}
    assert not missing & set(reading.values) and not missing & set(info.supported)
    assert reading.values["temp_c"] == 55 and reading.values["sm_clock_mhz"] == 1980
    assert reading.values["power_w"] == pytest.approx(350)  # power fields unsupported: nvmlDeviceGetPowerUsage


def test_no_driver_falls_through_in_auto_and_is_an_error_when_asked_for(gpus: FakeGpus) -> None:
    gpus.nvml(None)
    with pytest.raises(BackendUnavailable, match="NVIDIA driver is not loaded"):
        NvmlBackend()
    with pytest.raises(UserError, match="--telemetry nvml: the NVIDIA driver is not loaded"):
        open_backend("nvml")
    backend, notes = open_backend("auto")
    assert backend is not None and backend.name == "cpu"
    assert any(note.startswith("nvml: the NVIDIA driver is not loaded") for note in notes)
    backend.close()


def test_auto_skips_gpu_backends_for_a_cpu_run(gpus: FakeGpus) -> None:
    gpus.nvml("nvml_steady.txt")
    backend, notes = open_backend("auto", TelemetryOptions(device="cpu"))
    assert backend is not None and backend.name == "cpu"
    assert notes[0].startswith("nvml: skipped, the model runs on cpu")
    backend.close()
    backend, _ = open_backend("auto", TelemetryOptions(device="auto"))
    assert backend is not None and backend.name == "nvml"
    backend.close()


def test_decoded_reason_names() -> None:
    assert decode_reasons(0) == []
    assert decode_reasons(0x68) == ["HwSlowdown", "SwThermalSlowdown", "HwThermalSlowdown"]
    assert decode_reasons(0x1 | 0x4 | 0x200 | 0x400) == ["GpuIdle", "SwPowerCap", "BoardLimit", "Reliability"]
    assert decode_reasons(0x800) == ["Reason0x800"]
    for name in CLOCK_EVENT_REASONS.values():  # every name has an explanation for the UI
        assert REASONS[name] and reason_description(name) == REASONS[name]
    assert reason_description("TEMP_HOTSPOT") == "temperature limit (TEMP_HOTSPOT)"


OLD_DRIVER_PROBE = """
import json, time, pynvml
from tpstui.sources.telemetry.nvml import NvmlBackend
backend = NvmlBackend()
info = backend.devices()[0]
reading = backend.sample()[0]
handle = pynvml.nvmlDeviceGetHandleByIndex(0)
missing = []
for name in ("nvmlDeviceGetTemperatureV", "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetMemoryBusWidth"):
    try:
        getattr(pynvml, name)(handle, 0) if name == "nvmlDeviceGetTemperatureV" else getattr(pynvml, name)(handle)
    except pynvml.NVMLError_FunctionNotFound:
        missing.append(name)
backend.close()
print(json.dumps({"values": reading.values, "reasons": reading.reasons, "supported": info.supported,
                  "details": info.details, "missing": missing}))
"""


def test_old_driver_without_newer_symbols(gpus: FakeGpus) -> None:
    """An R470 driver: FunctionNotFound for the newer API; tpstui falls back or reads n/a."""
    gpus.nvml("nvml_old_driver.txt", at=1.5, old_driver=True)
    # pynvml keeps the first libnvidia-ml.so.1 it loaded, so the old library runs in its own process
    result = subprocess.run([sys.executable, "-c", OLD_DRIVER_PROBE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["missing"] == [
        "nvmlDeviceGetTemperatureV",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetMemoryBusWidth",
    ]
    values = out["values"]
    assert values["temp_c"] == 66  # the deprecated nvmlDeviceGetTemperature
    assert out["reasons"] == ["SwPowerCap"]  # the deprecated nvmlDeviceGetCurrentClocksThrottleReasons
    assert values["mem_used_mb"] == 5000  # nvmlDeviceGetMemoryInfo v1
    assert out["details"]["driver"] == "470.256.02"
    for key in ("temp_hotspot_c", "temp_mem_c", "energy_j", "bw_peak_gbs", "bw_util_pct"):
        assert key not in values and key not in out["supported"]
    assert values["power_w"] == pytest.approx(320) and values["sm_clock_mhz"] == 1950


def test_sampling_from_a_child_process_reads_the_same(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    """``TPSTUI_SAMPLER=process``: NVML opened and read in a child; the same readings come back."""
    gpus.nvml("nvml_power_cap.txt", at=2.0)
    monkeypatch.setenv("TPSTUI_SAMPLER", "process")
    backend, _ = open_backend("nvml")
    assert backend is not None and isinstance(backend.inner, ProcessBackend)
    try:
        (info,) = backend.devices()
        (reading,) = backend.sample()
    finally:
        backend.close()
    assert info.name == "NVIDIA L4" and info.details["driver"] == "550.54.15"
    assert reading.reasons == ["SwPowerCap"] and reading.values["power_limit_w"] == 300
    assert reading.values["sm_clock_mhz"] == 1650
    gpus.nvml(None)
    with pytest.raises(UserError, match="the NVIDIA driver is not loaded"):
        open_backend("nvml")
    gpus.nvml("nvml_power_cap.txt")
    with pytest.raises(UserError, match="no GPU 3"):
        open_backend("nvml", TelemetryOptions(gpus=(3,)))
