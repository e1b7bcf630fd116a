"""The measuring HTTP/1.1 client of the endpoint worker: h11 on an asyncio ``Protocol``, one stamp per socket read.

Why not httpx here (httpx does discovery and the probe): it hands a coroutine each piece of a
body some 45–65 µs of CPU after the socket read on this 2-core machine (measured:
``benchmarks/endpoint_ceiling.py``), and only then can a timestamp be taken. At 64 streams whose
chunks arrive together, the last one is stamped 3 ms late. Here ``data_received`` runs in the
event loop's own read callback, right after ``recv()``: it takes the stamp, feeds h11
(the HTTP/1.1 parser httpx itself uses, via httpcore) and emits the body bytes of that read as one
record, with no coroutine in between. A coroutine only waits for the request to end. The stamp
is the moment the loop's ``select()`` saw the socket ready (``StampingSelector``).

Direct connections only (no proxy, no HTTP/2), kept alive and reused; TLS verified with the
default context; a request fails with "timeout" when no byte arrives for ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import selectors
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import h11

__all__ = ["ERROR_BODY_BYTES", "Outcome", "Pool", "RequestFailed", "StampingSelector"]

ERROR_BODY_BYTES = 400
"""How much of an error response's body a failed request keeps."""


class StampingSelector(selectors.DefaultSelector):
    """The event loop's selector, noting when ``select()`` last reported a ready socket.

    The loop runs the read callback of every ready socket right after ``select()`` returns, one
    after another; stamping a read with the moment its readiness was seen (rather than when its
    callback got its turn) keeps the parsing of the other streams out of the measurement: at 64
    streams whose chunks arrive together, the last would otherwise be stamped 64 parses late.
    """

    ready_ns = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(timeout)
        if events:
            self.ready_ns = time.perf_counter_ns()
        return events


class RequestFailed(Exception):
    """A request ended early; ``kind`` is ``RunFailed.kind``."""

    def __init__(self, kind: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


Outcome = int
"""The HTTP status of a request whose stream ended normally."""
Sink = Callable[[int, bytes], None]
"""``sink(t_ns, body_bytes)``: the body bytes of one socket read and when it was read."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection; serves one request at a time."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.sink: Sink | None = None
        self.done: asyncio.Future[Outcome] | None = None
        self.status = 0
        self.streaming = False
        self.error_body = b""
        self.last_read = 0.0
        self.lost = False

    # -- asyncio callbacks (the event loop's read path) ------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        t_ns = self.clock()
        self.last_read = time.monotonic()
        try:
            self.h11.receive_data(data)
            self._events(t_ns)
        except h11.RemoteProtocolError as error:
            self._fail(RequestFailed("malformed", f"not a valid HTTP/1.1 response: {error}"))

    def eof_received(self) -> bool | None:
        try:
            self.h11.receive_data(b"")
            self._events(time.perf_counter_ns())
        except h11.RemoteProtocolError:
            self._fail(RequestFailed("disconnect", "the server closed the connection mid-response"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        reason = f": {exc}" if exc else ""
        self._fail(RequestFailed("disconnect", f"the connection was closed before the response ended{reason}"))

    # -- the response ----------------------------------------------------------------------
    def _events(self, t_ns: int) -> None:
        body: list[bytes] = []
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.Response):
                self._response(event)
            elif isinstance(event, h11.Data):
                if self.streaming:
                    body.append(bytes(event.data))
                elif len(self.error_body) < ERROR_BODY_BYTES:
                    self.error_body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._deliver(t_ns, body)
                body = []
                self._finish()
            elif isinstance(event, h11.ConnectionClosed):
                break
        self._deliver(t_ns, body)

    def _deliver(self, t_ns: int, body: list[bytes]) -> None:
        if body and self.sink is not None:
            self.sink(t_ns, b"".join(body))

    def _response(self, event: h11.Response) -> None:
        self.status = event.status_code
        content_type = ""
        for name, value in event.headers:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        self.streaming = event.status_code < 400 and "text/event-stream" in content_type
        self.content_type = content_type

    def _finish(self) -> None:
        if self.done is None or self.done.done():
            return
        if self.streaming:
            self.done.set_result(self.status)
            return
        text = self.error_body[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
        if self.status >= 400:
            self._fail(RequestFailed(f"http_{self.status}", text, self.status))
        else:
            kind = self.content_type or "none"
            self._fail(RequestFailed("malformed", f"not an SSE stream (content-type {kind}): {text[:120]!r}"))

    def _fail(self, error: RequestFailed) -> None:
        self.sink = None
        if self.done is not None and not self.done.done():
            self.done.set_exception(error)

    # -- one request -------------------------------------------------------------------------
    @property
    def reusable(self) -> bool:
        return not self.lost and self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def send(self, request: h11.Request, body: bytes, sink: Sink) -> asyncio.Future[Outcome]:
        assert self.transport is not None
        if self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        self.sink, self.status, self.streaming, self.error_body = sink, 0, False, b""
        self.done = asyncio.get_running_loop().create_future()
        self.last_read = time.monotonic()
        self.transport.write(b"".join(self.h11.send(e) or b"" for e in (request, h11.Data(data=body))))
        self.transport.write(self.h11.send(h11.EndOfMessage()) or b"")
        return self.done

    def abort(self) -> None:
        self.sink = None
        if self.transport is not None:
            self.transport.abort()


class Pool:
    """Connections to one server, reused once their response has ended."""

    def __init__(self, url: str, timeout: float, headers: dict[str, str], clock: Callable[[], int]) -> None:
        self.clock = clock
        """Stamps reads: ``StampingSelector.ready_ns`` of the loop (or ``time.perf_counter_ns``)."""
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        host = parts.netloc.rpartition("@")[2]
        self.headers = [("Host", host), ("User-Agent", "tpstui"), ("Accept-Encoding", "identity"),
                        *headers.items()]  # fmt: skip
        self.idle: list[_Connection] = []
        self.ssl = ssl.create_default_context() if self.https else None

    async def _connect(self) -> _Connection:
        while self.idle:
            connection = self.idle.pop()
            if connection.reusable:
                return connection
            connection.abort()
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self.clock), self.host, self.port, ssl=self.ssl),
                self.timeout,
            )
        except TimeoutError:
            where = f"{self.host}:{self.port}"
            raise RequestFailed("timeout", f"no connection to {where} within {self.timeout:g} s") from None
        except OSError as error:
            raise RequestFailed("connect", f"cannot connect to {self.host}:{self.port}: {error}") from None
        return protocol

    async def post(self, body: bytes, sink: Sink) -> Outcome:
        """POST ``body``; ``sink`` gets the response body as it is read. ``RequestFailed`` when it fails."""
        connection = await self._connect()
        request = h11.Request(
            method="POST", target=self.target,
            headers=[*self.headers, ("Content-Length", str(len(body)))],
        )  # fmt: skip
        done = connection.send(request, body, sink)
        try:
            await self._wait(connection, done)
        except BaseException:
            connection.abort()
            raise
        if connection.reusable:
            self.idle.append(connection)
        else:
            connection.abort()
        return done.result()

    async def _wait(self, connection: _Connection, done: asyncio.Future[Outcome]) -> None:
        """Wait for the response to end; a silence of ``timeout`` seconds fails it."""
        while True:
            remaining = connection.last_read + self.timeout - time.monotonic()
            if remaining <= 0:
                raise RequestFailed("timeout", f"no byte from the server for {self.timeout:g} s")
            finished, _ = await asyncio.wait([done], timeout=remaining)
            if finished:
                done.result()  # raises the RequestFailed of a failed response
                return

    def close(self) -> None:
        for connection in self.idle:
            connection.abort()
        self.idle.clear()
