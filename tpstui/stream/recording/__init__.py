"""Recordings: the event stream written to a file while it happens, and read back for replay.

``Recorder`` (writer.py) subscribes to an ``EventBus`` and writes on its own thread;
``read_recording`` (reader.py) returns every intact event; format.py documents the layout.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tpstui.paths import default_recordings_dir
from tpstui.stream.recording.format import FORMAT_NAME, SUFFIX, Header, display_path
from tpstui.stream.recording.reader import Recording, RecordingError, read_recording, read_recording_bytes
from tpstui.stream.recording.writer import Recorder, numbered

__all__ = [
    "FORMAT_NAME",
    "SUFFIX",
    "Header",
    "Recorder",
    "Recording",
    "RecordingError",
    "display_path",
    "new_recording_path",
    "numbered",
    "read_recording",
    "read_recording_bytes",
]


def new_recording_path(directory: str | os.PathLike[str] | None = None, label: str = "") -> Path:
    """A fresh file name in ``directory``: ``YYYYmmdd-HHMMSS[-label].jsonl.zst``, or ``-2``, ``-3``...
    when that exists. Another process may take it before this one creates it: create it with
    ``Recorder(path, unique=True)``, which moves on to the next free name."""
    folder = Path(directory) if directory is not None else default_recordings_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in label).strip("-.")[:40]
    base = f"{stamp}-{safe}" if safe else stamp
    first = candidate = folder / f"{base}{SUFFIX}"
    counter = 1
    while candidate.exists():
        counter += 1
        candidate = numbered(first, counter)
    return candidate
