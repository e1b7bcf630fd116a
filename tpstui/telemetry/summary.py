"""Per-run telemetry summaries: min/max/mean per metric, time per throttle reason, energy per token, MBU.

Pure functions over samples and throttle spans (no threads, no backends), used by the bench
report, the exporters and the live stats panel (``run_telemetry(session, view)`` does it all
for one run of a Session).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tpstui.events import ModelLoaded, TelemetrySample
from tpstui.mbu import latest_peaks, mbu_for_run
from tpstui.telemetry.fields import field

if TYPE_CHECKING:
    from tpstui.metrics import RunMetrics
    from tpstui.session import RunView, Session

__all__ = [
    "NOT_THROTTLING",
    "SpanLike",
    "energy_joules",
    "merge_intervals",
    "run_telemetry",
    "summarize_run_telemetry",
    "summarize_values",
    "throttle_seconds",
    "tps_split",
]

NOT_THROTTLING = frozenset({"GpuIdle", "ApplicationsClocksSetting", "DisplayClockSetting"})
"""Clock-event reasons that are not a throttling condition: the GPU is idle, or clocks follow a
configured setting. They still get spans and time per reason; TPS-while-throttled ignores them."""


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


def energy_joules(
    samples: Sequence[TelemetrySample], start_ns: int | None = None, end_ns: int | None = None
) -> float | None:
    """Increase of the ``energy_j`` counter (None without two readings).

    With ``start_ns`` / ``end_ns`` the counter is interpolated linearly at both ends from the
    samples around them, so a run is charged for its own time only (samples come every 1/hz s;
    NVML updates the counter every 20-100 ms, so very short windows read coarse values).
    """
    points = [(s.t_ns, s.values["energy_j"]) for s in samples if "energy_j" in s.values]
    if len(points) < 2:
        return None
    if start_ns is None or end_ns is None:
        return points[-1][1] - points[0][1]
    times = np.asarray([t for t, _ in points], dtype=np.float64)
    joules = np.asarray([e for _, e in points], dtype=np.float64)
    lo, hi = max(start_ns, points[0][0]), min(end_ns, points[-1][0])
    if hi <= lo:
        return None
    return float(np.interp(hi, times, joules) - np.interp(lo, times, joules))


def summarize_run_telemetry(
    samples_by_device: dict[str, list[TelemetrySample]],
    spans: Sequence[SpanLike],
    start_ns: int,
    end_ns: int,
    arrivals_ns: np.ndarray,
    counts: np.ndarray,
    tokens_all: int,
    *,
    model: ModelLoaded | None = None,
    prompt_tokens: int = 0,
    batch_size: int = 1,
    decode_tps: float | None = None,
    peak_bw_gbs: float | None = None,
) -> dict[str, Any]:
    """Everything the bench JSON says about telemetry for one run.

    ``samples_by_device`` may hold samples outside the run: the window is cut here, and the
    energy counter is interpolated at the run's start and end. With ``model`` (and the decode
    rate) the result also has ``mbu`` (see ``tpstui.mbu``); ``peak_bw_gbs`` is ``--peak-bw``.
    """
    devices: dict[str, Any] = {}
    energy_total: float | None = None
    for device, samples in samples_by_device.items():
        window = [s for s in samples if start_ns <= s.t_ns <= end_ns]
        energy = energy_joules(samples, start_ns, end_ns)
        if energy is not None:
            energy_total = (energy_total or 0.0) + energy
        devices[device] = {"samples": len(window), "metrics": summarize_values(window), "energy_j": energy}
    split = tps_split(arrivals_ns, counts, throttled_intervals(spans, start_ns, end_ns))
    new_tokens = int(counts.sum()) if counts.size else 0
    mbu = mbu_for_run(
        model, prompt_tokens, new_tokens, batch_size, decode_tps, latest_peaks(samples_by_device), peak_bw_gbs
    )
    return {
        "devices": devices,
        "throttle_s": throttle_seconds(spans, start_ns, end_ns),
        **split,
        "energy_j": energy_total,
        "joules_per_token": energy_total / tokens_all if energy_total and tokens_all else None,
        "tokens_per_joule": tokens_all / energy_total if energy_total and tokens_all else None,
        "mbu": mbu,
    }


def run_telemetry(session: Session, view: RunView, run_metrics: RunMetrics | None = None) -> dict[str, Any]:
    """``summarize_run_telemetry`` for one run of a Session (live or replayed; the run may be going on).

    ``--peak-bw`` comes from the session's settings (``peak_bw_gbs``), so replays use it too.
    """
    start = view.started.t_ns
    end = view.end_ns or session.latest_ns
    settings = session.started.settings if session.started is not None else {}
    return summarize_run_telemetry(
        {device: session.samples(device, start, end, neighbours=True) for device in session.devices()},
        session.throttle_spans(),
        start,
        end,
        view.arrivals,
        view.counts,
        view.n_all,
        model=session.model,
        prompt_tokens=view.started.prompt_tokens,
        batch_size=view.started.batch_size,
        decode_tps=(run_metrics or view.metrics()).output_tps,
        peak_bw_gbs=settings.get("peak_bw_gbs"),
    )
