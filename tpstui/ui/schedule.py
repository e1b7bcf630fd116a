"""Which panels redraw in a frame: each at its own rate and, while a run generates, within a CPU budget.

The frame timer (``fps``) only pulls data; each panel is due every ``fps / WIDGET_HZ`` frames, at
its own phase so that the heavy panels do not all redraw in the same frame. While a run
generates, a due panel waits (stays pending) until the ``CpuBudget`` has credit, unless it has
waited ``MAX_STALE_S`` or it shows "throttled now" and that changed. No textual here: the app asks
``RedrawSchedule`` each frame and draws what it yields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from tpstui.ui.budget import CpuBudget

__all__ = ["DRAW_ORDER", "MAX_STALE_S", "THROTTLE_WIDGETS", "WIDGET_HZ", "RedrawSchedule"]

WIDGET_HZ = {"header": 5.0, "chart": 5.0, "stream": 10.0, "stats": 4.0, "telemetry": 2.0, "requests": 4.0}
"""How often each panel may redraw; the frame timer (``fps``) only pulls data and checks these."""
WIDGET_PHASE = {"header": 1, "chart": 0, "stream": 0, "stats": 1, "telemetry": 3, "requests": 2}
DRAW_ORDER = ("stream", "chart", "header", "stats", "requests", "telemetry")
"""Which pending panel redraws first when the CPU budget is short (while a run generates)."""
THROTTLE_WIDGETS = ("header", "chart", "telemetry")
"""Panels that show "throttled now": when it changes, all of them redraw in the same frame."""
MAX_STALE_S = {"stream": 1.0, "header": 1.0, "chart": 2.0, "stats": 2.0, "telemetry": 2.0, "requests": 2.0}
"""However short the CPU budget, a pending panel redraws at least this often (seconds): the text
and the header every second, the heavier panels every 2 s (at 160×48 a chart or stats redraw
costs 2-6 ms of the main thread, and compositing the lines it changed as much again)."""


class RedrawSchedule:
    """Per frame: ``start_frame()``, then ``idle()`` (nothing can be drawn: skip the frame) or
    ``redraws()`` (the panels to draw now, most live first; the budget pays for each one)."""

    def __init__(self, fps: float, budget: CpuBudget, clock: Callable[[], float] = time.monotonic) -> None:
        self.fps = fps
        self.budget = budget
        self._clock = clock
        self._frame_index = -1
        self._pending: set[str] = set()
        self._drawn_at: dict[str, float] = {}
        self._throttle_drawn = -1
        """The throttle version (``ViewModel.throttle_version``) the throttle panels show."""

    def start_frame(self) -> None:
        """Count the frame and charge the budget for the CPU used since the last charge."""
        self.budget.charge()
        self._frame_index += 1

    def idle(self, generating: bool) -> bool:
        """Whether this frame can draw nothing: a run generates, there is no credit and no panel
        has waited its ``MAX_STALE_S`` (the app then leaves the session alone too, unless
        "throttled now" may have changed: that redraws its panels at once)."""
        if not generating or self.budget.allows:
            return False
        now = self._clock()
        return not any(self._stale(name, now) for name in MAX_STALE_S)

    def _stale(self, panel: str, now: float) -> bool:
        """Whether ``panel`` has waited its ``MAX_STALE_S`` since it was last drawn."""
        return now - self._drawn_at.get(panel, 0.0) >= MAX_STALE_S[panel]

    def due(self, panel: str, force: bool = False) -> bool:
        """Whether ``panel``'s rate makes it due this frame (``force``: every panel is)."""
        period = max(1, round(self.fps / WIDGET_HZ[panel]))
        return force or (self._frame_index - WIDGET_PHASE[panel]) % period == 0

    def redraws(self, force: bool, generating: bool, throttle_version: int) -> Iterator[str]:
        """The panels to redraw now, in ``DRAW_ORDER``; after each one the caller drew, the
        budget is charged (so the next one waits if that one spent the credit)."""
        self._pending.update(name for name in WIDGET_HZ if self.due(name, force))
        together = throttle_version != self._throttle_drawn
        if together:  # "throttled now" changed: every panel showing it redraws in this frame
            self._throttle_drawn = throttle_version
            self._pending.update(THROTTLE_WIDGETS)
        if not generating:
            self.budget.reset()
        now = self._clock()
        for name in DRAW_ORDER:
            if name not in self._pending:
                continue
            urgent = together and name in THROTTLE_WIDGETS
            if generating and not force and not self._stale(name, now) and not urgent and not self.budget.allows:
                continue  # stays pending until there is credit again (or it gets stale)
            self._pending.discard(name)
            self._drawn_at[name] = now
            yield name
            self.budget.charge()
