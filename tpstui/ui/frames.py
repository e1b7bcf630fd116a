"""When the app held its main thread: a frame's own work, or a frame timer that fired late.

Either may have kept the generation thread from the GIL (or a core), so while a run generates
the app reports them to its source, which records them as ``Stall`` events ("ui"); the stats
then count the tokens whose gap overlapped one. No textual here: the app calls ``check``.
"""

from __future__ import annotations

from tpstui.sources.pauses import UI_THRESHOLD_NS

__all__ = ["FrameWatch"]


class FrameWatch:
    """Compares each frame with the one before: late start (the event loop was busy) and long work."""

    def __init__(self, interval_s: float, threshold_ns: int = UI_THRESHOLD_NS) -> None:
        self.interval_ns = int(interval_s * 1e9)
        self.threshold_ns = threshold_ns
        self._previous_start: int | None = None

    def check(self, start_ns: int, end_ns: int) -> list[tuple[int, int, str]]:
        """(start, end, what) of each stall this frame shows; call once per frame."""
        stalls = []
        if self._previous_start is not None:
            expected = self._previous_start + self.interval_ns
            if start_ns - expected >= self.threshold_ns:
                stalls.append((expected, start_ns, f"frame timer {(start_ns - expected) / 1e6:.0f} ms late"))
        if end_ns - start_ns >= self.threshold_ns:
            stalls.append((start_ns, end_ns, f"frame {(end_ns - start_ns) / 1e6:.0f} ms"))
        self._previous_start = start_ns
        return stalls

    def reset(self) -> None:
        """Forget the previous frame (the frame timer was paused, or nothing is being measured)."""
        self._previous_start = None
