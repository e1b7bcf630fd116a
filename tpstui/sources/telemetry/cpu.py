"""CPU telemetry through psutil: per-core clocks and utilisation, RAM, process RSS, temperatures."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable
from typing import Any

from tpstui.sources.telemetry.base import BackendUnavailable, DeviceInfo, Reading
from tpstui.stream.fields import per_core_key

__all__ = ["CpuBackend", "cpu_model"]

MIB = 1024 * 1024


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo, else what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class CpuBackend:
    """Samples the host CPU. Values the machine does not expose (no sensors, no max clock) are left out."""

    name = "cpu"

    def __init__(self, process: Callable[[], int] = os.getpid) -> None:
        try:
            import psutil
        except ImportError as error:  # pragma: no cover - psutil is a dependency
            raise BackendUnavailable(f"psutil is not installed ({error})") from None
        self._psutil: Any = psutil
        self._pid_of = process
        """The process whose RSS is reported: the generating one, which may start after this backend."""
        self._process = psutil.Process(process())
        psutil.cpu_percent(percpu=True)  # prime: the first call has no interval to measure
        self._cores = psutil.cpu_count(logical=True) or 1
        self._max_mhz = self._max_clock()
        self._has_sensor = self._temperature() is not None
        """Machines without a CPU temperature sensor (most VMs) are not asked again every sample:
        psutil globs sysfs for it, the largest part of a sample's cost."""

    def _max_clock(self) -> float | None:
        freq = self._psutil.cpu_freq()
        return float(freq.max) if freq is not None and freq.max else None

    def devices(self) -> list[DeviceInfo]:
        reading = self.sample()[0]
        memory = self._psutil.virtual_memory()
        details = {
            "model": cpu_model(),
            "logical cores": str(self._cores),
            "physical cores": str(self._psutil.cpu_count(logical=False) or "n/a"),
            "memory": f"{memory.total / 2**30:.1f} GiB",
            "psutil": self._psutil.__version__,
        }
        return [DeviceInfo("cpu", cpu_model(), self.name, details, tuple(sorted(reading.values)))]

    def _temperature(self) -> float | None:
        sensors = getattr(self._psutil, "sensors_temperatures", None)
        if sensors is None:
            return None
        try:
            temps = sensors()
        except (OSError, RuntimeError):
            return None
        for chip in ("coretemp", "k10temp", "zenpower", "cpu_thermal", "acpitz"):
            entries = temps.get(chip)
            if entries:
                return float(max(entry.current for entry in entries))
        return None

    def sample(self) -> list[Reading]:
        ps = self._psutil
        values: dict[str, float] = {}
        utilisation = ps.cpu_percent(percpu=True)
        if utilisation:
            values["util_pct"] = sum(utilisation) / len(utilisation)
            for core, pct in enumerate(utilisation):
                values[per_core_key(core, "util_pct")] = float(pct)
        clocks = ps.cpu_freq(percpu=True) or []
        currents = [float(c.current) for c in clocks if c.current]
        if currents:
            values["cpu_clock_mhz"] = sum(currents) / len(currents)
            if len(currents) > 1:
                for core, mhz in enumerate(currents):
                    values[per_core_key(core, "clock_mhz")] = mhz
        if self._max_mhz:
            values["cpu_clock_max_mhz"] = self._max_mhz
        memory = ps.virtual_memory()
        values["mem_used_mb"] = (memory.total - memory.available) / MIB
        values["mem_total_mb"] = memory.total / MIB
        with contextlib.suppress(ps.NoSuchProcess, ps.AccessDenied):
            pid = self._pid_of()
            if pid != self._process.pid:
                self._process = ps.Process(pid)
            values["rss_mb"] = self._process.memory_info().rss / MIB
        temperature = self._temperature() if self._has_sensor else None
        if temperature is not None:
            values["temp_c"] = temperature
        return [Reading("cpu", values)]

    def close(self) -> None:
        """Nothing to release."""
