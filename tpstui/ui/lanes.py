"""The timeline's lanes: stacked rows that share one time axis (``ui.axis``).

A lane turns the frame's ``LaneContext`` into characters and palette indices, one row × column
grid (``Cells``); the timeline widget adds the gutter, the throttle tint (every column where a
reason family was active gets that family's background in every lane) and the colours. Lanes:

- ``TpsLane``: per-token TPS as bars (poor ones in their own colour), the 1 s rolling line, run marks;
- ``GaugeLane``: one telemetry value of one device as bars against its own limit
  (``stream.fields.Field.limit_key``: SM clock / max, core temperature / slowdown, hotspot /
  hotspot max, memory temperature / memory max, power / limit; % values against 100);
- ``ThrottleLane``: one row, the active reason family in each column;
- ``InFlightLane`` (``ui.lane_layout``): requests in flight, in an endpoint session.

**Adding a lane kind**: subclass ``Lane``, give it a ``key``, a ``label``, ``min_rows`` /
``max_rows`` and a ``priority`` (lower shows first when rows are short), implement
``cells(ctx, rows)`` from what the ``ViewModel`` holds, and add it in ``lane_layout.build_lanes``.
``lane_layout.allocate`` fits any mix to the height, the widget draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tpstui.stream.fields import field
from tpstui.ui import format as fmt
from tpstui.ui.model import ViewModel, device_kind
from tpstui.ui.timeline import Columns, column_edges

__all__ = [
    "HOT_FRACTION",
    "KINDS",
    "Cells",
    "GaugeLane",
    "Lane",
    "LaneContext",
    "ThrottleLane",
    "TpsLane",
    "bar_cells",
    "family_columns",
    "nice_ceiling",
    "span_columns",
]

KINDS = ("base", "good", "poor", "avg", "avg_on_good", "avg_on_poor", "mark", "spark", "hot", "axis",
         "power", "thermal", "other")  # fmt: skip
"""Palette indices lanes use; the widget maps each to a style (and a tinted style per family)."""
K = {name: index for index, name in enumerate(KINDS)}
HOT_FRACTION = 0.9
"""A temperature or power this close to its own limit is drawn in the "poor" colour."""
PAUSE_MARK = "▾"
"""Top row of the tokens/s lane where the monitor itself paused (a GC or a long UI frame)."""
BARS = np.array(list(" ▁▂▃▄▅▆▇█"))
LINE = np.array(list("⣀⠤⠒⠉"))
"""The rolling line at four heights within a cell (braille), bottom to top."""
SHORT = {
    "sm_clock_mhz": "SM",
    "cpu_clock_mhz": "clock",
    "temp_c": "temp",
    "temp_hotspot_c": "hotspot",
    "temp_mem_c": "mem °C",
    "power_w": "power",
    "bw_util_pct": "DRAM bw",
    "util_pct": "util",
}
"""Lane labels (the gutter is narrow)."""
TAG_WIDTH = 7
"""Characters of the gutter a device tag may use (``widgets.timeline.GUTTER`` − 1)."""
HOW = {"sm_clock_mhz": "min", "cpu_clock_mhz": "min"}
"""How a column summarises its readings: the lowest clock (a dip stays visible when zoomed out),
the highest of everything else (a peak does)."""


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ value."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-9):
            return float(candidate)
    return float(10 ** (exponent + 1))


@dataclass(frozen=True)
class LaneContext:
    """One frame's window, shared by every lane."""

    model: ViewModel
    start_ns: int
    span_ns: int
    now_ns: int
    n: int
    """Columns of the plot (the gutter excluded)."""
    columns: Columns | None
    """The TPS timeline resampled to the window (None before the first run)."""
    families: np.ndarray
    """Per column: the index into ``FAMILIES`` of the reason family active there (−1: none)."""


@dataclass(frozen=True)
class Cells:
    """A lane's rows: characters, palette indices (``KINDS``) and one gutter label per row."""

    chars: np.ndarray
    kinds: np.ndarray
    labels: list[str]


class Lane:
    """One lane; see the module docstring for adding a kind."""

    key = "lane"
    label = ""
    min_rows = 1
    max_rows = 2
    priority = 50

    def cells(self, ctx: LaneContext, rows: int) -> Cells:
        raise NotImplementedError


def bar_cells(fraction: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Bars filling ``fraction`` (NaN: nothing) of ``rows`` rows: characters and a has-bar mask."""
    eighths = np.where(np.isfinite(fraction), np.round(np.clip(fraction, 0, 1) * rows * 8), -1).astype(np.int64)
    from_bottom = np.arange(rows - 1, -1, -1)[:, None]
    level = np.clip(eighths[None, :] - from_bottom * 8, 0, 8)
    # a reading at the bottom of the scale still shows as the lowest bar, not as a gap
    level[-1] = np.where(eighths >= 0, np.maximum(level[-1], 1), 0)
    return BARS[level], level > 0


class TpsLane(Lane):
    """Per-token TPS bars, the 1 s rolling line and run marks; grows with the height."""

    key = "tps"
    label = "tok/s"
    min_rows = 2
    max_rows = 1000
    priority = 0

    def cells(self, ctx: LaneContext, rows: int) -> Cells:
        n, columns = ctx.n, ctx.columns
        if columns is None:
            return Cells(np.full((rows, n), " "), np.zeros((rows, n), dtype=np.int64), [""] * rows)
        per_token, rolling = columns.per_token, columns.rolling
        ordered = np.sort(per_token[np.isfinite(per_token)])  # a few hundred columns: cheaper than percentile
        finite_rolling = rolling[np.isfinite(rolling)]
        typical = float(ordered[ordered.size // 2]) if ordered.size else 0.0
        top = [float(finite_rolling.max()) if finite_rolling.size else 0.0]
        if ordered.size:
            top.append(float(ordered[int(0.95 * (ordered.size - 1))]))
        y_max = nice_ceiling(max(top) * 1.1)
        with np.errstate(invalid="ignore"):
            bar_eighths = np.where(np.isfinite(per_token), np.round(per_token / y_max * rows * 8), -1)
            line_level = np.where(np.isfinite(rolling), np.floor(rolling / y_max * rows * 4), -1)
        bar_eighths = np.minimum(bar_eighths, rows * 8).astype(np.int64)
        line_level = np.minimum(line_level, rows * 4 - 1).astype(np.int64)
        good = np.isfinite(per_token) & (per_token >= fmt.POOR_TPS_FRACTION * typical)
        marks = np.full(n, -1, dtype=np.int64)
        for start, warmup in ctx.model.run_marks:
            col = int((start - ctx.start_ns) * n // ctx.span_ns)
            if 0 <= col < n:
                marks[col] = 1 if warmup and marks[col] != 0 else 0
        from_bottom = np.arange(rows - 1, -1, -1)[:, None]
        bar = np.clip(bar_eighths[None, :] - from_bottom * 8, 0, 8)
        level = line_level[None, :] - from_bottom * 4
        on_line = (level >= 0) & (level < 4)
        has_bar = bar > 0
        good_2d = np.broadcast_to(good[None, :], bar.shape)
        chars = np.where(has_bar, BARS[bar], " ")
        kinds = np.where(has_bar, np.where(good_2d, K["good"], K["poor"]), K["base"])
        chars = np.where(on_line, LINE[np.clip(level, 0, 3)], chars)
        kinds = np.where(
            on_line, np.where(bar >= 8, np.where(good_2d, K["avg_on_good"], K["avg_on_poor"]), K["avg"]), kinds
        )
        marked = (marks[None, :] >= 0) & ~has_bar & ~on_line
        chars = np.where(marked, np.where(marks[None, :] == 1, "╎", "┊"), chars)
        kinds = np.where(marked, K["mark"], kinds)
        paused = span_columns(ctx.model.stall_arrays, ctx.start_ns, ctx.span_ns, ctx.now_ns, n)
        chars[0] = np.where(paused, PAUSE_MARK, chars[0])  # the monitor paused here (a Stall event)
        kinds[0] = np.where(paused, K["poor"], kinds[0])
        labels = [""] * rows
        labels[0] = fmt.rate(y_max)
        if rows >= 3:
            labels[1] = "tok/s"
        if rows >= 2:
            labels[-1] = "0"
        return Cells(chars, kinds, labels)


class GaugeLane(Lane):
    """One telemetry value of one device against its own limit."""

    def __init__(self, device: str, key: str, several: bool, priority: int) -> None:
        self.device = device
        self.value_key = key
        self.key = f"{device}:{key}"
        self.info = field(key)
        self.tag = device_tag(device) if several and device_kind(device) == "gpu" else ""
        """Which device, when several are watched: "0" for gpu0, "node1/0" for a DCGM node's gpu0."""
        self.label = SHORT.get(key, self.info.brief)
        self.priority = priority
        self.percent = self.info.unit.startswith("%")
        self.from_zero = self.percent or self.info.unit in ("", "tok/s")
        """Counts and rates are drawn from 0; clocks, temperatures and power from near their lowest."""
        self.can_be_hot = key.startswith("temp") or key == "power_w"
        self.how = HOW.get(key, "max")

    def limit(self, model: ViewModel) -> float | None:
        if self.percent:
            return 100.0
        state = model.devices.get(self.device)
        if state is None or state.latest is None or not self.info.limit_key:
            return None
        return state.latest.values.get(self.info.limit_key)

    def cells(self, ctx: LaneContext, rows: int) -> Cells:
        state = ctx.model.devices.get(self.device)
        series = state.series.get(self.value_key) if state is not None else None
        if series is None:
            values = np.full(ctx.n, np.nan)
        else:
            values = series.columns(ctx.start_ns, ctx.span_ns, ctx.n, ctx.now_ns, self.how)
        limit = self.limit(ctx.model)
        finite = values[np.isfinite(values)]
        seen_max = float(finite.max()) if finite.size else None
        top = limit if limit else (seen_max or 1.0)
        # as the telemetry sparklines: a drop from the limit stays visible (percentages from 0)
        low = 0.0 if self.from_zero else min(float(finite.min()) if finite.size else top, top / 2)
        top = max(top, seen_max or top)
        chars, has = bar_cells((values - low) / max(top - low, 1e-12), rows)
        if limit and self.can_be_hot:
            hot = values >= HOT_FRACTION * limit  # NaN compares False
            kinds = np.where(has, np.where(hot[None, :], K["hot"], K["spark"]), K["base"])
        else:
            kinds = np.where(has, K["spark"], K["base"])
        bound = _short_value(limit) if limit else ""
        if len(self.tag) > 2:  # a DCGM node's GPU: the tag on a line of its own
            parts = [self.label, self.tag, bound]
        else:
            parts = [f"{self.tag} {self.label}" if self.tag else self.label, bound]
        labels = [part for part in parts if part][:rows]
        labels += [""] * (rows - len(labels))
        return Cells(chars, kinds, labels)


def device_tag(device: str) -> str:
    """A device's name in the lanes' narrow gutter: "0" for gpu0; "node1/0" for a DCGM exporter's
    ``node1/gpu0`` (the node's name cut to fit, the GPU index kept)."""
    node, _, gpu = device.rpartition("/")
    index = gpu.removeprefix("gpu")
    if not node:
        return index
    host = node.split(":")[0]
    return f"{host[: max(TAG_WIDTH - len(index) - 1, 1)]}/{index}"


def _short_value(value: float) -> str:
    return f"/{value / 1000:.1f}k" if value >= 10_000 else f"/{value:.0f}"


class ThrottleLane(Lane):
    """One row: the reason family active in each column (thermal over power over other)."""

    key = "throttle"
    label = "throttle"
    min_rows = 1
    max_rows = 1
    priority = 0

    def cells(self, ctx: LaneContext, rows: int) -> Cells:
        families = ctx.families
        chars = np.where(families >= 0, "▆", "─")[None, :]
        names = np.array([K["power"], K["thermal"], K["other"]])
        kinds = np.where(families >= 0, names[np.clip(families, 0, 2)], K["axis"])[None, :]
        return Cells(chars, kinds, [self.label])


def span_columns(spans: tuple[np.ndarray, np.ndarray], start_ns: int, span_ns: int, now_ns: int, n: int) -> np.ndarray:
    """Per column of the window: whether any of the (start, end) spans covers part of it (an open
    end: ``now_ns``); a span shorter than a column still marks its column."""
    starts, ends = spans
    out = np.zeros(max(n, 0), dtype=bool)
    if starts.size == 0 or n <= 0:
        return out
    edges = column_edges(start_ns, span_ns, n)
    ends = np.minimum(ends, now_ns)
    visible = (ends > start_ns) & (starts < start_ns + span_ns) & (ends > starts)
    lo = np.clip(np.searchsorted(edges, starts[visible], side="right") - 1, 0, n)
    hi = np.maximum(np.clip(np.searchsorted(edges, ends[visible], side="left"), 0, n), lo + 1)
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, lo, 1)
    np.add.at(cover, np.minimum(hi, n), -1)
    return np.cumsum(cover)[:n] > 0


def family_columns(model: ViewModel, start_ns: int, span_ns: int, now_ns: int, n: int) -> np.ndarray:
    """Per column of the window: the reason family shown there (−1: none active).

    Several at once show the thermal one, then power, then other (``FAMILIES`` order is power,
    thermal, other; the ranking is thermal > power > other).
    """
    spans = model.throttle_arrays
    out = np.full(n, -1, dtype=np.int64)
    for family in (2, 0, 1):  # later wins: other, then power, then thermal
        mine = spans.family == family
        out[span_columns((spans.start_ns[mine], spans.end_ns[mine]), start_ns, span_ns, now_ns, n)] = family
    return out
