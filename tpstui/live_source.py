"""The live ``SessionSource``: a ``LiveSession`` started on its own thread, for the live app.

``start()`` returns at once; a starter thread publishes ``SessionStarted``, opens telemetry,
loads the model (``LoadProgress`` events drive the app's progress bar) and queues the runs.
Every failure becomes an event the app shows: ``RunFailed(run=-1)`` for loading,
``BackendFailed`` for telemetry that cannot start. ``close()`` is bounded (< 1 s, plus flushing the
recording when there is one): a model load in progress is abandoned at its next progress report
and never starts an engine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from tpstui.errors import UserError
from tpstui.events import BackendFailed, RunFailed
from tpstui.session import Session
from tpstui.settings import RunSettings

__all__ = ["LiveSource"]

CLOSE_SECONDS = 0.8
"""Upper bound of ``close()``."""


class _Cancelled(BaseException):
    """Raised from the load progress callback once the source is closed (passes ``except Exception``)."""


class LiveSource:
    """Generation and telemetry in this process; implements SessionSource and LiveControls."""

    kind = "live"

    def __init__(
        self,
        settings: RunSettings,
        telemetry: str = "auto",
        sample_hz: float = 10.0,
        logits_processors: Sequence[Any] = (),
        record: str | os.PathLike[str] | None = None,
        telemetry_options: Any = None,
    ) -> None:
        from tpstui.live import LiveSession  # no torch: that is imported by load(), on the starter thread

        self.settings = settings
        self.live = LiveSession(settings, telemetry, sample_hz, record=record, telemetry_options=telemetry_options)
        self._processors = list(logits_processors)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        """Held while a thread-starting step runs, so close() never misses a thread."""
        self._thread: threading.Thread | None = None
        self.notes: list[str] = []
        """Telemetry backends ``auto`` skipped, and why (shown by the app)."""

    # -- SessionSource ----------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.live.session

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._start_all, name="tpstui-live-start", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the run, the engine and the sampler; waits at most ``CLOSE_SECONDS`` in all."""
        deadline = time.monotonic() + CLOSE_SECONDS
        self._cancel.set()
        if not self._lock.acquire(timeout=CLOSE_SECONDS / 2):
            return  # a backend is still opening; the starter sees the cancel flag and closes
        try:
            self.live.close(timeout=max(deadline - time.monotonic(), 0.0) / 2)
        finally:
            self._lock.release()
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.0))

    def join(self, timeout: float) -> bool:
        """Wait for the starter, generation and pump threads to end; True when none is left.

        After ``close()`` they end at the next decode step (or load stage); a step slower than
        ``timeout`` (a huge model, a starved CPU) leaves one running inside torch.
        """
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.alive

    @property
    def alive(self) -> bool:
        """Any thread this source started (starter, generation, pump) is still running."""
        engine = self.live.engine
        starter = self._thread is not None and self._thread.is_alive()
        return starter or (engine is not None and engine.alive)

    # -- LiveControls ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is going or queued (False while loading)."""
        engine = self.live.engine
        return engine is not None and not engine.wait_idle(0)

    @property
    def ready(self) -> bool:
        """The model is loaded and the engine is running."""
        return self.live.engine is not None and not self._cancel.is_set()

    def rerun(self) -> None:
        """Run again with the same settings (no warm-up: the model is warm). Ignored while busy."""
        engine = self.live.engine
        if engine is None or self._cancel.is_set() or self.busy:
            return
        engine.request_runs(self.settings.runs, 0, loop=self.settings.loop)

    def stop_run(self) -> None:
        """End the current run at its next decode step and drop the queued ones."""
        engine = self.live.engine
        if engine is not None:
            engine.stop()

    # -- the starter thread -----------------------------------------------------------------------
    def _start_all(self) -> None:
        bus = self.live.bus
        try:
            self.live.begin()
            with self._lock:
                if self._cancel.is_set():
                    return
                try:
                    self.live.start_telemetry()
                    self.notes = list(self.live.telemetry_notes)
                except UserError as error:
                    bus.publish(BackendFailed(time.perf_counter_ns(), self.live.telemetry, str(error)))
            self.live.load(self._progress)
            with self._lock:
                if self._cancel.is_set():
                    return
                engine = self.live.start_engine(self._processors)
            engine.request_runs(self.settings.runs, self.settings.warmup, loop=self.settings.loop)
        except (_Cancelled, UserError):
            return  # cancelled, or already published by load() as RunFailed(run=-1)
        except Exception as error:  # anything else loading raised: shown in the app, never a traceback
            text = str(error).strip().splitlines()
            bus.publish(RunFailed(time.perf_counter_ns(), -1, f"{type(error).__name__}: {text[0] if text else ''}"))
        finally:
            if self._cancel.is_set():
                with self._lock:
                    self.live.close(timeout=CLOSE_SECONDS)

    def _progress(self, fraction: float, stage: str) -> None:
        del fraction, stage  # LiveSession.load publishes LoadProgress itself
        if self._cancel.is_set():
            raise _Cancelled
