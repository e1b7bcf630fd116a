"""Serving metrics on sessions with known timestamps: overlapping runs, goodput, in flight, errors by kind."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from tpstui.errors import UserError
from tpstui.state import metrics
from tpstui.state.serving import in_flight_series, meets_slos, parse_goodput, serving_summary
from tpstui.state.session import Session
from tpstui.stream.events import Event, RunFailed, RunFinished, RunStarted, Tokens

MS = 1_000_000
T0 = 10_000 * MS


def _request(run: int, start_ms: float, arrivals_ms: list[float], counts: list[int] | None = None) -> list[Event]:
    counts = counts or [1] * len(arrivals_ms)
    events: list[Event] = [RunStarted(T0 + int(start_ms * MS), run, False, 10, 1, 100)]
    for at, n in zip(arrivals_ms, counts, strict=True):
        events.append(Tokens(T0 + int(at * MS), run, [], n, n, "x" * n))
    events.append(RunFinished(T0 + int(arrivals_ms[-1] * MS) + MS, run, "length", sum(counts), sum(counts),
                              server_tokens=sum(counts), server_prompt_tokens=12, chunks=len(counts),
                              multi_token_chunks=sum(1 for c in counts if c > 1)))  # fmt: skip
    return events


def _session() -> Session:
    events: list[Event] = []
    events += _request(0, 0, [100, 120, 140, 160])  # TTFT 100 ms, TPOT 20 ms
    events += _request(1, 50, [300, 340, 380], [1, 2, 3])  # TTFT 250 ms, 6 tokens
    events += [RunStarted(T0 + 60 * MS, 2, False, 10, 1, 100), RunFailed(T0 + 90 * MS, 2, "HTTP 500: x", "http_500")]
    events += [RunStarted(T0 + 70 * MS, 3, False, 10, 1, 100), RunFailed(T0 + 95 * MS, 3, "no byte", "timeout")]
    events.sort(key=lambda e: e.t_ns)  # as the pump publishes them: in arrival order
    return Session.from_events(events)


def test_summary_of_overlapping_requests() -> None:
    summary = serving_summary(_session(), {"ttft": 200})
    assert (summary.completed, summary.failed, summary.stopped) == (2, 2, 0)
    assert summary.duration_s == pytest.approx(0.381)  # first sent (0 ms) → last ended (380 + 1 ms)
    assert summary.total_output_tokens == 10 and summary.total_input_tokens == 24  # the server's prompt count
    assert summary.request_throughput == pytest.approx(2 / 0.381)
    assert summary.request_goodput == pytest.approx(1 / 0.381)  # only request 0 has TTFT ≤ 200 ms
    assert summary.output_throughput == pytest.approx(10 / 0.381)
    assert summary.max_concurrent_requests == 4
    assert summary.errors == {"http_500": 1, "timeout": 1}
    assert summary.ttft_ms is not None and summary.ttft_ms.mean == pytest.approx(175.0)
    assert summary.tpot_ms is not None and summary.tpot_ms.median == pytest.approx((20 + 16) / 2)
    assert summary.itl_ms is not None and summary.itl_ms.n == 5  # per chunk, pooled: 3 + 2 gaps
    assert summary.itl_token_ms is not None and summary.itl_token_ms.n == 3 + 5
    assert summary.multi_token_chunks == 2 and summary.chunks == 7
    assert summary.token_count_difference == 0.0


def test_per_token_gaps_split_a_chunk() -> None:
    gaps = metrics.per_token_gaps(np.array([0.04, 0.09]), np.array([2, 3]))
    assert list(gaps) == pytest.approx([0.02, 0.02, 0.03, 0.03, 0.03])
    run = metrics.run_metrics(0, [MS, 41 * MS, 131 * MS], [1, 2, 3])
    assert run.itl_token_s is not None and run.itl_token_s.mean == pytest.approx(0.026)
    assert metrics.run_metrics(0, [MS, 2 * MS]).itl_token_s is None  # one token per arrival: the ITL series


def test_in_flight_over_time() -> None:
    session = _session()
    at = [T0 - MS, T0 + 55 * MS, T0 + 75 * MS, T0 + 92 * MS, T0 + 200 * MS, T0 + 400 * MS]
    assert list(in_flight_series(session.flight_log(), at)) == [0, 2, 4, 3, 1, 0]
    assert session.in_flight == 0


def test_system_arrivals_interleave_the_runs() -> None:
    times, counts, cursor = _session().system_arrivals()
    assert cursor == 7 and int(counts.sum()) == 10
    assert list(np.diff(times) >= 0) == [True] * 6
    rate = metrics.rolling_tps(times, T0 + 400 * MS, 1_000 * MS, counts)
    assert rate == pytest.approx(9 / 0.3)  # the window starts at the first arrival (100 ms), excluded


def test_slos_and_their_parsing() -> None:
    run = metrics.run_metrics(0, [100 * MS, 150 * MS])
    assert meets_slos(run, {"ttft": 100, "tpot": 50, "e2el": 150})
    assert not meets_slos(run, {"tpot": 49})
    assert parse_goodput(["ttft:500", "TPOT:50"]) == {"ttft": 500.0, "tpot": 50.0}
    for bad in ("ttft", "itl:5", "e2el:-1", "ttft:x"):
        with pytest.raises(UserError):
            parse_goodput([bad])


def test_an_old_recording_reads_as_before() -> None:
    # schema 1.0 events had no RunFailed.kind / RunFinished usage fields
    old_fail = msgspec.json.encode({"type": "run_fail", "t_ns": 5, "run": 0, "error": "boom"})
    old_end = msgspec.json.encode({"type": "run_end", "t_ns": 9, "run": 1, "reason": "eos", "tokens": 3,
                                   "tokens_all": 3})  # fmt: skip
    fail = msgspec.json.decode(old_fail, type=RunFailed)
    end = msgspec.json.decode(old_end, type=RunFinished)
    assert isinstance(fail, RunFailed) and fail.kind == ""
    assert isinstance(end, RunFinished) and end.server_tokens is None and end.chunks == 0
    session = Session.from_events([RunStarted(1, 0, False, 1, 1, 1), fail])
    assert session.run(0).error_kind == "error"
