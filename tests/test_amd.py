"""The AMD SMI backend through the real ``amdsmi`` package, against a fake libamd_smi.so built from C.

The wrapper binds every symbol at import; the build generates a stub for each one the fake does
not implement (tests/fakes/build.py), and takes the structure layouts from the wrapper itself.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Collector
from tests.fakes.build import amdsmi_symbols, amdsmi_wrapper_path
from tests.fakes.env import FakeGpus
from tpstui.sources.telemetry.amd import AmdBackend, AmdReader
from tpstui.sources.telemetry.amd_device import decode_indep_throttle
from tpstui.sources.telemetry.base import BackendUnavailable
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.stream.events import BackendFailed, TelemetrySample, ThrottleChanged


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> FakeGpus:
    for name in ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCM_PATH", "ROCM_HOME"):
        monkeypatch.delenv(name, raising=False)
    return FakeGpus(monkeypatch)


def sample_until(backend: AmdBackend, collector: Collector, hz: float, done: object, timeout: float = 10.0) -> None:
    sampler = Sampler(backend, collector.bus, hz)
    sampler.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(collector.events):  # type: ignore[operator]
            time.sleep(0.02)
    finally:
        sampler.stop()


def test_the_fake_exports_every_symbol_the_wrapper_binds(gpus: FakeGpus) -> None:
    library = ctypes.CDLL(str(gpus.amd("amd_thermal.txt")))
    symbols = amdsmi_symbols(amdsmi_wrapper_path())
    assert len(symbols) > 100
    assert [s for s in symbols if not hasattr(library, s)] == []


def test_mi300_reads_metrics_bandwidth_and_violation_reasons(gpus: FakeGpus) -> None:
    gpus.amd("amd_thermal.txt", at=2.0)  # hotspot at 105 °C, SOCKET_THERMAL since 1.5 s
    backend = AmdBackend(isolate=False)
    try:
        (info,) = backend.devices()
        (reading,) = backend.sample()
        read_by = (time.perf_counter_ns() - gpus.scenario_ns(2.0)) / 1e9  # scenario seconds past 2.0
    finally:
        backend.close()
    assert info.name == "AMD Instinct MI300X" and info.backend == "amd"
    assert info.details["AMD SMI library"] == "25.1.0" and info.details["amdsmi (Python)"]
    assert info.details["driver"] == "amdgpu 6.10.5" and info.details["pci bus"] == "0000:0c:00.0"
    assert info.details["throttle reasons"] == "violation status"
    v = reading.values
    assert reading.reasons == ["SOCKET_THERMAL"]
    assert v["temp_hotspot_c"] == 105 and v["temp_c"] == 105  # no edge sensor on MI300: the hotspot
    assert v["temp_mem_c"] == 80 and v["temp_slowdown_c"] == 100 and v["temp_shutdown_c"] == 110
    assert v["temp_mem_max_c"] == 95 and v["temp_hotspot_max_c"] == 100  # the hotspot's own critical limit
    assert (v["sm_clock_mhz"], v["sm_clock_max_mhz"], v["mem_clock_mhz"], v["mem_clock_max_mhz"]) == (
        1500,
        2100,
        1300,
        1300,
    )
    assert v["power_w"] == 560 and v["power_limit_w"] == 750  # the cap comes in µW
    # bandwidth: umc_activity × vram_max_bandwidth
    assert v["bw_util_pct"] == 48 and v["bw_peak_gbs"] == 5300 and v["bw_gbs"] == pytest.approx(0.48 * 5300)
    assert (v["util_pct"], v["mem_used_mb"], v["mem_total_mb"]) == (99, 9000, 196592)
    # energy: 20 kJ at the start, then power integrated (600 → 560 W over 2 s); counts × 15.259 µJ
    assert 20000 + 1160 - 0.1 <= v["energy_j"] <= 20000 + 1160 + 560 * read_by + 0.1
    assert "temp_c" in info.supported and "reasons" in info.supported


def test_radeon_decodes_the_gpu_metrics_throttle_bits(gpus: FakeGpus) -> None:
    gpus.amd("amd_navi.txt", at=1.5)  # no violation status (MI300+ only); PPT0 since 1.0 s
    backend = AmdBackend(isolate=False)
    try:
        (info,) = backend.devices()
        (reading,) = backend.sample()
    finally:
        backend.close()
    assert reading.reasons == ["PPT0"]
    assert info.details["throttle reasons"] == "gpu_metrics bits"
    assert reading.values["temp_c"] == 55 and reading.values["temp_hotspot_c"] == 70  # edge is the core temp
    assert reading.values["temp_slowdown_c"] == 100  # the edge sensor's critical limit
    assert "energy_j" not in reading.values and "energy_j" not in info.supported  # not supported: n/a


def test_indep_throttle_bit_names() -> None:
    assert decode_indep_throttle(0) == []
    assert decode_indep_throttle(1 << 36 | 1) == ["PPT0", "TEMP_HOTSPOT"]
    assert decode_indep_throttle(1 << 62) == ["BIT62"]
    assert decode_indep_throttle(0xFFFFFFFFFFFFFFFF) == []  # "not reported"


def test_throttle_span_in_a_separate_sampler_process(gpus: FakeGpus, collector: Collector) -> None:
    """With torch in the process amdsmi may see no GPU, so it can sample in a child process."""
    gpus.amd("amd_thermal.txt", at=0.9)
    onset_ns = gpus.scenario_ns(1.5)
    backend = AmdBackend(isolate=True)
    assert backend.isolated
    sample_until(backend, collector, 20, lambda ev: any(isinstance(e, ThrottleChanged) for e in ev))
    (change,) = [e for e in collector.events if isinstance(e, ThrottleChanged)]
    assert (change.device, change.reason, change.active) == ("gpu0", "SOCKET_THERMAL", True)
    samples = [e for e in collector.events if isinstance(e, TelemetrySample)]
    first = next(i for i, s in enumerate(samples) if s.reasons)
    before, at = samples[first - 1], samples[first]
    assert change.t_ns == at.t_ns
    # within one sample period, give or take a round trip through the pipe (well under 100 ms)
    slack = 100_000_000
    assert before.t_ns < onset_ns + slack and onset_ns <= at.t_ns + slack
    assert at.t_ns - onset_ns <= at.t_ns - before.t_ns + slack
    assert samples[0].values["bw_peak_gbs"] == 5300


def test_inline_or_separate_process_by_whether_torch_is_loaded(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus.amd("amd_thermal.txt", at=1.0)
    monkeypatch.delenv("TPSTUI_SAMPLER")
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    inline = AmdBackend()
    inline_reading = inline.sample()[0]
    inline.close()
    monkeypatch.setitem(sys.modules, "torch", sys.modules[__name__])  # as if torch had been imported
    isolated = AmdBackend()
    isolated_reading = isolated.sample()[0]
    isolated.close()
    assert not inline.isolated and isolated.isolated
    assert set(isolated_reading.values) == set(inline_reading.values)
    assert isolated_reading.values["bw_peak_gbs"] == inline_reading.values["bw_peak_gbs"]


def test_a_lost_gpu_is_reported_once_and_the_other_goes_on(gpus: FakeGpus, collector: Collector) -> None:
    gpus.amd("amd_lost.txt", at=0.5)  # gpu1 goes at 0.8 s
    backend = AmdBackend(isolate=False)

    def enough(events: list[object]) -> bool:
        failed = [i for i, e in enumerate(events) if isinstance(e, BackendFailed)]
        return bool(failed) and sum(isinstance(e, TelemetrySample) for e in events[failed[0] :]) >= 4

    sample_until(backend, collector, 20, enough)
    (failure,) = [e for e in collector.events if isinstance(e, BackendFailed)]
    assert failure.device == "gpu1" and "AMDSMI_STATUS_FILE_ERROR" in failure.message
    after = {e.device for e in collector.events if isinstance(e, TelemetrySample) and e.t_ns > failure.t_ns}
    assert after == {"gpu0"}


def test_permission_errors_name_the_render_and_video_groups(gpus: FakeGpus, tmp_path: Path) -> None:
    scenario = tmp_path / "no_permission.txt"
    scenario.write_text("system init_error=10\n")  # AMDSMI_STATUS_NO_PERM
    gpus.amd(scenario)
    with pytest.raises(BackendUnavailable, match="render and video groups"):
        AmdReader()


def test_no_gpu_and_no_driver(gpus: FakeGpus, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus.amd(None)
    with pytest.raises(BackendUnavailable, match="found no AMD GPU"):
        AmdReader()
    monkeypatch.delenv("TPSTUI_AMDSMI_LIBRARY")
    if not os.path.exists("/dev/kfd"):
        with pytest.raises(BackendUnavailable, match="/dev/kfd does not exist"):
            AmdBackend()


def test_unimplemented_calls_report_not_supported_through_the_real_binding(gpus: FakeGpus) -> None:
    gpus.amd("amd_thermal.txt")
    reader = AmdReader()
    try:
        import amdsmi

        handle = amdsmi.amdsmi_get_processor_handles()[0]
        with pytest.raises(amdsmi.AmdSmiLibraryException) as error:
            amdsmi.amdsmi_get_gpu_vbios_info(handle)  # a generated stub
        assert error.value.err_code == 2  # AMDSMI_STATUS_NOT_SUPPORTED
    finally:
        reader.close()
