"""The throttling diagnosis of a session: did throttling cost speed, how much, and why.

Pure functions over decode windows, throttle spans and telemetry samples (no threads, no
backends, no textual). ``diagnose_session(session)`` is what the app's diagnosis screen, the
bench / export JSON (``"diagnosis"``), ``replay --summary`` and the HTML report show. The
definitions (README "Diagnosis" has them too):

- **decoding**: the decode windows (first to last token) of every run that is not a warm-up and
  did not fail; a run still going counts up to its last token. Tokens are attributed by arrival
  time, each run's first token left out (it ends prefill).
- **first throttle**: from the session's start to the start of the first span of a real reason
  (not ``NOT_THROTTLING``).
- **cold / hot TPS**: decode TPS over the first / last ``W`` seconds of decoding, with decode
  time laid end to end (the pauses between runs removed); ``W`` = 30 s, or half the decode time
  when there is less than a minute of it.
- **TPS by family**: decode TPS while each reason family (power, thermal, other) was active on
  any device, and while no real reason was ("none"); families may overlap.
- **loss**: 1 − (decode TPS over all decoding) / (decode TPS while not throttled): the share of
  decode speed the throttled time cost (``loss_tps`` in tokens/s).
- **correlation**: per second of the session clock, the decode TPS (tokens arriving in that
  second over the gaps they closed; seconds with under 0.5 s of decoding are left out) against
  the mean SM (CPU) clock and core temperature of each device's samples in that second: Pearson
  r and the least-squares slope (tokens/s per 100 MHz, per °C).
- **verdict**: one sentence from these numbers: how much decode TPS fell while throttled (against
  not), from when the longest-lasting reason first came on, the clock it held and the hottest
  temperature against its own limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tpstui.state.throttle import (
    FAMILIES,
    NOT_THROTTLING,
    SpanLike,
    family_intervals,
    merge_intervals,
    split_counts,
    throttle_seconds,
    throttled_intervals,
)
from tpstui.stream.events import TelemetrySample

if TYPE_CHECKING:
    from tpstui.state.session import Session

__all__ = [
    "HOT_COLD_WINDOW_S",
    "Correlation",
    "DecodeRun",
    "Diagnosis",
    "binned_tps",
    "correlation",
    "diagnose",
    "diagnose_session",
    "hot_cold",
    "is_simulated",
    "per_second_tps",
    "words_duration",
]

NS = 1_000_000_000
HOT_COLD_WINDOW_S = 30.0
MIN_BUSY_FRACTION = 0.5
"""A second of the session counts in the correlation when at least this much of it was decoding."""
CLOCK_KEYS = ("sm_clock_mhz", "cpu_clock_mhz")
TEMPERATURES = (
    ("temp_c", "temp_slowdown_c", "core"),
    ("temp_hotspot_c", "temp_hotspot_max_c", "hotspot"),
    ("temp_mem_c", "temp_mem_max_c", "memory"),
)
"""(value, its own limit, name) of each temperature the verdict may quote."""
FALL_THRESHOLD = 0.01
"""A TPS change under 1 % is reported as no change."""


@dataclass(frozen=True)
class DecodeRun:
    """One run's arrivals (sequence 0) and tokens per arrival, for the diagnosis."""

    arrivals_ns: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class Correlation:
    """Per-second decode TPS against one telemetry value: Pearson r and the fitted slope."""

    n: int
    """Seconds that went into it."""
    r: float | None
    slope: float | None
    """Tokens/s per ``per`` units of the value (None with fewer than 3 seconds or a constant)."""
    per: str
    """"100 MHz" or "°C"."""


@dataclass(frozen=True)
class Diagnosis:
    """The numbers of the module docstring, and the verdict. Times in seconds, rates in tokens/s."""

    simulated: bool
    decode_s: float
    tokens: float
    tps: float | None
    first_throttle_s: float | None
    first_throttle_reason: str | None
    window_s: float
    cold_tps: float | None
    hot_tps: float | None
    throttled_s: float
    tps_throttled: float | None
    tps_unthrottled: float | None
    by_family: dict[str, dict[str, float | None]]
    """{"power" | "thermal" | "other" | "none": {"seconds": …, "tps": …}}, families seen only."""
    loss: float | None
    loss_tps: float | None
    seconds_by_reason: dict[str, dict[str, float]]
    """Per device, seconds each reason was on during the whole session."""
    correlations: dict[str, dict[str, Correlation]] = field(default_factory=dict)
    """Per device: {"clock": …, "temp": …}."""
    verdict: str = ""

    @property
    def hot_vs_cold(self) -> float | None:
        """hot / cold − 1 (negative: slower once hot)."""
        if self.cold_tps and self.hot_tps is not None:
            return self.hot_tps / self.cold_tps - 1.0
        return None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hot_vs_cold"] = self.hot_vs_cold
        return data


# -- the pieces ------------------------------------------------------------------------------------
def _decoded(runs: Sequence[DecodeRun]) -> list[DecodeRun]:
    return [r for r in runs if r.arrivals_ns.size >= 2 and int(r.arrivals_ns[-1]) > int(r.arrivals_ns[0])]


def hot_cold(
    runs: Sequence[DecodeRun], window_s: float = HOT_COLD_WINDOW_S
) -> tuple[float, float | None, float | None]:
    """(W, cold TPS, hot TPS): decode TPS of the first and last ``W`` seconds of decoding.

    Decode time is laid end to end over the runs; ``W`` is ``window_s`` or half the decode time,
    whichever is shorter. A token counts in a window when its decode time (since the start of
    decoding) falls in it: (0, W] for cold, (D − W, D] for hot.
    """
    times: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    offset = 0
    for run in _decoded(runs):
        first = int(run.arrivals_ns[0])
        times.append(offset + (run.arrivals_ns[1:] - first))
        tokens.append(run.counts[1:].astype(np.float64))
        offset += int(run.arrivals_ns[-1]) - first
    if not times or offset <= 0:
        return 0.0, None, None
    at = np.concatenate(times)
    count = np.concatenate(tokens)
    window_ns = min(int(window_s * NS), offset // 2)
    if window_ns <= 0:
        return 0.0, None, None
    cold = float(count[at <= window_ns].sum())
    hot = float(count[at > offset - window_ns].sum())
    return window_ns / NS, cold / (window_ns / NS), hot / (window_ns / NS)


def _inside(runs: Sequence[DecodeRun], intervals: Sequence[tuple[int, int]]) -> tuple[float, float, float, float]:
    """(seconds, tokens) inside the intervals and outside them, over every run's decode window."""
    totals = [0.0, 0.0, 0.0, 0.0]
    for run in runs:
        inside_ns, tokens_in, outside_ns, tokens_out = split_counts(run.arrivals_ns, run.counts, intervals)
        totals[0] += inside_ns / NS
        totals[1] += tokens_in
        totals[2] += outside_ns / NS
        totals[3] += tokens_out
    return totals[0], totals[1], totals[2], totals[3]


def _rate(tokens: float, seconds: float) -> float | None:
    return tokens / seconds if seconds > 0 else None


def binned_tps(
    runs: Sequence[DecodeRun], origin_ns: int, bin_ns: int = NS, min_busy_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(bin index since ``origin_ns``, decode TPS) of each bin with decoding in it.

    A token belongs to the bin its arrival falls in; the bin's decode time is the sum of the
    gaps its tokens closed, so its TPS is the time-weighted per-token TPS. Bins with less than
    ``min_busy_fraction`` of a bin of decode time are left out.
    """
    bins: list[np.ndarray] = []
    gaps: list[np.ndarray] = []
    tokens: list[np.ndarray] = []
    for run in _decoded(runs):
        bins.append((run.arrivals_ns[1:] - origin_ns) // bin_ns)
        gaps.append(np.diff(run.arrivals_ns).astype(np.float64) / NS)
        tokens.append(run.counts[1:].astype(np.float64))
    if not bins:
        return np.empty(0, dtype=np.int64), np.empty(0)
    unique, inverse = np.unique(np.concatenate(bins), return_inverse=True)
    busy = np.bincount(inverse, np.concatenate(gaps))
    count = np.bincount(inverse, np.concatenate(tokens))
    keep = (busy > 0) & (busy >= min_busy_fraction * bin_ns / NS)
    return unique[keep].astype(np.int64), count[keep] / busy[keep]


def per_second_tps(runs: Sequence[DecodeRun], origin_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """``binned_tps`` per second of the session clock, seconds with under ``MIN_BUSY_FRACTION`` of decoding left out."""
    return binned_tps(runs, origin_ns, NS, MIN_BUSY_FRACTION)


def _per_second_mean(samples: Sequence[TelemetrySample], key: str, origin_ns: int) -> dict[int, float]:
    sums: dict[int, list[float]] = {}
    for sample in samples:
        value = sample.values.get(key)
        if value is not None:
            sums.setdefault((sample.t_ns - origin_ns) // NS, []).append(value)
    return {second: float(np.mean(values)) for second, values in sums.items()}


def correlation(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, scale: float, per: str
) -> Correlation:
    """Pearson r of (x, y) and the least-squares slope dy/dx × ``scale`` (None when undefined)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = int(xs.size)
    if n < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return Correlation(n, None, None, per)
    r = float(np.corrcoef(xs, ys)[0, 1])
    slope = float(np.polyfit(xs, ys, 1)[0]) * scale
    return Correlation(n, r, slope, per)


def _correlations(
    tps_seconds: np.ndarray, tps: np.ndarray, samples: Sequence[TelemetrySample], origin_ns: int
) -> dict[str, Correlation]:
    out: dict[str, Correlation] = {}
    lookup = {int(s): float(v) for s, v in zip(tps_seconds, tps, strict=True)}
    for name, keys, scale, per in (("clock", CLOCK_KEYS, 100.0, "100 MHz"), ("temp", ("temp_c",), 1.0, "°C")):
        for key in keys:
            means = _per_second_mean(samples, key, origin_ns)
            if not means:
                continue
            common = sorted(s for s in means if s in lookup)
            out[name] = correlation([means[s] for s in common], [lookup[s] for s in common], scale, per)
            break
    return out


# -- the verdict ------------------------------------------------------------------------------------
def words_duration(seconds: float) -> str:
    """0.02 s, 12.3 s, 3 min 10 s, 1 h 02 min."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _values_in(samples: Sequence[TelemetrySample], key: str, intervals: Sequence[tuple[int, int]]) -> np.ndarray:
    """The ``key`` values of the samples taken within the (sorted, disjoint) intervals."""
    pairs = [(s.t_ns, s.values[key]) for s in samples if key in s.values]
    if not pairs or not intervals:
        return np.empty(0)
    times = np.fromiter((t for t, _ in pairs), dtype=np.int64, count=len(pairs))
    values = np.fromiter((v for _, v in pairs), dtype=np.float64, count=len(pairs))
    starts = np.fromiter((a for a, _ in intervals), dtype=np.int64, count=len(intervals))
    ends = np.fromiter((b for _, b in intervals), dtype=np.int64, count=len(intervals))
    index = np.searchsorted(starts, times, side="right") - 1
    inside = (index >= 0) & (times <= ends[np.maximum(index, 0)])
    return values[inside]


def _mean_in(samples: Sequence[TelemetrySample], key: str, intervals: Sequence[tuple[int, int]]) -> float | None:
    values = _values_in(samples, key, intervals)
    return float(values.mean()) if values.size else None


def _max_in(samples: Sequence[TelemetrySample], key: str, intervals: Sequence[tuple[int, int]]) -> float | None:
    values = _values_in(samples, key, intervals)
    return float(values.max()) if values.size else None


def _latest(samples: Sequence[TelemetrySample], key: str) -> float | None:
    for sample in reversed(samples):
        if key in sample.values:
            return float(sample.values[key])
    return None


def _held(samples: Sequence[TelemetrySample], intervals: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """("SM clock at 1,410/1,980 MHz", "memory at 92/95 °C") for one device while throttled ("" if unknown)."""
    clock_text = ""
    for key, label in (("sm_clock_mhz", "SM clock"), ("cpu_clock_mhz", "CPU clock")):
        clock = _mean_in(samples, key, intervals)
        if clock is not None:
            top = _latest(samples, key.replace("_mhz", "_max_mhz"))
            clock_text = f"{label} at {clock:,.0f}" + (f"/{top:,.0f} MHz" if top else " MHz")
            break
    hottest: tuple[float, str] | None = None
    for key, limit_key, name in TEMPERATURES:
        value, limit = _max_in(samples, key, intervals), _latest(samples, limit_key)
        if value is not None and limit:
            text = f"{name} at {value:.0f}/{limit:.0f} °C"
            if hottest is None or value / limit > hottest[0]:
                hottest = (value / limit, text)
    return clock_text, hottest[1] if hottest is not None else ""


def _verdict(
    d: Diagnosis,
    spans: Sequence[SpanLike],
    samples_by_device: Mapping[str, Sequence[TelemetrySample]],
    origin_ns: int,
    end_ns: int,
) -> str:
    prefix = "SIMULATED: " if d.simulated else ""
    if d.tps is None:
        return prefix + "no decoding to diagnose yet."
    if d.throttled_s <= 0:
        change = d.hot_vs_cold
        trend = ""
        if change is not None and d.window_s > 0:
            trend = (
                f"; decode TPS hot vs cold {change * 100:+.0f} % ({d.hot_tps:,.1f} vs {d.cold_tps:,.1f} tok/s)"
                if abs(change) >= FALL_THRESHOLD
                else "; decode TPS steady from cold to hot"
            )
        return f"{prefix}no throttling while decoding ({words_duration(d.decode_s)} of decoding){trend}."
    real = [
        (seconds, device, reason)
        for device, per_reason in d.seconds_by_reason.items()
        for reason, seconds in per_reason.items()
        if reason not in NOT_THROTTLING
    ]
    _, device, reason = min(real, key=lambda item: (-item[0], item[1], item[2]), default=(0.0, "", "throttling"))
    mine = [s for s in spans if s.device == device and s.reason == reason]
    intervals = merge_intervals((s.start_ns, s.end_ns if s.end_ns is not None else end_ns) for s in mine)
    clock, temperature = _held(samples_by_device.get(device, []), intervals) if device else ("", "")
    began = min((s.start_ns for s in mine), default=None)
    after = f" after {words_duration((began - origin_ns) / NS)}" if began is not None else ""
    fall = 1.0 - d.tps_throttled / d.tps_unthrottled if d.tps_throttled is not None and d.tps_unthrottled else None
    share = f"throttled {words_duration(d.throttled_s)} of {words_duration(d.decode_s)} of decoding"
    who = reason + (f" on {device}" if len(d.seconds_by_reason) > 1 else "")
    tail = f"; {temperature}" if temperature else ""
    if fall is not None and fall >= FALL_THRESHOLD:
        held = f" held the {clock}" if clock else " was on"
        return f"{prefix}decode TPS fell {fall * 100:.0f} %{after} while {who}{held}{tail}."
    if fall is None:
        return f"{prefix}decode TPS could not be compared: {who} was on ({share}){tail}."
    change = round(-fall * 100, 1) or 0.0  # never "-0.0"
    return f"{prefix}decode TPS did not fall ({change:+.1f} %) while {who} was on ({share}){tail}."


# -- the whole diagnosis ---------------------------------------------------------------------------
def diagnose(
    runs: Sequence[DecodeRun],
    spans: Sequence[SpanLike],
    samples_by_device: Mapping[str, Sequence[TelemetrySample]],
    origin_ns: int,
    end_ns: int,
    *,
    simulated: bool = False,
    window_s: float = HOT_COLD_WINDOW_S,
) -> Diagnosis:
    """The diagnosis of a session that started at ``origin_ns`` and has data up to ``end_ns``."""
    decoded = _decoded(runs)
    all_intervals = throttled_intervals(spans, origin_ns, end_ns)
    throttled_s, tokens_in, free_s, tokens_out = _inside(decoded, all_intervals)
    decode_s, tokens = throttled_s + free_s, tokens_in + tokens_out
    window, cold, hot = hot_cold(decoded, window_s)
    by_family: dict[str, dict[str, float | None]] = {}
    for family, intervals in family_intervals(spans, origin_ns, end_ns).items():
        seconds, count, _, _ = _inside(decoded, intervals)
        by_family[family] = {"seconds": seconds, "tps": _rate(count, seconds)}
    by_family["none"] = {"seconds": free_s, "tps": _rate(tokens_out, free_s)}
    tps, tps_free = _rate(tokens, decode_s), _rate(tokens_out, free_s)
    loss = 1.0 - tps / tps_free if throttled_s > 0 and tps is not None and tps_free else None
    first = min((s for s in spans if s.reason not in NOT_THROTTLING), key=lambda s: s.start_ns, default=None)
    seconds_tps, per_second = per_second_tps(decoded, origin_ns)
    result = Diagnosis(
        simulated=simulated,
        decode_s=decode_s,
        tokens=tokens,
        tps=tps,
        first_throttle_s=(first.start_ns - origin_ns) / NS if first is not None else None,
        first_throttle_reason=first.reason if first is not None else None,
        window_s=window,
        cold_tps=cold,
        hot_tps=hot,
        throttled_s=throttled_s,
        tps_throttled=_rate(tokens_in, throttled_s),
        tps_unthrottled=tps_free,
        by_family={k: by_family[k] for k in (*FAMILIES, "none") if k in by_family},
        loss=loss,
        loss_tps=tps_free - tps if loss is not None and tps_free is not None and tps is not None else None,
        seconds_by_reason=throttle_seconds(spans, origin_ns, end_ns),
        correlations={
            device: found
            for device, samples in samples_by_device.items()
            if (found := _correlations(seconds_tps, per_second, samples, origin_ns))
        },
    )
    return replace(result, verdict=_verdict(result, spans, samples_by_device, origin_ns, end_ns))


def is_simulated(settings: Mapping[str, Any], model_name: str | None) -> bool:
    """A session made by a simulated engine: its settings say so (``"simulated"``) or its model's name does."""
    return bool(settings.get("simulated")) or (model_name or "").startswith("SIMULATED")


def diagnose_session(session: Session) -> Diagnosis:
    """``diagnose`` of a Session (live or replayed): its non-warm-up runs that did not fail, all its
    spans and samples, from its start to its newest event."""
    runs = [DecodeRun(view.arrivals, view.counts) for view in session.runs(include_warmup=False) if view.error is None]
    started = session.started
    origin = (
        started.t_ns
        if started is not None
        else min((int(r.arrivals_ns[0]) for r in runs if r.arrivals_ns.size), default=0)
    )
    settings = started.settings if started is not None else {}
    return diagnose(
        runs,
        session.throttle_spans(),
        {device: session.samples(device) for device in session.devices()},
        origin,
        session.latest_ns,
        simulated=is_simulated(settings, session.model.name if session.model is not None else None),
    )
