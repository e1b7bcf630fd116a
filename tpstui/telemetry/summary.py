"""Per-run telemetry summaries: min/max/mean per metric, time per throttle reason, energy per token.

Pure functions over samples and throttle spans (no threads, no backends), used by the bench
report, the exporters and the live stats panel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from tpstui.events import TelemetrySample
from tpstui.telemetry.fields import field

__all__ = [
    "NOT_THROTTLING",
    "SpanLike",
    "energy_joules",
    "merge_intervals",
    "summarize_run_telemetry",
    "summarize_values",
    "throttle_seconds",
    "tps_split",
]

NOT_THROTTLING = frozenset({"GpuIdle"})
"""Clock-event reasons that do not slow a running kernel (the GPU is simply idle)."""


class SpanLike(Protocol):
    device: str
    reason: str
    start_ns: int
    end_ns: int | None


def summarize_values(samples: Sequence[TelemetrySample]) -> dict[str, dict[str, float]]:
    """min / max / mean of each gauge, and the increase of each counter (``{"delta": ...}``).

    Per-core keys are left out to keep the summary readable on many-core machines.
    """
    columns: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.values.items():
            if not key.startswith("core"):
                columns.setdefault(key, []).append(value)
    summary: dict[str, dict[str, float]] = {}
    for key, values in columns.items():
        if field(key).counter:
            summary[key] = {"delta": values[-1] - values[0], "first": values[0], "last": values[-1]}
        else:
            data = np.asarray(values, dtype=np.float64)
            summary[key] = {"min": float(data.min()), "max": float(data.max()), "mean": float(data.mean())}
    return summary


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of [start, end) intervals, sorted and non-overlapping."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _clipped(spans: Iterable[SpanLike], start_ns: int, end_ns: int) -> list[tuple[SpanLike, int, int]]:
    out = []
    for span in spans:
        lo = max(span.start_ns, start_ns)
        hi = min(span.end_ns if span.end_ns is not None else end_ns, end_ns)
        if hi > lo:
            out.append((span, lo, hi))
    return out


def throttle_seconds(spans: Iterable[SpanLike], start_ns: int, end_ns: int) -> dict[str, dict[str, float]]:
    """Seconds each reason was active within [start_ns, end_ns], per device."""
    result: dict[str, dict[str, float]] = {}
    for span, lo, hi in _clipped(spans, start_ns, end_ns):
        per_device = result.setdefault(span.device, {})
        per_device[span.reason] = per_device.get(span.reason, 0.0) + (hi - lo) / 1e9
    return result


def throttled_intervals(spans: Iterable[SpanLike], start_ns: int, end_ns: int) -> list[tuple[int, int]]:
    """When any real throttle reason (not ``NOT_THROTTLING``) was active, within the window."""
    return merge_intervals(
        (lo, hi) for span, lo, hi in _clipped(spans, start_ns, end_ns) if span.reason not in NOT_THROTTLING
    )


def tps_split(
    arrivals_ns: np.ndarray, counts: np.ndarray, intervals: Sequence[tuple[int, int]]
) -> dict[str, float | None]:
    """Decode TPS while throttled versus not, over the run's decode window.

    Tokens are attributed by arrival time; each side's rate is its tokens over its time.
    """
    if arrivals_ns.size < 2:
        return {"throttled_s": 0.0, "tps_throttled": None, "tps_unthrottled": None}
    first, last = int(arrivals_ns[0]), int(arrivals_ns[-1])
    window = [(max(a, first), min(b, last)) for a, b in intervals if min(b, last) > max(a, first)]
    throttled_ns = sum(b - a for a, b in window)
    inside = np.zeros(arrivals_ns.size, dtype=bool)
    for a, b in window:
        inside |= (arrivals_ns > a) & (arrivals_ns <= b)
    inside[0] = False  # the first token opens the decode window; it is not decoded inside it
    later = counts.copy()
    later[0] = 0
    tokens_in = float(later[inside].sum())
    tokens_out = float(later[~inside].sum())
    free_ns = (last - first) - throttled_ns
    return {
        "throttled_s": throttled_ns / 1e9,
        "tps_throttled": tokens_in / (throttled_ns / 1e9) if throttled_ns > 0 else None,
        "tps_unthrottled": tokens_out / (free_ns / 1e9) if free_ns > 0 else None,
    }


def energy_joules(samples: Sequence[TelemetrySample]) -> float | None:
    """Increase of the ``energy_j`` counter across the samples (None without two readings)."""
    readings = [s.values["energy_j"] for s in samples if "energy_j" in s.values]
    if len(readings) < 2:
        return None
    return readings[-1] - readings[0]


def summarize_run_telemetry(
    samples_by_device: dict[str, list[TelemetrySample]],
    spans: Sequence[SpanLike],
    start_ns: int,
    end_ns: int,
    arrivals_ns: np.ndarray,
    counts: np.ndarray,
    tokens_all: int,
) -> dict[str, Any]:
    """Everything the bench JSON says about telemetry for one run."""
    devices: dict[str, Any] = {}
    energy_total: float | None = None
    for device, samples in samples_by_device.items():
        window = [s for s in samples if start_ns <= s.t_ns <= end_ns]
        energy = energy_joules(window)
        if energy is not None:
            energy_total = (energy_total or 0.0) + energy
        devices[device] = {"samples": len(window), "metrics": summarize_values(window), "energy_j": energy}
    split = tps_split(arrivals_ns, counts, throttled_intervals(spans, start_ns, end_ns))
    return {
        "devices": devices,
        "throttle_s": throttle_seconds(spans, start_ns, end_ns),
        **split,
        "energy_j": energy_total,
        "joules_per_token": energy_total / tokens_all if energy_total and tokens_all else None,
        "tokens_per_joule": tokens_all / energy_total if energy_total and tokens_all else None,
    }
