"""Fuzzing the reader: random and mutated bytes give a clean error or valid events, never a crash.

Whatever the reader returns must also be safe downstream: a Session fed with it and the bench
report built from that Session must not raise either.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.recording_scripts import scripted_events
from tpstui.reports.bench import build_report
from tpstui.sources.replay import ReplaySource
from tpstui.state.session import Session
from tpstui.stream.events import SCHEMA_VERSION
from tpstui.stream.recording import Recorder, RecordingError, read_recording_bytes
from tpstui.stream.recording.format import FORMAT_NAME, event_types
from tpstui.stream.recording.sanity import INTERRUPTED

_VALID: dict[str, bytes] = {}


def _valid_recording(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if "data" not in _VALID:
        path = tmp_path_factory.mktemp("fuzz") / "s.jsonl.zst"
        recorder = Recorder(path, flush_seconds=0.0)
        for event in scripted_events()[:40]:
            recorder(event)
        recorder.close()
        _VALID["data"] = path.read_bytes()
    return _VALID["data"]


def _check(data: bytes) -> None:
    try:
        recording = read_recording_bytes(data)
    except RecordingError as error:
        assert "\n" not in str(error)
        return
    allowed = event_types()
    assert all(type(e) in allowed for e in recording.events)
    build_report(Session.from_events(recording.events), {})
    replay = ReplaySource(recording, paused=True)  # odd but valid events must replay too
    for control in (replay.step, replay.seek_next_throttle, replay.jump_to_end, lambda: replay.seek(0)):
        control()
        replay.pump()


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=512))
def test_random_bytes_behind_zstd_magic(data: bytes) -> None:
    _check(b"\x28\xb5\x2f\xfd" + data)


_mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "cut"]), st.integers(0, 10**6), st.integers(0, 255))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_recordings(tmp_path_factory: pytest.TempPathFactory, mutations: list[tuple[str, int, int]]) -> None:
    data = bytearray(_valid_recording(tmp_path_factory))
    for kind, where, value in mutations:
        at = where % max(len(data), 1)
        if kind == "flip" and data:
            data[at] ^= value or 1
        elif kind == "insert":
            data[at:at] = bytes([value])
        elif kind == "delete" and data:
            del data[at]
        elif kind == "cut":
            del data[at:]
    _check(bytes(data))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
_BY_TYPE = {
    "int": st.integers(-3, 3) | st.integers(-(2**40), 2**62),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "str": st.text(max_size=8),
    "bool": st.booleans(),
    "list[int]": st.lists(st.integers(-5, 2**31), max_size=4),
    "list[str]": st.lists(st.text(max_size=6), max_size=3),
    "dict[str, float]": st.dictionaries(st.sampled_from(["energy_j", "temp_c", "x"]), st.floats(-1e9, 1e9), max_size=3),
}


def _field_value(annotation: object) -> st.SearchStrategy[object]:
    """A value of the declared type (so that the events reach the Session and the report)."""
    name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return _BY_TYPE.get(name, st.dictionaries(st.text(max_size=6), _json, max_size=3))


def _event_line(cls: type) -> st.SearchStrategy[bytes]:
    fields = msgspec.structs.fields(cls)
    tag = cls.__struct_config__.tag
    values = st.fixed_dictionaries({f.name: _field_value(f.type) for f in fields})
    if cls.__struct_config__.array_like:
        return values.map(lambda v: msgspec.json.encode([tag, *(v[f.name] for f in fields)]))
    return values.map(lambda v: msgspec.json.encode({"type": tag, **v}))


_lines = st.one_of(*(_event_line(cls) for cls in event_types()), _json.map(msgspec.json.encode))


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(_lines, max_size=25))
def test_typed_events_with_odd_values(lines: list[bytes]) -> None:
    """Well-formed lines of every event type with arbitrary values (negative, unordered, unknown runs)."""
    header = msgspec.json.encode({"format": FORMAT_NAME, "schema": SCHEMA_VERSION, "created": 0.0})
    data = b"\n".join([header, *lines]) + b"\n"
    _check(data)
    _check(zstandard.ZstdCompressor().compress(data))


def test_the_valid_recording_itself(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    recording = read_recording_bytes(_valid_recording(tmp_path_factory))
    assert recording.events == scripted_events()[:40]
    (warning,) = recording.warnings  # the first 40 events: a session cut short, and said so
    assert "ends without its session end" in warning and recording.runs == {2: [INTERRUPTED]}
