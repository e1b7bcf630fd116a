"""One live session: event bus + session state + recorder + telemetry sampler + a token engine.

``open()`` is the start-up sequence, in order: ``SessionStarted``, telemetry, loading the engine
(``LoadProgress`` events, then ``ModelLoaded``), starting the engine. ``tpstui bench`` calls it on
its own thread and then requests the runs; the live app calls ``start()``, which does the same on
a starter thread and returns at once (the ``SessionSource`` side). Every failure is an event:
``RunFailed(run=-1)`` for loading, ``BackendFailed`` for telemetry that cannot start in the app.
``close()`` is bounded: a load in progress is abandoned at its next progress report and never
starts the engine. Any ``TokenEngine`` works; nothing here knows what kind it is.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tpstui import __version__
from tpstui.errors import UserError, error_line
from tpstui.settings import public_url
from tpstui.sources.base import Progress, TokenEngine
from tpstui.sources.pauses import PauseWatch, freeze_heap
from tpstui.sources.priority import yield_to
from tpstui.sources.telemetry.bounded import OPEN_WAIT_S, BoundedBackend
from tpstui.sources.telemetry.cpu import cpu_model
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend, open_scraped
from tpstui.state.session import Session
from tpstui.stream.events import (
    BackendFailed,
    EventBus,
    LoadProgress,
    ModelLoaded,
    RunFailed,
    SessionEnded,
    SessionStarted,
)
from tpstui.stream.recording import Recorder

__all__ = ["CLOSE_SECONDS", "LiveSession", "host_info"]

CLOSE_SECONDS = 0.8
"""Upper bound of ``close()`` (plus flushing the recording when there is one)."""


class Cancelled(BaseException):
    """Raised inside ``open()`` once the session is closed (passes ``except Exception``)."""


def host_info() -> dict[str, Any]:
    """Where the session runs (no torch import needed)."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "pid": os.getpid(),
    }


class LiveSession:
    """Owns the moving parts of one live session and closes them in the right order.

    Implements ``SessionSource`` and ``LiveControls`` for the app.
    """

    kind = "live"

    def __init__(
        self,
        engine: TokenEngine,
        telemetry: TelemetryOptions | None = None,
        record: str | os.PathLike[str] | None = None,
        *,
        unique_name: bool = False,
    ) -> None:
        self.engine = engine
        self.telemetry = replace(telemetry or TelemetryOptions(), device=engine.device, process=lambda: engine.pid)
        """``--telemetry``, ``--sample-hz``, ``--gpus``, ``--peak-bw``; the GPUs follow the engine's device,
        the process memory the engine's process."""
        self.bus = EventBus()
        self.session_state = Session()
        self.bus.subscribe(self.session_state.apply)
        self.recorder: Recorder | None = None
        """Writes every event to ``record`` (on its own thread) when a path is given; ``unique_name``:
        tpstui chose that name, so a session that took it first moves this one to ``-2``..."""
        if record is not None:
            self.recorder = Recorder(record, unique=unique_name)
            self.bus.subscribe(self.recorder)
        self.sampler: Sampler | None = None
        self.backend: BoundedBackend | None = None
        self.scrapers: list[Sampler] = []
        """Samplers of the scraped backends (``--server-metrics``, ``--dcgm``), at ``scrape_hz``."""
        self.pauses: PauseWatch | None = None if engine.separate_process else PauseWatch(self.bus)
        """Publishes this process's garbage collections and UI stalls as ``Stall`` events, where the
        tokens are stamped in this process (an engine's child process watches its own)."""
        self.model: ModelLoaded | None = None
        self._notes: list[str] = []
        self._engine_started = False
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        """Held while a thread-starting step runs, so close() never misses a thread."""
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- what the session records ------------------------------------------------------------
    def recorded_settings(self) -> dict[str, Any]:
        """Every setting of the session: the engine's, the telemetry backend and rate, --gpus, --peak-bw."""
        options = self.telemetry
        return self.engine.settings() | {
            "telemetry": options.backend,
            "sample_hz": options.sample_hz,
            "gpus": list(options.gpus) if options.gpus is not None else None,
            "peak_bw_gbs": options.peak_bw_gbs,
            "server_metrics": public_url(options.server_metrics) if options.server_metrics else None,
            "dcgm": [public_url(url) for url in options.dcgm],
            "scrape_hz": options.scrape_hz,
        }

    # -- the start-up sequence (bench: on its own thread; the app: on the starter thread) --------
    def open(self, progress: Progress | None = None, *, strict_telemetry: bool = True) -> ModelLoaded:
        """Publish ``SessionStarted``, start telemetry, load the engine, start it; returns ``ModelLoaded``.

        A named telemetry backend that cannot start is a ``UserError`` when ``strict_telemetry``,
        else a ``BackendFailed`` event; a load error is published as ``RunFailed(run=-1)`` and
        raised as a ``UserError``.
        """
        self.bus.publish(
            SessionStarted(
                t_ns=time.perf_counter_ns(),
                wall_time=time.time(),
                tool_version=__version__,
                host=host_info(),
                settings=self.recorded_settings(),
            )
        )
        with self._lock:
            self._check_cancel()
            if self.pauses is not None:
                self.pauses.start()
            try:
                self._start_telemetry()
            except UserError as error:
                if strict_telemetry:
                    raise
                self.bus.publish(BackendFailed(time.perf_counter_ns(), self.telemetry.backend, str(error)))
        model = self._load(progress)
        with self._lock:
            self._check_cancel()
            self.engine.start(self.bus)
            self._engine_started = True
        return model

    def request_planned_runs(self) -> None:
        """Queue the runs the engine's plan asks for (warm-ups first)."""
        plan = self.engine.plan
        self.engine.request_runs(plan.runs, plan.warmup, loop=plan.loop)

    def _start_telemetry(self) -> None:
        options = self.telemetry
        probe = options.peak_bw_gbs is None and options.device in ("auto", "cpu")
        backend, self._notes = open_backend(options.backend, replace(options, probe_cpu_bandwidth=probe))
        if backend is not None:
            self.backend = backend
            self.sampler = Sampler(backend, self.bus, options.sample_hz)
            self.sampler.start()
        for scraped in open_scraped(options):
            self.scrapers.append(Sampler(scraped, self.bus, options.scrape_hz))
            self.scrapers[-1].start()

    def _load(self, progress: Progress | None) -> ModelLoaded:
        def report(fraction: float, stage: str) -> None:
            self._check_cancel()
            self.bus.publish(LoadProgress(time.perf_counter_ns(), fraction, stage))
            if progress is not None:
                progress(fraction, stage)

        try:
            model = self.engine.load(report)
        except UserError as error:
            self.bus.publish(RunFailed(time.perf_counter_ns(), -1, str(error)))
            raise
        except Exception as error:  # anything else loading raised: one line, never a traceback
            self.bus.publish(RunFailed(time.perf_counter_ns(), -1, error_line(error)))
            raise UserError(error_line(error)) from None
        freeze_heap()  # what loading left here lives as long as the session: keep full collections off it
        if self.engine.separate_process:
            yield_to(self.engine.pid)  # a no-op where that process is this one (an endpoint's server generates)
        report(1.0, "ready")
        self.bus.publish(model)
        self.model = model
        return model

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    # -- SessionSource ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.session_state

    @property
    def notes(self) -> list[str]:
        """Telemetry backends ``auto`` skipped, and why."""
        return list(self._notes)

    @property
    def recording_path(self) -> Path | None:
        return self.recorder.path if self.recorder is not None else None

    @property
    def recording_error(self) -> str | None:
        return self.recorder.error if self.recorder is not None else None

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def note_pause(self, start_ns: int, end_ns: int, detail: str) -> None:
        if self.pauses is not None:
            self.pauses.note(start_ns, end_ns, "ui", detail)

    def start(self) -> None:
        """Run the start-up sequence and the planned runs on a starter thread; returns at once."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._start_all, name="tpstui-live-start", daemon=True)
        self._thread.start()

    def _start_all(self) -> None:
        try:
            self.open(strict_telemetry=False)
            self.request_planned_runs()
        except (Cancelled, UserError):
            return  # cancelled, or already published by _load() as RunFailed(run=-1)
        except Exception as error:  # anything else: shown in the app, never a traceback
            self.bus.publish(RunFailed(time.perf_counter_ns(), -1, error_line(error)))
        finally:
            if self._cancel.is_set():
                with self._lock:
                    self._shutdown(CLOSE_SECONDS)

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Stop the run, the engine and the sampler; waits at most ``timeout`` in all (plus up to
        ``OPEN_WAIT_S`` when telemetry is opening: the starter then closes, recording included)."""
        deadline = time.monotonic() + timeout
        self._cancel.set()
        if not self._lock.acquire(timeout=timeout / 2):
            # telemetry is opening (bounded: OPEN_WAIT_S); the starter sees the cancel flag and closes
            if self._thread is not None:
                self._thread.join(OPEN_WAIT_S + timeout)
            return
        try:
            self._shutdown(max(deadline - time.monotonic(), 0.0) / 2)
        finally:
            self._lock.release()
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0.0))

    def _shutdown(self, timeout: float) -> None:
        """Stop generation and sampling (bounded waits), publish ``SessionEnded``, close the recording."""
        if self._closed:
            return
        self._closed = True
        if self._engine_started:
            self.engine.close(timeout)
        if self.sampler is not None:
            self.sampler.stop(timeout)
        elif self.backend is not None:
            self.backend.close()
        for scraper in self.scrapers:
            scraper.stop(timeout)
        if self.pauses is not None:
            self.pauses.stop(timeout)
        self.bus.publish(SessionEnded(time.perf_counter_ns()))
        if self.recorder is not None:
            self.recorder.close()

    def join(self, timeout: float) -> bool:
        """Wait for the starter and engine threads to end; True when none is left.

        After ``close()`` they end at the next decode step (or load stage); a step slower than
        ``timeout`` (a huge model, a starved CPU) leaves one running inside torch.
        """
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.alive

    @property
    def alive(self) -> bool:
        """Any thread this session started (starter, engine) is still running."""
        starter = self._thread is not None and self._thread.is_alive()
        return starter or self.engine.alive

    # -- LiveControls ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is going or queued (False while loading)."""
        return self._engine_started and not self.engine.wait_idle(0)

    @property
    def ready(self) -> bool:
        """The engine is loaded and running."""
        return self._engine_started and not self._cancel.is_set()

    def rerun(self) -> None:
        """Run again with the same settings (no warm-up: the model is warm). Ignored while busy."""
        if not self._engine_started or self._cancel.is_set() or self.busy:
            return
        plan = self.engine.plan
        self.engine.request_runs(plan.runs, 0, loop=plan.loop)

    def stop_run(self) -> None:
        """End the current run at its next decode step and drop the queued ones."""
        if self._engine_started:
            self.engine.stop()
