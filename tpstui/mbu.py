"""Model bandwidth utilisation (MBU) and the memory-bandwidth peaks it is measured against.

MBU = bytes a decode step reads (every weight once + each sequence's KV cache at its mean
context) × decode steps per second ÷ peak bandwidth. Decoding is memory-bound, so MBU says how
close a run is to the hardware limit: 0.6-0.8 is good on GPUs.

Peaks: on NVIDIA GPUs 2 × max memory clock × bus width (NVML); on AMD GPUs vram_max_bandwidth
(AMD SMI); on the CPU a short multi-threaded copy measured once (STREAM "copy": read + written
bytes over the time), or ``--peak-bw`` for any device. With an accelerate device_map the layers
run one GPU after another, so the peak is the mean of the GPUs' peaks, not their sum.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from tpstui.metrics import bytes_per_decode_step, kv_cache_bytes, model_bandwidth_utilization
from tpstui.telemetry.base import Backend, DeviceInfo, Reading

__all__ = [
    "CpuWithPeak",
    "cached_cpu_bandwidth",
    "cpu_peak_bandwidth",
    "mbu_for_run",
    "peak_for_run",
    "probe_cpu_bandwidth",
]

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
    from tpstui.generation.model_source import cache_root
    from tpstui.telemetry.cpu import _cpu_model

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return f"{_cpu_model()} | {cpus} CPUs", cache_root() / "cpu-bandwidth.json"


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


def peak_for_run(
    peaks_by_device: Mapping[str, float], model_device: str, override_gbs: float | None = None
) -> tuple[float | None, str, list[str]]:
    """(peak GB/s, where it comes from, devices) for a model placed on ``model_device``.

    ``peaks_by_device`` maps sampled devices ("gpu0", "cpu") to their ``bw_peak_gbs``.
    """
    if override_gbs:
        return override_gbs, "--peak-bw", []
    on_cpu = model_device.startswith("cpu")
    on_gpu = model_device.startswith(("cuda", "gpu", "rocm", "hip"))
    chosen = [d for d in peaks_by_device if (on_cpu and d == "cpu") or (on_gpu and d.startswith("gpu"))]
    if not chosen:
        return None, "unknown (give --peak-bw)", []
    peak = float(np.mean([peaks_by_device[d] for d in chosen]))
    source = "CPU copy probe" if on_cpu else "device maximum (mean over the GPUs of the device_map)"
    return peak, source, chosen


def mbu_for_run(
    model: Any,
    prompt_tokens: int,
    new_tokens: int,
    batch_size: int,
    decode_tps: float | None,
    peaks_by_device: Mapping[str, float],
    override_gbs: float | None = None,
) -> dict[str, Any] | None:
    """MBU of one run; ``model`` is a ``ModelLoaded`` event (or anything with its fields).

    None when the model's size is unknown or the run decoded fewer than two tokens.
    """
    if model is None or not getattr(model, "weight_bytes", 0) or not decode_tps:
        return None
    context = prompt_tokens + new_tokens / 2.0
    per_step = bytes_per_decode_step(
        model.weight_bytes,
        model.n_layers,
        model.n_kv_heads,
        model.head_dim,
        model.kv_bytes_per_elem,
        context,
        batch_size,
    )
    kv = batch_size * kv_cache_bytes(model.n_layers, model.n_kv_heads, model.head_dim, context, model.kv_bytes_per_elem)
    peak, source, devices = peak_for_run(peaks_by_device, model.device, override_gbs)
    mbu = model_bandwidth_utilization(per_step, decode_tps, peak * GB) if peak else None
    return {
        "bytes_per_step": per_step,
        "weight_bytes": model.weight_bytes,
        "kv_bytes_per_step": kv,
        "mean_context_tokens": context,
        "decode_steps_per_s": decode_tps,
        "achieved_gbs": per_step * decode_tps / GB,
        "peak_gbs": peak,
        "peak_source": source,
        "peak_devices": devices,
        "mbu": mbu,
    }


def latest_peaks(samples_by_device: Mapping[str, Sequence[Any]]) -> dict[str, float]:
    """``bw_peak_gbs`` of each device, from its newest sample that has one."""
    peaks = {}
    for device, samples in samples_by_device.items():
        for sample in reversed(samples):
            if "bw_peak_gbs" in sample.values:
                peaks[device] = float(sample.values["bw_peak_gbs"])
                break
    return peaks
