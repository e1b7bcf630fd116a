"""What the timeline lanes draw: token arrivals and telemetry values folded into time buckets.

Buckets have a fixed count and a width that doubles (pairs merge) as the session grows, so
memory and the per-frame cost stay flat however long the session and however fast the tokens.
``Timeline`` keeps, per bucket:

- ``tokens``: tokens that arrived in it (for the rolling rate);
- ``busy``: nanoseconds of decoding in it (gaps between consecutive tokens of a run);
- ``spread``: decode tokens spread evenly over the gap each one closed.

``spread / busy`` over a stretch of time is the time-weighted per-token (instantaneous) TPS:
with one token in a column it is exactly that token's ``metrics.instantaneous_tps``; over a whole
run it is the run's output TPS. Prefill (start → first token) and idle time are not decoding.
``GaugeSeries`` keeps the sum, count, minimum and maximum of one telemetry value per bucket.
Both resample to any window of columns (``columns``): zooming in shows each bucket over the
columns it covers, zooming out sums (or takes the min / max of) the buckets of a column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Columns", "GaugeSeries", "Timeline", "column_edges", "nice_span_ns"]

NS = 1_000_000_000
CAPACITY = 16384
BASE_WIDTH_NS = 1_000_000
SPANS_S = (10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)


def nice_span_ns(elapsed_ns: int) -> int:
    """The whole-session span: the smallest of 10 s, 20 s, 30 s, 1 min, ... that holds ``elapsed``."""
    for seconds in SPANS_S:
        if elapsed_ns <= seconds * NS:
            return seconds * NS
    days = -(-elapsed_ns // (86400 * NS))
    return int(days * 86400 * NS)


def column_edges(start_ns: int, span_ns: int, n_columns: int) -> np.ndarray:
    """The ``n_columns + 1`` boundaries of the columns of the window [start, start + span]."""
    return start_ns + (np.arange(n_columns + 1, dtype=np.int64) * span_ns) // max(n_columns, 1)


@dataclass(frozen=True)
class Columns:
    """The timeline resampled to a window of columns; NaN where there is nothing to show."""

    start_ns: int
    span_ns: int
    per_token: np.ndarray
    """Time-weighted per-token TPS while decoding in each column."""
    rolling: np.ndarray
    """Tokens in the ``window_ns`` before each column's end (or now), per second."""
    window_ns: int
    filled: int
    """Columns up to now (the rest are the future)."""


class _Buckets:
    """Fixed-count buckets from ``origin_ns`` whose width doubles (pairs merge) as time goes on."""

    def __init__(self, origin_ns: int, capacity: int, base_width_ns: int) -> None:
        self.origin_ns = origin_ns
        self.capacity = capacity
        self.width_ns = base_width_ns
        self.end_ns = origin_ns
        """The newest time folded in."""

    def _merge(self) -> None:
        raise NotImplementedError

    def _ensure(self, t_ns: int) -> None:
        """Widen the buckets (merge pairs) until ``t_ns`` fits."""
        while t_ns - self.origin_ns >= self.capacity * self.width_ns:
            self._merge()
            self.width_ns *= 2

    def _index(self, t_ns: np.ndarray) -> np.ndarray:
        return ((t_ns - self.origin_ns) // self.width_ns).astype(np.int64)

    def _used(self, now_ns: int) -> int:
        return min(int((max(now_ns, self.end_ns) - self.origin_ns) // self.width_ns) + 1, self.capacity)

    def _bucket_ranges(self, edges: np.ndarray, used: int) -> tuple[np.ndarray, np.ndarray]:
        """For each column: the first bucket it touches and one past the last (at least one bucket)."""
        lo = np.clip((edges[:-1] - self.origin_ns) // self.width_ns, 0, used)
        hi = np.clip(-(-(edges[1:] - self.origin_ns) // self.width_ns), 0, used)
        return lo, np.maximum(hi, np.minimum(lo + 1, used))


class Timeline(_Buckets):
    """Per-token TPS and token counts of every run on one time axis starting at ``origin_ns``."""

    def __init__(self, origin_ns: int, capacity: int = CAPACITY, base_width_ns: int = BASE_WIDTH_NS) -> None:
        super().__init__(origin_ns, capacity, base_width_ns)
        self.tokens = np.zeros(capacity)
        self.spread = np.zeros(capacity)
        self.busy = np.zeros(capacity)
        self.total_tokens = 0
        self.total_spread = 0.0

    def _merge(self) -> None:
        half = self.capacity // 2
        for series in (self.tokens, self.spread, self.busy):
            series[:half] = series.reshape(half, 2).sum(axis=1)
            series[half:] = 0.0

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

    def columns(
        self, now_ns: int, n_columns: int, start_ns: int | None = None, span_ns: int | None = None, window_ns: int = NS
    ) -> Columns:
        """Resample to ``n_columns`` over [start, start + span] (default: the whole session's nice span)."""
        now_ns = max(now_ns, self.end_ns)
        self._ensure(now_ns)
        start = self.origin_ns if start_ns is None else max(start_ns, self.origin_ns)
        span = nice_span_ns(now_ns - self.origin_ns) if span_ns is None else max(span_ns, 1)
        n_columns = max(n_columns, 1)
        used = self._used(now_ns)
        edges = column_edges(start, span, n_columns)
        lo, hi = self._bucket_ranges(edges, used)
        spread_sum = np.concatenate(([0.0], np.cumsum(self.spread[:used])))
        busy_sum = np.concatenate(([0.0], np.cumsum(self.busy[:used])))
        spread, busy = spread_sum[hi] - spread_sum[lo], busy_sum[hi] - busy_sum[lo]
        per_token = np.full(n_columns, np.nan)
        np.divide(spread * NS, busy, out=per_token, where=busy > 0)

        window = max(window_ns, -(-span // n_columns))
        ends = np.minimum(edges[1:], now_ns)
        cumulative = np.concatenate(([0.0], np.cumsum(self.tokens[:used])))

        def tokens_before(t_ns: np.ndarray) -> np.ndarray:
            k = np.clip(-(-(t_ns - self.origin_ns) // self.width_ns), 0, used)
            return cumulative[k]

        lower = np.maximum(ends - window, self.origin_ns)
        rolling = (tokens_before(ends) - tokens_before(lower)) * NS / window
        future = edges[:-1] >= now_ns
        filled = int(np.count_nonzero(~future))
        rolling[future] = np.nan
        per_token[future] = np.nan
        return Columns(start, span, per_token, rolling, window, filled)


class GaugeSeries(_Buckets):
    """One telemetry value of one device over time: sum, count, min and max per bucket."""

    def __init__(self, origin_ns: int, capacity: int = 8192, base_width_ns: int = 25_000_000) -> None:
        super().__init__(origin_ns, capacity, base_width_ns)
        self.total = np.zeros(capacity)
        self.count = np.zeros(capacity)
        self.low = np.full(capacity, np.inf)
        self.high = np.full(capacity, -np.inf)
        self.samples = 0

    def _merge(self) -> None:
        half = self.capacity // 2
        for series, combine, empty in (
            (self.total, np.sum, 0.0),
            (self.count, np.sum, 0.0),
            (self.low, np.min, np.inf),
            (self.high, np.max, -np.inf),
        ):
            series[:half] = combine(series.reshape(half, 2), axis=1)
            series[half:] = empty

    def add(self, times_ns: np.ndarray, values: np.ndarray) -> None:
        """Fold in new readings (times in order, at or after the origin)."""
        if times_ns.size == 0:
            return
        times = np.maximum(times_ns.astype(np.int64), self.origin_ns)
        self._ensure(int(times[-1]))
        self.end_ns = max(self.end_ns, int(times[-1]))
        index = self._index(times)
        np.add.at(self.total, index, values)
        np.add.at(self.count, index, 1.0)
        np.minimum.at(self.low, index, values)
        np.maximum.at(self.high, index, values)
        self.samples += int(times.size)

    def columns(self, start_ns: int, span_ns: int, n_columns: int, now_ns: int, how: str = "mean") -> np.ndarray:
        """The value per column of [start, start + span]: ``how`` is "mean", "min" or "max" (NaN: no reading)."""
        n_columns = max(n_columns, 1)
        used = self._used(now_ns)
        edges = column_edges(max(start_ns, self.origin_ns), max(span_ns, 1), n_columns)
        lo, hi = self._bucket_ranges(edges, used)
        out = np.full(n_columns, np.nan)
        if used == 0:
            return out
        if how == "mean":
            total = np.concatenate(([0.0], np.cumsum(self.total[:used])))
            count = np.concatenate(([0.0], np.cumsum(self.count[:used])))
            n = count[hi] - count[lo]
            np.divide(total[hi] - total[lo], n, out=out, where=n > 0)
        else:
            data = self.low[:used] if how == "min" else self.high[:used]
            reduce = np.minimum if how == "min" else np.maximum
            # column i covers buckets lo[i] .. lo[i + 1] - 1 (or just lo[i] when zoomed into one bucket)
            out = reduce.reduceat(data, np.minimum(lo, used - 1)).astype(np.float64)
            out[lo >= used] = np.nan
            out[~np.isfinite(out)] = np.nan
        _hold(out, edges[:-1], min(self.end_ns, now_ns))
        out[edges[:-1] >= max(now_ns, self.origin_ns) + self.width_ns] = np.nan
        return out


HOLD_NS = 2_000_000_000
"""A column with no reading shows the previous column's value for up to this long (a reading
holds until the next one: zoomed in, a 4 Hz sampler or a 2 Hz scrape leaves no gaps), but only
up to the newest reading; a longer silence stays a gap."""


def _hold(out: np.ndarray, starts: np.ndarray, end_ns: int) -> None:
    """Fill ``out``'s NaN columns in place with the last reading before them (see ``HOLD_NS``)."""
    seen = np.isfinite(out)
    if seen.all() or not seen.any():
        return
    last = np.maximum.accumulate(np.where(seen, np.arange(out.size), -1))
    fill = ~seen & (last >= 0)
    fill &= starts - starts[np.maximum(last, 0)] <= HOLD_NS
    fill &= starts <= end_ns
    out[fill] = out[last[fill]]
