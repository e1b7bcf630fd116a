"""The timeline panel: stacked lanes on one time axis, a legend line above and the time axis below.

Tokens/s, each device's clock, temperatures, power and bandwidth against their own limits, and
the throttle strip (``ui.lanes``), fitted to the height (``lanes.allocate``); every column
where a reason family was active is tinted in that family's colour in every lane. The window is
the model's ``TimeAxis`` (zoom / pan keys). Drawn line by line from strips rebuilt only when the
data, the window, the size or the theme changed: O(columns × rows) per redraw, never O(tokens).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from tpstui.state.throttle import FAMILIES
from tpstui.ui import format as fmt
from tpstui.ui.lane_layout import allocate, build_lanes
from tpstui.ui.lanes import KINDS, PAUSE_MARK, LaneContext, family_columns
from tpstui.ui.model import ViewModel
from tpstui.ui.timeline import NS
from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["GUTTER", "TimelinePanel", "clock_text"]

GUTTER = 8
"""Label columns left of the plot (7 characters and the axis line)."""
TINT = 0.35
"""How strongly a throttled column's background takes the family's colour."""


def clock_text(offset_s: float) -> str:
    """A time on the axis: 0s, 45s, 1:30, 1:02:03."""
    if offset_s < 60:
        return f"{offset_s:.0f}s"
    whole = int(offset_s)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TimelinePanel(LinesWidget):
    """Lanes of the session against time (the whole session, or the zoomed window)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"timeline--{name}" for name in KINDS} | {"timeline--label"}
    DEFAULT_CSS = """
    TimelinePanel > .timeline--good { color: $tps-good 70%; }
    TimelinePanel > .timeline--poor { color: $tps-poor 85%; }
    TimelinePanel > .timeline--avg { color: $tps-avg; text-style: bold; }
    TimelinePanel > .timeline--mark { color: $run-mark; }
    TimelinePanel > .timeline--spark { color: $tps-avg 80%; }
    TimelinePanel > .timeline--hot { color: $tps-poor; }
    TimelinePanel > .timeline--axis { color: $foreground-muted; }
    TimelinePanel > .timeline--label { color: $foreground-muted; }
    TimelinePanel > .timeline--power { color: $throttle-power; text-style: bold; }
    TimelinePanel > .timeline--thermal { color: $throttle-thermal; text-style: bold; }
    TimelinePanel > .timeline--other { color: $throttle-other; text-style: bold; }
    TimelinePanel > .timeline--base { color: $foreground; }
    TimelinePanel > .timeline--avg_on_good { color: $tps-avg; }
    TimelinePanel > .timeline--avg_on_poor { color: $tps-avg; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plot_key: tuple[object, ...] | None = None
        self._palette_cache: list[Style] | None = None
        self.window: tuple[int, int] = (0, 0)
        self.lanes_shown: list[tuple[str, int]] = []
        """(lane key, rows) of each lane on screen, top to bottom."""
        self.hidden_lanes = 0
        self.families: np.ndarray = np.empty(0, dtype=np.int64)
        """Per plot column: the reason family drawn there (−1: none), for tests."""
        self.current_tps: float | None = None
        self.mean_tps: float | None = None
        self.peak_tps: float | None = None
        self.throttled = False

    def restyled(self) -> None:
        self._palette_cache = None
        self._plot_key = None

    # -- per frame ---------------------------------------------------------------------------------
    def show(self, model: ViewModel, waiting: str) -> None:
        """Redraw when the data, the window, the size or the theme changed."""
        width, height = self.size
        current = model.current
        self.current_tps = current.current_tps(model.now_ns) if current is not None else None
        self.mean_tps = current.quick_metrics().output_tps if current is not None else None
        self.peak_tps = current.peak_tps if current is not None else None
        self.throttled = model.throttle.throttled
        origin = model.origin_ns
        window = model.axis.window(origin, model.now_ns) if origin is not None else (0, 0)
        key = (
            model.version,
            model.telemetry_version,
            model.throttle_version,
            window,
            model.now_ns if not model.axis.whole else 0,
            width,
            height,
            fmt.rate(self.current_tps),
            fmt.rate(self.mean_tps),
            fmt.rate(self.peak_tps),
            waiting if model.timeline is None else "",
            model.axis.describe(),
        )
        if key == self._plot_key:
            return
        self._plot_key = key
        self.window = window
        if model.timeline is None or origin is None:
            self.set_strips(self._message(waiting, width, height))
            return
        self.set_strips(self._draw(model, window, width, height))

    # -- drawing -------------------------------------------------------------------------------------
    def _palette(self) -> list[Style]:
        """Styles by ``KINDS`` index, then the same tinted for each family (index + len(KINDS) × (f + 1))."""
        if self._palette_cache is None:
            base = self.rich_style
            styles = [self.get_component_rich_style(f"timeline--{name}") for name in KINDS]
            background = Color.from_rich_color(base.bgcolor) if base.bgcolor is not None else Color(0, 0, 0)
            palette = [base + s for s in styles]
            for family in FAMILIES:
                colour = styles[KINDS.index(family)].color
                tint = background.blend(Color.from_rich_color(colour), TINT) if colour is not None else background
                palette += [base + s + Style(bgcolor=tint.rich_color) for s in styles]
            self._palette_cache = palette
        return self._palette_cache

    def _message(self, text: str, width: int, height: int) -> list[Strip]:
        axis = self._palette()[KINDS.index("axis")]
        strips = [Strip.blank(width, self.rich_style) for _ in range(height)]
        if height:
            strips[height // 2] = Strip([Segment(text[:width].center(width), axis)], width)
        return strips

    def _draw(self, model: ViewModel, window: tuple[int, int], width: int, height: int) -> list[Strip]:
        assert model.timeline is not None
        start, span = window
        n = max(width - GUTTER, 1)
        columns = model.timeline.columns(model.now_ns, n, start, span)
        families = family_columns(model, start, span, model.now_ns, n)
        self.families = families
        ctx = LaneContext(model, start, span, model.now_ns, n, columns, families)
        lanes, self.hidden_lanes = allocate(build_lanes(model), max(height - 2, 1))
        self.lanes_shown = [(lane.key, rows) for lane, rows in lanes]
        palette = self._palette()
        label_style = self.get_component_rich_style("timeline--label")
        tint = np.where(families >= 0, (families + 1) * len(KINDS), 0)
        strips = [self._legend(model, width)]
        length = GUTTER + n
        for lane, rows in lanes:
            cells = lane.cells(ctx, rows)
            kinds_all = cells.kinds + (tint[None, :] if lane.key != "throttle" else 0)
            for row in range(rows):
                head = Segment(cells.labels[row][: GUTTER - 1].rjust(GUTTER - 1) + "│", label_style)
                strip = Strip([head, *_runs(cells.chars[row], kinds_all[row], palette)], length)
                strips.append(strip if length == width else strip.crop_extend(0, width, self.rich_style))
        strips.append(self._axis(model, start, span, n, width))
        return strips[:height]

    def _legend(self, model: ViewModel, width: int) -> Strip:
        """now / mean / peak, the families seen, the window; shorter forms when narrow."""
        palette = self._palette()
        axis, base = palette[KINDS.index("axis")], palette[0]
        current, mean = self.current_tps, self.mean_tps
        good = current is not None and mean is not None and current >= fmt.POOR_TPS_FRACTION * mean
        now_style = palette[KINDS.index("good" if good or mean is None else "poor")] + Style(bold=True)
        numbers = [
            Segment("now ", axis),
            Segment(fmt.rate(current), now_style),
            Segment("  mean ", axis),
            Segment(fmt.rate(mean), base),
            Segment("  peak ", axis),
            Segment(fmt.rate(self.peak_tps), base),
        ]
        families: list[Segment] = []
        for family in sorted({int(f) for f in model.throttle_arrays.family.tolist()}):
            families += [Segment(" ▆", palette[KINDS.index(FAMILIES[family])]), Segment(FAMILIES[family], axis)]
        if model.stall_arrays[0].size:
            families += [Segment(f" {PAUSE_MARK}", palette[KINDS.index("poor")]), Segment("pause", axis)]
        window = [Segment(f"  {model.axis.describe()}", axis)]
        if self.hidden_lanes:
            window.append(Segment(f" · +{self.hidden_lanes} lane(s) on a taller terminal", axis))
        candidates = [
            [*numbers, Segment(" tok/s ", axis), *families, *window],
            [*numbers, Segment(" ", axis), *families, *window[:1]],
            [*numbers, Segment(" ", axis), *families],
            numbers,
        ]
        for parts in candidates:
            if sum(s.cell_length for s in parts) <= width:
                break
        return Strip(parts).crop_extend(0, width, self.rich_style)

    def _axis(self, model: ViewModel, start: int, span: int, n: int, width: int) -> Strip:
        axis = self._palette()[KINDS.index("axis")]
        origin = model.origin_ns or start
        chars = ["─"] * n
        left = clock_text((start - origin) / NS)
        right = clock_text((start + span - origin) / NS)
        if n > len(left) + len(right) + 2:
            chars[: len(left)] = list(left)
            chars[n - len(right) :] = list(right)
        head = Segment(" " * (GUTTER - 1) + "└", axis)
        return Strip([head, Segment("".join(chars), axis)]).crop_extend(0, width, self.rich_style)


def _runs(chars: np.ndarray, kinds: np.ndarray, palette: list[Style]) -> list[Segment]:
    """One segment per run of equal palette index."""
    if chars.size == 0:
        return []
    text = "".join(chars.tolist())
    cuts = [0, *(np.flatnonzero(np.diff(kinds)) + 1).tolist(), chars.size]
    return [Segment(text[a:b], palette[int(kinds[a])]) for a, b in itertools.pairwise(cuts)]
