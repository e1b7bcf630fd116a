"""The timeline's time axis: the whole session, or a zoomed window that follows the end or stays put.

Keys (``z`` / ``x`` zoom in / out, ``[`` / ``]`` pan back / forward, ``f`` follow) change a
``TimeAxis``; every frame asks it for the window to draw with ``window(origin, now)``. In the
whole-session view the span grows in nice steps (10 s → 20 s → 30 s → 1 min …). Zoomed in, the
window ends at "now" (live: the present; replay: the replay position) until the user pans back;
panning forward to the end follows it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpstui.ui.timeline import NS, nice_span_ns

__all__ = ["ZOOM_SPANS_S", "TimeAxis"]

ZOOM_SPANS_S = (2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
PAN_FRACTION = 4
"""A pan moves the window by a quarter of its span."""


@dataclass
class TimeAxis:
    """``span_ns`` None: the whole session; ``end_ns`` None: follow the end (else a fixed window end)."""

    span_ns: int | None = None
    end_ns: int | None = None

    @property
    def whole(self) -> bool:
        return self.span_ns is None

    @property
    def following(self) -> bool:
        return self.end_ns is None

    def window(self, origin_ns: int, now_ns: int) -> tuple[int, int]:
        """(start, span) of the window to draw."""
        elapsed = max(now_ns - origin_ns, 0)
        if self.span_ns is None:
            return origin_ns, nice_span_ns(elapsed)
        span = self.span_ns
        end = now_ns if self.end_ns is None else min(max(self.end_ns, origin_ns + span), now_ns)
        return max(end - span, origin_ns), span

    def zoom_in(self, origin_ns: int, now_ns: int) -> None:
        start, span = self.window(origin_ns, now_ns)
        smaller = [s * NS for s in ZOOM_SPANS_S if s * NS < span]
        if not smaller:
            return
        centre = start + span // 2
        self.span_ns = smaller[-1]
        if self.end_ns is not None:
            self.end_ns = centre + self.span_ns // 2

    def zoom_out(self, origin_ns: int, now_ns: int) -> None:
        if self.span_ns is None:
            return
        larger = [s * NS for s in ZOOM_SPANS_S if s * NS > self.span_ns]
        whole = nice_span_ns(max(now_ns - origin_ns, 0))
        if not larger or larger[0] >= whole:
            self.follow()
            return
        start, span = self.window(origin_ns, now_ns)
        self.span_ns = larger[0]
        if self.end_ns is not None:
            self.end_ns = start + span // 2 + self.span_ns // 2

    def pan(self, direction: int, origin_ns: int, now_ns: int) -> bool:
        """Move back (−1) or forward (+1) by a quarter span; False when there is nowhere to go
        (the whole session is shown: zoom in first)."""
        if self.span_ns is None:
            return False
        start, span = self.window(origin_ns, now_ns)
        end = start + span + direction * (span // PAN_FRACTION)
        self.end_ns = None if end >= now_ns else max(end, origin_ns + span)
        return True

    def follow(self) -> None:
        """Back to the whole session, following the end."""
        self.span_ns = None
        self.end_ns = None

    def describe(self) -> str:
        """ "whole session", "last 30s" or "30s window (paused: ] or f follows)"."""
        if self.span_ns is None:
            return "whole session"
        label = _span_text(self.span_ns)
        return f"last {label}" if self.end_ns is None else f"{label} window · ] or f follows"


def _span_text(span_ns: int) -> str:
    seconds = span_ns / NS
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"
