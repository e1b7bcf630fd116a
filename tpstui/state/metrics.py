"""Pure functions over token timestamps: TTFT, the TPS kinds, ITL statistics, rolling rates, MBU.

Definitions (the names vLLM / AIPerf use are in brackets; README "Metrics" has the full table):

- start: the moment ``generate()`` is called; tokenisation happens before it, outside TTFT.
- arrival: when a streamer ``put()`` handed new token ids to the host (one per decode step;
  assisted decoding may deliver several tokens in one arrival, ``counts`` holds how many).
- TTFT = first arrival − start.                                        [vLLM ttft, AIPerf TTFT]
- latency = last arrival − start (end-to-end request latency).          [vLLM e2el]
- TPOT = (latency − TTFT) / (n − 1).                       [vLLM tpot; AIPerf calls it "ITL"]
- output (decode) TPS = (n − 1) / (last arrival − first arrival) = 1 / TPOT: excludes prefill.
- total TPS = n / latency: the whole request, prefill included.
- system TPS = tokens of all sequences / (last arrival − start): batch > 1.
- ITL series = gaps between consecutive arrivals.             [vLLM itl; AIPerf "ICL" per chunk]
- per-token ITL = an arrival of k tokens after a gap g counts k gaps of g/k (a chunk is not a
  token: vllm-project/vllm#27485); equal to the ITL series when every arrival carries one token.
- per-token (instantaneous) TPS = tokens in an arrival / the gap before it.

Series statistics use the population std (as vLLM / AIPerf do); statistics across repeated runs
use the sample std, N − 1 (as llama-bench does). Percentiles interpolate linearly (NumPy default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "AcrossRuns",
    "Distribution",
    "RunMetrics",
    "across_runs",
    "bytes_per_decode_step",
    "distribution",
    "instantaneous_tps",
    "kv_cache_bytes",
    "model_bandwidth_utilization",
    "per_token_gaps",
    "rolling_tps",
    "rolling_tps_series",
    "run_metrics",
]

NS = 1e9
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Distribution:
    """Summary of a series: mean, median, population std and percentiles."""

    n: int
    mean: float
    median: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p95: float
    p99: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def distribution(values: Sequence[float] | FloatArray) -> Distribution | None:
    """Mean, median, population std, min/max and p50/p90/p95/p99 of ``values``; None if empty."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return None
    p50, p90, p95, p99 = (float(v) for v in np.percentile(data, [50, 90, 95, 99]))
    return Distribution(
        n=int(data.size),
        mean=float(data.mean()),
        median=p50,
        std=float(data.std()),
        min=float(data.min()),
        max=float(data.max()),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
    )


@dataclass(frozen=True)
class RunMetrics:
    """Per-run (per-request) metrics. Times in seconds; None where undefined (too few tokens)."""

    tokens: int
    tokens_all: int
    ttft_s: float | None
    latency_s: float | None
    decode_s: float | None
    tpot_s: float | None
    output_tps: float | None
    total_tps: float | None
    system_tps: float | None
    itl_s: Distribution | None
    itl_token_s: Distribution | None = None
    """Per-token ITL (see the module docstring); None when no arrival carried more than one token."""

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["itl_s"] = self.itl_s.as_dict() if self.itl_s else None
        data["itl_token_s"] = self.itl_token_s.as_dict() if self.itl_token_s else None
        return data


def _as_int_array(values: Sequence[int] | IntArray) -> IntArray:
    return np.asarray(values, dtype=np.int64)


def run_metrics(
    start_ns: int,
    arrivals_ns: Sequence[int] | IntArray,
    counts: Sequence[int] | IntArray | None = None,
    tokens_all: int | None = None,
    last_any_ns: int | None = None,
) -> RunMetrics:
    """Metrics of one run from its start time and the arrival times of sequence 0's tokens.

    ``counts[i]`` is how many tokens arrival ``i`` carried (default 1 each). ``tokens_all``
    counts tokens of every sequence in the batch and ``last_any_ns`` is the last arrival of
    any sequence; both default to sequence 0's figures (batch of one).
    """
    arrivals = _as_int_array(arrivals_ns)
    count = np.ones(arrivals.size, dtype=np.int64) if counts is None else _as_int_array(counts)
    n = int(count.sum())
    n_all = n if tokens_all is None else tokens_all
    if arrivals.size == 0:
        return RunMetrics(0, n_all, None, None, None, None, None, None, None, None)
    first, last = int(arrivals[0]), int(arrivals[-1])
    ttft = (first - start_ns) / NS
    latency = (last - start_ns) / NS
    decode = (last - first) / NS
    tpot = decode / (n - 1) if n > 1 else None
    output_tps = (n - 1) / decode if n > 1 and decode > 0 else None
    total_tps = n / latency if latency > 0 else None
    end_any = max(last, last_any_ns or last)
    system_tps = n_all / ((end_any - start_ns) / NS) if end_any > start_ns else None
    gaps = np.diff(arrivals) / NS
    return RunMetrics(
        tokens=n,
        tokens_all=n_all,
        ttft_s=ttft,
        latency_s=latency,
        decode_s=decode,
        tpot_s=tpot,
        output_tps=output_tps,
        total_tps=total_tps,
        system_tps=system_tps,
        itl_s=distribution(gaps),
        itl_token_s=distribution(per_token_gaps(gaps, count[1:])) if int(count[1:].max(initial=1)) > 1 else None,
    )


def per_token_gaps(gaps: FloatArray, counts: IntArray) -> FloatArray:
    """An arrival of k tokens after a gap g becomes k gaps of g/k (``gaps[i]`` precedes ``counts[i]``)."""
    k = np.maximum(np.asarray(counts, dtype=np.int64), 1)
    return np.repeat(np.asarray(gaps, dtype=np.float64) / k, k)


def instantaneous_tps(
    arrivals_ns: Sequence[int] | IntArray, counts: Sequence[int] | IntArray | None = None
) -> FloatArray:
    """Per-arrival TPS: tokens in arrival i divided by the gap since arrival i−1 (length n−1)."""
    arrivals = _as_int_array(arrivals_ns)
    if arrivals.size < 2:
        return np.empty(0, dtype=np.float64)
    count = np.ones(arrivals.size, dtype=np.int64) if counts is None else _as_int_array(counts)
    gaps = np.diff(arrivals).astype(np.float64) / NS
    with np.errstate(divide="ignore"):
        rates = np.where(gaps > 0, count[1:] / np.where(gaps > 0, gaps, 1.0), np.inf)
    return rates.astype(np.float64)


def rolling_tps_series(
    arrivals_ns: Sequence[int] | IntArray,
    at_ns: Sequence[int] | IntArray,
    window_ns: int,
    counts: Sequence[int] | IntArray | None = None,
) -> FloatArray:
    """Rolling TPS evaluated at each time in ``at_ns`` (NaN where undefined).

    The window is (max(at − window, first arrival), at]: tokens arriving inside it divided by
    its length. Over a whole run at its last arrival this equals the output (decode) TPS; when
    tokens stop coming the rate decays, as a live view should.
    """
    arrivals = _as_int_array(arrivals_ns)
    at = _as_int_array(at_ns)
    out = np.full(at.size, np.nan, dtype=np.float64)
    if arrivals.size == 0 or at.size == 0:
        return out
    count = np.ones(arrivals.size, dtype=np.int64) if counts is None else _as_int_array(counts)
    cumulative = np.concatenate(([0], np.cumsum(count)))
    lower = np.maximum(at - window_ns, arrivals[0])
    span = (at - lower).astype(np.float64) / NS
    hi = np.searchsorted(arrivals, at, side="right")
    lo = np.searchsorted(arrivals, lower, side="right")
    tokens = cumulative[hi] - cumulative[lo]
    valid = span > 0
    out[valid] = tokens[valid] / span[valid]
    return out


def rolling_tps(
    arrivals_ns: Sequence[int] | IntArray,
    at_ns: int,
    window_ns: int,
    counts: Sequence[int] | IntArray | None = None,
) -> float | None:
    """Rolling TPS at one moment (see ``rolling_tps_series``); None where undefined."""
    value = float(rolling_tps_series(arrivals_ns, [at_ns], window_ns, counts)[0])
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class AcrossRuns:
    """A metric across repeated runs, llama-bench style: mean ± sample sd (N − 1), median."""

    n: int
    mean: float
    sd: float | None
    median: float
    min: float
    max: float
    values: list[float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def across_runs(values: Sequence[float | None]) -> AcrossRuns | None:
    """Aggregate one metric over runs, skipping runs where it was undefined."""
    data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if data.size == 0:
        return None
    sd = float(data.std(ddof=1)) if data.size > 1 else None
    return AcrossRuns(
        n=int(data.size),
        mean=float(data.mean()),
        sd=sd,
        median=float(np.median(data)),
        min=float(data.min()),
        max=float(data.max()),
        values=[float(v) for v in data],
    )


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, context_tokens: float, bytes_per_elem: int) -> float:
    """Bytes of K and V for one sequence: 2 · layers · kv_heads · head_dim · context · bytes."""
    return 2.0 * n_layers * n_kv_heads * head_dim * context_tokens * bytes_per_elem


def bytes_per_decode_step(
    weight_bytes: int,
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    bytes_per_elem: int,
    mean_context_tokens: float,
    batch_size: int = 1,
) -> float:
    """Bytes a decode step reads: every weight once, plus each sequence's KV cache."""
    kv = kv_cache_bytes(n_layers, n_kv_heads, head_dim, mean_context_tokens, bytes_per_elem)
    return float(weight_bytes) + batch_size * kv


def model_bandwidth_utilization(
    bytes_per_step: float, steps_per_second: float, peak_bytes_per_second: float
) -> float | None:
    """MBU in [0, 1+]: achieved bytes/s (bytes per step × decode steps/s) over the peak."""
    if peak_bytes_per_second <= 0 or steps_per_second <= 0:
        return None
    return bytes_per_step * steps_per_second / peak_bytes_per_second
