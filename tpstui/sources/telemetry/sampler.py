"""The sampler thread: reads a backend at a fixed rate, on the token clock, and publishes events."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from tpstui.errors import error_line
from tpstui.sources.telemetry.base import Backend, BackendUnavailable
from tpstui.sources.telemetry.bounded import LATE_S, BoundedBackend, DriverHung
from tpstui.stream.events import BackendFailed, EventBus, TelemetrySample, ThrottleChanged

__all__ = ["Sampler"]

MAX_HZ = 50.0


class Sampler:
    """Samples ``backend`` every 1/hz seconds on its own thread until ``stop()``.

    Timestamps use the same clock as tokens (``perf_counter_ns``), taken at the middle of the
    read; a read that took longer than ``LATE_S`` is published with ``late_ns`` (its duration).
    The driver calls run on the backend's driver thread (``bounded.BoundedBackend``), so a call
    that hangs costs ticks without samples, never the sampler. Throttle reasons are compared with
    the previous sample of the same device and each change becomes a ``ThrottleChanged`` event.
    A device that reports an error is announced once (``BackendFailed``) and skipped; a backend
    whose ``sample()`` raises, or whose driver stays hung, stops sampling, and the run it watches
    goes on.
    """

    def __init__(
        self,
        backend: Backend,
        bus: EventBus,
        hz: float = 10.0,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        if not 0 < hz <= MAX_HZ:
            raise ValueError(f"sample rate must be in (0, {MAX_HZ:g}] Hz")
        self.backend = backend
        self.driver = backend if isinstance(backend, BoundedBackend) else BoundedBackend.around(backend)
        self.period_ns = int(1e9 / hz)
        self._bus = bus
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active: dict[str, set[str]] = {}
        self._failed: set[str] = set()
        self.samples = 0
        self._own_cpu = 0.0

    @property
    def cpu_seconds(self) -> float:
        """CPU time of sampling: the sampler thread plus the driver thread (for the overhead benchmark)."""
        return self._own_cpu + self.driver.cpu_seconds

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tpstui-sampler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sample_once(self, wait: float = LATE_S) -> bool:
        """Read every device once and publish what was read; False when nothing came within ``wait``
        seconds (the backend is opening, or a slow read goes on: a later tick publishes it, late)."""
        read = self.driver.read(wait)
        if read is None:
            return False
        t_ns = (read.started_ns + read.ended_ns) // 2
        took = read.ended_ns - read.started_ns
        late_ns = took if took > LATE_S * 1e9 else 0
        for reading in read.readings:
            if reading.device in self._failed:
                continue
            if reading.error is not None:
                self._failed.add(reading.device)
                self._bus.publish(BackendFailed(t_ns, reading.device, reading.error))
                self._close_spans(t_ns, reading.device)
                continue
            sample = TelemetrySample(t_ns, reading.device, reading.values, list(reading.reasons), late_ns=late_ns)
            self._bus.publish(sample)
            if not reading.stale:
                self._diff_reasons(t_ns, reading.device, set(reading.reasons))
        self.samples += 1
        return True

    def _diff_reasons(self, t_ns: int, device: str, now: set[str]) -> None:
        before = self._active.get(device, set())
        for reason in sorted(now - before):
            self._bus.publish(ThrottleChanged(t_ns, device, reason, True))
        for reason in sorted(before - now):
            self._bus.publish(ThrottleChanged(t_ns, device, reason, False))
        self._active[device] = now

    def _close_spans(self, t_ns: int, device: str) -> None:
        self._diff_reasons(t_ns, device, set())

    def _loop(self) -> None:
        cpu_start = time.thread_time()
        next_ns = self._clock()
        try:
            while not self._stop.is_set():
                try:
                    self.sample_once()
                except Exception as error:  # the backend as a whole broke (or hung): report, stop sampling
                    t_ns = self._clock()
                    said = str(error) if isinstance(error, (DriverHung, BackendUnavailable)) else error_line(error)
                    self._bus.publish(BackendFailed(t_ns, self.backend.name, said))
                    for device in list(self._active):
                        self._close_spans(t_ns, device)
                    return
                finally:
                    self._own_cpu = time.thread_time() - cpu_start
                next_ns += self.period_ns
                now = self._clock()
                if next_ns < now:  # fell behind (suspended, slow backend): skip, don't burst
                    next_ns = now
                self._stop.wait((next_ns - now) / 1e9)
        finally:
            with contextlib.suppress(Exception):  # closing a broken backend must not mask the run
                self.driver.close()
