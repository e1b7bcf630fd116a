"""What the live app shows, derived from a ``Session`` once per frame with O(new events) work.

``ViewModel.update(session, now_ns)`` pulls only what arrived since the previous frame (run
tails, new telemetry samples), folds it into the timeline and the telemetry histories, and
refreshes the per-run numbers. Every number comes from ``tpstui.state.metrics`` through the session:

- live every frame: tokens, elapsed, TTFT, output / total TPS (``metrics.run_metrics`` over the
  first and last arrival with the run's token count, which are all those figures depend on) and
  the current rate (``metrics.rolling_tps`` over the arrivals of the last window);
- the full run metrics (ITL percentiles) and the across-runs aggregate: ``Session.run_metrics`` /
  ``Session.aggregate``, recomputed each frame while cheap and less often as a run grows, so
  that their cost per frame stays bounded (``FullStatsPolicy``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tpstui.state import metrics
from tpstui.state.pauses import PauseStats
from tpstui.state.session import RunTail, Session
from tpstui.state.throttle import ThrottleStats
from tpstui.stream.events import LoadProgress, ModelLoaded, TelemetrySample
from tpstui.stream.fields import field as describe
from tpstui.ui.timeline import Timeline

__all__ = ["DeviceState", "FullStats", "RunState", "ViewModel"]

NS = 1_000_000_000
ROLLING_WINDOW_NS = NS
TEXT_KEEP = 64_000
"""Characters of a run's text the app keeps (it shows the end)."""
HISTORY = 240
"""Telemetry values kept per history chart."""
SYNC_FULL_LIMIT = 20_000
"""Up to this many arrivals the full metrics are recomputed on every frame."""


@dataclass
class RunState:
    """One run as the app knows it (updated from ``RunTail``)."""

    tail: RunTail
    arrivals_seen: int = 0
    text_seen: int = 0
    prev_ns: int | None = None
    first_count: int = 0
    recent: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    recent_counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    text: str = ""
    _quick: tuple[tuple[int, int, int, int], metrics.RunMetrics] | None = None

    @property
    def run(self) -> int:
        return self.tail.run

    @property
    def warmup(self) -> bool:
        return self.tail.started.warmup

    def quick_metrics(self) -> metrics.RunMetrics:
        """TTFT, latency, output / total / system TPS from the first and last arrival (exact).

        Computed once per change of the run (the chart and the stats panel both ask).
        """
        tail = self.tail
        key = (self.arrivals_seen, tail.n, tail.n_all, tail.last_any_ns)
        if self._quick is not None and self._quick[0] == key:
            return self._quick[1]
        if tail.first_ns is None or self.prev_ns is None:
            result = metrics.run_metrics(tail.started.t_ns, [])
        elif self.arrivals_seen == 1:
            result = metrics.run_metrics(tail.started.t_ns, [tail.first_ns], [tail.n], tail.n_all, tail.last_any_ns)
        else:
            arrivals, counts = [tail.first_ns, self.prev_ns], [self.first_count, tail.n - self.first_count]
            result = metrics.run_metrics(tail.started.t_ns, arrivals, counts, tail.n_all, tail.last_any_ns or None)
        self._quick = (key, result)
        return result

    def elapsed_s(self, now_ns: int) -> float:
        end = self.tail.finished.t_ns if self.tail.finished is not None else now_ns
        return max(end - self.tail.started.t_ns, 0) / NS

    def current_tps(self, now_ns: int) -> float | None:
        """``metrics.rolling_tps`` at now over the last second (0 once tokens stop)."""
        if self.recent.size == 0:
            return None
        return metrics.rolling_tps(self.recent, now_ns, ROLLING_WINDOW_NS, self.recent_counts)

    def keep_recent(self, arrivals: np.ndarray, counts: np.ndarray, now_ns: int) -> None:
        # Keep the last arrival at or before now − window and everything after it: rolling_tps
        # over this tail equals rolling_tps over the whole run for any later "now".
        recent = np.concatenate((self.recent, arrivals))
        recent_counts = np.concatenate((self.recent_counts, counts))
        cut = int(np.searchsorted(recent, now_ns - ROLLING_WINDOW_NS, side="right")) - 1
        if cut > 0:
            recent, recent_counts = recent[cut:], recent_counts[cut:]
        self.recent, self.recent_counts = recent, recent_counts


@dataclass(frozen=True)
class FullStats:
    """Full metrics of one run and the across-runs aggregate, as of ``tokens`` tokens."""

    run: int
    tokens: int
    done: bool
    run_metrics: metrics.RunMetrics
    aggregate: dict[str, metrics.AcrossRuns | None]
    measured_runs: int
    measured_tokens: int
    throttle: ThrottleStats | None = None
    """This run's throttling (None when no throttle reason was ever seen)."""
    throttle_all: ThrottleStats | None = None
    """All measured runs' throttling together."""
    pauses: PauseStats | None = None
    """The monitor's own pauses during this run (None when the session has none)."""
    pauses_all: list[PauseStats] | None = None
    """The same for each measured run."""


def compute_full(session: Session, run: int) -> FullStats:
    """Exact metrics of ``run`` and of all measured runs (may run on a worker thread)."""
    tail = session.run_tail(run, 1 << 62, 1 << 62)
    run_metrics = session.run_metrics(run)
    aggregate = session.aggregate()
    output = aggregate.get("output_tps")
    measured = output.n if output is not None else 0
    measured_ids = session.measured_run_ids()
    tokens = sum(session.run_metrics(r).tokens for r in measured_ids)
    throttle = throttle_all = None
    if session.throttle_spans():
        throttle = session.run_throttle(run)
        throttle_all = ThrottleStats.combine([session.run_throttle(r) for r in measured_ids])
    pauses = pauses_all = None
    if session.stalls():
        pauses = session.run_pauses(run)
        pauses_all = [session.run_pauses(r) for r in measured_ids]
    return FullStats(
        run,
        run_metrics.tokens,
        tail.done,
        run_metrics,
        aggregate,
        measured,
        tokens,
        throttle,
        throttle_all,
        pauses,
        pauses_all,
    )


class FullStatsPolicy:
    """When to recompute full metrics: every frame while small, then at most ~5% of the time."""

    def __init__(self, duty: float = 0.05) -> None:
        self.duty = duty
        self.last_at = 0.0
        self.last_cost = 0.0

    def due(self, arrivals: int) -> bool:
        if arrivals <= SYNC_FULL_LIMIT:
            return True
        return time.monotonic() - self.last_at >= self.last_cost / self.duty

    def record(self, started: float) -> None:
        self.last_at = time.monotonic()
        self.last_cost = self.last_at - started


@dataclass
class DeviceState:
    """One telemetry device: newest values, reasons, and short histories of chartable keys."""

    device: str
    seen: int = 0
    latest: TelemetrySample | None = None
    history: dict[str, deque[float]] = field(default_factory=dict)

    def add(self, samples: list[TelemetrySample]) -> None:
        """Fold new samples in; a late one (``late_ns``) becomes ``latest`` but adds no history."""
        for sample in samples:
            if sample.late_ns:
                continue
            for key, number in sample.values.items():
                if describe(key).history:
                    self.history.setdefault(key, deque(maxlen=HISTORY)).append(number)
        self.seen += len(samples)
        if samples:
            self.latest = samples[-1]


class ViewModel:
    """Incremental state of everything on screen; ``update`` once per frame."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.reset()

    def reset(self) -> None:
        self.runs: dict[int, RunState] = {}
        self.run_order: list[int] = []
        self._open: set[int] = set()
        """Runs that may still change (not done, or the current one)."""
        self.current: RunState | None = None
        self.timeline: Timeline | None = None
        self.run_marks: list[tuple[int, bool]] = []
        """(start time, warm-up) of every run, for the chart."""
        self.devices: dict[str, DeviceState] = {}
        self.full: FullStats | None = None
        self.policy = FullStatsPolicy()
        self.now_ns = 0
        self.frames = 0
        self.version = 0
        """Bumped whenever tokens or run state changed (widgets skip work when it did not)."""
        self.telemetry_version = 0

    # -- per frame -------------------------------------------------------------------------------
    def update(self, session: Session, now_ns: int) -> None:
        if session is not self.session:
            self.session = session
            self.reset()
        self.now_ns = max(now_ns, 0)
        self.frames += 1
        self._pull_runs(session)
        self._pull_telemetry(session)

    def _pull_runs(self, session: Session) -> None:
        for run in session.run_ids()[len(self.run_order) :]:  # run ids only ever grow
            self._add_run(session, run)
        for run in [r for r in self._open if r in self.runs]:
            state = self.runs[run]
            self._pull_run(session, state)
            if state.tail.done and state is not self.current:
                self._open.discard(run)
        self._follow_next(session)

    def _follow_next(self, session: Session) -> None:
        """Once the followed run is done, follow the newest run still going (runs overlap only for an
        endpoint under concurrency: one run at a time, this never switches)."""
        current = self.current
        if current is None or not current.tail.done:
            return
        going = [r for r in self._open if not self.runs[r].tail.done]
        if not going:
            return
        state = self.runs[max(going)]
        whole = session.run_tail(state.run, 0, 1 << 62)
        state.recent, state.recent_counts = whole.arrivals[:0], whole.counts[:0]
        state.keep_recent(whole.arrivals[: state.arrivals_seen], whole.counts[: state.arrivals_seen], self.now_ns)
        self.current = state
        self.version += 1

    def _add_run(self, session: Session, run: int) -> None:
        tail = session.run_tail(run, 1 << 62, 1 << 62)
        state = RunState(tail=tail)
        self.runs[run] = state
        self.run_order.append(run)
        self._open.add(run)
        self.run_marks.append((tail.started.t_ns, tail.started.warmup))
        if self.timeline is None:
            self.timeline = Timeline(tail.started.t_ns)
        current = self.current
        if current is None or current.tail.done or session.run_tail(current.run, 1 << 62, 1 << 62).done:
            self.current = state  # follow one run until it is done (see _follow_next)
        self.version += 1

    def _pull_run(self, session: Session, state: RunState) -> None:
        tail = session.run_tail(state.run, state.arrivals_seen, state.text_seen)
        old = state.tail
        changed = (tail.n_arrivals, tail.done, tail.n_all) != (state.arrivals_seen, old.done, old.n_all)
        state.tail = tail
        if tail.arrivals.size:
            if state.prev_ns is None:
                state.first_count = int(tail.counts[0])
            assert self.timeline is not None
            self.timeline.add(state.prev_ns, tail.arrivals, tail.counts)
            state.prev_ns = int(tail.arrivals[-1])
            state.arrivals_seen = tail.n_arrivals
        if state is self.current:
            state.keep_recent(tail.arrivals, tail.counts, self.now_ns)
        if tail.text:
            state.text = (state.text + tail.text)[-TEXT_KEEP:]
        state.text_seen = tail.n_text
        if changed:
            self.version += 1

    def _pull_telemetry(self, session: Session) -> None:
        for device in session.devices():
            state = self.devices.setdefault(device, DeviceState(device))
            new = session.samples_since(device, state.seen)
            if new:
                state.add(new)
                self.telemetry_version += 1

    # -- full statistics -------------------------------------------------------------------------
    def full_due(self) -> bool:
        """Whether the full metrics of the current run (or the aggregate) are out of date and due."""
        current = self.current
        if current is None:
            return False
        full = self.full
        if full is not None and (full.run, full.tokens, full.done) == (current.run, current.tail.n, current.tail.done):
            return False
        return current.tail.done or self.policy.due(current.arrivals_seen)

    @property
    def full_in_background(self) -> bool:
        """Large runs are computed on a worker thread, small ones right in the frame."""
        return self.current is not None and self.current.arrivals_seen > SYNC_FULL_LIMIT

    def refresh_full(self) -> FullStats | None:
        """Recompute the full statistics now (on this thread)."""
        if self.current is None or self.session is None:
            return None
        started = time.monotonic()
        self.full = compute_full(self.session, self.current.run)
        self.policy.record(started)
        self.version += 1
        return self.full

    def accept_full(self, full: FullStats, started: float) -> None:
        """Take a result computed on a worker thread (ignored if the session changed meanwhile)."""
        self.full = full
        self.policy.record(started)
        self.version += 1

    # -- derived ------------------------------------------------------------------------------------
    @property
    def model(self) -> ModelLoaded | None:
        return self.session.model if self.session is not None else None

    @property
    def load(self) -> LoadProgress | None:
        return self.session.load if self.session is not None else None

    def measured_index(self, state: RunState) -> int:
        """1-based position of a measured run among measured runs (0 for a warm-up)."""
        if state.warmup:
            return 0
        return sum(1 for r in self.run_order if r <= state.run and not self.runs[r].warmup)

    def session_elapsed_s(self) -> float | None:
        if not self.run_marks:
            return None
        return max(self.now_ns - self.run_marks[0][0], 0) / NS

    def peak_rolling(self, rolling: np.ndarray) -> float | None:
        finite = rolling[np.isfinite(rolling)]
        return float(finite.max()) if finite.size else None
