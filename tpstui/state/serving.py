"""Serving metrics: a session of overlapping runs (requests to an endpoint), counted as ``vllm bench serve`` does.

Each request is one run (``RunStarted`` when it was sent, ``Tokens`` per arrival of stream chunks,
``RunFinished`` or ``RunFailed``). The per-request figures are ``metrics.run_metrics``; this module
adds what only the whole session has:

- duration = first measured request sent → last measured request ended;
- request throughput = completed requests / duration; goodput = completed requests meeting every
  SLO (``--goodput ttft:MS tpot:MS e2el:MS``, as DistServe and vLLM) / duration;
- output throughput = output tokens of completed requests / duration (vLLM ``output_throughput``);
- system TPS over time = tokens of all requests arriving in a rolling window / the window;
- requests in flight over time (started, not yet ended);
- TTFT / TPOT / ITL / E2EL distributions over completed requests, in ms, ITL pooled over every
  chunk gap of every request (vLLM ``itl``), and per token (an arrival of k tokens is k gaps of g/k);
- errors by kind (``RunFailed.kind``: "http_500", "timeout", "disconnect", "malformed", ...).

Warm-up requests are left out; a request the user stopped is neither completed nor failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tpstui.errors import UserError
from tpstui.state import metrics
from tpstui.state.session import RunView, Session

__all__ = [
    "SLO_KEYS",
    "TOKEN_COUNT_TOLERANCE",
    "ServingSummary",
    "in_flight_series",
    "meets_slos",
    "parse_goodput",
    "serving_summary",
]

SLO_KEYS = ("ttft", "tpot", "e2el")
TOKEN_COUNT_TOLERANCE = 0.05
"""Server-reported and counted output tokens differing by more than this share are shown."""
NS = 1_000_000_000


def parse_goodput(specs: Sequence[str]) -> dict[str, float]:
    """``["ttft:500", "tpot:50"]`` → ``{"ttft": 500.0, "tpot": 50.0}`` (ms); a ``UserError`` for bad input."""
    slos: dict[str, float] = {}
    for spec in specs:
        key, sep, value = spec.partition(":")
        key = key.strip().lower()
        if not sep or key not in SLO_KEYS:
            raise UserError(f"--goodput takes KEY:MS with KEY one of {', '.join(SLO_KEYS)} (got {spec!r}).")
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"--goodput {spec}: {value!r} is not a number of milliseconds.") from None
        if not number > 0:
            raise UserError(f"--goodput {spec}: the limit must be above 0 ms.")
        slos[key] = number
    return slos


def meets_slos(run: metrics.RunMetrics, slos: dict[str, float]) -> bool:
    """Whether a completed request meets every SLO (a request of one token has no TPOT: it passes that one)."""
    values = {
        "ttft": run.ttft_s,
        "tpot": run.tpot_s if run.tpot_s is not None else 0.0,
        "e2el": run.latency_s,
    }
    for key, limit in slos.items():
        value = values.get(key)
        if value is None or value * 1e3 > limit:
            return False
    return True


@dataclass(frozen=True)
class ServingSummary:
    """The session as a serving benchmark: counts, throughputs and latency distributions (ms)."""

    completed: int
    failed: int
    stopped: int
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float | None
    request_goodput: float | None
    """None when no SLO was given."""
    output_throughput: float | None
    total_token_throughput: float | None
    max_output_tokens_per_s: float | None
    """The most output tokens (all requests) that arrived within one second of the run (1 s bins)."""
    max_concurrent_requests: int
    ttft_ms: metrics.Distribution | None
    tpot_ms: metrics.Distribution | None
    itl_ms: metrics.Distribution | None
    itl_token_ms: metrics.Distribution | None
    e2el_ms: metrics.Distribution | None
    errors: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    multi_token_chunks: int = 0
    server_output_tokens: int | None = None
    """Sum of the server's ``usage.completion_tokens`` over the completed requests that reported it."""
    counted_output_tokens: int | None = None
    """Tokens tpstui counted for the same requests (from per-chunk usage or the tokenizer)."""
    slos: dict[str, float] = field(default_factory=dict)

    @property
    def token_count_difference(self) -> float | None:
        """(counted − server) / server over requests with a server count; None without one."""
        if not self.server_output_tokens or self.counted_output_tokens is None:
            return None
        return (self.counted_output_tokens - self.server_output_tokens) / self.server_output_tokens

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["token_count_difference"] = self.token_count_difference
        return data


def _ms(values: list[float]) -> metrics.Distribution | None:
    return metrics.distribution(np.asarray(values, dtype=np.float64) * 1e3)


def _ended_ns(view: RunView) -> int | None:
    if view.finished is not None:
        return view.finished.t_ns
    return view.failed_ns


def serving_summary(session: Session, slos: dict[str, float] | None = None) -> ServingSummary:
    """The serving figures of every measured (non-warm-up) request of the session so far."""
    slos = dict(slos or {})
    views = [v for v in session.runs(include_warmup=False)]
    completed = [v for v in views if v.finished is not None and v.finished.reason != "stopped"]
    failed = [v for v in views if v.error is not None]
    stopped = sum(1 for v in views if v.finished is not None and v.finished.reason == "stopped")
    starts = [v.started.t_ns for v in views]
    ends = [e for v in views if (e := _ended_ns(v)) is not None]
    duration = (max(ends) - min(starts)) / NS if starts and ends and max(ends) > min(starts) else 0.0
    per_run = [session.run_metrics(v.run) for v in completed]
    output_tokens = sum(m.tokens for m in per_run)
    input_tokens = sum(_prompt_tokens(v) for v in completed)
    good = sum(1 for m in per_run if meets_slos(m, slos)) if slos else None
    gaps: list[np.ndarray] = []
    token_gaps: list[np.ndarray] = []
    for view in completed:
        if view.arrivals.size > 1:
            step = np.diff(view.arrivals) / NS
            gaps.append(step)
            token_gaps.append(metrics.per_token_gaps(step, view.counts[1:]))
    server = [(v.finished.server_tokens, int(v.counts.sum())) for v in completed if v.finished is not None]
    reported = [(s, c) for s, c in server if s is not None]

    def rate(amount: float) -> float | None:
        return amount / duration if duration > 0 else None

    return ServingSummary(
        completed=len(completed),
        failed=len(failed),
        stopped=stopped,
        duration_s=duration,
        total_input_tokens=input_tokens,
        total_output_tokens=output_tokens,
        request_throughput=rate(len(completed)),
        request_goodput=rate(good) if good is not None else None,
        output_throughput=rate(output_tokens),
        total_token_throughput=rate(output_tokens + input_tokens),
        max_output_tokens_per_s=_peak_per_second(views, min(starts) if starts else 0),
        max_concurrent_requests=_max_concurrency(views),
        ttft_ms=_ms([m.ttft_s for m in per_run if m.ttft_s is not None]),
        tpot_ms=_ms([m.tpot_s for m in per_run if m.tpot_s is not None]),
        itl_ms=_ms(list(np.concatenate(gaps))) if gaps else None,
        itl_token_ms=_ms(list(np.concatenate(token_gaps))) if token_gaps else None,
        e2el_ms=_ms([m.latency_s for m in per_run if m.latency_s is not None]),
        errors=dict(Counter(v.error_kind or "error" for v in failed)),
        chunks=sum(v.finished.chunks for v in completed if v.finished is not None),
        multi_token_chunks=sum(v.finished.multi_token_chunks for v in completed if v.finished is not None),
        server_output_tokens=sum(s for s, _ in reported) if reported else None,
        counted_output_tokens=sum(c for _, c in reported) if reported else None,
        slos=slos,
    )


def _prompt_tokens(view: RunView) -> int:
    server = view.finished.server_prompt_tokens if view.finished is not None else None
    return server if server is not None else view.started.prompt_tokens


def _peak_per_second(views: list[RunView], start_ns: int) -> float | None:
    arrivals = [v.arrivals for v in views if v.arrivals.size]
    if not arrivals:
        return None
    times = np.concatenate(arrivals)
    counts = np.concatenate([v.counts for v in views if v.arrivals.size])
    bins = (times - start_ns) // NS
    return float(np.bincount(bins.astype(np.int64), weights=counts.astype(np.float64)).max())


def _max_concurrency(views: list[RunView]) -> int:
    changes = [(v.started.t_ns, 1) for v in views]
    changes += [(end, -1) for v in views if (end := _ended_ns(v)) is not None]
    level = peak = 0
    for _, delta in sorted(changes, key=lambda c: (c[0], c[1])):  # an end before a start at the same time
        level += delta
        peak = max(peak, level)
    return peak


def in_flight_series(flight_log: np.ndarray, at_ns: Sequence[int] | np.ndarray) -> np.ndarray:
    """Requests in flight at each time of ``at_ns`` from ``Session.flight_log()`` (+start, −end times)."""
    log = np.asarray(flight_log, dtype=np.int64)
    at = np.asarray(at_ns, dtype=np.int64)
    starts = np.sort(log[log > 0])
    ends = np.sort(-log[log < 0])
    return np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")
