"""The pipe between the endpoint engine and its client process (``endpoint.worker``).

Both directions carry frames: a 4-byte big-endian length, then a msgpack document.

- engine → worker: ``["job", Job]``, ``["stop"]`` (end the requests in flight, drop the rest);
  EOF ends the worker.
- worker → engine: a list of records, each a list whose first element says what it is:
  ``[SENT, run, t_ns, warmup, body]`` a request was sent (``body`` indexes ``Job.bodies``; the
  worker numbers requests from 0 across jobs);
  ``[DATA, run, t_ns, bytes]`` a piece of a response body arrived (as the HTTP client yielded it);
  ``[END, run, t_ns, kind, status, message]`` the request ended ("" = the stream ended normally,
  else ``RunFailed.kind``); ``[IDLE]`` every request of the job has ended; ``[FATAL, message]``.

Every ``t_ns`` is ``time.perf_counter_ns()`` in the worker: CLOCK_MONOTONIC on Linux, the same
clock as the engine's process.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import msgspec

__all__ = ["DATA", "END", "FATAL", "IDLE", "SENT", "Job", "read_frame", "write_frame"]

SENT, DATA, END, IDLE, FATAL = 0, 1, 2, 3, 4
_LENGTH = struct.Struct(">I")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class Job(msgspec.Struct, frozen=True):
    """Requests to send: warm-ups first (closed loop), then the measured ones under the load model."""

    url: str
    """The full URL of the completions route."""
    bodies: list[bytes]
    """JSON request bodies; request k of the job sends ``bodies[k % len(bodies)]``."""
    warmup: int
    count: int | None
    """Measured requests; None: until ``duration_s`` passes or the job is stopped."""
    duration_s: float | None
    concurrency: int | None
    """Requests in flight at most; None: unlimited."""
    rate: float | None
    """Requests per second (gamma-distributed gaps); None: all at once (as ``concurrency`` allows)."""
    burstiness: float = 1.0
    seed: int = 0
    timeout_s: float = 60.0
    api_key_env: str | None = None
    """The worker reads the key from this environment variable (never from the pipe)."""


def write_frame(fd: int, document: Any) -> None:
    """Write one frame (blocking until all of it is written)."""
    payload = _encode(document)
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int) -> Any:
    """Read one frame; None at EOF."""
    head = _read_exact(fd, _LENGTH.size)
    if head is None:
        return None
    body = _read_exact(fd, _LENGTH.unpack(head)[0])
    return None if body is None else _decode(body)
