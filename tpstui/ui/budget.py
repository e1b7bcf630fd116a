"""A CPU budget for the app's own thread, so watching a run does not slow it down.

While a model generates on the same machine, every millisecond the UI thread spends drawing is
taken from generation: from the CPU cores torch's threads use, and from the GIL its Python code
needs between kernels. ``CpuBudget`` is a token bucket of the UI thread's CPU time
(``time.thread_time()``: frame updates, layout and rendering alike): it fills at ``fraction``
of one core and every redraw spends from it. The app redraws only while it has credit, so
whatever the terminal size or token rate the refresh rate drops instead of the cost rising, down
to the app's floor (the text every second, other panels every 2 s), which on a large terminal
costs a little more than the default fraction. The budget counts all of the thread's CPU time,
compositing and pulling the session included.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["DEFAULT_FRACTION", "CpuBudget"]

DEFAULT_FRACTION = 0.015
"""Share of one core the app may use while a run generates."""


class CpuBudget:
    """Token bucket of this thread's CPU seconds, refilled at ``fraction`` per wall second."""

    def __init__(
        self,
        fraction: float = DEFAULT_FRACTION,
        burst_s: float = 0.03,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.fraction = fraction
        self.burst_s = burst_s
        self._clock = clock
        self._cpu = cpu
        self._wall = clock()
        self._used = cpu()
        self.credit_s = burst_s
        self.spent_s = 0.0
        """CPU seconds charged so far (for benchmarks)."""

    def charge(self) -> None:
        """Refill for the wall time since the last call and pay for the CPU used meanwhile."""
        wall, used = self._clock(), self._cpu()
        spent = max(used - self._used, 0.0)
        self.credit_s = min(self.credit_s + (wall - self._wall) * self.fraction, self.burst_s) - spent
        self.spent_s += spent
        self._wall, self._used = wall, used

    def reset(self) -> None:
        """Forget any debt (outside generation, e.g. the start-up layout, drawing is free)."""
        self.charge()
        self.credit_s = self.burst_s

    @property
    def allows(self) -> bool:
        """Whether there is credit left for another redraw."""
        return self.credit_s > 0
