"""Memory-bandwidth peaks measured here: the CPU's (a short multi-threaded copy, cached per machine).

GPU peaks come from their backends (NVML: 2 × max memory clock × bus width; AMD SMI:
vram_max_bandwidth). The CPU has no such figure, so it is measured once (STREAM "copy": read +
written bytes over the time) and kept in ``<cache dir>/cpu-bandwidth.json``; ``CpuWithPeak``
adds it to every CPU sample as ``bw_peak_gbs`` so MBU (``tpstui.state.mbu``) can use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tpstui.paths import cache_root
from tpstui.sources.telemetry.base import Backend, DeviceInfo, Reading
from tpstui.sources.telemetry.cpu import cpu_model

__all__ = ["CpuWithPeak", "cached_cpu_bandwidth", "cpu_peak_bandwidth", "probe_cpu_bandwidth"]

GB = 1e9
MIB = 1024 * 1024


def _last_level_cache_bytes() -> int | None:
    """Size of the largest CPU cache (Linux sysfs); None where unknown."""
    best = None
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = os.listdir(base)
    except OSError:
        return None
    for entry in entries:
        try:
            with open(os.path.join(base, entry, "size"), encoding="ascii") as handle:
                text = handle.read().strip().upper()
        except OSError:
            continue
        scale = {"K": 1024, "M": MIB, "G": 1024 * MIB}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            size = int(digits) * scale
            best = max(best or 0, size)
    return best


def probe_cpu_bandwidth(repeats: int = 5, threads: int | None = None) -> float:
    """Measure the CPU's memory bandwidth in GB/s (best of ``repeats`` parallel copies).

    Each array is twice the last-level cache (128-512 MiB, at most 1/8 of the free memory) so
    the copy streams from DRAM; NumPy releases the GIL while copying, so one thread per usable
    CPU runs in parallel. Takes about half a second.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, threads or cpus)
    size = min(max(2 * (_last_level_cache_bytes() or 64 * MIB), 128 * MIB), 512 * MIB)
    with contextlib.suppress(ImportError, OSError):
        import psutil

        size = max(min(size, psutil.virtual_memory().available // 8), 16 * MIB)  # never crowd out the model
    source = np.ones(size // 8, dtype=np.float64)
    target = np.zeros_like(source)  # touch every page before timing
    pairs = list(zip(np.array_split(source, workers), np.array_split(target, workers), strict=True))

    def copy(index: int) -> None:
        np.copyto(pairs[index][1], pairs[index][0])

    best = 0.0
    with ThreadPoolExecutor(workers, thread_name_prefix="tpstui-bw-probe") as pool:
        list(pool.map(copy, range(workers)))  # warm up the threads
        for _ in range(repeats):
            started = time.perf_counter()
            list(pool.map(copy, range(workers)))
            elapsed = time.perf_counter() - started
            if elapsed > 0:
                best = max(best, 2 * source.nbytes / elapsed / GB)
    return best


def _cpu_key_and_cache() -> tuple[str, Path]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return f"{cpu_model()} | {cpus} CPUs", cache_root() / "cpu-bandwidth.json"


def cached_cpu_bandwidth() -> float | None:
    """The CPU bandwidth measured earlier on this machine (GB/s), or None."""
    key, path = _cpu_key_and_cache()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("key") == key and float(cached["gbs"]) > 0:
            return float(cached["gbs"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def cpu_peak_bandwidth(refresh: bool = False) -> float:
    """The CPU's memory bandwidth peak in GB/s: probed once per machine, then read from the cache.

    Kept in ``<cache dir>/cpu-bandwidth.json`` under the CPU model and usable CPU count, so MBU
    is comparable across sessions; ``tpstui devices --probe-bw`` measures again.
    """
    cached = None if refresh else cached_cpu_bandwidth()
    if cached is not None:
        return cached
    key, path = _cpu_key_and_cache()
    gbs = probe_cpu_bandwidth()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "gbs": gbs, "measured": time.time()}) + "\n", encoding="utf-8")
    return gbs


class CpuWithPeak:
    """A CPU backend whose readings also carry the memory bandwidth peak (``bw_peak_gbs``)."""

    def __init__(self, backend: Backend, peak_gbs: float) -> None:
        self.backend = backend
        self.name = backend.name
        self.peak_gbs = peak_gbs

    def devices(self) -> list[DeviceInfo]:
        out = []
        for info in self.backend.devices():
            details = dict(info.details) | {"peak bandwidth": f"{self.peak_gbs:.1f} GB/s"}
            supported = tuple(sorted({*info.supported, "bw_peak_gbs"}))
            out.append(DeviceInfo(info.device, info.name, info.backend, details, supported))
        return out

    def sample(self) -> list[Reading]:
        readings = self.backend.sample()
        for reading in readings:
            if reading.error is None:
                reading.values["bw_peak_gbs"] = self.peak_gbs
        return readings

    def close(self) -> None:
        self.backend.close()
