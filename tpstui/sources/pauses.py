"""Watch the measuring process's own pauses and publish them as ``Stall`` events.

Two kinds, on the session clock (``perf_counter_ns``):

- ``gc``: a garbage collection (``gc.callbacks``) of at least ``GC_THRESHOLD_NS``, on any thread.
  A collection holds the GIL from start to end, so every Python thread, the generation thread's
  included, waits for it.
- ``ui``: the live app reports a frame, or a late frame timer, that held its main thread for at
  least ``UI_THRESHOLD_NS`` (``note()``).

The GC callback only appends to a deque (it runs inside the collector, where taking the session's
lock could deadlock); a small thread publishes what is pending every ``FLUSH_SECONDS``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from typing import Any

from tpstui.stream.events import EventBus, Stall

__all__ = ["FLUSH_SECONDS", "GC_THRESHOLD_NS", "UI_THRESHOLD_NS", "PauseWatch", "freeze_heap"]

GC_THRESHOLD_NS = 2_000_000
"""Collections shorter than this (the frequent young-generation ones, ~0.1 ms) are not recorded."""
UI_THRESHOLD_NS = 30_000_000
"""A UI frame or timer delay longer than this is recorded (a frame at 10 fps should take < 10 ms)."""
FLUSH_SECONDS = 0.1


def freeze_heap() -> None:
    """Collect once and move every object alive now out of the collector's reach (``gc.freeze``).

    Called once the model is loaded (or a recording read): torch, transformers and the model make
    a heap of millions of long-lived objects, and without this every full collection walks them
    all (230-310 ms on the embedded model, measured), holding the GIL the whole time.
    """
    gc.collect()
    gc.freeze()


class PauseWatch:
    """Publishes ``Stall`` events for garbage collections and UI stalls while started."""

    def __init__(self, bus: EventBus, gc_threshold_ns: int = GC_THRESHOLD_NS) -> None:
        self._bus = bus
        self._gc_threshold_ns = gc_threshold_ns
        self._pending: deque[Stall] = deque()
        self._gc_started: dict[int, int] = {}
        """Start of the collection in progress, per thread (collections do not nest)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        gc.callbacks.append(self._on_gc)
        self._thread = threading.Thread(target=self._run, name="tpstui-pauses", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching and publish what is pending (idempotent)."""
        if self._thread is None:
            return
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._stop.set()
        self._thread.join(timeout)
        self._flush()

    def note(self, start_ns: int, end_ns: int, kind: str = "ui", detail: str = "") -> None:
        """Record a pause another part measured (the app's frames); any thread, never blocks."""
        self._pending.append(Stall(start_ns, end_ns, kind, detail))

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        thread = threading.get_ident()
        if phase == "start":
            self._gc_started[thread] = now
            return
        started = self._gc_started.pop(thread, None)
        if started is not None and now - started >= self._gc_threshold_ns:
            self._pending.append(Stall(started, now, "gc", f"generation {info.get('generation', '?')}"))

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self._flush()

    def _flush(self) -> None:
        while self._pending:
            self._bus.publish(self._pending.popleft())
            self.published += 1
