"""What the live app watches: a source of session state, live or replayed.

The app never receives one message per token. It pulls ``source.session`` at a fixed frame rate
and renders a snapshot; ``source.now_ns()`` says which moment "now" is (the real clock when
live, the replay position when replaying). A replay may swap ``session`` for a fresh one when
it seeks backwards, so readers must fetch ``source.session`` on every tick, never keep it.

Controls are optional capabilities: the app checks ``isinstance(source, LiveControls)`` /
``isinstance(source, ReplayControls)`` and shows the keys that apply.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tpstui.session import Session

__all__ = ["LiveControls", "ReplayControls", "SessionSource"]


@runtime_checkable
class SessionSource(Protocol):
    """Produces session state on its own threads; ``start`` and ``close`` never block for long."""

    kind: str
    """"live" or "replay"."""

    @property
    def session(self) -> Session: ...

    def now_ns(self) -> int:
        """The present moment on the session's clock (perf_counter_ns of the recording process)."""
        ...

    def start(self) -> None:
        """Begin producing (model loading happens on the source's own thread)."""
        ...

    def close(self) -> None:
        """Stop producing and release threads within about a second."""
        ...


@runtime_checkable
class LiveControls(Protocol):
    """A live source can run again and stop the current run."""

    def rerun(self) -> None: ...

    def stop_run(self) -> None: ...


@runtime_checkable
class ReplayControls(Protocol):
    """A replay can change speed, pause, step and seek."""

    @property
    def speed(self) -> float: ...

    @property
    def paused(self) -> bool: ...

    @property
    def duration_ns(self) -> int: ...

    @property
    def position_ns(self) -> int:
        """Offset of the replay position from the start of the recording."""
        ...

    def set_speed(self, speed: float) -> None: ...

    def toggle_pause(self) -> None: ...

    def step(self) -> None:
        """Advance to the next token (or event) while paused."""
        ...

    def seek(self, offset_ns: int) -> None:
        """Jump to an offset from the start of the recording."""
        ...

    def seek_next_throttle(self) -> None:
        """Jump to the next throttle event after the current position."""
        ...

    def jump_to_end(self) -> None: ...
