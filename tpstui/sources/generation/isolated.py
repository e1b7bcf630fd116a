"""Generation in a child process of its own, so that the monitor cannot hold its GIL.

Every millisecond another Python thread of the generating process runs (the app drawing a frame,
a telemetry read, the recorder) is a millisecond the generation thread cannot run its Python
between torch kernels: measured on the embedded model on 2 cores, a thread that computes 3 ms in
every 100 ms slows decoding by 3.6 % in the same process and by 1.0 % from another process.
``IsolatedEngine`` is a ``TokenEngine`` that runs a ``TransformersEngine`` in a child process
(``python -m`` this module) and forwards its events, pickled, over a socket pair; this process keeps the app,
telemetry and the recording. Token times are ``perf_counter_ns`` in the child: the same
monotonic clock as here.

The child ignores SIGINT, SIGTERM and SIGHUP (a Ctrl-C reaches the whole process group; this
process decides when it ends) and leaves when told to or when the socket closes (this process died).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from tpstui.errors import UserError, error_line
from tpstui.settings import RunSettings
from tpstui.sources.base import Progress, RunPlan
from tpstui.stream.events import EventBus, ModelLoaded, RunFailed, RunFinished, RunStarted

__all__ = ["IsolatedEngine"]

POLL_SECONDS = 0.05
"""How often the child looks for a command and reports whether its engine is idle."""


class IsolatedEngine:
    """A ``TransformersEngine`` in a child process (implements ``tpstui.sources.base.TokenEngine``).

    ``quiet`` sends the child's standard output and error to /dev/null (the app owns the
    terminal: a library warning would tear its screen). ``logits_processors`` must pickle.
    """

    separate_process = True

    def __init__(self, settings: RunSettings, logits_processors: Sequence[Any] = (), *, quiet: bool = False) -> None:
        self.run_settings = settings
        self.plan = RunPlan(settings.runs, settings.warmup, settings.loop)
        self.device = settings.device
        self._processors = list(logits_processors)
        self._quiet = quiet
        self._process: Any = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._bus: EventBus | None = None
        self._state = threading.Condition()
        self._idle = True
        self._sent = 0
        """Number of the last command sent; an idle report counts only once it answers that one."""
        self._open_run: int | None = None
        """A run that started and has not ended (failed when the child dies)."""

    def settings(self) -> dict[str, Any]:
        """The run settings, and where they ran (absent in recordings made in tpstui's process)."""
        return self.run_settings.as_dict() | {"generation_process": "child"}

    # -- loading -----------------------------------------------------------------------------
    def load(self, progress: Progress) -> ModelLoaded:
        ours, theirs = socket.socketpair()
        quiet = subprocess.DEVNULL if self._quiet else None
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=quiet,
            stderr=quiet,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        try:
            self._conn.send(list(sys.path))  # first, so that the child can unpickle test-defined processors
            self._conn.send((self.run_settings, self._processors))
            while True:
                message = self._receive_while_loading()
                if message[0] == "progress":
                    progress(message[1], message[2])
                elif message[0] == "loaded":
                    loaded: ModelLoaded = message[1]
                    return loaded
                elif message[0] == "load_failed":
                    raise UserError(message[1])
        except BaseException:  # a load error, or closed while loading (Cancelled): the child goes
            self._kill()
            raise

    def _receive_while_loading(self) -> tuple[Any, ...]:
        assert self._conn is not None
        try:
            message: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError):
            self._wait_exit(1.0)
            raise UserError(f"the generation process ended while loading ({self._exit_status()})") from None
        return message

    # -- running -----------------------------------------------------------------------------
    def start(self, bus: EventBus) -> None:
        if self._conn is None:
            raise RuntimeError("load() must succeed before start()")
        self._bus = bus
        self._reader = threading.Thread(target=self._read_loop, name="tpstui-generation-reader", daemon=True)
        self._reader.start()
        self._send("start")

    def request_runs(self, runs: int, warmup: int, loop: bool = False) -> None:
        self._send("runs", runs, warmup, loop, busy=True)

    def stop(self) -> None:
        self._send("stop")

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._state:
            return self._state.wait_for(lambda: self._idle, timeout)

    def close(self, timeout: float = 1.0) -> None:
        """Ask the child to close its engine (bounded by ``timeout``), then make sure it is gone."""
        if self._process is None:
            return
        deadline = time.monotonic() + timeout
        self._send("close", timeout * 0.8)
        if self._reader is not None:
            self._reader.join(max(deadline - time.monotonic(), 0.0))
        if not self._wait_exit(max(deadline - time.monotonic(), 0.0)):  # a decode step outlasted close()
            self._kill()

    @property
    def alive(self) -> bool:
        process = self._process is not None and self._process.poll() is None
        return process or (self._reader is not None and self._reader.is_alive())

    @property
    def pid(self) -> int:
        return self._process.pid if self._process is not None else os.getpid()

    def _send(self, *command: Any, busy: bool = False) -> None:
        """Send a command, numbered; ``busy``: the engine is not idle from now on."""
        if self._conn is None:
            return
        with self._send_lock:
            with self._state:
                self._sent += 1
                number = self._sent
                if busy:
                    self._idle = False
            with contextlib.suppress(OSError, ValueError):  # the child has gone: the reader reports it
                self._conn.send((*command, number))

    def _read_loop(self) -> None:
        """Publish the child's events in order; a child that dies fails the run it was in."""
        assert self._conn is not None and self._bus is not None
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                self._wait_exit(1.0)
                self._child_lost()
                return
            if message[0] == "event":
                event = message[1]
                if isinstance(event, RunStarted):
                    self._open_run = event.run
                elif isinstance(event, RunFinished | RunFailed) and event.run == self._open_run:
                    self._open_run = None
                self._bus.publish(event)
            elif message[0] == "idle":
                self._set_idle(message[1], answering=message[2])
            elif message[0] == "closed":
                self._set_idle()
                return

    def _child_lost(self) -> None:
        assert self._bus is not None
        if self._open_run is not None:
            why = f"the generation process ended ({self._exit_status()})"
            self._bus.publish(RunFailed(time.perf_counter_ns(), self._open_run, why))
            self._open_run = None
        self._set_idle()

    def _set_idle(self, idle: bool = True, answering: int | None = None) -> None:
        """Set the mirrored idle state; a report ``answering`` an older command than the last one sent is stale."""
        with self._state:
            if answering is None or answering == self._sent:
                self._idle = idle
                self._state.notify_all()

    def _wait_exit(self, timeout: float) -> bool:
        """Wait at most ``timeout`` for the child to end; True once it has."""
        if self._process is None:
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout)
        return self._process.returncode is not None

    def _exit_status(self) -> str:
        code = self._process.returncode if self._process is not None else None
        if code is None:
            return "still running"
        if code < 0:
            return f"signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._wait_exit(1.0)
        if self._conn is not None:
            self._conn.close()


# -- the child process ---------------------------------------------------------------------------
def main(fd: int) -> None:
    """The child: ``python -m tpstui.sources.generation.isolated FD`` (FD: its end of the socket pair).

    Loads, then serves commands until told to close or the socket closes; always leaves with
    ``os._exit`` (a decode step still running in torch must not hold up the interpreter's exit).
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    conn = Connection(fd)
    lock = threading.Lock()

    def send(*message: Any) -> None:
        with lock:
            conn.send(message)

    try:
        sys.path[:] = conn.recv()
        settings, processors = conn.recv()
        _serve(conn, settings, processors, send)
    except (EOFError, OSError):  # the parent has gone
        pass
    finally:
        os._exit(0)


def _serve(conn: Connection, settings: RunSettings, processors: list[Any], send: Any) -> None:
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.pauses import PauseWatch, freeze_heap

    engine = TransformersEngine(settings, processors)
    bus = EventBus()
    bus.subscribe(lambda event: send("event", event))
    pauses = PauseWatch(bus)
    """This process's own garbage collections are the ones that can pause generation."""
    try:
        model = engine.load(lambda fraction, stage: send("progress", fraction, stage))
    except UserError as error:
        send("load_failed", str(error))
        return
    except Exception as error:  # anything else loading raised: one line, as in this process
        send("load_failed", error_line(error))
        return
    freeze_heap()
    send("loaded", model)
    reported: tuple[bool, int] | None = None
    answered = 0
    while True:
        if conn.poll(POLL_SECONDS):
            command = conn.recv()
            name, answered = command[0], command[-1]
            if name == "start":
                pauses.start()
                engine.start(bus)
            elif name == "runs":
                engine.request_runs(command[1], command[2], command[3])
            elif name == "stop":
                engine.stop()
            elif name == "close":
                engine.close(command[1])
                pauses.stop(0.1)
                send("closed")
                return
        idle = (engine.wait_idle(0), answered)
        if idle != reported:
            send("idle", *idle)
            reported = idle


if __name__ == "__main__":
    main(int(sys.argv[1]))
