"""The endpoint engine against the scripted fake SSE server: timing truth, tokens per chunk, errors by kind."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from tests.endpoint_servers import FakeServer, fake_sse, run_endpoint, send_times
from tpstui.errors import UserError
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.state.serving import serving_summary
from tpstui.state.session import Session

__all__ = ["fake_sse"]

MS = 1_000_000


def _settings(url: str, **options: object) -> EndpointSettings:
    values: dict[str, object] = {"url": url, "warmup_requests": 0, "num_requests": 1, "timeout_s": 10.0}
    values.update(options)
    return EndpointSettings(**values)  # type: ignore[arg-type]


class Timing:
    """How the client's stamps of a session's chunks compare with the server's send times, in ms."""

    def __init__(self, session: Session) -> None:
        latency, gap_errors, sent_gaps = [], [], []
        self.coalesced = self.chunks = 0
        for run in session.run_ids():
            view = session.run(run)
            sent = np.asarray(send_times(session, run), dtype=np.int64)
            # one token per chunk here, so an arrival's count is how many chunks one read brought;
            # its stamp is then the moment the last of them arrived
            assert int(view.counts.sum()) == sent.size
            last = sent[np.cumsum(view.counts) - 1]
            latency.append((view.arrivals - last) / MS)  # both clocks are CLOCK_MONOTONIC
            gap_errors.append((np.diff(view.arrivals) - np.diff(last)) / MS)
            sent_gaps.append(np.diff(sent) / MS)
            self.coalesced += int(sent.size - view.arrivals.size)
            self.chunks += int(sent.size)
        self.latency = np.concatenate(latency)
        self.gap_errors = np.abs(np.concatenate(gap_errors))
        self.sent_gaps = np.concatenate(sent_gaps)

    def worst(self, bounds: Bounds) -> str:
        """What fails the bounds of this attempt ('' where it holds them)."""
        within = float(np.mean(self.gap_errors < 1.0))
        median_error, median_latency = float(np.median(self.gap_errors)), float(np.median(self.latency))
        if (median_error < bounds.median_gap_error_ms and median_latency < 1.0 and within >= bounds.within_1ms
                and self.coalesced <= 0.05 * self.chunks):  # fmt: skip
            return ""
        tail = np.round(np.percentile(self.gap_errors, [50, 90, 99, 100]), 2)
        return (f"{within:.0%} of gaps within 1 ms (|error| p50/p90/p99/max {tail} ms), median latency"
                f" {median_latency:.2f} ms, {self.coalesced} coalesced")  # fmt: skip


class Bounds(NamedTuple):
    """What one attempt must hold besides a median latency under 1 ms and at most 5 % of chunks
    read together with another."""

    median_gap_error_ms: float
    within_1ms: float


# at 64 streams whose chunks are written together the client parses a burst of 64 before it
# reads the next one, so the scheduler's noise touches more gaps (seen in CI, best of three:
# 75 % within 1 ms, a median error of 0.32 ms)
BOUNDS = {1: Bounds(median_gap_error_ms=0.25, within_1ms=0.9), 64: Bounds(median_gap_error_ms=0.5, within_1ms=0.6)}


@pytest.mark.parametrize("concurrency", [1, 64])
def test_measured_itl_is_within_a_millisecond_of_the_server(fake_sse: FakeServer, concurrency: int) -> None:
    """The client's gaps match the server's send gaps, in the median and in the tail, on one of
    five attempts (an attempt takes about a second).

    A client that stamped after buffering or after parsing other streams would be late by
    milliseconds on most chunks of every attempt. Any one attempt needs a quiet moment: on a loaded
    2-core machine the scheduler now and then wakes the client 2-4 ms late (seen in CI at 64 streams:
    three attempts with 54 %, 75 % and 47 % of gaps within 1 ms and median errors of 0.78, 0.32 and
    1.1 ms, while the median latency stayed at 0.24-0.58 ms), and at 64 streams whose chunks are
    written together (as a batching server does) a chunk that arrives while the client parses the
    others waits that long (``benchmarks/endpoint_ceiling.py`` measures the whole distribution).
    """
    gap_ms = 20.0
    failures = []
    for _ in range(5):
        settings = _settings(fake_sse.url(f"steady-gap{gap_ms}-n25"), concurrency=concurrency,
                             num_requests=concurrency)  # fmt: skip
        session = run_endpoint(settings).session
        assert len(session.run_ids()) == concurrency
        assert all(session.run(r).finished is not None for r in session.run_ids())
        timing = Timing(session)
        assert timing.chunks == concurrency * 25
        summary = serving_summary(session)
        assert summary.completed == concurrency and summary.failed == 0
        assert summary.max_concurrent_requests == concurrency
        assert summary.total_output_tokens == concurrency * 25
        # the server writes on its schedule (its own sleep overshoot is not the client's error) ...
        assert abs(float(np.median(timing.sent_gaps)) - gap_ms) < 2.0
        # ... and the client stamps each read when it happens, not after buffering or parsing
        if not (failure := timing.worst(BOUNDS[concurrency])):
            return
        failures.append(failure)
    pytest.fail(f"no attempt within the bounds: {failures}")


def test_several_tokens_per_chunk_from_per_chunk_usage(fake_sse: FakeServer) -> None:
    live = run_endpoint(_settings(fake_sse.url("steady-gap5-n10-k3-usagechunk")))
    view = live.session.run(0)
    assert view.finished is not None
    # three tokens in each chunk (a loaded machine may read two chunks at once: one arrival of 6)
    assert int(view.counts.sum()) == 30 and all(int(c) % 3 == 0 for c in view.counts)
    assert view.finished.chunks == 10 and view.finished.multi_token_chunks == 10
    assert view.finished.server_tokens == 30 and view.finished.server_prompt_tokens == 7
    metrics = live.session.run_metrics(0)
    assert metrics.tokens == 30
    assert metrics.itl_token_s is not None and metrics.itl_s is not None
    later_tokens = 30 - int(view.counts[0])  # each gap is shared by the tokens that ended it
    assert metrics.itl_token_s.n == later_tokens
    span_s = float(view.arrivals[-1] - view.arrivals[0]) / 1e9
    assert metrics.itl_token_s.mean == pytest.approx(span_s / later_tokens, rel=1e-6)
    summary = serving_summary(live.session)
    assert summary.multi_token_chunks == 10 and summary.token_count_difference == 0.0


def test_without_usage_or_tokenizer_each_chunk_counts_one(fake_sse: FakeServer) -> None:
    live = run_endpoint(_settings(fake_sse.url("steady-gap2-n12-k2-usagenone")))
    view = live.session.run(0)
    assert view.finished is not None
    assert int(view.counts.sum()) == 12
    assert view.finished.server_tokens is None
    assert "one per chunk" in (live.model.versions["token_counting"] if live.model else "")


def test_without_usage_the_tokenizer_counts(fake_sse: FakeServer, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    live = run_endpoint(_settings(fake_sse.url("steady-gap2-n8-usagefinal"), tokenizer=str(tiny_model_dir)))
    view = live.session.run(0)
    assert view.finished is not None
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    expected = [len(tokenizer(f"{t};", add_special_tokens=False)["input_ids"]) for t in send_times(live.session, 0)]
    assert int(view.counts.sum()) == sum(expected)
    if len(view.counts) == len(expected):  # else a loaded machine read two chunks at once: one arrival
        assert list(view.counts) == expected
    assert view.finished.server_tokens == 8  # usage at the end, as transformers serve sends it
    summary = serving_summary(live.session)
    assert summary.counted_output_tokens == sum(expected) and summary.server_output_tokens == 8


def test_completions_api_and_no_done_marker(fake_sse: FakeServer) -> None:
    live = run_endpoint(_settings(fake_sse.url("steady-gap2-n6-nodone"), api="completions"))
    view = live.session.run(0)
    assert view.finished is not None and view.finished.reason == "length"
    assert int(view.counts.sum()) == 6


@pytest.mark.parametrize(
    ("scenario", "kind"),
    [
        ("status500-ok1", "http_500"),
        ("cut-ok1-n10-gap2", "disconnect"),
        ("stall-ok1-n10-gap2", "timeout"),
        ("html-ok1", "malformed"),
        ("garbage-ok1", "malformed"),
        ("nofinish-ok1-n4-gap2-nodone", "disconnect"),
    ],
)
def test_a_failed_request_ends_itself_not_the_session(fake_sse: FakeServer, scenario: str, kind: str) -> None:
    # the probe (request 1 of the scenario) streams normally; the session's requests fail
    settings = _settings(fake_sse.url(scenario), num_requests=3, concurrency=3, timeout_s=0.5)
    live = run_endpoint(settings)
    views = live.session.runs()
    assert len(views) == 3
    assert all(v.error is not None and v.error_kind == kind for v in views), [(v.error_kind, v.error) for v in views]
    summary = serving_summary(live.session)
    assert summary.failed == 3 and summary.completed == 0 and summary.errors == {kind: 3}
    assert live.session.in_flight == 0


def test_a_cut_stream_keeps_the_tokens_it_delivered(fake_sse: FakeServer) -> None:
    live = run_endpoint(_settings(fake_sse.url("cut-ok1-n10-gap2"), num_requests=1))
    view = live.session.run(0)
    assert view.error_kind == "disconnect"
    assert int(view.counts.sum()) == 5


def test_the_api_key_comes_from_the_environment(fake_sse: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fake_sse.url("status401")
    with pytest.raises(UserError, match=r"HTTP 401.*\$TPSTUI_TEST_KEY"):
        run_endpoint(_settings(url, api_key_env="TPSTUI_TEST_KEY"))
    monkeypatch.setenv("TPSTUI_TEST_KEY", "secret")
    live = run_endpoint(_settings(url, api_key_env="TPSTUI_TEST_KEY"))
    assert live.session.run(0).finished is not None
    assert "secret" not in repr(live.recorded_settings())


@pytest.mark.parametrize(
    ("scenario", "options", "message"),
    [
        ("steady", {"served_model": "other"}, "does not serve model 'other'; it serves: fake-model"),
        ("notopenai", {}, "is not an OpenAI-compatible server"),
        ("html", {}, "is not an OpenAI-compatible streaming endpoint"),
        ("status500", {}, "HTTP 500"),
        ("steady", {"prompt_tokens": 32}, "--prompt-tokens needs the served model's tokenizer"),
    ],
)
def test_bad_servers_fail_before_the_session(
    fake_sse: FakeServer, scenario: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        run_endpoint(_settings(fake_sse.url(scenario), **options))


def test_an_unreachable_url_is_one_line() -> None:
    from tests.endpoint_servers import free_port

    with pytest.raises(UserError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1: .*is the server running"):
        run_endpoint(_settings(f"http://127.0.0.1:{free_port()}/v1"))


def test_open_loop_rate_spaces_the_requests(fake_sse: FakeServer) -> None:
    rate = 40.0
    settings = _settings(fake_sse.url("steady-gap1-n3"), num_requests=40, request_rate=rate, burstiness=1.0)
    live = run_endpoint(settings)
    starts = np.asarray([v.started.t_ns for v in live.session.runs()], dtype=np.int64)
    gaps = np.diff(starts) / 1e9
    assert settings.max_concurrency is None  # an open loop: not capped unless --concurrency says so
    assert 0.5 / rate < float(gaps.mean()) < 2.0 / rate
    assert float(gaps.std()) > 0.3 / rate  # Poisson gaps vary (a fixed rate would not)


def test_stop_ends_the_requests_in_flight(fake_sse: FakeServer) -> None:
    from tpstui.sources.endpoint.engine import EndpointEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    settings = _settings(fake_sse.url("steady-gap50-n200"), num_requests=8, concurrency=4)
    live = LiveSession(EndpointEngine(settings), TelemetryOptions(backend="none"))
    try:
        live.open()
        live.request_planned_runs()
        deadline = 100
        while live.session.total_tokens < 8 and deadline:
            import time

            time.sleep(0.05)
            deadline -= 1
        live.stop_run()
        assert live.engine.wait_idle(5)
    finally:
        live.close()
    views = live.session.runs()
    assert len(views) == 4  # the queued four were never sent
    assert all(v.finished is not None and v.finished.reason == "stopped" for v in views)
    assert serving_summary(live.session).stopped == 4
