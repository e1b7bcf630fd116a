"""Model bandwidth utilisation (MBU) of a run, against the memory-bandwidth peak of its devices.

MBU = bytes a decode step reads (every weight once + each sequence's KV cache at its mean
context) × decode steps per second ÷ peak bandwidth (the arithmetic is in ``tpstui.state.metrics``).
Decoding is memory-bound, so MBU says how close a run is to the hardware limit: 0.6-0.8 is good
on GPUs. Peaks come with the telemetry samples (``bw_peak_gbs``, see
``tpstui.sources.telemetry.bandwidth``) or from ``--peak-bw``. With an accelerate device_map the
layers run one GPU after another, so the peak is the mean of the GPUs' peaks, not their sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tpstui.state.metrics import bytes_per_decode_step, kv_cache_bytes, model_bandwidth_utilization

__all__ = ["latest_peaks", "mbu_for_run", "peak_for_run"]

GB = 1e9


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
