"""Throttling: spans of active clock-event reasons, and what they did to decode speed.

Pure functions over spans and token arrivals (no threads, no backends): time per reason,
the union of throttled time, decode TPS while throttled versus not (``tps_split``), and
``ThrottleStats`` for one run or several. Reasons fall into three families (``reason_family``:
power, thermal, other) for colours and the diagnosis. The timeline, the header badge, the
telemetry panel, the stats panel and the bench report all answer "throttled?" from here
(``throttle_now`` for the present moment).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "FAMILIES",
    "NOT_THROTTLING",
    "SpanLike",
    "ThrottleNow",
    "ThrottleSpan",
    "ThrottleStats",
    "family_intervals",
    "merge_intervals",
    "reason_family",
    "split_counts",
    "throttle_now",
    "throttle_seconds",
    "throttle_stats",
    "throttled_intervals",
    "tps_split",
]

NS = 1_000_000_000

NOT_THROTTLING = frozenset({"GpuIdle", "ApplicationsClocksSetting", "DisplayClockSetting"})
"""Clock-event reasons that are not a throttling condition: the GPU is idle, or clocks follow a
configured setting. They still get spans and time per reason; TPS-while-throttled ignores them."""


FAMILIES = ("power", "thermal", "other")
"""The reason families, in the order legends list them."""

_THERMAL = ("SwThermalSlowdown", "HwThermalSlowdown", "TEMP_", "PROCHOT", "VRHOT", "VR_THERMAL")
_POWER = ("SwPowerCap", "HwPowerBrakeSlowdown", "PPT", "SPL", "FPPT", "SPPT", "TDC_", "EDC_", "APCC", "PPM")


def reason_family(reason: str) -> str | None:
    """ "power", "thermal" or "other" for a throttle reason; None for one of ``NOT_THROTTLING``.

    NVML: the power cap and the power brake are power, the thermal slowdowns thermal; AMD: the
    PPT / SPL / current limits are power, TEMP_* / PROCHOT / VR / any *_THERMAL flag thermal.
    Everything else (HwSlowdown, SyncBoost, BoardLimit, Reliability, FIT) is "other".
    """
    if reason in NOT_THROTTLING:
        return None
    if reason.endswith("THERMAL") or reason.startswith(_THERMAL):
        return "thermal"
    if reason.startswith(_POWER):
        return "power"
    return "other"


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


def split_counts(
    arrivals_ns: np.ndarray, counts: np.ndarray, intervals: Sequence[tuple[int, int]]
) -> tuple[int, float, int, float]:
    """(ns inside, tokens inside, ns outside, tokens outside) the intervals, over one run's decode window.

    The decode window runs from the first arrival to the last; tokens are attributed by arrival
    time (a token arriving at ``t`` counts inside when ``a < t <= b``), and the first token is
    left out: it ends prefill, nothing was decoded before it. ``intervals`` are sorted and
    disjoint (``merge_intervals``).
    """
    if arrivals_ns.size < 2:
        return 0, 0.0, 0, 0.0
    first, last = int(arrivals_ns[0]), int(arrivals_ns[-1])
    window = [(max(a, first), min(b, last)) for a, b in intervals if min(b, last) > max(a, first)]
    inside_ns = sum(b - a for a, b in window)
    later = counts.astype(np.float64)
    later[0] = 0.0
    cumulative = np.concatenate(([0.0], np.cumsum(later)))
    tokens_in = 0.0
    for a, b in window:  # arrivals are sorted: each interval is a slice of them
        lo = int(np.searchsorted(arrivals_ns, a, side="right"))
        hi = int(np.searchsorted(arrivals_ns, b, side="right"))
        tokens_in += float(cumulative[hi] - cumulative[lo])
    return inside_ns, tokens_in, (last - first) - inside_ns, float(cumulative[-1]) - tokens_in


def tps_split(
    arrivals_ns: np.ndarray, counts: np.ndarray, intervals: Sequence[tuple[int, int]]
) -> dict[str, float | None]:
    """Decode TPS while throttled versus not, over the run's decode window (``split_counts``).

    Each side's rate is its tokens over its time.
    """
    throttled_ns, tokens_in, free_ns, tokens_out = split_counts(arrivals_ns, counts, intervals)
    return {
        "throttled_s": throttled_ns / 1e9,
        "tps_throttled": tokens_in / (throttled_ns / 1e9) if throttled_ns > 0 else None,
        "tps_unthrottled": tokens_out / (free_ns / 1e9) if free_ns > 0 else None,
    }


def family_intervals(spans: Iterable[SpanLike], start_ns: int, end_ns: int) -> dict[str, list[tuple[int, int]]]:
    """When each reason family was active (on any device), within the window; families never seen are absent."""
    by_family: dict[str, list[tuple[int, int]]] = {}
    for span, lo, hi in _clipped(spans, start_ns, end_ns):
        family = reason_family(span.reason)
        if family is not None:
            by_family.setdefault(family, []).append((lo, hi))
    return {family: merge_intervals(by_family[family]) for family in FAMILIES if family in by_family}


@dataclass(frozen=True)
class ThrottleNow:
    """The throttle state at one moment: what every panel of a frame shows ("throttled now")."""

    active: dict[str, tuple[str, ...]]
    """Active reasons per device, ``NOT_THROTTLING`` ones included (sorted)."""

    @property
    def reasons(self) -> tuple[str, ...]:
        """The real throttle reasons active on any device (sorted, no duplicates)."""
        return tuple(sorted({r for rs in self.active.values() for r in rs if r not in NOT_THROTTLING}))

    @property
    def throttled(self) -> bool:
        return bool(self.reasons)

    @property
    def families(self) -> tuple[str, ...]:
        present = {reason_family(r) for r in self.reasons}
        return tuple(f for f in FAMILIES if f in present)


def throttle_now(spans: Iterable[SpanLike]) -> ThrottleNow:
    """The state given by the open spans (``end_ns`` None) among ``spans``."""
    active: dict[str, set[str]] = {}
    for span in spans:
        if span.end_ns is None:
            active.setdefault(span.device, set()).add(span.reason)
    return ThrottleNow({device: tuple(sorted(reasons)) for device, reasons in active.items()})


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
