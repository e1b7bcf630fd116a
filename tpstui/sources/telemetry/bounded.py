"""Driver calls with a bounded wait: no GPU driver can hang tpstui.

A telemetry backend calls into a native library (NVML, AMD SMI) that can block: a hung driver, a
GPU falling off the bus, a kernel module waiting on firmware. Every call tpstui makes to a backend
(opening it, ``devices()``, ``sample()``, ``close()``) runs on that backend's own driver thread, and
its caller waits at most a deadline:

- opening: start-up waits ``OPEN_WAIT_S`` and goes on; a backend still opening then keeps opening
  in the background and is sampled once it is open (it has ``driver_timeout()`` to get there);
- sampling: a read that has not returned within ``LATE_S`` gives no sample for that tick (its
  metrics read n/a); when it returns, its sample is stamped at the middle of the read and marked
  late with the read's duration; a call that has not returned after ``driver_timeout()`` seconds
  drops the backend (``DriverHung``, which the sampler reports as ``BackendFailed``);
- ``devices()`` (``tpstui devices``) and ``close()``: the same timeout; a close that would wait on a
  stuck call is left to the driver thread (a daemon), so tpstui exits anyway.

``TPSTUI_DRIVER_TIMEOUT`` (seconds, default 10) sets ``driver_timeout()``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tpstui.errors import UserError, error_line
from tpstui.sources.telemetry.base import Backend, BackendUnavailable, DeviceInfo, Reading

__all__ = ["LATE_S", "OPEN_WAIT_S", "TIMEOUT_ENV", "BoundedBackend", "DriverHung", "TimedRead", "driver_timeout"]

TIMEOUT_ENV = "TPSTUI_DRIVER_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
OPEN_WAIT_S = 2.0
"""How long start-up waits for a backend to open before it goes on without waiting."""
LATE_S = 0.25
"""A read that takes longer is late: its values belong to some moment of that span, too vague to
line up with tokens, so they are marked and shown as n/a."""


def driver_timeout() -> float:
    """``$TPSTUI_DRIVER_TIMEOUT`` (default 10 s): how long a driver call may take before its backend is dropped."""
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT_S


class DriverHung(Exception):
    """A driver call has not returned within the timeout (the message says which backend and how long)."""


@dataclass
class _Call:
    """One call on the driver thread: when it started and ended (``perf_counter_ns``), and its outcome."""

    function: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.monotonic)
    started_ns: int = 0
    ended_ns: int = 0
    result: Any = None
    error: BaseException | None = None

    def age_s(self) -> float:
        return time.monotonic() - self.submitted

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _DriverThread:
    """One daemon thread that runs calls in the order given."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._busy = 0
        self._lock = threading.Lock()
        self.cpu_seconds = 0.0
        """CPU time this thread has used (the driver calls)."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, function: Callable[[], Any]) -> _Call:
        call = _Call(function)
        with self._lock:
            self._busy += 1
        self._queue.put(call)
        return call

    @property
    def busy(self) -> bool:
        """A call is running or waiting."""
        with self._lock:
            return self._busy > 0

    def stop(self) -> None:
        self._queue.put(None)

    @property
    def native_id(self) -> int | None:
        return self._thread.native_id

    def _run(self) -> None:
        cpu_start = time.thread_time()
        while (call := self._queue.get()) is not None:
            call.started_ns = time.perf_counter_ns()
            try:
                call.result = call.function()
            except BaseException as error:  # handed to the caller, never lost
                call.error = error
            call.ended_ns = time.perf_counter_ns()
            self.cpu_seconds = time.thread_time() - cpu_start
            with self._lock:
                self._busy -= 1
            call.done.set()


@dataclass(frozen=True)
class TimedRead:
    """What one ``sample()`` returned and when the driver thread ran it."""

    readings: list[Reading]
    started_ns: int
    ended_ns: int


class BoundedBackend:
    """A backend whose every call runs on its own driver thread, each wait bounded (module docstring).

    ``opener`` opens the real backend; it has ``open_wait`` seconds to raise ``BackendUnavailable``
    (raised here, so ``auto`` can try the next backend) before the constructor returns with the
    backend still opening. Any other exception while opening becomes ``BackendUnavailable`` too
    (a ``UserError`` stays one).
    """

    def __init__(
        self, name: str, opener: Callable[[], Backend], open_wait: float = OPEN_WAIT_S, timeout: float | None = None
    ) -> None:
        self.name = name
        self.timeout = driver_timeout() if timeout is None else timeout
        self._driver = _DriverThread(f"tpstui-{name}-driver")
        self._backend: Backend | None = None
        self._pending: _Call | None = None
        self._closed = False
        self._opening = self._driver.submit(opener)
        if self._opening.done.wait(open_wait):
            self._take_opened()

    @classmethod
    def around(cls, backend: Backend) -> BoundedBackend:
        """An open backend, from now on called on a driver thread."""
        return cls(backend.name, lambda: backend, open_wait=1.0)

    @property
    def opening(self) -> bool:
        """Still opening (start-up went on without waiting for it)."""
        return self._backend is None

    @property
    def inner(self) -> Backend | None:
        """The backend itself, once open."""
        return self._backend

    @property
    def driver_thread_id(self) -> int | None:
        """The native id of the thread that makes the driver calls."""
        return self._driver.native_id

    @property
    def cpu_seconds(self) -> float:
        """CPU time of the driver thread (the driver calls themselves)."""
        return self._driver.cpu_seconds

    def _take_opened(self) -> Backend:
        try:
            backend: Backend = self._opening.outcome()
        except (BackendUnavailable, UserError):
            self._driver.stop()
            raise
        except Exception as error:  # a driver's surprise (bad text, a bad struct): never a traceback
            self._driver.stop()
            raise BackendUnavailable(f"failed while opening: {error_line(error)}") from None
        self._backend = backend
        return backend

    def _ready(self, wait: float) -> Backend | None:
        """The open backend; None while it opens; ``DriverHung`` when opening outlasted the timeout."""
        if self._backend is not None:
            return self._backend
        if self._opening.done.wait(wait):
            return self._take_opened()
        if self._opening.age_s() > self.timeout:
            raise DriverHung(f"{self.name} did not finish opening within {self.timeout:g} s (a driver call hung)")
        return None

    def read(self, wait: float = LATE_S) -> TimedRead | None:
        """Start a read unless one is still running, and wait up to ``wait`` for it.

        None when there is nothing this tick (still opening, or the read is slow: it is taken,
        late, by a later call). Raises what ``sample()`` raised, or ``DriverHung``.
        """
        backend = self._ready(0.0)
        if backend is None:
            return None
        if self._pending is None:
            self._pending = self._driver.submit(backend.sample)
        elif self._pending.age_s() > self.timeout:
            raise DriverHung(
                f"{self.name} stopped answering: a driver call has not returned for {self.timeout:g} s; "
                "its telemetry stopped, the run goes on"
            )
        if not self._pending.done.wait(wait):
            return None
        call, self._pending = self._pending, None
        return TimedRead(call.outcome(), call.started_ns, call.ended_ns)

    # -- the Backend protocol, each call bounded by the timeout --------------------------------
    def devices(self) -> list[DeviceInfo]:
        backend = self._ready(self.timeout)
        if backend is None:
            raise DriverHung(f"did not answer within {self.timeout:g} s (a driver call hung)")
        call = self._driver.submit(backend.devices)
        if not call.done.wait(self.timeout):
            raise DriverHung(f"did not list its devices within {self.timeout:g} s (a driver call hung)")
        devices: list[DeviceInfo] = call.outcome()
        return devices

    def sample(self) -> list[Reading]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            read = self.read(min(LATE_S, max(deadline - time.monotonic(), 0.0)))
            if read is not None:
                return read.readings
        raise DriverHung(f"{self.name} did not answer within {self.timeout:g} s (a driver call hung)")

    def close(self) -> None:
        """Close the backend on its driver thread (waiting up to a second unless a call is stuck)."""
        if self._closed:
            return
        self._closed = True
        stuck = self._driver.busy

        def close_opened() -> None:
            backend = self._backend
            if backend is None and self._opening.done.is_set() and self._opening.error is None:
                backend = self._opening.result
            if backend is not None:
                backend.close()

        call = self._driver.submit(close_opened)  # runs after a stuck call, if that ever returns
        self._driver.stop()
        if not stuck:
            call.done.wait(1.0)
            with contextlib.suppress(Exception):
                call.outcome()
