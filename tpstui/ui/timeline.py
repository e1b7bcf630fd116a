"""The TPS timeline behind the chart: token arrivals folded into time buckets, O(new tokens) per tick.

Buckets have a fixed count and a width that doubles (pairs merge) as the session grows, so
memory and the per-frame cost stay flat however long the session and however fast the tokens.
Per bucket it keeps:

- ``tokens``: tokens that arrived in it (for the rolling rate);
- ``busy``: nanoseconds of decoding in it (gaps between consecutive tokens of a run);
- ``spread``: decode tokens spread evenly over the gap each one closed.

``spread / busy`` over a stretch of time is the time-weighted per-token (instantaneous) TPS:
with one token in a column it is exactly that token's ``metrics.instantaneous_tps``; over a whole
run it is the run's output TPS. Prefill (start → first token) and idle time are not decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Columns", "Timeline", "nice_span_ns"]

NS = 1_000_000_000
CAPACITY = 4096
BASE_WIDTH_NS = 1_000_000
SPANS_S = (10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)


def nice_span_ns(elapsed_ns: int) -> int:
    """The chart's time span: the smallest of 10 s, 20 s, 30 s, 1 min, ... that holds ``elapsed``."""
    for seconds in SPANS_S:
        if elapsed_ns <= seconds * NS:
            return seconds * NS
    days = -(-elapsed_ns // (86400 * NS))
    return int(days * 86400 * NS)


@dataclass(frozen=True)
class Columns:
    """The timeline resampled to chart columns; NaN where there is nothing to show."""

    span_ns: int
    per_token: np.ndarray
    """Time-weighted per-token TPS while decoding in each column."""
    rolling: np.ndarray
    """Tokens in the ``window_ns`` before each column's end, per second."""
    window_ns: int
    filled: int
    """Columns up to now (the rest are the future)."""


class Timeline:
    """Per-token TPS and token counts of every run on one time axis starting at ``origin_ns``."""

    def __init__(self, origin_ns: int, capacity: int = CAPACITY, base_width_ns: int = BASE_WIDTH_NS) -> None:
        self.origin_ns = origin_ns
        self.capacity = capacity
        self.width_ns = base_width_ns
        self.tokens = np.zeros(capacity)
        self.spread = np.zeros(capacity)
        self.busy = np.zeros(capacity)
        self.end_ns = origin_ns
        """The newest time folded in."""
        self.total_tokens = 0
        self.total_spread = 0.0

    def _ensure(self, t_ns: int) -> None:
        """Widen the buckets (merge pairs) until ``t_ns`` fits."""
        while t_ns - self.origin_ns >= self.capacity * self.width_ns:
            half = self.capacity // 2
            for series in (self.tokens, self.spread, self.busy):
                series[:half] = series.reshape(half, 2).sum(axis=1)
                series[half:] = 0.0
            self.width_ns *= 2

    def _index(self, t_ns: np.ndarray) -> np.ndarray:
        return ((t_ns - self.origin_ns) // self.width_ns).astype(np.int64)

    def add(self, prev_ns: int | None, arrivals: np.ndarray, counts: np.ndarray) -> None:
        """Fold a run's new arrivals in; ``prev_ns`` is that run's previous arrival (None: first)."""
        if arrivals.size == 0:
            return
        arrivals = np.maximum(arrivals.astype(np.int64), self.origin_ns)
        counts = counts.astype(np.float64)
        last = int(arrivals[-1])
        self._ensure(int(arrivals.max()))  # times that go backwards must not index past the buckets
        self.end_ns = max(self.end_ns, last)
        np.add.at(self.tokens, self._index(arrivals), counts)
        self.total_tokens += int(counts.sum())
        if prev_ns is None:  # the first token ends prefill: nothing was decoded before it
            prev_ns, arrivals, counts = int(arrivals[0]), arrivals[1:], counts[1:]
            if arrivals.size == 0:
                return
        edges = np.concatenate(([prev_ns], arrivals))
        cumulative = np.concatenate(([0.0], np.cumsum(counts)))
        first_k = (prev_ns - self.origin_ns) // self.width_ns + 1
        last_k = (last - self.origin_ns) // self.width_ns
        boundaries = self.origin_ns + self.width_ns * np.arange(first_k, last_k + 1, dtype=np.int64)
        points = np.sort(np.concatenate((edges, boundaries)))
        j = np.clip(np.searchsorted(edges, points, side="left"), 1, edges.size - 1)
        lo, hi = edges[j - 1], edges[j]
        gap = (hi - lo).astype(np.float64)
        fraction = np.divide(points - lo, gap, out=np.ones(points.size), where=gap > 0)
        spread_at = cumulative[j - 1] + counts[j - 1] * fraction
        index = self._index(points[:-1])
        np.add.at(self.spread, index, np.diff(spread_at))
        np.add.at(self.busy, index, np.diff(points).astype(np.float64))
        self.total_spread += float(counts.sum())

    def columns(self, now_ns: int, n_columns: int, window_ns: int = NS) -> Columns:
        """Resample to ``n_columns`` over a nice span that holds [origin, now]."""
        now_ns = max(now_ns, self.end_ns)
        self._ensure(now_ns)
        span = nice_span_ns(now_ns - self.origin_ns)
        n_columns = max(n_columns, 1)
        used = min(int((now_ns - self.origin_ns) // self.width_ns) + 1, self.capacity)
        starts = np.arange(used, dtype=np.int64) * self.width_ns
        column = np.minimum(starts * n_columns // span, n_columns - 1)
        spread = np.bincount(column, self.spread[:used], minlength=n_columns)
        busy = np.bincount(column, self.busy[:used], minlength=n_columns)
        per_token = np.full(n_columns, np.nan)
        np.divide(spread * NS, busy, out=per_token, where=busy > 0)

        window = max(window_ns, -(-span // n_columns))
        ends = np.minimum(self.origin_ns + (np.arange(1, n_columns + 1, dtype=np.int64) * span) // n_columns, now_ns)
        cumulative = np.concatenate(([0.0], np.cumsum(self.tokens[:used])))

        def tokens_before(t_ns: np.ndarray) -> np.ndarray:
            k = np.clip(-(-(t_ns - self.origin_ns) // self.width_ns), 0, used)
            return cumulative[k]

        lower = np.maximum(ends - window, self.origin_ns)
        rolling = (tokens_before(ends) - tokens_before(lower)) * NS / window
        filled = int(min(-(-(now_ns - self.origin_ns) * n_columns // span), n_columns))
        rolling[filled:] = np.nan
        per_token[filled:] = np.nan
        return Columns(span, per_token, rolling, window, filled)
