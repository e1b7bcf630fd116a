"""One AMD GPU read through the amdsmi package: static facts, and one reader per metric.

As for NVML, a reader the device does not support is dropped (its keys read "n/a"), and a
"device is gone" status turns the GPU into one ``Reading(error=...)``.
"""

from __future__ import annotations

import ctypes
from typing import Any

from tpstui.sources.telemetry.base import DeviceInfo, Reading

__all__ = ["INDEP_THROTTLE_BITS", "LOST", "UNSUPPORTED", "VIOLATION_FLAGS", "AmdGpu", "decode_indep_throttle"]

INDEP_THROTTLE_BITS: dict[int, str] = {
    **{b: f"PPT{b}" for b in range(4)},
    4: "SPL", 5: "FPPT", 6: "SPPT", 7: "SPPT_APU",
    16: "TDC_GFX", 17: "TDC_SOC", 18: "TDC_MEM", 19: "TDC_VDD", 20: "TDC_CVIP", 21: "EDC_CPU", 22: "EDC_GFX",
    23: "APCC", 32: "TEMP_GPU", 33: "TEMP_CORE", 34: "TEMP_MEM", 35: "TEMP_EDGE", 36: "TEMP_HOTSPOT",
    37: "TEMP_SOC", 38: "TEMP_VR_GFX", 39: "TEMP_VR_SOC", 40: "TEMP_VR_MEM0", 41: "TEMP_VR_MEM1",
    42: "TEMP_LIQUID0", 43: "TEMP_LIQUID1", 44: "VRHOT0", 45: "VRHOT1", 46: "PROCHOT_CPU", 47: "PROCHOT_GFX",
    56: "PPM", 57: "FIT",
}  # fmt: skip
"""SMU_THROTTLER_*_BIT of the amdgpu kernel driver (kgd_pp_interface.h) → names."""

VIOLATION_FLAGS = {
    "active_prochot_thrm": "PROCHOT_THERMAL",
    "active_ppt_pwr": "PPT_POWER",
    "active_socket_thrm": "SOCKET_THERMAL",
    "active_vr_thrm": "VR_THERMAL",
    "active_hbm_thrm": "HBM_THERMAL",
}

# amdsmi_status_t codes (amdsmi.h)
UNSUPPORTED = {1, 2, 3, 5, 10, 40, 42, 43, 55}  # inval, not supported, not implemented, no symbol,
# no permission, no data, unexpected size/data, setting unavailable: n/a for this metric
LOST = {6, 12, 14, 18, 31, 32, 34, 54}  # DRM error, I/O, file error, init error, not found, not init,
# driver not loaded, amdgpu restart error: the device is gone


def decode_indep_throttle(mask: int) -> list[str]:
    """Names of the ``indep_throttle_status`` bits (0xFFFF... = not reported → none)."""
    if mask == 0xFFFFFFFFFFFFFFFF:
        return []
    return [INDEP_THROTTLE_BITS.get(b, f"BIT{b}") for b in range(64) if mask >> b & 1]


def _num(value: Any) -> float | None:
    """amdsmi reports missing values as "N/A" (or the type's maximum)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class AmdGpu:
    """One AMD GPU inside the reading process: handle, static facts, working readers."""

    def __init__(self, smi: Any, index: int, handle: Any) -> None:
        self.smi = smi
        self.index = index
        self.handle = handle
        self.device = f"gpu{index}"
        self.name = f"AMD GPU {index}"
        self.static: dict[str, float] = {}
        self.details: dict[str, str] = {}
        self.supported: set[str] = set()
        self.error: str | None = None
        self.edge = True
        self.readers = [
            self._temperature,
            self._clocks,
            self._power,
            self._power_cap,
            self._energy,
            self._activity,
            self._vram,
        ]
        self.reasons_reader: Any = self._violation_reasons
        self.last_reasons: list[str] = []

    def _try(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(self.handle, *args)
        except self.smi.AmdSmiLibraryException as error:
            if error.err_code in LOST:
                raise
            return None
        except UnicodeDecodeError:  # the driver's text is not UTF-8: that fact reads n/a
            return None

    def open(self) -> AmdGpu:
        smi = self.smi
        asic = self._try(smi.amdsmi_get_gpu_asic_info) or {}
        self.name = str(asic.get("market_name") or self.name)
        self.details["uuid"] = str(self._try(smi.amdsmi_get_gpu_device_uuid) or "n/a")
        self.details["pci bus"] = str(self._try(smi.amdsmi_get_gpu_device_bdf) or "n/a")
        driver = self._try(smi.amdsmi_get_gpu_driver_info) or {}
        self.details["driver"] = f"{driver.get('driver_name', 'amdgpu')} {driver.get('driver_version', 'n/a')}"
        vram = self._try(smi.amdsmi_get_gpu_vram_info) or {}
        if _num(vram.get("vram_max_bandwidth")):
            self.static["bw_peak_gbs"] = float(vram["vram_max_bandwidth"])
        if _num(vram.get("vram_bit_width")):
            self.details["memory bus"] = f"{vram['vram_bit_width']} bit"
        sensor = smi.AmdSmiTemperatureType.EDGE
        if self._try(smi.amdsmi_get_temp_metric, sensor, smi.AmdSmiTemperatureMetric.CURRENT) is None:
            self.edge, sensor = False, smi.AmdSmiTemperatureType.HOTSPOT  # MI200/MI300: no edge sensor
        for key, kind, metric in (
            ("temp_slowdown_c", sensor, smi.AmdSmiTemperatureMetric.CRITICAL),
            ("temp_shutdown_c", sensor, smi.AmdSmiTemperatureMetric.EMERGENCY),
            ("temp_mem_max_c", smi.AmdSmiTemperatureType.VRAM, smi.AmdSmiTemperatureMetric.CRITICAL),
            ("temp_hotspot_max_c", smi.AmdSmiTemperatureType.HOTSPOT, smi.AmdSmiTemperatureMetric.CRITICAL),
        ):
            value = _num(self._try(smi.amdsmi_get_temp_metric, kind, metric))
            if value:
                self.static[key] = value
        values = self._read_values()
        for reasons in (self._violation_reasons, self._metrics_reasons, None):
            self.reasons_reader = reasons
            try:
                if reasons is not None:
                    reasons()
                break
            except smi.AmdSmiLibraryException as error:
                if error.err_code in LOST:
                    raise
        self.supported = set(values) | set(self.static) | ({"reasons"} if self.reasons_reader else set())
        return self

    # -- readers -----------------------------------------------------------------------------------
    def _temperature(self) -> dict[str, float]:
        smi, kind, current = self.smi, self.smi.AmdSmiTemperatureType, self.smi.AmdSmiTemperatureMetric.CURRENT
        values: dict[str, float] = {}
        for key, sensor in (("temp_hotspot_c", kind.HOTSPOT), ("temp_mem_c", kind.VRAM)):
            value = _num(self._try(smi.amdsmi_get_temp_metric, sensor, current))
            if value is not None:
                values[key] = value
        if self.edge:
            values["temp_c"] = float(smi.amdsmi_get_temp_metric(self.handle, kind.EDGE, current))
        elif "temp_hotspot_c" in values:
            values["temp_c"] = values["temp_hotspot_c"]
        if not values:
            raise smi.AmdSmiLibraryException(2)
        return values

    def _clocks(self) -> dict[str, float]:
        smi, values = self.smi, {}
        for key, clock in (("sm_clock", smi.AmdSmiClkType.GFX), ("mem_clock", smi.AmdSmiClkType.MEM)):
            info = self._try(smi.amdsmi_get_clock_info, clock) or {}
            for suffix, field in (("_mhz", "clk"), ("_max_mhz", "max_clk")):
                value = _num(info.get(field))
                if value is not None:
                    values[key + suffix] = value
        if not values:
            raise smi.AmdSmiLibraryException(2)
        return values

    def _power(self) -> dict[str, float]:
        info = self.smi.amdsmi_get_power_info(self.handle)
        for field in ("current_socket_power", "average_socket_power", "socket_power"):
            value = _num(info.get(field))
            if value is not None:
                return {"power_w": value}
        raise self.smi.AmdSmiLibraryException(2)

    def _power_cap(self) -> dict[str, float]:
        cap = _num(self.smi.amdsmi_get_power_cap_info(self.handle).get("power_cap"))
        return {"power_limit_w": cap / 1e6} if cap else {}  # µW

    def _energy(self) -> dict[str, float]:
        count = self.smi.amdsmi_get_energy_count(self.handle)
        return {"energy_j": count["energy_accumulator"] * count["counter_resolution"] / 1e6}  # µJ per count

    def _activity(self) -> dict[str, float]:
        activity = self.smi.amdsmi_get_gpu_activity(self.handle)
        values: dict[str, float] = {}
        gfx, umc = _num(activity.get("gfx_activity")), _num(activity.get("umc_activity"))
        if gfx is not None:
            values["util_pct"] = gfx
        if umc is not None:
            values["bw_util_pct"] = umc
            if "bw_peak_gbs" in self.static:
                values["bw_gbs"] = umc / 100.0 * self.static["bw_peak_gbs"]
        return values

    def _vram(self) -> dict[str, float]:
        usage = self.smi.amdsmi_get_gpu_vram_usage(self.handle)
        return {"mem_used_mb": float(usage["vram_used"]), "mem_total_mb": float(usage["vram_total"])}

    def _violation_reasons(self) -> list[str]:
        status = self.smi.amdsmi_get_violation_status(self.handle)
        return [name for field, name in VIOLATION_FLAGS.items() if status.get(field) is True]

    def _metrics_reasons(self) -> list[str]:
        """indep_throttle_status as bits: the high-level wrapper turns it into a bool, so read the struct."""
        wrapper = self.smi.amdsmi_wrapper
        metrics = wrapper.amdsmi_gpu_metrics_t()
        code = wrapper.amdsmi_get_gpu_metrics_info(self.handle, ctypes.byref(metrics))
        if code != 0:
            raise self.smi.AmdSmiLibraryException(code)
        return decode_indep_throttle(int(metrics.indep_throttle_status))

    # -- sampling ------------------------------------------------------------------------------------
    def _read_values(self) -> dict[str, float]:
        """Every reader's values; a reader the GPU does not support is dropped for good, a lost GPU raises."""
        values: dict[str, float] = {}
        for reader in tuple(self.readers):
            try:
                values.update(reader())
            except self.smi.AmdSmiLibraryException as error:
                if error.err_code in LOST:
                    raise
                if error.err_code in UNSUPPORTED:
                    self.readers.remove(reader)
        return values

    def read(self) -> Reading:
        if self.error is not None:
            return Reading(self.device, {}, error=self.error)
        smi = self.smi
        values = dict(self.static)
        reasons: list[str] = []
        try:
            values.update(self._read_values())
            if self.reasons_reader is not None:
                reasons = self.last_reasons = self.reasons_reader()
        except smi.AmdSmiLibraryException as error:
            if error.err_code not in LOST:  # a transient failure: keep the last known reasons
                return Reading(self.device, values, list(self.last_reasons))
            self.error = f"{self.device} ({self.name}) stopped answering: {error.get_error_info(False)}"
            return Reading(self.device, {}, error=self.error)
        return Reading(self.device, values, reasons)

    def info(self, versions: dict[str, str]) -> DeviceInfo:
        details = dict(self.details) | versions
        if "bw_peak_gbs" in self.static:
            details["peak bandwidth"] = f"{self.static['bw_peak_gbs']:.0f} GB/s (vram_max_bandwidth)"
        if self.reasons_reader is not None:
            source = "violation status" if self.reasons_reader == self._violation_reasons else "gpu_metrics bits"
            details["throttle reasons"] = source
        return DeviceInfo(self.device, self.name, "amd", details, tuple(sorted(self.supported)))
