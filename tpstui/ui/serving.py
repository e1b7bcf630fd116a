"""What the live app shows of an endpoint session: request counts, system TPS, requests in flight.

``ServingView.update(session, model, now_ns)`` runs once per frame with O(new arrivals) work: it
keeps the arrivals of all requests of the last window (``Session.system_arrivals`` from a cursor)
for the system TPS, and counts requests from the ``ViewModel``'s runs. Every rate is
``metrics.rolling_tps`` (the same as the chart's line and the stats panel).
"""

from __future__ import annotations

from collections import Counter
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
    """Request-level figures of the session so far (warm-up requests left out of the counts)."""

    seen: int = 0
    times: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    system_tps: float | None = None
    in_flight: int = 0
    sent: int = 0
    completed: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    request_rate: float | None = None
    """Completed requests per second since the first measured request was sent."""
    session: Session | None = None

    def update(self, session: Session, model: ViewModel, now_ns: int) -> None:
        if session is not self.session:  # a replay seeking back swaps the session: start over
            self.seen, self.session = 0, session
            self.times, self.counts = self.times[:0], self.counts[:0]
        times, counts, self.seen = session.system_arrivals(self.seen)
        times = np.concatenate((self.times, times))
        counts = np.concatenate((self.counts, counts))
        keep = int(np.searchsorted(times, now_ns - WINDOW_NS, side="right")) - 1
        if keep > 0:
            times, counts = times[keep:], counts[keep:]
        self.times, self.counts = times, counts
        self.system_tps = metrics.rolling_tps(times, now_ns, WINDOW_NS, counts) if times.size else None
        self.in_flight = session.in_flight
        measured = [model.runs[r] for r in model.run_order if not model.runs[r].warmup]
        done = [s for s in measured if s.tail.finished is not None and s.tail.finished.reason != "stopped"]
        failed = [s for s in measured if s.tail.error is not None]
        self.sent, self.completed, self.failed = len(measured), len(done), len(failed)
        self.errors = dict(Counter(s.tail.error_kind or "error" for s in failed))
        first = measured[0].tail.started.t_ns if measured else None
        elapsed = (now_ns - first) / 1e9 if first is not None else 0.0
        self.request_rate = self.completed / elapsed if elapsed > 0 else None

    @staticmethod
    def latest(model: ViewModel, count: int) -> list[RequestRow]:
        """The ``count`` most recently sent requests, newest first."""
        rows = []
        order = model.run_order
        warmups = sum(1 for r in order if model.runs[r].warmup)
        measured = len(order) - warmups
        for run in reversed(order[-count:]):
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
