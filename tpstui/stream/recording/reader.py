"""Reading recordings: tolerant of a torn or damaged tail, strict about what a recording is.

``read_recording`` walks the file frame by frame (each zstd frame carries its own checksum), so a
frame cut short by ``kill -9`` or a full disk is skipped with a warning and everything before it
is kept. Events that cannot be true (times out of order, repeated frames, a second session)
are left out with a warning and their runs marked (``sanity.check_events``). A file that is not
a recording, that ends before its header, or that was written by a newer major schema raises
``RecordingError`` (a ``UserError``: one line, exit code 2). An uncompressed copy (``zstd -d``)
is read too.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Union

import msgspec
import zstandard

from tpstui.errors import UserError
from tpstui.stream.events import Event, SessionEnded, SessionStarted, TelemetrySample, Tokens
from tpstui.stream.recording.format import FORMAT_NAME, SUPPORTED_MAJOR, ZSTD_MAGIC, Header, event_types, parse_schema
from tpstui.stream.recording.sanity import check_events

__all__ = ["Recording", "RecordingError", "read_recording", "read_recording_bytes"]

MAX_FRAME_CONTENT = 256 * 1024 * 1024
"""A frame header declaring more than this is treated as damage, not allocated."""
_LIMIT = 2**62
"""Times and counts beyond this are damage (they would not fit the Session's 64-bit arrays)."""
_FCS_SIZES = (0, 2, 4, 8)
_DICT_ID_SIZES = (0, 1, 2, 4)

_TOKENS = msgspec.json.Decoder(Tokens)
_OBJECTS: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    Union[tuple(cls for cls in event_types() if not cls.__struct_config__.array_like)]  # noqa: UP007
)


class RecordingError(UserError):
    """The file cannot be read as a recording (the message says why, on one line)."""


@dataclass
class Recording:
    """A recording read into memory: its header, every event in written order, and warnings."""

    path: str
    header: Header
    events: list[Event]
    warnings: list[str] = field(default_factory=list)
    runs: dict[int, list[str]] = field(default_factory=dict)
    """Runs the checks marked (``sanity.check_events``), each with what was wrong with it."""

    @property
    def complete(self) -> bool:
        """True when the session was closed cleanly (its last event is ``SessionEnded``)."""
        return bool(self.events) and isinstance(self.events[-1], SessionEnded)


class _Damage(Exception):
    """A frame is malformed (not merely cut short)."""


def read_recording(path: str | os.PathLike[str]) -> Recording:
    """Read a recording file (see the module docstring for what is tolerated)."""
    name = str(path)
    if os.path.isdir(name):
        raise RecordingError(f"{name} is a directory, not a recording.")
    try:
        with open(name, "rb") as handle:
            head = handle.read(len(ZSTD_MAGIC))
            if head and not (ZSTD_MAGIC.startswith(head) or head[:1] == b"{"):  # a model file? don't read it all
                raise RecordingError(f"{name} is not a tpstui recording (expected zstd-compressed JSON Lines).")
            data = head + handle.read()
    except FileNotFoundError:
        raise RecordingError(f"{name}: no such file.") from None
    except OSError as error:
        raise RecordingError(f"cannot read {name}: {error.strerror or error}.") from None
    return read_recording_bytes(data, name)


def read_recording_bytes(data: bytes, name: str = "<bytes>") -> Recording:
    """Read a recording held in memory (``name`` is used in messages)."""
    if not data:
        raise RecordingError(f"{name} is empty, not a tpstui recording.")
    warnings: list[str] = []
    if len(data) < len(ZSTD_MAGIC) and ZSTD_MAGIC.startswith(data):
        raise RecordingError(f"{name} is cut off before its header: not a usable recording.")
    if data.startswith(ZSTD_MAGIC):
        chunks = _frames(data, name, warnings)
    elif data[:1] == b"{":
        chunks = iter([_plain_lines(data, name, warnings)])
    else:
        raise RecordingError(f"{name} is not a tpstui recording (expected zstd-compressed JSON Lines).")
    first = next(chunks, None)
    if first is None or (warnings and data.startswith(ZSTD_MAGIC)):
        raise RecordingError(f"{name} is damaged or cut off before its header: not a usable recording.")
    header_line, _, rest = first.partition(b"\n")
    header = _header(header_line, name)
    events: list[Event] = []
    unknown = [0]
    with _gc_paused():
        _decode_lines(rest, events, warnings, unknown)
        for chunk in chunks:
            _decode_lines(chunk, events, warnings, unknown)
    if unknown[0]:
        warnings.append(
            f"{name}: skipped {unknown[0]} event(s) of types this tpstui does not know "
            f"(written by tpstui with schema {header.schema})."
        )
    checked = check_events(events, name)
    return Recording(name, header, checked.events, warnings + checked.warnings, checked.runs)


def _header(line: bytes, name: str) -> Header:
    not_recording = f"{name} is not a tpstui recording (no recording header)."
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError:
        raise RecordingError(not_recording) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise RecordingError(not_recording)
    version = parse_schema(raw.get("schema"))
    if version is None:
        raise RecordingError(f"{name}: unreadable schema version {raw.get('schema')!r} in the recording header.")
    if version[0] > SUPPORTED_MAJOR:
        raise RecordingError(
            f"{name} uses recording schema {raw['schema']}, newer than this tpstui reads "
            f"({SUPPORTED_MAJOR}.x); upgrade tpstui to read it."
        )
    if version[0] < SUPPORTED_MAJOR:  # pragma: no cover - no older major exists yet
        raise RecordingError(f"{name} uses recording schema {raw['schema']}, which this tpstui cannot read.")
    try:
        return msgspec.convert(raw, Header)
    except msgspec.ValidationError as error:
        raise RecordingError(f"{name}: malformed recording header ({error}).") from None


def _decode_lines(chunk: bytes, events: list[Event], warnings: list[str], unknown: list[int]) -> None:
    """Append the events of complete lines; skip (and count) lines of unknown or broken events.

    Token lines (9 in 10) are decoded in one call per chunk; other lines one by one, in order.
    """
    lines = chunk.split(b"\n")
    token_lines = [line for line in lines if line[:1] == b"["]
    try:
        tokens = _TOKENS.decode_lines(b"\n".join(token_lines)) if token_lines else []
    except msgspec.DecodeError:
        tokens = None
    if tokens is None or not all(_token_ok(token) for token in tokens):
        _decode_one_by_one(lines, events, warnings, unknown)
        return
    if len(tokens) == len(lines) - 1:  # only tokens (the chunk ends with a newline)
        events.extend(tokens)
        return
    append = events.append
    next_token = iter(tokens).__next__
    bad = 0
    for line in lines:
        if not line:
            continue
        if line[0] == 0x5B:
            append(next_token())
            continue
        try:
            event = _OBJECTS.decode(line)
        except msgspec.DecodeError:
            if _unknown_tag(line):
                unknown[0] += 1
            else:
                bad += 1
            continue
        if _plausible(event):
            append(event)
        else:
            bad += 1
    if bad:
        warnings.append(f"skipped {bad} malformed line(s) in the recording.")


def _decode_one_by_one(lines: list[bytes], events: list[Event], warnings: list[str], unknown: list[int]) -> None:
    """The careful path for a chunk with a broken or implausible token line."""
    bad = 0
    for line in lines:
        if not line:
            continue
        try:
            event = _TOKENS.decode(line) if line[0] == 0x5B else _OBJECTS.decode(line)
        except msgspec.DecodeError:
            if _unknown_tag(line):
                unknown[0] += 1
            else:
                bad += 1
            continue
        if _token_ok(event) if type(event) is Tokens else _plausible(event):
            events.append(event)
        else:
            bad += 1
    if bad:
        warnings.append(f"skipped {bad} malformed line(s) in the recording.")


def _token_ok(token: Tokens) -> bool:
    return 0 <= token.t_ns < _LIMIT and -_LIMIT < token.run < _LIMIT and 0 <= token.n <= token.n_all < _LIMIT


def _plausible(event: Any) -> bool:
    """Numbers a real session can produce: 64-bit times and counts, finite floats, a real wall time."""
    if type(event) is TelemetrySample:  # the common case, fast: JSON brings no NaN; inf would sum to inf
        return 0 <= event.t_ns < _LIMIT and math.isfinite(sum(event.values.values()))
    if type(event) is SessionStarted and not 0 <= event.wall_time < 1e11:
        return False
    for value in msgspec.structs.astuple(event):
        if isinstance(value, int) and not -_LIMIT < value < _LIMIT:
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, dict) and not all(math.isfinite(v) for v in value.values() if isinstance(v, float)):
            return False
    return event.t_ns >= 0


def _unknown_tag(line: bytes) -> bool:
    """A well-formed event of a type added by a newer minor schema (skipped, not an error)."""
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return False
    known = {str(cls.__struct_config__.tag) for cls in event_types()}
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        return raw[0] not in known
    if isinstance(raw, dict) and isinstance(raw.get("type"), str):
        return raw["type"] not in known
    return False


def _plain_lines(data: bytes, name: str, warnings: list[str]) -> bytes:
    """An uncompressed recording: every complete line (a torn last line is dropped)."""
    if data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n") + 1
    warnings.append(f"{name}: the last line is incomplete ({len(data) - cut} bytes; the file was cut off): skipped.")
    return data[:cut]


def _frames(data: bytes, name: str, warnings: list[str]) -> Iterator[bytes]:
    """Decompressed content of each intact zstd frame, in order; damage is skipped with a warning."""
    view = memoryview(data)
    decompressor = zstandard.ZstdDecompressor()
    pos = 0
    size = len(data)
    while pos < size:
        try:
            end = _frame_end(view, pos)
            if end is None:
                warnings.append(
                    f"{name}: the last {size - pos} bytes are an incomplete frame (the recording was cut off "
                    "or is still being written): skipped."
                )
                return
            content = _decompress(decompressor, view[pos:end])
        except _Damage as damage:
            resume = data.find(ZSTD_MAGIC, pos + 1)
            lost = (resume if resume >= 0 else size) - pos
            warnings.append(f"{name}: {lost} damaged bytes at offset {pos} ({damage}): skipped.")
            if resume < 0:
                return
            pos = resume
            continue
        pos = end
        if content is not None:
            if content and not content.endswith(b"\n"):
                content = content[: content.rfind(b"\n") + 1]
                warnings.append(f"{name}: a frame ended inside a line: that line was skipped.")
            yield content


def _frame_end(view: memoryview, pos: int) -> int | None:
    """End offset of the frame starting at ``pos``; None if the data stops first (RFC 8878)."""
    size = len(view)
    if pos + 8 > size:
        return None
    magic = bytes(view[pos : pos + 4])
    if magic[1:] == b"\x2a\x4d\x18" and magic[0] & 0xF0 == 0x50:  # skippable frame
        end = pos + 8 + int.from_bytes(view[pos + 4 : pos + 8], "little")
        return end if end <= size else None
    if magic != ZSTD_MAGIC:
        raise _Damage("not a zstd frame")
    descriptor = view[pos + 4]
    if descriptor & 0x08:
        raise _Damage("reserved bit set in the frame header")
    single_segment = (descriptor >> 5) & 1
    fcs_size = _FCS_SIZES[descriptor >> 6] or single_segment
    p = pos + 5 + (0 if single_segment else 1) + _DICT_ID_SIZES[descriptor & 3] + fcs_size
    if fcs_size:
        declared = int.from_bytes(view[p - fcs_size : p], "little") + (256 if fcs_size == 2 else 0)
        if declared > MAX_FRAME_CONTENT:
            raise _Damage(f"frame declares {declared} bytes")
    while True:
        if p + 3 > size:
            return None
        block = int.from_bytes(view[p : p + 3], "little")
        kind = (block >> 1) & 3
        if kind == 3:
            raise _Damage("reserved block type")
        p += 3 + (1 if kind == 1 else block >> 3)
        if block & 1:
            break
    p += 4 if descriptor & 0x04 else 0
    return p if p <= size else None


def _decompress(decompressor: zstandard.ZstdDecompressor, frame: memoryview) -> bytes | None:
    """A frame's content (None for a skippable frame); checksum failures raise ``_Damage``."""
    if bytes(frame[1:4]) == b"\x2a\x4d\x18":
        return None
    try:
        if zstandard.get_frame_parameters(frame).content_size not in (0, zstandard.CONTENTSIZE_UNKNOWN):
            return bytes(decompressor.decompress(frame))
        stream = decompressor.decompressobj()
        out = stream.decompress(frame)
        if not stream.eof:
            raise _Damage("frame does not end where its blocks say")
        return bytes(out)
    except zstandard.ZstdError as error:
        raise _Damage(str(error).split(":")[-1].strip() or "corrupt frame") from None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Decoding allocates ~10⁶ small objects: pausing the cyclic GC makes it 2-3x faster."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
