"""One NVIDIA GPU read through pynvml: static facts, and one reader per metric.

A reader that raises NotSupported or FunctionNotFound (an old driver lacks the symbol) is
dropped and its keys read "n/a"; the other readers go on. A "device is gone" code (GPU lost,
reset required...) turns the device into one ``Reading(error=...)``, and it is not called again.
Deprecated calls are used only where the newer one is missing (old drivers).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

from tpstui.sources.telemetry.base import DeviceInfo, Reading

__all__ = [
    "CLOCK_EVENT_REASONS",
    "LOST",
    "UNSUPPORTED",
    "NvmlGpu",
    "decode_reasons",
    "driver_text",
    "peak_bandwidth_gbs",
]

MIB = 1024 * 1024
GPM_MIN_INTERVAL_S = 0.1
"""GPM metrics are averages between two samples; shorter windows are noisy, so reuse the last."""

CLOCK_EVENT_REASONS: dict[int, str] = {
    0x1: "GpuIdle",
    0x2: "ApplicationsClocksSetting",
    0x4: "SwPowerCap",
    0x8: "HwSlowdown",
    0x10: "SyncBoost",
    0x20: "SwThermalSlowdown",
    0x40: "HwThermalSlowdown",
    0x80: "HwPowerBrakeSlowdown",
    0x100: "DisplayClockSetting",
    0x200: "BoardLimit",
    0x400: "Reliability",
}
"""nvmlClocksEventReason* bits (nvml.h) → the names tpstui shows."""

# NVML return codes (nvml.h); pynvml exposes the same numbers as NVML_ERROR_*.
UNSUPPORTED = {2, 3, 4, 13, 25, 26}  # invalid argument, not supported, no permission, function not found,
# argument version mismatch, deprecated: this metric is n/a on this device, for good
LOST = {1, 9, 15, 16, 18, 28}  # uninitialised, driver not loaded, GPU lost, reset required, RM mismatch,
# GPU not found: the device is gone; anything else is transient (timeout, no data...) and retried


def driver_text(getter: Callable[..., Any], *args: Any) -> str:
    """A string the driver returns (a name, a UUID, a version). pynvml decodes it as UTF-8 and
    raises on other bytes; those are kept here, each unreadable byte shown as U+FFFD."""
    try:
        value = getter(*args)
    except UnicodeDecodeError as error:
        return bytes(error.object).split(b"\0")[0].decode("utf-8", "replace")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def decode_reasons(mask: int) -> list[str]:
    """Clock-event (throttle) reason names of a bit mask; unknown bits as "Reason0x800"."""
    return list(_decode(mask))


@functools.lru_cache(maxsize=256)
def _decode(mask: int) -> tuple[str, ...]:
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    names += [f"Reason{1 << b:#x}" for b in range(64) if unknown >> b & 1]
    return tuple(names)


def peak_bandwidth_gbs(max_memory_clock_mhz: float, bus_width_bits: float) -> float:
    """Theoretical DRAM bandwidth: 2 transfers per clock × max memory clock × bus width (GB/s).

    H100 SXM: 2 × 2619 MHz × 5120 bit / 8 = 3352 GB/s; RTX 4090: 2 × 10501 × 384 / 8 = 1008 GB/s.
    """
    return 2.0 * max_memory_clock_mhz * bus_width_bits / 8.0 / 1000.0


class NvmlGpu:
    """One GPU: its handle, static facts, and the readers that answered at start-up."""

    def __init__(self, nv: Any, index: int, handle: Any) -> None:
        self.nv = nv
        self.index = index
        self.handle = handle
        self.device = f"gpu{index}"
        self.name = ""
        self.static: dict[str, float] = {}
        self.details: dict[str, str] = {}
        self.supported: set[str] = set()
        self.error: str | None = None
        self._temperature_v = hasattr(nv, "nvmlDeviceGetTemperatureV")
        self._event_reasons = True
        self._memory_v2 = True
        self._violation_fields = False
        self._field_ids: dict[int, str] = {
            nv.NVML_FI_DEV_MEMORY_TEMP: "temp_mem_c",
            nv.NVML_FI_DEV_POWER_INSTANT: "power_w",
        }
        self._gpm: list[Any] = []
        self._gpm_t = 0.0
        self._gpm_value: float | None = None
        self._readers: list[Callable[[], dict[str, float]]] = [
            self._temperature,
            self._hotspot,
            self._fields,
            self._clocks,
            self._power_limit,
            self._energy,
            self._utilization,
            self._memory,
            self._violation,
        ]
        self._reasons_reader: Callable[[], list[str]] | None = self._reasons
        self._last_reasons: list[str] = []

    # -- start-up ---------------------------------------------------------------------------------
    def open(self) -> NvmlGpu:
        """Read the static facts and keep the readers that answer."""
        nv, h = self.nv, self.handle
        self.name = self._try(driver_text, nv.nvmlDeviceGetName, h) or f"GPU {self.index}"
        self.details["uuid"] = self._try(driver_text, nv.nvmlDeviceGetUUID, h) or "n/a"
        pci = self._try(nv.nvmlDeviceGetPciInfo, h)
        bus = getattr(pci, "busId", b"n/a")
        self.details["pci bus"] = bus.decode("utf-8", "replace") if isinstance(bus, bytes) else str(bus)
        capability = self._try(nv.nvmlDeviceGetCudaComputeCapability, h)
        self.details["compute capability"] = f"{capability[0]}.{capability[1]}" if capability else "n/a"
        for key, getter, arg in (
            ("sm_clock_max_mhz", nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM),
            ("mem_clock_max_mhz", nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_MEM),
            ("temp_shutdown_c", nv.nvmlDeviceGetTemperatureThreshold, nv.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN),
            ("temp_slowdown_c", nv.nvmlDeviceGetTemperatureThreshold, nv.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN),
            ("temp_mem_max_c", nv.nvmlDeviceGetTemperatureThreshold, nv.NVML_TEMPERATURE_THRESHOLD_MEM_MAX),
        ):
            value = self._try(getter, h, arg)
            if value is not None:
                self.static[key] = float(value)
        memory = self._try(nv.nvmlDeviceGetMemoryInfo, h)
        if memory is not None:
            self.static["mem_total_mb"] = memory.total / MIB
        bus_width = self._try(getattr(nv, "nvmlDeviceGetMemoryBusWidth", None), h)
        if bus_width:
            self.details["memory bus"] = f"{bus_width} bit"
            if "mem_clock_max_mhz" in self.static:
                self.static["bw_peak_gbs"] = peak_bandwidth_gbs(self.static["mem_clock_max_mhz"], bus_width)
        supported = self._try(getattr(nv, "nvmlDeviceGetSupportedClocksEventReasons", None), h)
        if supported is None:
            supported = self._try(nv.nvmlDeviceGetSupportedClocksThrottleReasons, h)
        if supported is not None:
            self.details["throttle reasons"] = ", ".join(decode_reasons(supported)) or "none"
        self._open_gpm()
        self._probe()
        return self

    def _try(self, getter: Callable[..., Any] | None, *args: Any) -> Any:
        """A static query: None when the device or the driver cannot answer it."""
        if getter is None:
            return None
        try:
            return getter(*args)
        except self.nv.NVMLError as error:
            if error.value in LOST:
                raise
            return None

    def _open_gpm(self) -> None:
        nv = self.nv
        try:
            if not nv.nvmlGpmQueryDeviceSupport(self.handle).isSupportedDevice:
                return
            self._gpm = [nv.nvmlGpmSampleAlloc(), nv.nvmlGpmSampleAlloc()]
            nv.nvmlGpmSampleGet(self.handle, self._gpm[0])
            self._gpm_t = time.monotonic()
            self._readers.append(self._gpm_bandwidth)
            self.supported |= {"bw_util_pct"} | ({"bw_gbs"} if "bw_peak_gbs" in self.static else set())
        except (nv.NVMLError, AttributeError):
            self.close()

    def _probe(self) -> None:
        values: dict[str, float] = {}
        for reader in list(self._readers):
            try:
                values.update(reader())
            except self.nv.NVMLError as error:
                if error.value in LOST:
                    raise
                if error.value in UNSUPPORTED:
                    self._readers.remove(reader)
        if "power_w" not in values:
            self._readers.insert(2, self._power)
            try:
                values.update(self._power())
            except self.nv.NVMLError:
                self._readers.remove(self._power)
        if self._reasons_reader is not None:
            try:
                self._reasons_reader()
                self.supported.add("reasons")
            except self.nv.NVMLError as error:
                if error.value in LOST:
                    raise
                self._reasons_reader = None
        self.supported |= set(values) | set(self.static)

    # -- readers: each returns some keys of telemetry.fields -----------------------------------------------
    def _temperature(self) -> dict[str, float]:
        nv = self.nv
        if self._temperature_v:
            try:
                return {"temp_c": float(nv.nvmlDeviceGetTemperatureV(self.handle, nv.NVML_TEMPERATURE_GPU))}
            except nv.NVMLError_FunctionNotFound:
                self._temperature_v = False
        return {"temp_c": float(nv.nvmlDeviceGetTemperature(self.handle, nv.NVML_TEMPERATURE_GPU))}

    def _hotspot(self) -> dict[str, float]:
        nv = self.nv
        if not self._temperature_v:
            raise nv.NVMLError(nv.NVML_ERROR_FUNCTION_NOT_FOUND)
        return {"temp_hotspot_c": float(nv.nvmlDeviceGetTemperatureV(self.handle, 1))}  # NVML_TEMPERATURE_GPU_MAX

    def _fields(self) -> dict[str, float]:
        nv = self.nv
        if not self._field_ids:
            raise nv.NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
        values: dict[str, float] = {}
        for field in nv.nvmlDeviceGetFieldValues(self.handle, list(self._field_ids)):
            key = self._field_ids.get(field.fieldId)
            if key is None:
                continue
            if field.nvmlReturn == nv.NVML_SUCCESS:
                value = _field_value(field)
                values[key] = value / 1000.0 if key == "power_w" else value
            elif field.nvmlReturn in UNSUPPORTED:
                del self._field_ids[field.fieldId]
        return values

    def _power(self) -> dict[str, float]:
        return {"power_w": self.nv.nvmlDeviceGetPowerUsage(self.handle) / 1000.0}

    def _clocks(self) -> dict[str, float]:
        nv, h = self.nv, self.handle
        return {
            "sm_clock_mhz": float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
            "mem_clock_mhz": float(nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
        }

    def _power_limit(self) -> dict[str, float]:
        return {"power_limit_w": self.nv.nvmlDeviceGetEnforcedPowerLimit(self.handle) / 1000.0}

    def _energy(self) -> dict[str, float]:
        return {"energy_j": self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0}

    def _utilization(self) -> dict[str, float]:
        rates = self.nv.nvmlDeviceGetUtilizationRates(self.handle)
        return {"util_pct": float(rates.gpu), "mem_busy_pct": float(rates.memory)}

    def _memory(self) -> dict[str, float]:
        nv = self.nv
        if self._memory_v2:
            try:  # v2 leaves the driver's reserved memory out of "used"
                return {"mem_used_mb": nv.nvmlDeviceGetMemoryInfo(self.handle, version=nv.nvmlMemory_v2).used / MIB}
            except (nv.NVMLError_FunctionNotFound, nv.NVMLError_ArgumentVersionMismatch, AttributeError):
                self._memory_v2 = False
        return {"mem_used_mb": nv.nvmlDeviceGetMemoryInfo(self.handle).used / MIB}

    def _violation(self) -> dict[str, float]:
        nv = self.nv
        if not self._violation_fields:
            try:
                power = nv.nvmlDeviceGetViolationStatus(self.handle, nv.NVML_PERF_POLICY_POWER).violationTime
                thermal = nv.nvmlDeviceGetViolationStatus(self.handle, nv.NVML_PERF_POLICY_THERMAL).violationTime
                return {"violation_power_s": power / 1e9, "violation_thermal_s": thermal / 1e9}
            except nv.NVMLError_FunctionNotFound:  # removed in CUDA 14 drivers: the same counters as fields
                self._violation_fields = True
        values = {}
        fields = nv.nvmlDeviceGetFieldValues(
            self.handle, [nv.NVML_FI_DEV_PERF_POLICY_POWER, nv.NVML_FI_DEV_PERF_POLICY_THERMAL]
        )
        for field, key in zip(fields, ("violation_power_s", "violation_thermal_s"), strict=True):
            if field.nvmlReturn == nv.NVML_SUCCESS:
                values[key] = _field_value(field) / 1e9
        if not values:
            raise nv.NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
        return values

    def _gpm_bandwidth(self) -> dict[str, float]:
        """DRAM bandwidth utilisation (GPM, Hopper+): % of the theoretical peak between two samples."""
        nv = self.nv
        now = time.monotonic()
        if now - self._gpm_t >= GPM_MIN_INTERVAL_S:
            nv.nvmlGpmSampleGet(self.handle, self._gpm[1])
            request = nv.c_nvmlGpmMetricsGet_t()
            request.version = nv.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = 1
            request.sample1, request.sample2 = self._gpm[0], self._gpm[1]
            request.metrics[0].metricId = nv.NVML_GPM_METRIC_DRAM_BW_UTIL
            nv.nvmlGpmMetricsGet(request)
            self._gpm.reverse()  # the newer sample is the baseline of the next window
            self._gpm_t = now
            metric = request.metrics[0]
            if metric.nvmlReturn != nv.NVML_SUCCESS:
                raise nv.NVMLError(metric.nvmlReturn)
            self._gpm_value = float(metric.value)
        if self._gpm_value is None:
            return {}
        values = {"bw_util_pct": self._gpm_value}
        if "bw_peak_gbs" in self.static:
            values["bw_gbs"] = self._gpm_value / 100.0 * self.static["bw_peak_gbs"]
        return values

    def _reasons(self) -> list[str]:
        nv = self.nv
        if self._event_reasons:
            try:
                return decode_reasons(nv.nvmlDeviceGetCurrentClocksEventReasons(self.handle))
            except (nv.NVMLError_FunctionNotFound, AttributeError):
                self._event_reasons = False  # drivers before R535: the deprecated name
        return decode_reasons(nv.nvmlDeviceGetCurrentClocksThrottleReasons(self.handle))

    # -- sampling ----------------------------------------------------------------------------------------
    def read(self) -> Reading:
        if self.error is not None:
            return Reading(self.device, {}, error=self.error)
        nv = self.nv
        values = dict(self.static)
        reasons: list[str] = []
        try:
            for reader in tuple(self._readers):
                try:
                    values.update(reader())
                except nv.NVMLError as error:
                    if error.value in LOST:
                        raise
                    if error.value in UNSUPPORTED:
                        self._readers.remove(reader)  # n/a from now on
            if self._reasons_reader is not None:
                try:
                    reasons = self._last_reasons = self._reasons_reader()
                except nv.NVMLError as error:
                    if error.value in LOST:
                        raise
                    reasons = list(self._last_reasons)  # transient: keep the spans as they were
        except nv.NVMLError as error:
            self.error = f"{self.device} ({self.name}) stopped answering: {error}"
            return Reading(self.device, {}, error=self.error)
        return Reading(self.device, values, reasons)

    def info(self, versions: dict[str, str]) -> DeviceInfo:
        """Static facts (no NVML call: safe from any thread while sampling goes on)."""
        details = dict(self.details) | versions
        for key, label, unit in (
            ("mem_total_mb", "memory", "MiB"),
            ("sm_clock_max_mhz", "max SM clock", "MHz"),
            ("mem_clock_max_mhz", "max memory clock", "MHz"),
            ("bw_peak_gbs", "peak bandwidth", "GB/s"),
            ("temp_slowdown_c", "slowdown temperature", "°C"),
            ("temp_shutdown_c", "shutdown temperature", "°C"),
        ):
            if key in self.static:
                details[label] = f"{self.static[key]:.0f} {unit}"
        details["GPM (DRAM bandwidth)"] = "yes" if self._gpm else "no"
        return DeviceInfo(self.device, self.name, "nvml", details, tuple(sorted(self.supported)))

    def close(self) -> None:
        for sample in self._gpm:
            with contextlib.suppress(self.nv.NVMLError):
                self.nv.nvmlGpmSampleFree(sample)
        self._gpm = []


def _field_value(field: Any) -> float:
    """The number in an nvmlFieldValue_t, by its valueType (nvmlValueType_t)."""
    attribute = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")[field.valueType]
    return float(getattr(field.value, attribute))
