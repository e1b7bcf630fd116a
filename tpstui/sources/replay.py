"""Replay: a recording fed back into a ``Session`` on the recording's own clock.

``ReplaySource`` implements ``tpstui.sources.base.SessionSource`` and ``ReplayControls``, so the live
app shows a replay exactly as it showed the live session: at replay position t the session holds
every event that had been published by t, in the order it was published. Playing forwards feeds
the events that became due; seeking backwards builds a fresh ``Session`` from the start (readers
fetch ``source.session`` every tick, so they pick the new one up).

All feeding happens in ``pump()``: the replay thread calls it on a short timer; tests call it
directly with an injected clock, so replays are deterministic without sleeping.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np

from tpstui.sources.base import Unrecorded
from tpstui.state.session import Session
from tpstui.stream.events import ThrottleChanged, Tokens
from tpstui.stream.recording import Recording, read_recording

__all__ = ["MAX_SPEED", "MIN_SPEED", "ReplaySource"]

MIN_SPEED = 1 / 16
MAX_SPEED = 10_000.0
_MAX_WAIT = 0.25
_MIN_WAIT = 0.005


class ReplaySource(Unrecorded):
    """Plays a ``Recording`` in real time (or ``speed`` times faster) into a ``Session``."""

    kind = "replay"

    def __init__(
        self,
        recording: Recording,
        speed: float = 1.0,
        paused: bool = False,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.recording = recording
        self.warnings = list(recording.warnings)
        self._events = recording.events
        # Publish order is kept; an event becomes due once every event before it is due.
        count = len(self._events)
        stamps = np.fromiter((e.t_ns for e in self._events), dtype=np.int64, count=count)
        self.t0_ns = int(stamps[0]) if count else 0
        self._at = np.maximum.accumulate(stamps) - self.t0_ns if count else stamps
        """Offset at which each event is due: publish order is kept, so an event is due once every
        event before it is due (a sample stamped mid-read but published after a token waits for it)."""
        self._duration = int(self._at[-1]) if count else 0
        kinds = [type(e) for e in self._events]
        self._token_at = self._at[np.fromiter((k is Tokens for k in kinds), dtype=bool, count=count)]
        self._throttle_at = self._at[np.fromiter((k is ThrottleChanged for k in kinds), dtype=bool, count=count)]
        self._clock = clock
        self._lock = threading.Lock()
        self._feed_lock = threading.Lock()
        self._speed = _clamp_speed(speed)
        self._paused = paused
        self._anchor_pos = 0
        self._anchor_clock = clock()
        self._session = Session()
        self._next = 0
        self._shown = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str], speed: float = 1.0, paused: bool = False) -> ReplaySource:
        """Read ``path`` (a ``RecordingError`` if it is not a usable recording) and prepare to play it."""
        return cls(read_recording(path), speed=speed, paused=paused)

    # -- SessionSource ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        with self._lock:
            return self._session

    def now_ns(self) -> int:
        """The replay position on the recording's clock (what the session has been fed up to)."""
        with self._lock:
            return self.t0_ns + self._shown

    def start(self) -> None:
        self.pump()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tpstui-replay", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(1.0)

    # -- ReplayControls ----------------------------------------------------------------------------
    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def duration_ns(self) -> int:
        return self._duration

    @property
    def position_ns(self) -> int:
        with self._lock:
            return self._position_locked()

    @property
    def at_end(self) -> bool:
        return self.position_ns >= self._duration

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._reanchor_locked(self._position_locked())
            self._speed = _clamp_speed(speed)
        self._wake.set()

    def toggle_pause(self) -> None:
        """Pause or resume; resuming at the end plays again from the start."""
        with self._lock:
            position = self._position_locked()
            if self._paused and position >= self._duration:
                position = 0
            self._reanchor_locked(position)
            self._paused = not self._paused
        self._wake.set()

    def step(self) -> None:
        """Pause (if playing) and advance to the next token, or the next event when no token is left."""
        with self._lock:
            position = self._position_locked()
            self._paused = True
            target = _next_after(self._token_at, position)
            if target is None:
                target = _next_after(self._at, position) or position
            self._reanchor_locked(target)
        self._wake.set()

    def seek(self, offset_ns: int) -> None:
        with self._lock:
            self._reanchor_locked(min(max(int(offset_ns), 0), self._duration))
        self._wake.set()

    def seek_next_throttle(self) -> None:
        """Jump to the next throttle change after the position (nothing happens when there is none)."""
        with self._lock:
            target = _next_after(self._throttle_at, self._position_locked())
            if target is not None:
                self._reanchor_locked(target)
        self._wake.set()

    def jump_to_end(self) -> None:
        self.seek(self._duration)

    @property
    def throttle_offsets_ns(self) -> list[int]:
        """Offsets of every throttle change (for marks on a timeline)."""
        return [int(x) for x in self._throttle_at]

    # -- feeding -----------------------------------------------------------------------------------
    def pump(self) -> int:
        """Feed every event due at the current position; returns how many were applied.

        Going backwards rebuilds a fresh Session (swapped in when it has caught up).
        """
        with self._feed_lock:
            with self._lock:
                target = self._position_locked()
                if not self._paused and target >= self._duration:
                    self._reanchor_locked(self._duration)
                    self._paused = True
                session, start = self._session, self._next
            limit = int(np.searchsorted(self._at, target, side="right"))
            if limit < start:
                session, start = Session(), 0
            session.apply_all(self._events[start:limit])
            with self._lock:
                self._session = session
                self._next = limit
                self._shown = target
            return limit - start

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pump()
            self._wake.wait(self._wait_seconds())
            self._wake.clear()

    def _wait_seconds(self) -> float:
        """Until the next event is due (bounded), so the session follows the clock closely."""
        with self._lock:
            if self._paused or self._next >= len(self._at):
                return _MAX_WAIT
            due_ns = (int(self._at[self._next]) - self._position_locked()) / self._speed
        return min(max(due_ns / 1e9, _MIN_WAIT), _MAX_WAIT)

    def _position_locked(self) -> int:
        if self._paused:
            position = self._anchor_pos
        else:
            position = self._anchor_pos + int((self._clock() - self._anchor_clock) * self._speed)
        return min(max(position, 0), self._duration)

    def _reanchor_locked(self, position: int) -> None:
        self._anchor_pos = position
        self._anchor_clock = self._clock()


def _clamp_speed(speed: float) -> float:
    if not speed > 0:  # also catches NaN
        raise ValueError(f"replay speed must be above 0 (got {speed})")
    return min(max(float(speed), MIN_SPEED), MAX_SPEED)


def _next_after(offsets: np.ndarray, position: int) -> int | None:
    index = int(np.searchsorted(offsets, position, side="right"))
    return int(offsets[index]) if index < len(offsets) else None
