"""Metrics against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from tpstui.state import metrics

MS = 1_000_000  # ns


def test_run_metrics_hand_computed() -> None:
    # start at 0; tokens at 100, 120, 150, 160, 200 ms
    arrivals = [100 * MS, 120 * MS, 150 * MS, 160 * MS, 200 * MS]
    m = metrics.run_metrics(0, arrivals)
    assert m.tokens == 5
    assert m.ttft_s == pytest.approx(0.100)
    assert m.latency_s == pytest.approx(0.200)
    assert m.decode_s == pytest.approx(0.100)
    assert m.tpot_s == pytest.approx(0.100 / 4)  # (latency − TTFT) / (n − 1)
    assert m.output_tps == pytest.approx(4 / 0.100)  # 40 tok/s
    assert m.total_tps == pytest.approx(5 / 0.200)  # 25 tok/s
    assert m.system_tps == pytest.approx(25.0)
    itl = m.itl_s
    assert itl is not None
    # gaps: 20, 30, 10, 40 ms
    assert itl.n == 4
    assert itl.mean == pytest.approx(0.025)
    assert itl.median == pytest.approx(0.025)  # (20 + 30) / 2
    assert itl.min == pytest.approx(0.010) and itl.max == pytest.approx(0.040)
    # population std of 10, 20, 30, 40 ms: sqrt(125) ms
    assert itl.std == pytest.approx(math.sqrt(125) / 1000)
    # linear interpolation: p90 at rank 0.9·3 = 2.7 → 30 + 0.7·10 = 37 ms; p99 → 39.7 ms
    assert itl.p90 == pytest.approx(0.037)
    assert itl.p95 == pytest.approx(0.0385)
    assert itl.p99 == pytest.approx(0.0397)
    # TTFT + sum(ITL) is the latency
    assert m.ttft_s + itl.mean * itl.n == pytest.approx(m.latency_s)


def test_multi_token_arrivals_count_each_token() -> None:
    # assisted decoding: arrivals carry 1, 3 and 2 tokens
    m = metrics.run_metrics(0, [10 * MS, 20 * MS, 40 * MS], counts=[1, 3, 2])
    assert m.tokens == 6
    assert m.output_tps == pytest.approx(5 / 0.030)
    assert m.tpot_s == pytest.approx(0.030 / 5)
    assert m.itl_s is not None and m.itl_s.n == 2  # gaps between arrivals (AIPerf's chunks)
    rates = metrics.instantaneous_tps([10 * MS, 20 * MS, 40 * MS], [1, 3, 2])
    assert rates.tolist() == pytest.approx([300.0, 100.0])


def test_batch_system_tps() -> None:
    # two sequences: sequence 0 makes 4 tokens, 7 tokens in all; last token of any at 250 ms
    m = metrics.run_metrics(0, [50 * MS, 100 * MS, 150 * MS, 200 * MS], tokens_all=7, last_any_ns=250 * MS)
    assert m.total_tps == pytest.approx(4 / 0.2)
    assert m.system_tps == pytest.approx(7 / 0.25)


def test_degenerate_runs() -> None:
    empty = metrics.run_metrics(0, [])
    assert empty.tokens == 0 and empty.ttft_s is None and empty.itl_s is None
    one = metrics.run_metrics(0, [5 * MS])
    assert one.ttft_s == pytest.approx(0.005)
    assert one.output_tps is None and one.tpot_s is None and one.itl_s is None
    assert one.total_tps == pytest.approx(200.0)


def test_rolling_tps_window_and_decay() -> None:
    arrivals = [i * 100 * MS for i in range(11)]  # 10 tok/s for one second
    # whole run at the last token equals the decode TPS
    assert metrics.rolling_tps(arrivals, 1000 * MS, 5000 * MS) == pytest.approx(10.0)
    # 0.5 s window ending at 1.0 s: tokens at 0.6..1.0 = 5 over 0.5 s
    assert metrics.rolling_tps(arrivals, 1000 * MS, 500 * MS) == pytest.approx(10.0)
    # tokens stop: at 1.5 s the 0.5 s window holds none
    assert metrics.rolling_tps(arrivals, 1500 * MS, 500 * MS) == pytest.approx(0.0)
    # at 1.25 s: tokens in (0.75, 1.25] are 0.8, 0.9, 1.0 → 3 / 0.5 s
    assert metrics.rolling_tps(arrivals, 1250 * MS, 500 * MS) == pytest.approx(6.0)
    # before the first token there is no rate
    assert metrics.rolling_tps(arrivals, 0, 500 * MS) is None
    series = metrics.rolling_tps_series(arrivals, [500 * MS, 1000 * MS], 200 * MS)
    assert series.tolist() == pytest.approx([10.0, 10.0])


def test_across_runs_sample_sd() -> None:
    agg = metrics.across_runs([10.0, 12.0, None, 14.0])
    assert agg is not None
    assert agg.n == 3
    assert agg.mean == pytest.approx(12.0)
    assert agg.sd == pytest.approx(2.0)  # sample sd: sqrt(((−2)² + 0 + 2²) / 2)
    assert agg.median == pytest.approx(12.0)
    single = metrics.across_runs([5.0])
    assert single is not None and single.sd is None
    assert metrics.across_runs([None]) is None


def test_mbu() -> None:
    # 2 layers, 2 kv heads, head_dim 4, 10 tokens of context, fp16 → 2·2·2·4·10·2 = 640 bytes
    assert metrics.kv_cache_bytes(2, 2, 4, 10, 2) == 640
    step = metrics.bytes_per_decode_step(1000, 2, 2, 4, 2, 10, batch_size=2)
    assert step == 1000 + 2 * 640
    # 2280 bytes/step × 100 steps/s over a 456 kB/s peak = 0.5
    assert metrics.model_bandwidth_utilization(step, 100, 456_000) == pytest.approx(0.5)
    assert metrics.model_bandwidth_utilization(step, 100, 0) is None
