"""The TPS chart: per-token TPS as bars, the rolling average as a line, run starts and throttling.

Drawn line by line (``render_line``) from strips built once per frame at most, and only when the
data, the size or the theme changed; the work is O(columns × rows), never O(tokens).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tpstui.state.throttle import NOT_THROTTLING, ThrottleSpan, throttled_intervals
from tpstui.ui import format as fmt
from tpstui.ui.model import ViewModel
from tpstui.ui.timeline import Columns
from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["TpsChart", "nice_ceiling"]

LABEL_WIDTH = 6
BARS = " ▁▂▃▄▅▆▇█"
LINE = "⣀⠤⠒⠉"
"""The rolling line at four heights within a cell (braille), bottom to top."""


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


def _span_label(span_ns: int) -> str:
    seconds = span_ns / 1e9
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


class TpsChart(LinesWidget):
    """Tokens per second against time for the whole session (the span grows in nice steps)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "tps-chart--good",
        "tps-chart--poor",
        "tps-chart--avg",
        "tps-chart--mark",
        "tps-chart--throttle",
        "tps-chart--axis",
        "tps-chart--now-good",
        "tps-chart--now-poor",
    }
    DEFAULT_CSS = """
    TpsChart > .tps-chart--good { color: $tps-good 70%; }
    TpsChart > .tps-chart--poor { color: $tps-poor 85%; }
    TpsChart > .tps-chart--avg { color: $tps-avg; text-style: bold; }
    TpsChart > .tps-chart--mark { color: $run-mark; }
    TpsChart > .tps-chart--throttle { color: $throttle; text-style: bold; }
    TpsChart > .tps-chart--axis { color: $foreground-muted; }
    TpsChart > .tps-chart--now-good { color: $tps-good; text-style: bold; }
    TpsChart > .tps-chart--now-poor { color: $tps-poor; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plot_key: tuple[object, ...] | None = None
        self._legend_key: tuple[object, ...] | None = None
        self._style_cache: dict[str, Style] | None = None
        self.columns: Columns | None = None
        self.current_tps: float | None = None
        self.mean_tps: float | None = None
        self.peak_tps: float | None = None
        self.throttled = False

    def restyled(self) -> None:
        self._style_cache = None
        self._plot_key = self._legend_key = None

    # -- per frame ---------------------------------------------------------------------------------
    def show(self, model: ViewModel, spans: Sequence[ThrottleSpan], waiting: str) -> None:
        """Redraw the plot if its data, size or theme changed; the legend line if its numbers did."""
        width, height = self.size
        timeline = model.timeline
        columns = timeline.columns(model.now_ns, max(width - LABEL_WIDTH, 1)) if timeline is not None else None
        current = model.current
        self.current_tps = current.current_tps(model.now_ns) if current is not None else None
        self.mean_tps = current.quick_metrics().output_tps if current is not None else None
        self.throttled = any(s.end_ns is None and s.reason not in NOT_THROTTLING for s in spans)
        plot_key = (
            model.version,
            columns.filled if columns is not None else -1,
            columns.span_ns if columns is not None else 0,
            width,
            height,
            len(spans),
            spans[-1].end_ns if spans else None,
            waiting if columns is None else "",
        )
        if plot_key != self._plot_key:
            self._plot_key = plot_key
            self._legend_key = None
            self.columns = columns
            if columns is None or timeline is None:
                self.set_strips(self._message(waiting, width, height))
                return
            self.peak_tps = model.peak_rolling(columns.rolling)
            legend = self._lines[0] if self._lines else Strip.blank(width)
            self.set_strips([legend, *self._plot(model, columns, spans, width, height)])
        legend_key = (fmt.rate(self.current_tps), fmt.rate(self.mean_tps), fmt.rate(self.peak_tps), self.throttled)
        if columns is not None and self._lines and legend_key != self._legend_key:
            self._legend_key = legend_key
            self.set_strips([self._legend(width), *self._lines[1:]])

    # -- drawing -------------------------------------------------------------------------------------
    def _palette(self) -> dict[str, Style]:
        if self._style_cache is None:
            base = self.rich_style
            names = ("good", "poor", "avg", "mark", "throttle", "axis", "now-good", "now-poor")
            styles = {n: self.get_component_rich_style(f"tps-chart--{n}") for n in names}
            styles["base"] = base
            styles["avg_on_good"] = styles["avg"] + Style(bgcolor=styles["good"].color)
            styles["avg_on_poor"] = styles["avg"] + Style(bgcolor=styles["poor"].color)
            self._style_cache = styles
        return self._style_cache

    def _message(self, text: str, width: int, height: int) -> list[Strip]:
        styles = self._palette()
        strips = [Strip.blank(width, styles["base"]) for _ in range(height)]
        if height:
            line = text[:width].center(width)
            strips[height // 2] = Strip([Segment(line, styles["axis"])], width)
        return strips

    def _legend(self, width: int) -> Strip:
        styles = self._palette()
        current, mean, peak = self.current_tps, self.mean_tps, self.peak_tps
        good = current is not None and mean is not None and current >= fmt.POOR_TPS_FRACTION * mean
        parts = [
            Segment("now ", styles["axis"]),
            Segment(fmt.rate(current), styles["now-good"] if good or mean is None else styles["now-poor"]),
            Segment("  mean ", styles["axis"]),
            Segment(fmt.rate(mean), styles["base"]),
            Segment("  peak ", styles["axis"]),
            Segment(fmt.rate(peak), styles["base"]),
            Segment(" tok/s", styles["axis"]),
        ]
        if self.throttled:
            parts.append(Segment("  THROTTLED", styles["throttle"]))
        return Strip(parts).crop_extend(0, width, styles["base"])

    def _plot(
        self, model: ViewModel, columns: Columns, spans: Sequence[ThrottleSpan], width: int, height: int
    ) -> list[Strip]:
        """The plot rows and the axis (everything below the legend line)."""
        styles = self._palette()
        assert model.timeline is not None
        origin = model.timeline.origin_ns
        n = columns.per_token.size
        rows = max(height - 2, 1)
        per_token, rolling = columns.per_token, columns.rolling
        finite_tokens = per_token[np.isfinite(per_token)]
        finite_rolling = rolling[np.isfinite(rolling)]
        ordered = np.sort(finite_tokens)  # a few hundred columns: cheaper than np.percentile's overhead
        typical = float(ordered[ordered.size // 2]) if ordered.size else 0.0
        top_candidates = [float(finite_rolling.max()) if finite_rolling.size else 0.0]
        if ordered.size:
            top_candidates.append(float(ordered[int(0.95 * (ordered.size - 1))]))
        y_max = nice_ceiling(max(top_candidates) * 1.1)

        with np.errstate(invalid="ignore"):
            bar_eighths = np.where(np.isfinite(per_token), np.round(per_token / y_max * rows * 8), -1)
            line_level = np.where(np.isfinite(rolling), np.floor(rolling / y_max * rows * 4), -1)
        bar_eighths = np.minimum(bar_eighths, rows * 8).astype(np.int64)
        line_level = np.minimum(line_level, rows * 4 - 1).astype(np.int64)
        good = np.isfinite(per_token) & (per_token >= fmt.POOR_TPS_FRACTION * typical)
        mark_cols = np.full(n, -1, dtype=np.int64)
        for start, warmup in model.run_marks:
            col = int((start - origin) * n // columns.span_ns)
            if 0 <= col < n:
                mark_cols[col] = 1 if warmup and mark_cols[col] != 0 else 0

        chars, kinds = _grid(rows, bar_eighths, line_level, good, mark_cols)
        palette = [styles[k] for k in ("base", "good", "poor", "avg", "avg_on_good", "avg_on_poor", "mark")]
        strips = []
        pad = max(width - LABEL_WIDTH - n, 0)
        for row, segments in enumerate(_grid_runs(chars, kinds, palette)):  # row 0 is the top
            label = fmt.rate(y_max) if row == 0 else ("0" if row == rows - 1 else "")
            head = Segment(label.rjust(LABEL_WIDTH - 1)[-(LABEL_WIDTH - 1) :] + "│", styles["axis"])
            if pad:
                segments.append(Segment(" " * pad, styles["base"]))
            strips.append(Strip([head, *segments], LABEL_WIDTH + n + pad))
        strips.append(self._axis(columns, throttled_intervals(spans, origin, model.now_ns), origin, n, width))
        return strips[: max(height - 1, 0)]

    def _axis(self, columns: Columns, intervals: list[tuple[int, int]], origin: int, n: int, width: int) -> Strip:
        styles = self._palette()
        throttled = np.zeros(n, dtype=bool)
        for lo, hi in intervals:
            a = int((lo - origin) * n // columns.span_ns)
            b = int(-(-(hi - origin) * n // columns.span_ns))
            throttled[max(a, 0) : max(min(b, n), a + 1)] = True
        chars = np.where(throttled, "━", "─")
        end = _span_label(columns.span_ns)
        if n > len(end) + 4:
            chars[n - len(end) :] = list(end)
        kinds = np.where(throttled & (chars == "━"), 1, 0)
        head = Segment("0s".rjust(LABEL_WIDTH - 1) + "└", styles["axis"])
        return Strip([head, *_runs(chars, kinds, [styles["axis"], styles["throttle"]])]).crop_extend(
            0, width, styles["base"]
        )


_BAR_CHARS = np.array(list(BARS))
_LINE_CHARS = np.array(list(LINE))


def _grid(
    rows: int, bar_eighths: np.ndarray, line_level: np.ndarray, good: np.ndarray, mark_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Characters and palette indices of the whole plot (rows × columns, row 0 at the top).

    Palette: 0 blank, 1 good bar, 2 poor bar, 3 line, 4 line on a good bar, 5 line on a poor bar,
    6 run mark.
    """
    from_bottom = np.arange(rows - 1, -1, -1)[:, None]
    bar = np.clip(bar_eighths[None, :] - from_bottom * 8, 0, 8)
    level = line_level[None, :] - from_bottom * 4
    on_line = (level >= 0) & (level < 4)
    has_bar = bar > 0
    good_2d = np.broadcast_to(good[None, :], bar.shape)
    chars = np.where(has_bar, _BAR_CHARS[bar], " ")
    kinds = np.where(has_bar, np.where(good_2d, 1, 2), 0)
    chars = np.where(on_line, _LINE_CHARS[np.clip(level, 0, 3)], chars)
    kinds = np.where(on_line, np.where(bar >= 8, np.where(good_2d, 4, 5), 3), kinds)
    marked = (mark_cols[None, :] >= 0) & ~has_bar & ~on_line
    chars = np.where(marked, np.where(mark_cols[None, :] == 1, "╎", "┊"), chars)
    kinds = np.where(marked, 6, kinds)
    return chars, kinds


def _grid_runs(chars: np.ndarray, kinds: np.ndarray, palette: list[Style]) -> list[list[Segment]]:
    """Segments of every row: one per run of equal palette index (one join, one diff for the grid)."""
    rows, n = chars.shape
    if n == 0:
        return [[] for _ in range(rows)]
    text = "".join(chars.ravel().tolist())
    change = np.ones((rows, n), dtype=bool)
    change[:, 1:] = kinds[:, 1:] != kinds[:, :-1]
    starts_r, starts_c = np.nonzero(change)
    out: list[list[Segment]] = [[] for _ in range(rows)]
    flat_kinds = kinds.ravel().tolist()
    bounds = [*(starts_r * n + starts_c).tolist(), rows * n]
    for i, row in enumerate(starts_r.tolist()):
        a = bounds[i]
        b = min(bounds[i + 1], (row + 1) * n)
        out[row].append(Segment(text[a:b], palette[flat_kinds[a]]))
    return out


def _runs(chars: np.ndarray, kinds: np.ndarray, palette: list[Style]) -> list[Segment]:
    """One segment per run of equal palette index."""
    if chars.size == 0:
        return []
    text = "".join(chars.tolist())
    cuts = [0, *(np.flatnonzero(np.diff(kinds)) + 1).tolist(), chars.size]
    return [Segment(text[a:b], palette[int(kinds[a])]) for a, b in itertools.pairwise(cuts)]
