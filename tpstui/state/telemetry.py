"""Per-run telemetry summaries: min/max/mean per metric, time per throttle reason, energy per token, MBU.

Pure functions over samples and throttle spans (no threads, no backends), used by the bench
report, the exporters and the live stats panel (``run_telemetry(session, view)`` does it all
for one run of a Session).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tpstui.state.mbu import latest_peaks, mbu_for_run
from tpstui.state.throttle import SpanLike, throttle_seconds, throttled_intervals, tps_split
from tpstui.stream.events import ModelLoaded, TelemetrySample
from tpstui.stream.fields import field

if TYPE_CHECKING:
    from tpstui.state.metrics import RunMetrics
    from tpstui.state.session import RunView, Session

__all__ = [
    "counter_increase",
    "energy_joules",
    "on_time",
    "run_telemetry",
    "summarize_run_telemetry",
    "summarize_values",
]


def on_time(samples: Sequence[TelemetrySample]) -> list[TelemetrySample]:
    """The samples whose read was not late (a late one belongs to no precise moment)."""
    return [s for s in samples if not s.late_ns]


def counter_increase(values: Sequence[float]) -> float | None:
    """How much a counter grew from its first value to its last; None (n/a) when it ever went
    backwards (a driver reload, a GPU reset, a counter that wrapped): never a negative amount."""
    if len(values) < 2 or any(later < earlier for earlier, later in itertools.pairwise(values)):
        return None
    return values[-1] - values[0]


def summarize_values(samples: Sequence[TelemetrySample]) -> dict[str, dict[str, float | None]]:
    """min / max / mean of each gauge, and the increase of each counter (``{"delta": ...}``, None
    when the counter went backwards: see ``counter_increase``).

    Per-core keys are left out to keep the summary readable on many-core machines.
    """
    columns: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.values.items():
            if not key.startswith("core"):
                columns.setdefault(key, []).append(value)
    summary: dict[str, dict[str, float | None]] = {}
    for key, values in columns.items():
        if field(key).counter:
            summary[key] = {"delta": counter_increase(values), "first": values[0], "last": values[-1]}
        else:
            data = np.asarray(values, dtype=np.float64)
            summary[key] = {"min": float(data.min()), "max": float(data.max()), "mean": float(data.mean())}
    return summary


def energy_joules(
    samples: Sequence[TelemetrySample], start_ns: int | None = None, end_ns: int | None = None
) -> float | None:
    """Increase of the ``energy_j`` counter (None without two readings, and None when the counter
    went backwards among them: ``counter_increase``).

    With ``start_ns`` / ``end_ns`` the counter is interpolated linearly at both ends from the
    samples around them, so a run is charged for its own time only (samples come every 1/hz s;
    NVML updates the counter every 20-100 ms, so very short windows read coarse values).
    """
    points = [(s.t_ns, s.values["energy_j"]) for s in samples if "energy_j" in s.values]
    if counter_increase([e for _, e in points]) is None:
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
    energy counter is interpolated at the run's start and end. Late samples are left out. With ``model`` (and the decode
    rate) the result also has ``mbu`` (see ``tpstui.state.mbu``); ``peak_bw_gbs`` is ``--peak-bw``.
    """
    devices: dict[str, Any] = {}
    energy_total: float | None = None
    energy_unknown = False
    """A device's energy counter went backwards (or does not span the run): the total is n/a."""
    samples_by_device = {device: on_time(samples) for device, samples in samples_by_device.items()}
    for device, samples in samples_by_device.items():
        window = [s for s in samples if start_ns <= s.t_ns <= end_ns]
        energy = energy_joules(samples, start_ns, end_ns)
        if energy is not None and not energy_unknown:
            energy_total = (energy_total or 0.0) + energy
        elif sum("energy_j" in s.values for s in samples) >= 2:  # a counter, but no clean span of it
            energy_total, energy_unknown = None, True
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
