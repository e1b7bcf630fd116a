"""The monitor's own pauses (``Stall`` events) and the tokens they may have delayed.

A token arrives after a gap: from the previous arrival of its run (or from the run's start, for
the first token) to its own arrival. When that gap overlaps a stall of the measuring process (a
garbage collection, the UI holding its thread), the token may have been delayed by the monitor
rather than by the model. These functions count such tokens, so a reader of the numbers (live or
from a recording) knows how many the monitor may have touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["PauseLike", "PauseStats", "pause_stats", "touched_arrivals"]


class PauseLike(Protocol):
    """A ``Stall`` event, or anything with its start, end and kind."""

    @property
    def t_ns(self) -> int: ...

    @property
    def end_ns(self) -> int: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class PauseStats:
    """The monitor's pauses during one window, and the arrivals whose gap overlapped one."""

    count: dict[str, int] = field(default_factory=dict)
    """Pauses per kind ("gc", "ui") that overlapped the window."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Their total duration per kind (within the window)."""
    longest_s: float = 0.0
    tokens_after_pause: int = 0
    """Tokens (of sequence 0) that arrived after a gap overlapping any pause."""
    arrivals_after_pause: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "count": dict(self.count),
            "seconds": dict(self.seconds),
            "longest_s": self.longest_s,
            "tokens_after_pause": self.tokens_after_pause,
            "arrivals_after_pause": self.arrivals_after_pause,
        }


def touched_arrivals(start_ns: int, arrivals_ns: np.ndarray, pauses: Iterable[PauseLike]) -> np.ndarray:
    """A boolean per arrival: its gap (previous arrival, or ``start_ns``, → itself) overlaps a pause."""
    if arrivals_ns.size == 0:
        return np.zeros(0, dtype=bool)
    lo = np.concatenate(([start_ns], arrivals_ns[:-1])).astype(np.int64)
    hi = arrivals_ns.astype(np.int64)
    touched = np.zeros(arrivals_ns.size, dtype=bool)
    for pause in pauses:
        touched |= (lo < pause.end_ns) & (hi > pause.t_ns)
    return touched


def pause_stats(
    pauses: Sequence[PauseLike], start_ns: int, end_ns: int, arrivals_ns: np.ndarray, counts: np.ndarray
) -> PauseStats:
    """The pauses overlapping [start_ns, end_ns] and the arrivals of the run they may have delayed."""
    inside = [p for p in pauses if p.t_ns < end_ns and p.end_ns > start_ns]
    count: dict[str, int] = {}
    seconds: dict[str, float] = {}
    longest = 0.0
    for pause in inside:
        duration = (min(pause.end_ns, end_ns) - max(pause.t_ns, start_ns)) / 1e9
        count[pause.kind] = count.get(pause.kind, 0) + 1
        seconds[pause.kind] = seconds.get(pause.kind, 0.0) + duration
        longest = max(longest, (pause.end_ns - pause.t_ns) / 1e9)
    touched = touched_arrivals(start_ns, arrivals_ns, inside)
    return PauseStats(count, seconds, longest, int(counts[touched].sum()), int(touched.sum()))
