"""A serving engine's own Prometheus metrics (vLLM, SGLang, TGI ``/metrics``) as a telemetry device.

The device is ``server``. Gauges map onto tpstui keys (running and waiting requests, KV-cache
usage); counters become rates over the last scrape interval (generation and prompt tokens/s as
the server counts them, the prefix-cache hit rate); histograms become the mean over the last
interval (Δsum / Δcount: the engine's own TTFT, ITL, end-to-end latency and queue time, beside
what the client measures). An engine none of the tables knows shows its raw numeric series by
name (``raw:<metric>``), so nothing it exposes is hidden.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tpstui.sources.telemetry.base import BackendUnavailable, DeviceInfo, Reading
from tpstui.sources.telemetry.prometheus import (
    CounterDeltas,
    Exposition,
    ScrapeError,
    Series,
    scrape,
    scrape_client,
)

__all__ = ["ENGINE_GAUGES", "ENGINE_HISTOGRAMS", "ENGINE_RATES", "EngineMetrics", "ServerMetricsBackend"]

ENGINE_GAUGES: dict[str, tuple[str, float]] = {
    "vllm:num_requests_running": ("requests_running", 1.0),
    "vllm:num_requests_waiting": ("requests_waiting", 1.0),
    "vllm:kv_cache_usage_perc": ("kv_cache_pct", 100.0),
    "vllm:gpu_cache_usage_perc": ("kv_cache_pct", 100.0),
    "sglang:num_running_reqs": ("requests_running", 1.0),
    "sglang:num_queue_reqs": ("requests_waiting", 1.0),
    "sglang:token_usage": ("kv_cache_pct", 100.0),
    "sglang:gen_throughput": ("server_gen_tps", 1.0),
    "sglang:cache_hit_rate": ("prefix_hit_pct", 100.0),
    "tgi_queue_size": ("requests_waiting", 1.0),
    "tgi_batch_current_size": ("requests_running", 1.0),
}
"""Gauge sample → (tpstui key, scale); series of one name are summed over their labels (models)."""
ENGINE_RATES: dict[str, str] = {
    "vllm:generation_tokens_total": "server_gen_tps",
    "vllm:prompt_tokens_total": "server_prompt_tps",
    "sglang:generation_tokens_total": "server_gen_tps",
    "sglang:prompt_tokens_total": "server_prompt_tps",
    "tgi_request_generated_tokens_sum": "server_gen_tps",
}
"""Counter sample → tpstui key of its rate per second."""
ENGINE_HISTOGRAMS: dict[str, str] = {
    "vllm:time_to_first_token_seconds": "server_ttft_s",
    "vllm:inter_token_latency_seconds": "server_itl_s",
    "vllm:time_per_output_token_seconds": "server_itl_s",
    "vllm:e2e_request_latency_seconds": "server_e2el_s",
    "vllm:request_queue_time_seconds": "server_queue_s",
    "sglang:time_to_first_token_seconds": "server_ttft_s",
    "sglang:time_per_output_token_seconds": "server_itl_s",
    "sglang:e2e_request_latency_seconds": "server_e2el_s",
    "tgi_request_duration": "server_e2el_s",
    "tgi_request_mean_time_per_token_duration": "server_itl_s",
    "tgi_request_queue_duration": "server_queue_s",
}
"""Histogram base name → tpstui key of its mean over the last interval."""
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits")
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries")
KNOWN_PREFIXES = ("vllm:", "sglang:", "tgi_")
RAW_LIMIT = 64
"""At most this many raw series of an unknown engine are kept per sample."""
_NOT_KEY = re.compile(r"[^A-Za-z0-9_:]")


class EngineMetrics:
    """Turns successive scrapes of one engine into tpstui values (keeps the counters' last values)."""

    def __init__(self) -> None:
        self._deltas = CounterDeltas()
        self._last_ns: int | None = None

    def values(self, series: Sequence[Series], t_ns: int) -> dict[str, float]:
        seconds = (t_ns - self._last_ns) / 1e9 if self._last_ns is not None else None
        self._last_ns = t_ns
        gauges: dict[str, float] = {}
        sums: dict[str, float] = {}
        for item in series:
            if item.name in ENGINE_GAUGES:
                key, scale = ENGINE_GAUGES[item.name]
                gauges[key] = gauges.get(key, 0.0) + item.value * scale
            else:
                sums[item.name] = sums.get(item.name, 0.0) + item.value
        values = dict(gauges)
        for name, key in ENGINE_RATES.items():
            delta = self._deltas.delta(name, sums[name]) if name in sums else None
            if delta is not None and seconds:
                values[key] = delta / seconds
        for base, key in ENGINE_HISTOGRAMS.items():
            if f"{base}_sum" not in sums:
                continue
            total = self._deltas.delta(f"{base}_sum", sums[f"{base}_sum"])
            count = self._deltas.delta(f"{base}_count", sums.get(f"{base}_count", 0.0))
            if total is not None and count:
                values[key] = total / count
        hits = next((sums[n] for n in PREFIX_HITS if n in sums), None)
        queries = next((sums[n] for n in PREFIX_QUERIES if n in sums), None)
        if hits is not None and queries is not None:
            hit_delta, query_delta = self._deltas.delta("hits", hits), self._deltas.delta("queries", queries)
            if hit_delta is not None and query_delta:
                values["prefix_hit_pct"] = 100.0 * hit_delta / query_delta
        if not any(item.name.startswith(KNOWN_PREFIXES) for item in series):
            raw = {f"raw:{_NOT_KEY.sub('_', name)}": value for name, value in sums.items()}
            values.update(dict(list(raw.items())[:RAW_LIMIT]))
        return values


class ServerMetricsBackend:
    """The engine at ``url`` (its ``/metrics``), scraped with a bounded wait at each sample."""

    name = "server"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        import time

        self.url = url
        self._client = scrape_client(timeout_s)
        self._parser = Exposition()
        self._metrics = EngineMetrics()
        self.error: str | None = None
        """Why the last scrape failed (None once it answers again)."""
        try:
            first = scrape(self._client, url, self._parser)
        except ScrapeError as error:
            self._client.close()
            raise BackendUnavailable(f"--server-metrics {error}") from None
        self._keys = tuple(sorted(self._metrics.values(first, time.perf_counter_ns())))
        self._engine = next((p.rstrip(":_") for p in KNOWN_PREFIXES if any(s.name.startswith(p) for s in first)), "")

    def devices(self) -> list[DeviceInfo]:
        name = f"{self._engine} engine" if self._engine else "serving engine"
        return [DeviceInfo("server", name, self.name, {"metrics": self.url}, self._keys)]

    def sample(self) -> list[Reading]:
        import time

        try:
            series = scrape(self._client, self.url, self._parser)
        except ScrapeError as error:
            self.error = str(error)
            return [Reading("server", {}, stale=True)]
        self.error = None
        return [Reading("server", self._metrics.values(series, time.perf_counter_ns()))]

    def close(self) -> None:
        self._client.close()
