"""Recordings that read cleanly but say impossible things: found, reported, and left out.

A recording is the event stream of one session. Two recordings joined together, a clock that
jumped, a frame written twice, a damaged number that still parses: each would otherwise become
negative gaps, doubled token counts or an ITL p99 of many minutes. ``check_events`` keeps what is
consistent and says what it left out:

- one session per file: a second ``SessionStarted`` (recordings joined together) ends what is read;
- a run's tokens lie between its start and its end and strictly increase in time; a device's
  samples strictly increase in time and come after the session started. When some do not, the
  longest consistent sequence is kept (a duplicated frame, a time of 0 or a jump forward are left
  out, the rest of the run stays) and the run is marked;
- a second ``RunStarted`` / ``RunFinished`` / ``RunFailed`` of the same run is left out;
- a recording that does not begin with its ``SessionStarted``, or ends without ``SessionEnded``
  (a crash, ``kill -9``, a full disk, a copy taken while it was written), is said; runs it cut
  short are marked interrupted.

Every check is one pass over the events; the longest-sequence search (O(n log n)) runs only for
the runs and devices that need it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from tpstui.stream.events import (
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    Tokens,
)

__all__ = ["INTERRUPTED", "Checked", "check_events"]

INTERRUPTED = "interrupted: the recording ends before this run did"


@dataclass
class Checked:
    """The events that make sense, what was wrong (one line each), and each marked run's notes."""

    events: list[Event]
    warnings: list[str] = field(default_factory=list)
    runs: dict[int, list[str]] = field(default_factory=dict)


def check_events(events: list[Event], name: str) -> Checked:
    """Check a recording's events (see the module docstring); ``name`` goes into the warnings."""
    checked = Checked(events)
    if not events:
        checked.warnings.append(
            f"{name} holds no events: it ends without its session end (cut before the session began, "
            "or still being written)."
        )
        return checked
    warnings, runs = checked.warnings, checked.runs
    if type(events[0]) is not SessionStarted:
        warnings.append(
            f"{name} does not begin with its session start ({type(events[0]).__name__} first): "
            "the settings and host it ran on are unknown."
        )
    starts = [i for i, e in enumerate(events) if type(e) is SessionStarted]
    if len(starts) > 1:
        warnings.append(f"{name} holds {len(starts)} sessions (recordings joined together?): only the first is read.")
        events = events[: starts[1]]
    session_ns = events[starts[0]].t_ns if starts else None

    drop: set[int] = set()
    run_start: dict[int, int] = {}
    run_end: dict[int, int] = {}
    last_token: dict[int, int] = {}
    last_sample: dict[str, int] = {}
    untidy_runs: set[int] = set()
    untidy_devices: set[str] = set()
    repeated = 0
    for index, event in enumerate(events):
        if type(event) is Tokens:
            run = event.run
            start = run_start.get(run)
            if start is None or event.t_ns < start or event.t_ns <= last_token.get(run, -1):
                untidy_runs.add(run)
            else:
                last_token[run] = event.t_ns
        elif type(event) is TelemetrySample:
            device = event.device
            if event.t_ns <= last_sample.get(device, -1) or (session_ns is not None and event.t_ns < session_ns):
                untidy_devices.add(device)
            else:
                last_sample[device] = event.t_ns
        elif type(event) is RunStarted:
            run = event.run
            if run in run_start:
                drop.add(index)
                repeated += 1
            else:
                run_start[run] = event.t_ns
        elif isinstance(event, (RunFinished, RunFailed)):
            run = event.run
            if run in run_end:
                drop.add(index)
                repeated += 1
            elif run >= 0:
                run_end[run] = event.t_ns
    untidy_runs |= {run for run, last in last_token.items() if last > run_end.get(run, last)}
    if repeated:
        warnings.append(f"{name}: {repeated} repeated run start/end event(s) were left out.")
    for run in sorted(untidy_runs):
        left_out = _keep_consistent(
            events, drop, (i for i, e in enumerate(events) if type(e) is Tokens and e.run == run),
            run_start.get(run), run_end.get(run),
        )  # fmt: skip
        if left_out:
            note = f"{left_out} token event(s) out of order, repeated or outside the run were left out"
            runs.setdefault(run, []).append(note)
            warnings.append(f"{name}: run {run}: {note}.")
    for device in sorted(untidy_devices):
        left_out = _keep_consistent(
            events, drop,
            (i for i, e in enumerate(events) if type(e) is TelemetrySample and e.device == device),
            session_ns, None,
        )  # fmt: skip
        if left_out:
            warnings.append(f"{name}: {device}: {left_out} sample(s) out of order or repeated were left out.")
    if type(events[-1]) is not SessionEnded:
        cut = sorted(run for run in run_start if run not in run_end)
        for run in cut:
            runs.setdefault(run, []).append(INTERRUPTED)
        warnings.append(
            f"{name} ends without its session end: the session did not close (a crash, kill -9, a full disk) "
            "or is still being written" + (f"; run {', '.join(map(str, cut))} is marked interrupted." if cut else ".")
        )
    checked.events = [e for i, e in enumerate(events) if i not in drop] if drop else events
    return checked


def _keep_consistent(
    events: list[Event], drop: set[int], indices: Iterable[int], lowest: int | None, highest: int | None
) -> int:
    """Keep the longest strictly increasing run of times within [lowest, highest] among ``indices``;
    add the others to ``drop``. Returns how many were left out."""
    candidates: list[int] = []
    outside = 0
    for index in indices:
        t = events[index].t_ns
        if (lowest is not None and t < lowest) or (highest is not None and t > highest):
            drop.add(index)
            outside += 1
        else:
            candidates.append(index)
    times = [events[i].t_ns for i in candidates]
    if all(a < b for a, b in pairwise(times)):
        return outside
    keep = _longest_increasing(times)
    kept = {candidates[k] for k in keep}
    drop.update(i for i in candidates if i not in kept)
    return outside + len(candidates) - len(kept)


def _longest_increasing(values: list[int]) -> list[int]:
    """Positions of a longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails: list[int] = []  # tails[k]: the smallest last value of an increasing run of length k + 1
    tail_at: list[int] = []
    previous = [-1] * len(values)
    for position, value in enumerate(values):
        k = bisect.bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tail_at.append(position)
        else:
            tails[k] = value
            tail_at[k] = position
        previous[position] = tail_at[k - 1] if k else -1
    chain = []
    position = tail_at[-1] if tail_at else -1
    while position >= 0:
        chain.append(position)
        position = previous[position]
    return chain[::-1]
