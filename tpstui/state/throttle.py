"""Throttling: spans of active clock-event reasons, and what they did to decode speed.

Pure functions over spans and token arrivals (no threads, no backends): time per reason,
the union of throttled time, decode TPS while throttled versus not (``tps_split``), and
``ThrottleStats`` for one run or several. The chart, the stats panel and the bench report
all answer "throttled?" from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "NOT_THROTTLING",
    "SpanLike",
    "ThrottleSpan",
    "ThrottleStats",
    "merge_intervals",
    "throttle_seconds",
    "throttle_stats",
    "throttled_intervals",
    "tps_split",
]

NS = 1_000_000_000

NOT_THROTTLING = frozenset({"GpuIdle", "ApplicationsClocksSetting", "DisplayClockSetting"})
"""Clock-event reasons that are not a throttling condition: the GPU is idle, or clocks follow a
configured setting. They still get spans and time per reason; TPS-while-throttled ignores them."""


class SpanLike(Protocol):
    device: str
    reason: str
    start_ns: int
    end_ns: int | None


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


@dataclass
class ThrottleSpan:
    """A throttle reason active on a device from ``start_ns`` until ``end_ns`` (None: still on)."""

    device: str
    reason: str
    start_ns: int
    end_ns: int | None = None


@dataclass(frozen=True)
class ThrottleStats:
    """Throttling over one or more runs' decode windows (``tpstui.state.telemetry``)."""

    seconds_by_reason: dict[str, float]
    """Seconds each reason was on ("gpu0 SwPowerCap" when there are several devices)."""
    throttled_s: float
    """Time any real throttle reason was on, within the decode windows."""
    decode_s: float
    tps_throttled: float | None
    tps_unthrottled: float | None

    @staticmethod
    def combine(parts: list[ThrottleStats]) -> ThrottleStats:
        """Several runs as one: times add up, rates are tokens over time on each side."""
        reasons: dict[str, float] = {}
        for part in parts:
            for reason, seconds in part.seconds_by_reason.items():
                reasons[reason] = reasons.get(reason, 0.0) + seconds
        throttled = sum(p.throttled_s for p in parts)
        free = sum(p.decode_s - p.throttled_s for p in parts)
        tokens_in = sum((p.tps_throttled or 0.0) * p.throttled_s for p in parts)
        tokens_out = sum((p.tps_unthrottled or 0.0) * (p.decode_s - p.throttled_s) for p in parts)
        return ThrottleStats(
            reasons,
            throttled,
            sum(p.decode_s for p in parts),
            tokens_in / throttled if throttled > 0 else None,
            tokens_out / free if free > 0 else None,
        )


def throttle_stats(
    spans: Sequence[SpanLike], start_ns: int, end_ns: int, arrivals_ns: np.ndarray, counts: np.ndarray
) -> ThrottleStats:
    """Throttling during one run in [start_ns, end_ns]: time per reason, decode TPS while throttled versus not."""
    by_device = throttle_seconds(spans, start_ns, end_ns)
    several = len(by_device) > 1
    reasons = {
        (f"{device} {reason}" if several else reason): seconds
        for device, per_reason in by_device.items()
        for reason, seconds in per_reason.items()
    }
    split = tps_split(arrivals_ns, counts, throttled_intervals(spans, start_ns, end_ns))
    decode_s = (int(arrivals_ns[-1]) - int(arrivals_ns[0])) / NS if arrivals_ns.size > 1 else 0.0
    return ThrottleStats(
        reasons, float(split["throttled_s"] or 0.0), decode_s, split["tps_throttled"], split["tps_unthrottled"]
    )
