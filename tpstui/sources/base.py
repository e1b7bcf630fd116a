"""The protocols of the sources layer: what a token engine provides, and what the app pulls.

- ``TokenEngine``: a source of runs of tokens (the transformers engine in ``sources/generation``,
  in a child process or in this one; the HTTP endpoint client is a sibling folder). ``LiveSession`` drives any
  engine the same way: ``settings()`` for ``SessionStarted``, ``load()`` for ``ModelLoaded``, then
  ``start(bus)``, ``request_runs()``, ``stop()``, ``close()``.
- ``SessionSource``: what the live app watches, live or replayed. The app never receives one
  message per token. It pulls ``source.session`` at a fixed frame rate and renders a snapshot;
  ``source.now_ns()`` says which moment "now" is (the real clock when live, the replay position
  when replaying). A replay may swap ``session`` for a fresh one when it seeks backwards, so
  readers must fetch ``source.session`` on every tick, never keep it.
- Controls are optional capabilities: the app checks ``isinstance(source, LiveControls)`` /
  ``isinstance(source, ReplayControls)`` and shows the keys that apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tpstui.state.session import Session
from tpstui.stream.events import EventBus, ModelLoaded

__all__ = ["LiveControls", "Progress", "ReplayControls", "RunPlan", "SessionSource", "TokenEngine", "Unrecorded"]

Progress = Callable[[float, str], None]
"""``progress(fraction, stage)``: loading advanced to ``fraction`` in [0, 1], doing ``stage``. A
stage that starts with ``"warning: "`` is something the user must hear even when progress is
quiet (the conversion cache cannot be written)."""


@dataclass(frozen=True)
class RunPlan:
    """What a session runs once its engine is ready: warm-ups, then measured runs (or a loop)."""

    runs: int
    warmup: int
    loop: bool = False


@runtime_checkable
class TokenEngine(Protocol):
    """Produces runs of tokens as events (``RunStarted``, ``Tokens``, ``RunFinished``/``RunFailed``).

    ``load`` runs on the caller's thread and may take long (it reports through ``progress``);
    every other call returns promptly. Run numbers count from 0 across the whole session.
    """

    plan: RunPlan
    """The runs the user asked for."""
    device: str
    """Where it runs, as the user named it ("auto", "cpu", "cuda:1"): telemetry watches those GPUs."""
    separate_process: bool
    """Tokens are made and stamped in a child process: this process's pauses (its garbage
    collections, the app's frames) cannot hold them up, and the child watches its own."""

    def settings(self) -> dict[str, Any]:
        """The settings recorded in ``SessionStarted`` (never a secret such as an API key)."""
        ...

    def load(self, progress: Progress) -> ModelLoaded:
        """Get ready (load a model, connect to a server); a ``UserError`` for bad input."""
        ...

    def start(self, bus: EventBus) -> None:
        """Start the engine's threads; runs publish on ``bus``."""
        ...

    def request_runs(self, runs: int, warmup: int, loop: bool = False) -> None:
        """Queue ``warmup`` warm-up runs, then ``runs`` measured runs (``loop``: until stopped)."""
        ...

    def stop(self) -> None:
        """End the current run at its next step and drop the queued ones."""
        ...

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every requested run has been published; False on timeout."""
        ...

    def close(self, timeout: float = 1.0) -> None:
        """Stop everything, waiting at most ``timeout`` for the engine's threads."""
        ...

    @property
    def alive(self) -> bool:
        """A thread of the engine is still running (a decode step that outlasted ``close``)."""
        ...

    @property
    def pid(self) -> int:
        """The process that generates (this one, or the engine's child once it has started)."""
        ...


@runtime_checkable
class SessionSource(Protocol):
    """Produces session state on its own threads; ``start`` and ``close`` never block for long."""

    kind: str
    """"live" or "replay"."""

    @property
    def session(self) -> Session: ...

    @property
    def notes(self) -> list[str]:
        """Remarks for the telemetry panel (e.g. the telemetry backends ``auto`` skipped, and why)."""
        ...

    @property
    def recording_path(self) -> Path | None:
        """Where this session is being recorded (None: not recorded)."""
        ...

    @property
    def recording_error(self) -> str | None:
        """Why recording failed (None while it works)."""
        ...

    def now_ns(self) -> int:
        """The present moment on the session's clock (perf_counter_ns of the recording process)."""
        ...

    def note_pause(self, start_ns: int, end_ns: int, detail: str) -> None:
        """The app held its main thread from ``start_ns`` to ``end_ns``: a live source whose tokens
        are stamped in this process records it as a ``Stall`` ("ui"); a replay ignores it (nothing
        it shows is being measured), and so does a live source whose engine is a child process."""
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

    @property
    def busy(self) -> bool:
        """A run is going or queued."""
        ...

    @property
    def ready(self) -> bool:
        """The engine is ready to run (the model is loaded)."""
        ...

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


class Unrecorded:
    """The ``SessionSource`` members of a source that records nothing and has no notes (replay, scripted)."""

    def note_pause(self, start_ns: int, end_ns: int, detail: str) -> None:
        del start_ns, end_ns, detail

    @property
    def notes(self) -> list[str]:
        return []

    @property
    def recording_path(self) -> Path | None:
        return None

    @property
    def recording_error(self) -> str | None:
        return None
