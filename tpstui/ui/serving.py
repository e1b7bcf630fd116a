"""What the live app shows of an endpoint session: request counts, system TPS, requests in flight.

``ServingView.update(session, model, now_ns)`` runs once per frame with O(new arrivals) work: it
keeps the arrivals of all requests of the last window (``Session.system_arrivals`` from a cursor)
for the system TPS, and counts requests from the ``ViewModel``'s runs. Every rate is
``metrics.rolling_tps`` (the same as the chart's line and the stats panel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpstui.state import metrics
from tpstui.state.session import Session
from tpstui.ui.model import RunState, ViewModel

__all__ = ["RequestRow", "ServingView", "is_serving_session"]

WINDOW_NS = 1_000_000_000
"""System TPS is the tokens of the last second (of all requests) per second."""


def is_serving_session(session: Session) -> bool:
    """An endpoint session (its recorded settings say so): live or replayed."""
    started = session.started
    return started is not None and started.settings.get("engine") == "endpoint"


@dataclass(frozen=True)
class RequestRow:
    """One line of the requests table."""

    run: int
    label: str
    """The request's number as the stats panel shows it: measured requests from 1, warm-ups w1, w2..."""
    status: str
    """"streaming", "waiting" (no token yet), the finish reason, or the error kind."""
    ttft_s: float | None
    tpot_s: float | None
    tokens: int
    tps: float | None
    """This request's output (decode) TPS so far."""
    failed: bool


def _status(state: RunState) -> tuple[str, bool]:
    tail = state.tail
    if tail.error is not None:
        return tail.error_kind or "error", True
    if tail.finished is not None:
        return tail.finished.reason, False
    return ("streaming" if tail.first_ns is not None else "waiting"), False


@dataclass
class ServingView:
    """Request-level figures of the session so far (warm-up requests left out of the counts).

    O(new arrivals + requests in flight) per frame: a request is counted once, when it ends.
    """

    seen: int = 0
    times: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    system_tps: float | None = None
    in_flight: int = 0
    sent: int = 0
    """Measured requests sent."""
    warmups: int = 0
    completed: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    request_rate: float | None = None
    """Completed requests per second since the first measured request was sent."""
    session: Session | None = None
    _runs_seen: int = 0
    _going: set[int] = field(default_factory=set)
    _first_ns: int | None = None

    def update(self, session: Session, model: ViewModel, now_ns: int) -> None:
        if session is not self.session:  # a replay seeking back swaps the session: start over
            self.__dict__.update(ServingView().__dict__)
            self.session = session
        times, counts, self.seen = session.system_arrivals(self.seen)
        times = np.concatenate((self.times, times))
        counts = np.concatenate((self.counts, counts))
        keep = int(np.searchsorted(times, now_ns - WINDOW_NS, side="right")) - 1
        if keep > 0:
            times, counts = times[keep:], counts[keep:]
        self.times, self.counts = times, counts
        self.system_tps = metrics.rolling_tps(times, now_ns, WINDOW_NS, counts) if times.size else None
        self.in_flight = session.in_flight
        self._count(model)
        elapsed = (now_ns - self._first_ns) / 1e9 if self._first_ns is not None else 0.0
        self.request_rate = self.completed / elapsed if elapsed > 0 else None

    def _count(self, model: ViewModel) -> None:
        for run in model.run_order[self._runs_seen :]:
            state = model.runs[run]
            if state.warmup:
                self.warmups += 1
                continue
            self.sent += 1
            self._going.add(run)
            if self._first_ns is None:
                self._first_ns = state.tail.started.t_ns
        self._runs_seen = len(model.run_order)
        for run in list(self._going):
            tail = model.runs[run].tail
            if tail.finished is not None:
                self.completed += tail.finished.reason != "stopped"
            elif tail.error is not None:
                self.failed += 1
                kind = tail.error_kind or "error"
                self.errors[kind] = self.errors.get(kind, 0) + 1
            else:
                continue
            self._going.discard(run)

    def latest(self, model: ViewModel, count: int) -> list[RequestRow]:
        """The ``count`` most recently sent requests, newest first (after ``update``)."""
        rows = []
        warmups, measured = self.warmups, self.sent
        for run in reversed(model.run_order[-count:]):
            state = model.runs[run]
            quick = state.quick_metrics()
            status, failed = _status(state)
            if state.warmup:
                label, warmups = f"w{warmups}", warmups - 1
            else:
                label, measured = str(measured), measured - 1
            rows.append(
                RequestRow(run, label, status, quick.ttft_s, quick.tpot_s, state.tail.n, quick.output_tps, failed)
            )
        return rows
