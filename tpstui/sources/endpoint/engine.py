"""The endpoint engine: a ``TokenEngine`` whose runs are requests to an OpenAI-compatible server.

One request is one run: ``RunStarted`` when it was sent (``prompt_tokens`` as the tokenizer counts
them), one ``Tokens`` per arrival of response bytes that carried content (``n`` = tokens in it,
``ids`` empty), then ``RunFinished`` (with the server's usage, chunk counts) or ``RunFailed`` (with
its ``kind``). Under concurrency the runs overlap; run numbers count requests from 0.

``load()`` finds the model, loads the tokenizer, builds the prompts and probes the server
(``endpoint.server``); ``start()`` starts the client process (``endpoint.worker``), which sends
the requests and stamps every arrival, and a pump thread here that decodes the streams and
publishes the events.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import subprocess
import sys
import threading
import time
from typing import Any

from tpstui.sources.base import Progress, RunPlan
from tpstui.sources.endpoint import server
from tpstui.sources.endpoint.protocol import DATA, END, FATAL, IDLE, SENT, Job, read_frame, write_frame
from tpstui.sources.endpoint.requests import RequestSpec, TokenCounter, build_requests, encode_bodies
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.endpoint.stream import FINISH_REASONS, RequestStream, StreamError
from tpstui.stream.events import EventBus, ModelLoaded, RunFailed, RunFinished, RunStarted, Tokens

__all__ = ["EndpointEngine"]

LOOP_DISTINCT = 256
"""Distinct request bodies built for a session without a fixed number of requests."""


class EndpointEngine:
    """Requests to an OpenAI-compatible server (implements ``tpstui.sources.base.TokenEngine``)."""

    separate_process = True
    """Requests are sent and their tokens stamped in the client process (``endpoint.worker``)."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.endpoint = settings
        self.plan = RunPlan(settings.num_requests, settings.warmup_requests, settings.loop)
        self.device = "auto"
        """Telemetry watches this host's GPUs (or its CPU): right when the server runs here."""
        self.info: server.ServerInfo | None = None
        self.counter: TokenCounter | None = None
        self.specs: list[RequestSpec] = []
        self.bodies: list[bytes] = []
        self.notes: list[str] = []
        self.worker_error: str | None = None
        self._bus: EventBus | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        return self.endpoint.as_dict()

    # -- load ----------------------------------------------------------------------------------
    def load(self, progress: Progress) -> ModelLoaded:
        started = time.perf_counter()
        settings = self.endpoint
        progress(0.05, f"asking {settings.url} for its models")
        info = server.discover(settings)
        progress(0.2, f"loading the tokenizer of {info.model}")
        self.counter, note = server.load_tokenizer(settings, info.model)
        progress(0.5, note)
        fixed = settings.duration_s is None and not settings.loop
        needed = settings.num_requests + settings.warmup_requests if fixed else LOOP_DISTINCT
        self.specs = build_requests(settings, self.counter, needed)
        first = self.specs[0]
        progress(0.7, f"probing {server.route(settings)} with one short request")
        prompt = encode_bodies([first], settings, info.model, {})[0]
        import msgspec

        result = server.probe(settings, info.model, msgspec.json.decode(prompt))
        for text in result.notes:
            progress(0.9, f"note: {text}")
        self.notes = [note, *result.notes]
        self.bodies = encode_bodies(self.specs, settings, info.model, result.extras)
        self.info = info
        counting = ("server usage per chunk" if result.usage_per_chunk
                    else f"tokenizer {self.counter.name}" if self.counter is not None else "one per chunk")  # fmt: skip
        return ModelLoaded(
            t_ns=time.perf_counter_ns(),
            name=info.model,
            source="endpoint",
            parameters=0,
            dtype="",
            device=settings.url,
            load_seconds=time.perf_counter() - started,
            weight_bytes=0,
            versions=_versions()
            | {
                "server": info.software,
                "token_counting": counting,
                "usage": "per chunk" if result.usage_per_chunk else "at the end" if result.usage_reported else "none",
                "extras": ",".join(sorted(result.extras)),
            },
        )

    # -- run -----------------------------------------------------------------------------------
    def start(self, bus: EventBus) -> None:
        if not self.bodies:
            raise RuntimeError("load() must succeed before start()")
        self._bus = bus
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tpstui.sources.endpoint.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._pump = threading.Thread(target=self._pump_loop, name="tpstui-endpoint-pump", daemon=True)
        self._pump.start()

    def request_runs(self, runs: int, warmup: int, loop: bool = False) -> None:
        settings = self.endpoint
        open_ended = loop or settings.duration_s is not None
        rate = settings.request_rate
        job = Job(
            url=server.route(settings),
            bodies=self.bodies,
            warmup=warmup,
            count=None if open_ended else runs,
            duration_s=None if loop else settings.duration_s,
            concurrency=settings.max_concurrency,
            rate=rate if rate != float("inf") else None,
            burstiness=settings.burstiness,
            seed=settings.seed,
            timeout_s=settings.timeout_s,
            api_key_env=settings.api_key_env,
        )
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
        if not self._send(["job", job]):
            self._job_done()

    def stop(self) -> None:
        self._send(["stop"])

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self, timeout: float = 1.0) -> None:
        deadline = time.monotonic() + timeout
        process = self._process
        if process is None:
            return
        self._send(["stop"])
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()  # EOF: the worker ends every request ("stopped") and exits
        try:
            process.wait(max(deadline - time.monotonic(), 0.05))
        except subprocess.TimeoutExpired:
            process.kill()
        if self._pump is not None:
            self._pump.join(max(deadline - time.monotonic(), 0.05))

    @property
    def alive(self) -> bool:
        return self._pump is not None and self._pump.is_alive()

    @property
    def pid(self) -> int:
        """This process: the model runs in the server, wherever that is (the client does not generate)."""
        return os.getpid()

    def _send(self, message: list[Any]) -> bool:
        process = self._process
        if process is None or process.stdin is None or process.poll() is not None:
            return False
        with self._send_lock:
            try:
                write_frame(process.stdin.fileno(), message)
            except (OSError, ValueError):
                return False
        return True

    def _job_done(self) -> None:
        with self._pending_lock:
            self._pending = max(self._pending - 1, 0)
            if self._pending == 0:
                self._idle.set()

    # -- pump thread ---------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        assert self._process is not None and self._process.stdout is not None and self._bus is not None
        fd = self._process.stdout.fileno()
        pump = _Pump(self._bus, self.specs, self.counter)
        while True:
            try:
                frame = read_frame(fd)
            except Exception as error:  # a torn frame: the worker died mid-write
                self.worker_error = f"the endpoint client process sent a damaged frame ({error})"
                frame = None
            if frame is None:
                break
            for record in frame:
                if record[0] == IDLE:
                    self._job_done()
                elif record[0] == FATAL:
                    self.worker_error = str(record[1])
                else:
                    pump.handle(record)
        pump.abandon(self.worker_error or "the endpoint client process ended")
        with self._pending_lock:
            self._pending = 0
            self._idle.set()


class _Pump:
    """Turns worker records into events (on the pump thread)."""

    def __init__(self, bus: EventBus, specs: list[RequestSpec], counter: TokenCounter | None) -> None:
        self.bus = bus
        self.specs = specs
        self.count = counter.count if counter is not None else None
        self.streams: dict[int, RequestStream] = {}
        self.failed: set[int] = set()

    def handle(self, record: list[Any]) -> None:
        kind, run, t_ns = record[0], int(record[1]), int(record[2])
        publish = self.bus.publish
        if kind == SENT:
            spec = self.specs[int(record[4]) % len(self.specs)]
            self.streams[run] = RequestStream(self.count)
            publish(RunStarted(t_ns, run, bool(record[3]), spec.prompt_tokens, 1, spec.max_tokens, spec.prompt_text))
        elif kind == DATA:
            stream = self.streams.get(run)
            if stream is None or run in self.failed:
                return
            try:
                n, text = stream.feed(record[3])
            except StreamError as error:
                self.failed.add(run)
                publish(RunFailed(t_ns, run, str(error), error.kind))
                return
            if n or text:
                publish(Tokens(t_ns, run, [], n, n, text))
        elif kind == END:
            stream = self.streams.pop(run, None)
            if stream is None or run in self.failed:
                self.failed.discard(run)
                return
            publish(self._end(stream, t_ns, run, str(record[3]), int(record[4]), str(record[5])))

    @staticmethod
    def _end(stream: RequestStream, t_ns: int, run: int, kind: str, status: int, message: str) -> Any:
        if kind == "" and not stream.complete:
            kind = "disconnect"
            message = "the stream ended before a finish_reason or [DONE]"
        if kind in ("", "stopped"):
            finish = stream.finish_reason
            reason = "stopped" if kind == "stopped" else FINISH_REASONS.get(finish, finish) if finish else "eos"
            return RunFinished(
                t_ns, run, reason, stream.tokens, stream.tokens, server_tokens=stream.server_tokens,
                server_prompt_tokens=stream.server_prompt_tokens, chunks=stream.chunks,
                multi_token_chunks=stream.multi_token_chunks,
            )  # fmt: skip
        if kind.startswith("http_"):
            message = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        return RunFailed(t_ns, run, message, kind)

    def abandon(self, message: str) -> None:
        """The worker is gone: every request still open fails."""
        now = time.perf_counter_ns()
        for run in list(self.streams):
            self.bus.publish(RunFailed(now, run, message, "disconnect"))
        self.streams.clear()


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("httpx", "msgspec", "transformers"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
