"""What the live app shows, derived from a ``Session`` once per frame with O(new events) work.

``ViewModel.update(session, now_ns)`` pulls only what arrived since the previous frame (run
tails, new telemetry samples), folds it into the timeline and the telemetry histories, and
refreshes the per-run numbers. Every number comes from ``tpstui.state.metrics`` through the session:

- live every frame: tokens, elapsed, TTFT, output / total TPS (``metrics.run_metrics`` over the
  first and last arrival with the run's token count, which are all those figures depend on) and
  the current rate (``metrics.rolling_tps`` over the arrivals of the last window);
- the full run metrics (ITL percentiles) and the across-runs aggregate: ``Session.run_metrics`` /
  ``Session.aggregate``, recomputed each frame while cheap and less often as a run grows, so
  that their cost per frame stays bounded (``FullStatsPolicy``);
- the throttle spans and "throttled now" (``tpstui.state.throttle.throttle_now``), read once per
  frame: the header badge, the timeline and the telemetry panel all show ``throttle`` of the
  same frame; and the telemetry values of the timeline's lanes (``GaugeSeries``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from tpstui.state import metrics
from tpstui.state.pauses import PauseStats
from tpstui.state.session import RunTail, Session
from tpstui.state.throttle import FAMILIES, ThrottleNow, ThrottleSpan, ThrottleStats, reason_family, throttle_now
from tpstui.stream.events import LoadProgress, ModelLoaded, TelemetrySample
from tpstui.stream.fields import field as describe
from tpstui.ui.axis import TimeAxis
from tpstui.ui.timeline import GaugeSeries, Timeline

__all__ = ["LANE_KEYS", "DeviceState", "FullStats", "RunState", "ThrottleArrays", "ViewModel"]

NS = 1_000_000_000
ROLLING_WINDOW_NS = NS
PEAK_AFTER_NS = NS // 4
"""The peak counts from this long after a run's first token (a shorter window holds only a gap or two)."""
TEXT_KEEP = 64_000
"""Characters of a run's text the app keeps (it shows the end)."""
HISTORY = 240
"""Telemetry values kept per history chart."""
SYNC_FULL_LIMIT = 20_000
"""Up to this many arrivals the full metrics are recomputed on every frame."""
LANE_KEYS = {
    "gpu": ("sm_clock_mhz", "temp_c", "temp_hotspot_c", "temp_mem_c", "power_w", "bw_util_pct"),
    "cpu": ("cpu_clock_mhz", "util_pct", "temp_c"),
    "server": ("requests_running", "requests_waiting", "kv_cache_pct", "server_gen_tps"),
}
"""The telemetry values the timeline can show as lanes, per kind of device, in lane order."""


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
    peak_tps: float | None = None
    """The highest 1 s rolling TPS this run has had (``metrics.rolling_tps`` at each arrival)."""
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

    def keep_recent(self, arrivals: np.ndarray, counts: np.ndarray, first_ns: int | None) -> None:
        """Fold new arrivals into the recent tail and the peak.

        The tail keeps the last arrival at or before (newest arrival − window) and everything
        after it, so ``rolling_tps`` over the tail equals ``rolling_tps`` over the whole run at
        any time from the newest arrival on: for "now" and for each later arrival (the peak).
        The peak is the maximum at the arrivals themselves, where the rate is highest, from
        ``PEAK_AFTER_NS`` after the run's first token on (``first_ns``: before that the window
        holds a gap or two); it never reads lower than "now", and it does not depend on the
        terminal or the chart's scale.
        """
        recent = np.concatenate((self.recent, arrivals))
        recent_counts = np.concatenate((self.recent_counts, counts))
        if arrivals.size:
            if self.recent.size == 0:  # the first arrivals: the tail starts at the run's first
                recent, recent_counts = arrivals, counts
            rates = metrics.rolling_tps_series(recent, arrivals, ROLLING_WINDOW_NS, recent_counts)
            settled = arrivals - (first_ns if first_ns is not None else int(arrivals[0])) >= PEAK_AFTER_NS
            finite = rates[np.isfinite(rates) & settled]
            if finite.size:
                top = float(finite.max())
                self.peak_tps = top if self.peak_tps is None else max(self.peak_tps, top)
        if recent.size:
            cut = int(np.searchsorted(recent, int(recent[-1]) - ROLLING_WINDOW_NS, side="right")) - 1
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
    stopped_runs: int = 0
    """Measured runs that were stopped with ``s`` (they count in the aggregate: the stats say so)."""
    measured_s: float = 0.0
    """The measured runs' time, start to end, added up (no warm-ups, no pauses between runs)."""
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
    finished = [session.run_tail(r, 1 << 62, 1 << 62).finished for r in measured_ids]
    stopped = sum(1 for f in finished if f is not None and f.reason == "stopped")
    measured_s = sum(
        (f.t_ns - session.run_tail(r, 1 << 62, 1 << 62).started.t_ns) / NS
        for r, f in zip(measured_ids, finished, strict=True)
        if f is not None
    )
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
        stopped,
        measured_s,
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


def device_kind(device: str) -> str:
    """ "cpu", "server" (a serving engine's scraped metrics) or "gpu" (``gpuN``, and a DCGM
    exporter's ``<node>/gpuN``): the device names of ``TelemetrySample``."""
    if device in ("cpu", "server"):
        return device
    return "gpu"


@dataclass
class DeviceState:
    """One telemetry device: newest values, short histories (sparklines) and the lanes' series."""

    device: str
    origin_ns: int = 0
    """Where the lanes' time axis starts (the session's start)."""
    seen: int = 0
    latest: TelemetrySample | None = None
    history: dict[str, deque[float]] = field(default_factory=dict)
    series: dict[str, GaugeSeries] = field(default_factory=dict)
    """Every ``LANE_KEYS`` value of the device over the whole session (bucketed, flat memory)."""

    def add(self, samples: list[TelemetrySample]) -> None:
        """Fold new samples in; a late one (``late_ns``) becomes ``latest`` but adds no history or lane point."""
        for sample in samples:
            if sample.late_ns:
                continue
            for key, number in sample.values.items():
                if describe(key).history:
                    self.history.setdefault(key, deque(maxlen=HISTORY)).append(number)
        for key in LANE_KEYS[device_kind(self.device)]:
            points = [(s.t_ns, s.values[key]) for s in samples if key in s.values and not s.late_ns]
            if points:
                series = self.series.get(key)
                if series is None:
                    origin = self.origin_ns or points[0][0]
                    series = self.series[key] = GaugeSeries(min(origin, points[0][0]))
                series.add(np.array([t for t, _ in points], dtype=np.int64), np.array([v for _, v in points]))
        self.seen += len(samples)
        if samples:
            self.latest = samples[-1]


@dataclass(frozen=True)
class ThrottleArrays:
    """The throttle spans of real reasons as arrays, for drawing them on the timeline."""

    start_ns: np.ndarray
    end_ns: np.ndarray
    """End of each span; open spans have ``OPEN`` (the drawing clips them at now)."""
    family: np.ndarray
    """Index into ``FAMILIES``."""

    OPEN = np.iinfo(np.int64).max

    @classmethod
    def of(cls, spans: list[ThrottleSpan]) -> ThrottleArrays:
        real = [(s, reason_family(s.reason)) for s in spans]
        kept = [(s, FAMILIES.index(f)) for s, f in real if f is not None]
        return cls(
            np.array([s.start_ns for s, _ in kept], dtype=np.int64),
            np.array([s.end_ns if s.end_ns is not None else cls.OPEN for s, _ in kept], dtype=np.int64),
            np.array([f for _, f in kept], dtype=np.int64),
        )


class ViewModel:
    """Incremental state of everything on screen; ``update`` once per frame."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.axis = TimeAxis()
        """The timeline's window (zoom and pan): kept when a replay swaps in a fresh session."""
        self.throttle_version = 0
        """Bumped whenever a throttle span opened or closed (or the session was swapped)."""
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
        self.spans: list[ThrottleSpan] = []
        """Every throttle span so far (closed ones are kept; open ones re-read when they change)."""
        self.throttle: ThrottleNow = throttle_now([])
        """"Throttled now" at this frame: the one answer the header, timeline and telemetry show."""
        self.throttle_arrays = ThrottleArrays.of([])
        self._throttle_changes = 0
        self.stall_arrays: tuple[np.ndarray, np.ndarray] = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
        """(start, end) of the monitor's own pauses (``Stall`` events) so far, for the tokens/s lane."""
        self._run_spans: tuple[int, np.ndarray, np.ndarray] | None = None
        self.full: FullStats | None = None
        self.policy = FullStatsPolicy()
        self.now_ns = 0
        self.frames = 0
        self.version = 0
        """Bumped whenever tokens or run state changed (widgets skip work when it did not)."""
        self.telemetry_version = 0

    # -- per frame -------------------------------------------------------------------------------
    def throttle_behind(self, session: Session) -> bool:
        """Whether ``session`` has throttle changes this model has not pulled yet (a cheap check)."""
        return session is not self.session or session.throttle_changes != self._throttle_changes

    def update(self, session: Session, now_ns: int) -> None:
        if session is not self.session:
            self.session = session
            self.reset()
            self.throttle_version += 1  # a fresh session (a replay seeked back): redraw what shows it
        self.now_ns = max(now_ns, 0)
        self.frames += 1
        self._pull_runs(session)
        self._pull_telemetry(session)
        self._pull_throttle(session)
        self._pull_stalls(session)

    @property
    def origin_ns(self) -> int | None:
        """Where the timeline starts: the session's start (else its first run's)."""
        session = self.session
        if session is not None and session.started is not None:
            return session.started.t_ns
        return self.run_marks[0][0] if self.run_marks else None

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
        state.keep_recent(whole.arrivals[: state.arrivals_seen], whole.counts[: state.arrivals_seen], whole.first_ns)
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
            origin = self.origin_ns
            self.timeline = Timeline(min(origin, tail.started.t_ns) if origin is not None else tail.started.t_ns)
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
            state.keep_recent(tail.arrivals, tail.counts, tail.first_ns)
        if tail.text:
            state.text = (state.text + tail.text)[-TEXT_KEEP:]
        state.text_seen = tail.n_text
        if changed:
            self.version += 1

    def _pull_throttle(self, session: Session) -> None:
        changes = session.throttle_changes
        if changes == self._throttle_changes:
            return
        self._throttle_changes = changes
        first_open = next((i for i, span in enumerate(self.spans) if span.end_ns is None), len(self.spans))
        self.spans = self.spans[:first_open] + session.throttle_spans(first_open)
        self.throttle = throttle_now(self.spans)
        self.throttle_arrays = ThrottleArrays.of(self.spans)
        self.throttle_version += 1

    def _pull_stalls(self, session: Session) -> None:
        stalls = session.stalls()
        if len(stalls) != self.stall_arrays[0].size:
            starts = np.array([s.t_ns for s in stalls], dtype=np.int64)
            self.stall_arrays = (starts, np.array([s.end_ns for s in stalls], dtype=np.int64))
            self.version += 1

    def run_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """Every run's (start, end) so far; a run still going ends far in the future, a failed one at
        its last sign of life. Rebuilt only when runs changed (``version``)."""
        if self._run_spans is None or self._run_spans[0] != self.version:
            starts, ends = [], []
            for state in self.runs.values():
                tail = state.tail
                starts.append(tail.started.t_ns)
                if tail.finished is not None:
                    ends.append(tail.finished.t_ns)
                elif tail.error is not None:
                    ends.append(max(tail.last_any_ns, tail.started.t_ns))
                else:
                    ends.append(1 << 62)
            self._run_spans = (self.version, np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
        return self._run_spans[1], self._run_spans[2]

    def _pull_telemetry(self, session: Session) -> None:
        origin = self.origin_ns
        for device in session.devices():
            state = self.devices.get(device)
            if state is None:
                state = self.devices[device] = DeviceState(device, origin if origin is not None else 0)
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

    def set_index(self, state: RunState) -> tuple[int, int]:
        """(1-based position of a measured run within its request's set, the set's number from 1)."""
        request = state.tail.started.request
        position = sum(
            1
            for r in self.run_order
            if r <= state.run and not self.runs[r].warmup and self.runs[r].tail.started.request == request
        )
        return position, request + 1
