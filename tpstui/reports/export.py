"""Export a recording: the per-token table, the telemetry table, and the per-run summary.

The summary is the bench report itself (``tpstui.reports.bench.build_report``) computed from a Session
fed with the recording, so an exported recording has exactly the fields of ``tpstui bench --json``
(and ``runs.csv`` the columns of ``tpstui bench --csv``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import msgspec

from tpstui.reports.bench import build_report, csv_text
from tpstui.state.session import Session
from tpstui.stream.events import RunStarted, SessionStarted, TelemetrySample, ThrottleChanged, Tokens
from tpstui.stream.fields import FIELDS
from tpstui.stream.recording.reader import Recording
from tpstui.stream.recording.sanity import INTERRUPTED

__all__ = [
    "TOKEN_COLUMNS",
    "export_report",
    "telemetry_columns",
    "telemetry_rows",
    "token_rows",
    "write_csv_dir",
    "write_json",
]

TOKEN_COLUMNS = ("run", "warmup", "index", "t_ns", "since_start_s", "gap_s", "n", "n_all", "ids", "text")
"""One row per streamer put (an "arrival"). ``since_start_s``: after the run's ``generate()``
call; ``gap_s``: after sequence 0's previous arrival (the first: after the call, i.e. TTFT), empty
when sequence 0 got nothing in this put; ``ids``: every sequence's new ids, space-separated."""


def token_rows(recording: Recording) -> list[dict[str, Any]]:
    """Every ``Tokens`` event of a known run, in recorded order."""
    starts: dict[int, RunStarted] = {}
    previous: dict[int, int] = {}
    index: dict[int, int] = {}
    rows: list[dict[str, Any]] = []
    for event in recording.events:
        if type(event) is RunStarted:
            starts[event.run] = event
            previous[event.run] = event.t_ns
            index[event.run] = 0
        elif type(event) is Tokens and event.run in starts:
            start = starts[event.run]
            gap = None
            if event.n:
                gap = (event.t_ns - previous[event.run]) / 1e9
                previous[event.run] = event.t_ns
            rows.append(
                {
                    "run": event.run,
                    "warmup": start.warmup,
                    "index": index[event.run],
                    "t_ns": event.t_ns,
                    "since_start_s": (event.t_ns - start.t_ns) / 1e9,
                    "gap_s": gap,
                    "n": event.n,
                    "n_all": event.n_all,
                    "ids": list(event.ids),
                    "text": event.text,
                }
            )
            index[event.run] += 1
    return rows


def _origin(recording: Recording) -> int:
    for event in recording.events:
        if type(event) is SessionStarted:
            return event.t_ns
    return recording.events[0].t_ns if recording.events else 0


def _key_order(key: str) -> tuple[int, int, str]:
    if key in FIELDS:
        return (0, list(FIELDS).index(key), key)
    core = re.match(r"core(\d+)_", key)
    return (2, int(core.group(1)), key) if core else (1, 0, key)


def telemetry_columns(samples: list[TelemetrySample]) -> list[str]:
    """``t_ns, t_s, device, reasons`` and every value key seen (known fields first, cores last)."""
    keys = {key for sample in samples for key in sample.values}
    return ["t_ns", "t_s", "device", "reasons", *sorted(keys, key=_key_order)]


def telemetry_rows(recording: Recording) -> list[dict[str, Any]]:
    """One row per sample: its time (``t_s`` after the session started), device, reasons, values."""
    origin = _origin(recording)
    return [
        {
            "t_ns": e.t_ns,
            "t_s": (e.t_ns - origin) / 1e9,
            "device": e.device,
            "reasons": list(e.reasons),
            **e.values,
        }
        for e in recording.events
        if type(e) is TelemetrySample
    ]


def export_report(recording: Recording, session: Session | None = None) -> dict[str, Any]:
    """The bench report of the recorded session, plus what the recording is."""
    session = session if session is not None else Session.from_events(recording.events)
    started = session.started
    settings = dict(started.settings) if started else {}
    runs = session.runs(include_warmup=True)
    extra = {
        "interrupted": not recording.complete
        or any(v.finished is not None and v.finished.reason == "stopped" for v in runs),
        "load_seconds": session.model.load_seconds if session.model else None,
        "recording": {
            "path": recording.path,
            "schema": recording.header.schema,
            "tool_version": recording.header.tool_version,
            "events": len(recording.events),
            "complete": recording.complete,
            "warnings": list(recording.warnings),
        },
    }
    report = build_report(session, settings, extra)
    for entry in report["runs"]:  # what the checks found in each run (sanity.check_events)
        notes = recording.runs.get(entry["run"], [])
        entry["warnings"] = list(notes)
        if INTERRUPTED in notes and entry["status"] == "unfinished":
            entry["status"] = "interrupted"
    return report


def write_json(recording: Recording, path: str | Path, report: dict[str, Any] | None = None) -> None:
    """The report (``export_report``, computed here unless given) plus the ``tokens`` and
    ``telemetry_samples`` tables (lists of row objects)."""
    report = dict(report if report is not None else export_report(recording))
    report["tokens"] = token_rows(recording)
    origin = _origin(recording)
    report["telemetry_samples"] = [
        {
            "t_ns": e.t_ns,
            "t_s": (e.t_ns - origin) / 1e9,
            "device": e.device,
            "reasons": list(e.reasons),
            "values": e.values,
        }
        for e in _samples(recording)
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=1) + b"\n")  # NaN → null


def _samples(recording: Recording) -> list[TelemetrySample]:
    return [e for e in recording.events if type(e) is TelemetrySample]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value) if not value or not isinstance(value[0], str) else ";".join(value)
    return value


def _write_table(path: Path, columns: list[str] | tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})


def write_csv_dir(recording: Recording, directory: str | Path, report: dict[str, Any] | None = None) -> list[Path]:
    """``tokens.csv``, ``telemetry.csv``, ``runs.csv`` (the bench CSV of ``report``, computed here
    unless given) and ``throttle.csv``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "tokens.csv"
    _write_table(path, TOKEN_COLUMNS, token_rows(recording))
    written.append(path)
    path = folder / "telemetry.csv"
    _write_table(path, telemetry_columns(_samples(recording)), telemetry_rows(recording))
    written.append(path)
    path = folder / "runs.csv"
    path.write_text(csv_text(report if report is not None else export_report(recording)), encoding="utf-8")
    written.append(path)
    path = folder / "throttle.csv"
    changes = [
        {"t_ns": e.t_ns, "device": e.device, "reason": e.reason, "active": e.active}
        for e in recording.events
        if type(e) is ThrottleChanged
    ]
    _write_table(path, ("t_ns", "device", "reason", "active"), changes)
    written.append(path)
    return written
