"""The recorder: an ``EventBus`` subscriber that only enqueues; a writer thread encodes and writes.

Every ``flush_seconds`` (0.5 s by default, so at most that much is lost to ``kill -9``) the
writer compresses what it has into one independent zstd frame (with a checksum) and hands it to
the OS in a single ``write()``. The file is opened unbuffered and append-only; a reader can
open it at any time and sees whole frames, plus at worst one torn frame at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import zstandard

from tpstui import __version__
from tpstui.errors import UserError
from tpstui.stream.events import SCHEMA_VERSION, Event
from tpstui.stream.recording.format import FORMAT_NAME, SUFFIX, Header, finite_sample, header_fields

__all__ = ["FLUSH_SECONDS", "FrameWriter", "Recorder", "numbered"]

FLUSH_SECONDS = 0.5
MAX_FRAME_BYTES = 4 * 1024 * 1024
"""A frame is written early once its uncompressed lines reach this size."""
LEVEL = 3
"""zstd level: 3 compresses a 1-hour session to ~7 MB at ~100 MB/s of JSON on one core."""
_CLOSE: Any = object()


class FrameWriter:
    """Encodes events as JSON lines and writes them as zstd frames to an open binary file.

    No threads and no clock: the caller decides when to ``flush()``. The first frame is the
    header. Write errors are kept in ``error`` and end the writing (never raised).
    """

    def __init__(self, file: BinaryIO, level: int = LEVEL, note: str = "") -> None:
        self.file = file
        self.events = 0
        self.frames = 0
        self.bytes = 0
        self.error: str | None = None
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True)
        self._encoder = msgspec.json.Encoder()
        self._buffer = bytearray()
        fields, arrays = header_fields()
        header = Header(FORMAT_NAME, SCHEMA_VERSION, time.time(), __version__, "type", fields, arrays, note)
        self._write(msgspec.json.encode(header) + b"\n")

    @property
    def pending(self) -> int:
        """Bytes of encoded lines not yet written."""
        return len(self._buffer)

    def add(self, event: Event) -> None:
        """Encode one event (a non-event is left out; the recording goes on)."""
        mark = len(self._buffer)
        try:
            self._encoder.encode_into(finite_sample(event), self._buffer, -1)
        except (TypeError, msgspec.EncodeError):
            del self._buffer[mark:]
            return
        self._buffer += b"\n"
        self.events += 1

    def flush(self) -> None:
        """Write the pending lines as one frame."""
        if self._buffer:
            self._write(bytes(self._buffer))
            self._buffer.clear()

    def _write(self, data: bytes) -> None:
        if self.error is not None:
            return
        frame = self._compressor.compress(data)
        try:
            written = 0
            while written < len(frame):  # one write() in practice; loop for partial writes
                written += self.file.write(frame[written:]) or 0
        except OSError as error:
            self.error = f"{error.strerror or error}; recording stopped at {self.bytes} bytes"
            return
        self.frames += 1
        self.bytes += len(frame)


class Recorder:
    """Writes the event stream to ``path`` (a new file; an existing one is never overwritten).

    ``unique``: the name was chosen by tpstui, not given by the user; when another session took
    it in the meantime (two started in the same second), the next free ``-2``, ``-3``... is used
    and ``path`` says which.

    Call it with each event (subscribe it to the bus); ``close()`` drains the queue, writes the
    last frame and syncs the file. Write errors (disk full) stop the recording, never the run:
    ``error`` says what happened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        flush_seconds: float = FLUSH_SECONDS,
        level: int = LEVEL,
        note: str = "",
        unique: bool = False,
    ) -> None:
        self.flush_seconds = flush_seconds
        self.cpu_seconds = 0.0
        """CPU time of the writer thread (for the recorder benchmark)."""
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._file, self.path = _create(Path(path), unique)
        self._frames = FrameWriter(self._file, level, note)
        if self._frames.error is not None:
            self._file.close()
            raise UserError(f"cannot write the recording {self.path}: {self._frames.error}")
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tpstui-recorder", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def __call__(self, event: Event) -> None:
        """The bus subscriber: O(1), never blocks, safe from any thread."""
        self._queue.put(event)

    @property
    def events_written(self) -> int:
        return self._frames.events

    @property
    def error(self) -> str | None:
        return self._frames.error

    def close(self, timeout: float = 5.0) -> None:
        """Write everything queued so far, sync and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._queue.put(_CLOSE)
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a wedged disk; the frames so far are on it
            return
        with contextlib.suppress(OSError):
            os.fsync(self._file.fileno())
        self._file.close()

    def _run(self) -> None:
        """The writer thread: encode what arrives; write a frame once the oldest line is due."""
        cpu_start = time.thread_time()
        frames = self._frames
        oldest = 0.0
        closing = False
        while not closing:
            timeout = None if not frames.pending else max(0.0, oldest + self.flush_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _CLOSE:
                    closing = True
                    break
                if not frames.pending:
                    oldest = time.monotonic()
                frames.add(item)
                if frames.pending >= MAX_FRAME_BYTES:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if closing or frames.pending >= MAX_FRAME_BYTES or time.monotonic() - oldest >= self.flush_seconds:
                frames.flush()
            self.cpu_seconds = time.thread_time() - cpu_start


def _create(path: Path, unique: bool) -> tuple[BinaryIO, Path]:
    """Open a new file (``O_EXCL``: the check and the creation are one step, so no race)."""
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name for the recording.")
    candidate = path
    for number in itertools.count(2):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            return open(candidate, "xb", buffering=0), candidate  # closed by Recorder.close()
        except FileExistsError:
            if not unique:
                raise UserError(f"{path} already exists; give a new name (recordings are never overwritten).") from None
            candidate = numbered(path, number)
        except OSError as error:
            raise UserError(f"cannot write the recording {candidate}: {error.strerror or error}.") from None
    raise AssertionError("unreachable")  # pragma: no cover


def numbered(path: Path, number: int) -> Path:
    """``name.jsonl.zst`` → ``name-N.jsonl.zst`` (the suffix kept whole)."""
    name = path.name
    stem, suffix = (name[: -len(SUFFIX)], SUFFIX) if name.endswith(SUFFIX) else (path.stem, path.suffix)
    return path.with_name(f"{stem}-{number}{suffix}")
