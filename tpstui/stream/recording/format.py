"""The recording format: zstd-compressed JSON Lines, one independent zstd frame per flush.

A recording is the event stream written down::

    frame 0   {"format":"tpstui-recording","schema":"1.1",...}   the header, alone, written at open
    frame 1   {"type":"session",...}\\n["tok",...]\\n...           events flushed together (≤ 0.5 s)
    frame 2   ...

Each line is one event exactly as ``msgspec`` encodes ``tpstui.stream.events`` (object events carry
their tag in ``"type"``; ``Tokens`` is an array ``["tok", t_ns, run, ids, n, n_all, text]``; the
header lists every event's fields). Concatenated zstd frames are a valid zstd stream, so
``zstdcat FILE | jq`` reads a recording without tpstui, even while it is being written.
"""

from __future__ import annotations

import math
import typing
from pathlib import Path
from typing import Any

import msgspec

from tpstui.stream.events import SCHEMA_VERSION, Event, TelemetrySample

__all__ = [
    "FORMAT_NAME",
    "SUFFIX",
    "SUPPORTED_MAJOR",
    "ZSTD_MAGIC",
    "Header",
    "display_path",
    "event_types",
    "finite_sample",
    "header_fields",
    "parse_schema",
]

FORMAT_NAME = "tpstui-recording"
SUFFIX = ".jsonl.zst"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Header(msgspec.Struct, frozen=True):
    """The first line of a recording: what it is, which schema, how to read its lines."""

    format: str
    schema: str
    created: float
    """Unix time (seconds) when the file was opened."""
    tool_version: str = ""
    tag_field: str = "type"
    events: dict[str, list[str]] = {}
    """Every event tag and its fields in order (array events list their elements after the tag)."""
    array_events: list[str] = []
    """Tags encoded as JSON arrays (``["tok", ...]``) rather than objects."""
    note: str = ""


def event_types() -> tuple[type[Any], ...]:
    """The event Struct classes of this version (members of ``tpstui.stream.events.Event``)."""
    return typing.get_args(Event)


def header_fields() -> tuple[dict[str, list[str]], list[str]]:
    """(tag → field names, tags encoded as arrays), read from the Struct definitions."""
    fields: dict[str, list[str]] = {}
    arrays: list[str] = []
    for cls in event_types():
        info = msgspec.structs.fields(cls)
        tag = str(cls.__struct_config__.tag)
        fields[tag] = [f.encode_name for f in info]
        if cls.__struct_config__.array_like:
            arrays.append(tag)
    return fields, arrays


def parse_schema(text: object) -> tuple[int, int] | None:
    """``"1.0"`` → (1, 0); None when it is not a major.minor version."""
    if not isinstance(text, str):
        return None
    major, _, minor = text.partition(".")
    if not (major.isdigit() and (minor.isdigit() or minor == "")):
        return None
    return int(major), int(minor or 0)


SUPPORTED_MAJOR = parse_schema(SCHEMA_VERSION)[0]  # type: ignore[index]


def finite_sample(event: Event) -> Event:
    """JSON has no NaN/inf (msgspec writes null): leave such telemetry values out, as "n/a"."""
    if type(event) is TelemetrySample and not all(math.isfinite(v) for v in event.values.values()):
        values = {k: v for k, v in event.values.items() if math.isfinite(v)}
        return TelemetrySample(event.t_ns, event.device, values, list(event.reasons), event.late_ns)
    return event


def display_path(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)
