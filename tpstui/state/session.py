"""Session state: what the event stream has said so far, and the metrics derived from it.

``Session.apply`` is an ``EventBus`` subscriber: O(1) per event (appends under a lock), safe to
call from the pump and sampler threads at once. Readers (the UI tick, the bench report, the
exporters) call the query methods, which copy what they need under the lock and compute outside
it. Live and replayed sessions are the same object fed the same events.
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from tpstui.state import metrics
from tpstui.state.pauses import PauseStats, pause_stats
from tpstui.state.throttle import ThrottleSpan, ThrottleStats, throttle_stats
from tpstui.stream.events import (
    BackendFailed,
    Event,
    LoadProgress,
    ModelLoaded,
    RunFailed,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    Stall,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)

__all__ = ["RunRecord", "RunTail", "RunView", "Session", "is_measured"]


def is_measured(warmup: bool, finished: RunFinished | None) -> bool:
    """A measured run: not a warm-up, and ``generate()`` returned (a run stopped with ``s`` counts;
    a failed or unfinished one does not). Aggregates, the stats panel and compare use only these."""
    return not warmup and finished is not None


@dataclass
class RunRecord:
    """Mutable per-run state; only the Session touches it, under its lock."""

    started: RunStarted
    arrivals: array[int] = field(default_factory=lambda: array("q"))
    """Arrival times of sequence 0's tokens (one per put that carried any)."""
    counts: array[int] = field(default_factory=lambda: array("q"))
    n: int = 0
    n_all: int = 0
    last_any_ns: int = 0
    text: list[str] = field(default_factory=list)
    finished: RunFinished | None = None
    error: str | None = None
    error_kind: str | None = None


@dataclass(frozen=True)
class RunView:
    """An immutable copy of one run, safe to use outside the lock."""

    run: int
    warmup: bool
    started: RunStarted
    arrivals: np.ndarray
    counts: np.ndarray
    n_all: int
    last_any_ns: int
    text: str
    finished: RunFinished | None
    error: str | None
    error_kind: str | None = None
    """``RunFailed.kind`` of a failed run ("error" when the recording did not say)."""
    failed_ns: int | None = None
    """When it failed (``RunFailed.t_ns``)."""

    @property
    def done(self) -> bool:
        return self.finished is not None or self.error is not None

    @property
    def end_ns(self) -> int | None:
        return self.finished.t_ns if self.finished is not None else None

    @property
    def measured(self) -> bool:
        return is_measured(self.warmup, self.finished)

    def metrics(self) -> metrics.RunMetrics:
        return metrics.run_metrics(self.started.t_ns, self.arrivals, self.counts, self.n_all, self.last_any_ns or None)


@dataclass(frozen=True)
class RunTail:
    """What a run added after a reader's cursors (``Session.run_tail``), and its running totals.

    Lets a frame-rate reader (the live app) do O(new tokens) work per tick instead of copying
    the whole run; pass ``n_arrivals`` / ``n_text`` back as the next call's cursors.
    """

    run: int
    started: RunStarted
    arrivals: np.ndarray
    """Arrivals from the cursor on (sequence 0)."""
    counts: np.ndarray
    text: str
    """Text pieces from the text cursor on, joined."""
    n_arrivals: int
    n_text: int
    first_ns: int | None
    """The run's first arrival (None before it)."""
    n: int
    n_all: int
    last_any_ns: int
    finished: RunFinished | None
    error: str | None
    error_kind: str | None = None

    @property
    def done(self) -> bool:
        return self.finished is not None or self.error is not None


class Session:
    """Accumulates events; answers questions about runs, telemetry and throttling."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: SessionStarted | None = None
        self.model: ModelLoaded | None = None
        self.load: LoadProgress | None = None
        self.ended: SessionEnded | None = None
        self._runs: dict[int, RunRecord] = {}
        self._samples: dict[str, list[TelemetrySample]] = {}
        self._sample_times: dict[str, array[int]] = {}
        """Each device's sample times, for finding a window by bisection."""
        self._spans: list[ThrottleSpan] = []
        self._open_spans: dict[tuple[str, str], ThrottleSpan] = {}
        self.failures: list[BackendFailed] = []
        self._stalls: list[Stall] = []
        self.load_error: str | None = None
        self.latest_ns = 0
        """The newest timestamp seen: "now" for a replay, a lower bound of now when live."""
        self.total_tokens = 0
        self.events = 0
        self.throttle_changes = 0
        """Counts the ``ThrottleChanged`` events applied (readers re-read spans when it moves)."""
        self._metrics: dict[int, metrics.RunMetrics] = {}
        """Metrics of finished (or failed) runs: they no longer change, so computed once."""
        self._all_arrivals: array[int] = array("q")
        self._all_counts: array[int] = array("q")
        """Every arrival of every run (time, tokens of all sequences): system TPS across overlapping runs."""
        self._flight: array[int] = array("q")
        """Run starts (+t_ns) and ends (−t_ns) in publish order: requests in flight over time."""
        self._failed_at: dict[int, int] = {}
        self.in_flight = 0
        """Runs started and not yet finished or failed (requests in flight, for an endpoint)."""

    # -- ingest (EventBus subscriber) -------------------------------------------------------
    def apply(self, event: Event) -> None:
        with self._lock:
            self.events += 1
            if event.t_ns > self.latest_ns:
                self.latest_ns = event.t_ns
            if isinstance(event, Tokens):
                record = self._runs.get(event.run)
                if record is None:
                    return
                if event.n:
                    record.arrivals.append(event.t_ns)
                    record.counts.append(event.n)
                    record.n += event.n
                if event.n_all:
                    record.last_any_ns = event.t_ns
                    self._all_arrivals.append(event.t_ns)
                    self._all_counts.append(event.n_all)
                record.n_all += event.n_all
                self.total_tokens += event.n_all
                if event.text:
                    record.text.append(event.text)
            elif isinstance(event, TelemetrySample):
                self._samples.setdefault(event.device, []).append(event)
                self._sample_times.setdefault(event.device, array("q")).append(event.t_ns)
            elif isinstance(event, RunStarted):
                self._runs[event.run] = RunRecord(event)
                self._flight.append(event.t_ns)
                self.in_flight += 1
            elif isinstance(event, RunFinished):
                record = self._runs.get(event.run)
                if record is not None:
                    self._run_ended(record, event.t_ns)
                    record.finished = event
            elif isinstance(event, RunFailed):
                record = self._runs.get(event.run)
                if record is not None:
                    self._run_ended(record, event.t_ns)
                    record.error = event.error
                    record.error_kind = event.kind or "error"
                    self._failed_at[event.run] = event.t_ns
                else:
                    self.load_error = event.error
            elif isinstance(event, ThrottleChanged):
                self._throttle(event)
            elif isinstance(event, BackendFailed):
                self.failures.append(event)
            elif isinstance(event, Stall):
                self._stalls.append(event)
            elif isinstance(event, LoadProgress):
                self.load = event
            elif isinstance(event, ModelLoaded):
                self.model = event
            elif isinstance(event, SessionStarted):
                self.started = event
            elif isinstance(event, SessionEnded):
                self.ended = event
                self.throttle_changes += bool(self._open_spans)
                for span in self._open_spans.values():
                    span.end_ns = event.t_ns
                self._open_spans.clear()

    def apply_all(self, events: Iterable[Event]) -> None:
        """``apply`` each event in order (a recording, a replay catching up, a scripted session)."""
        for event in events:
            self.apply(event)

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> Session:
        """A fresh Session fed ``events``: for a whole recording, the state the live session ended with."""
        session = cls()
        session.apply_all(events)
        return session

    def _run_ended(self, record: RunRecord, t_ns: int) -> None:
        if record.finished is None and record.error is None:
            self._flight.append(-t_ns)
            self.in_flight -= 1

    def _throttle(self, event: ThrottleChanged) -> None:
        self.throttle_changes += 1
        key = (event.device, event.reason)
        if event.active and key not in self._open_spans:
            span = ThrottleSpan(event.device, event.reason, event.t_ns)
            self._open_spans[key] = span
            self._spans.append(span)
        elif not event.active and key in self._open_spans:
            self._open_spans.pop(key).end_ns = event.t_ns

    # -- queries ------------------------------------------------------------------------------
    def run_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._runs)

    def run(self, run: int) -> RunView:
        with self._lock:
            record = self._runs[run]
            return RunView(
                run=run,
                warmup=record.started.warmup,
                started=record.started,
                arrivals=np.frombuffer(record.arrivals, dtype=np.int64).copy(),
                counts=np.frombuffer(record.counts, dtype=np.int64).copy(),
                n_all=record.n_all,
                last_any_ns=record.last_any_ns,
                text="".join(record.text),
                finished=record.finished,
                error=record.error,
                error_kind=record.error_kind,
                failed_ns=self._failed_at.get(run),
            )

    def run_tail(self, run: int, arrivals_from: int = 0, text_from: int = 0) -> RunTail:
        """A run's arrivals and text after the given cursors, with its totals: O(new data)."""
        with self._lock:
            record = self._runs[run]
            return RunTail(
                run=run,
                started=record.started,
                arrivals=np.frombuffer(record.arrivals, dtype=np.int64)[arrivals_from:].copy(),
                counts=np.frombuffer(record.counts, dtype=np.int64)[arrivals_from:].copy(),
                text="".join(record.text[text_from:]),
                n_arrivals=len(record.arrivals),
                n_text=len(record.text),
                first_ns=record.arrivals[0] if record.arrivals else None,
                n=record.n,
                n_all=record.n_all,
                last_any_ns=record.last_any_ns,
                finished=record.finished,
                error=record.error,
                error_kind=record.error_kind,
            )

    def run_metrics(self, run: int) -> metrics.RunMetrics:
        """``metrics.run_metrics`` of one run; a finished or failed run's are computed once."""
        with self._lock:
            cached = self._metrics.get(run)
        if cached is not None:
            return cached
        view = self.run(run)
        result = view.metrics()
        if view.done:
            with self._lock:
                self._metrics[run] = result
        return result

    def runs(self, include_warmup: bool = False) -> list[RunView]:
        views = [self.run(r) for r in self.run_ids()]
        return [v for v in views if include_warmup or not v.warmup]

    def system_arrivals(self, from_index: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """Arrivals of all runs (times, tokens of all sequences) from ``from_index`` on, in publish
        order, and the new cursor: O(new arrivals). Overlapping runs (an endpoint under
        concurrency) interleave here, which is what system TPS counts."""
        with self._lock:
            times = np.frombuffer(self._all_arrivals, dtype=np.int64)[from_index:].copy()
            counts = np.frombuffer(self._all_counts, dtype=np.int64)[from_index:].copy()
            return times, counts, len(self._all_arrivals)

    def flight_log(self) -> np.ndarray:
        """Run starts (+t_ns) and ends (−t_ns) in publish order (see ``state.serving.in_flight_series``)."""
        with self._lock:
            return np.frombuffer(self._flight, dtype=np.int64).copy()

    def devices(self) -> list[str]:
        with self._lock:
            return list(self._samples)

    def samples(
        self, device: str, start_ns: int | None = None, end_ns: int | None = None, neighbours: bool = False
    ) -> list[TelemetrySample]:
        """Samples of a device within [start_ns, end_ns] (found by bisection: O(log n + window)).

        ``neighbours`` adds the sample just before and just after the window, for interpolating
        a counter (energy) at the window's edges.
        """
        with self._lock:
            data = self._samples.get(device, [])
            times = self._sample_times.get(device, array("q"))
            lo = 0 if start_ns is None else bisect.bisect_left(times, start_ns)
            hi = len(data) if end_ns is None else bisect.bisect_right(times, end_ns)
            if neighbours:
                lo, hi = max(lo - 1, 0), min(hi + 1, len(data))
            return data[lo:hi]

    def samples_since(self, device: str, index: int) -> list[TelemetrySample]:
        """A device's samples from position ``index`` on (a reader's cursor): O(new samples)."""
        with self._lock:
            return self._samples.get(device, [])[index:]

    def throttle_spans(self, since: int = 0) -> list[ThrottleSpan]:
        """All spans so far in order of their start, from position ``since`` on (copies; an open
        span has ``end_ns`` None). Only open spans change, so a reader may keep the closed ones."""
        with self._lock:
            return [ThrottleSpan(s.device, s.reason, s.start_ns, s.end_ns) for s in self._spans[since:]]

    def run_throttle(self, run: int) -> ThrottleStats:
        """``throttle_stats`` of one run (until now when it is still going)."""
        view = self.run(run)
        end = view.end_ns or self.latest_ns
        return throttle_stats(self.throttle_spans(), view.started.t_ns, end, view.arrivals, view.counts)

    def stalls(self) -> list[Stall]:
        """The monitor's own pauses so far (garbage collections, UI stalls), in publish order."""
        with self._lock:
            return list(self._stalls)

    def run_pauses(self, run: int) -> PauseStats:
        """``pause_stats`` of one run: the monitor's pauses during it and the tokens they may have delayed."""
        view = self.run(run)
        end = view.end_ns or self.latest_ns
        return pause_stats(self.stalls(), view.started.t_ns, end, view.arrivals, view.counts)

    def active_reasons(self) -> dict[str, list[str]]:
        with self._lock:
            active: dict[str, list[str]] = {}
            for device, reason in self._open_spans:
                active.setdefault(device, []).append(reason)
            return active

    def measured_run_ids(self) -> list[int]:
        """Ids of the measured runs so far (``is_measured``), in order."""
        with self._lock:
            return [r for r, rec in sorted(self._runs.items()) if is_measured(rec.started.warmup, rec.finished)]

    def aggregate(self) -> dict[str, metrics.AcrossRuns | None]:
        """Measured runs (``is_measured``), llama-bench style: mean ± sd, median."""
        per_run = [self.run_metrics(r) for r in self.measured_run_ids()]
        return {
            "ttft_s": metrics.across_runs([m.ttft_s for m in per_run]),
            "output_tps": metrics.across_runs([m.output_tps for m in per_run]),
            "total_tps": metrics.across_runs([m.total_tps for m in per_run]),
            "system_tps": metrics.across_runs([m.system_tps for m in per_run]),
            "tpot_s": metrics.across_runs([m.tpot_s for m in per_run]),
            "itl_p50_s": metrics.across_runs([m.itl_s.p50 if m.itl_s else None for m in per_run]),
            "itl_p90_s": metrics.across_runs([m.itl_s.p90 if m.itl_s else None for m in per_run]),
            "itl_p99_s": metrics.across_runs([m.itl_s.p99 if m.itl_s else None for m in per_run]),
            "latency_s": metrics.across_runs([m.latency_s for m in per_run]),
        }
