"""Scripted Prometheus endpoints on loopback: a fake DCGM exporter and a fake serving engine.

Each is a real HTTP server (stdlib, its own thread, a free port) whose ``/metrics`` body is a
function of the time since it started, so a test can script a thermal ramp or a queue building
up and check when tpstui saw it. ``body`` can be replaced to serve garbage, truncated text or
errors; ``status`` and ``delay_s`` script HTTP failures and slow answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HW_THERMAL = 0x40


class MetricsServer:
    """Serves ``body(t)`` at ``/metrics`` (t: seconds since ``start``) until ``stop``."""

    def __init__(self, body: Callable[[float], str]) -> None:
        self.body = body
        self.status = 200
        self.delay_s = 0.0
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                data = outer.body(time.perf_counter() - outer.started).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/metrics"
        self.started = time.perf_counter()
        self.started_ns = time.perf_counter_ns()
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self.started = time.perf_counter()
        self.started_ns = time.perf_counter_ns()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def dcgm_body(node: str, gpus: int, hot: Callable[[int, float], bool], t: float) -> str:
    """A DCGM exporter page for ``gpus`` GPUs of ``node``; ``hot(gpu, t)`` scripts a thermal throttle."""
    lines = [
        "# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).",
        "# TYPE DCGM_FI_DEV_SM_CLOCK gauge",
    ]
    metrics: dict[str, list[str]] = {}
    for gpu in range(gpus):
        throttled = hot(gpu, t)
        labels = (
            f'gpu="{gpu}",UUID="GPU-{node}-{gpu:04d}",pci_bus_id="00000000:{gpu + 1:02X}:00.0",'
            f'device="nvidia{gpu}",modelName="NVIDIA H200",Hostname="{node}"'
        )
        values = {
            "DCGM_FI_DEV_SM_CLOCK": 1410 if throttled else 1980,
            "DCGM_FI_DEV_MEM_CLOCK": 2619,
            "DCGM_FI_DEV_GPU_TEMP": 91 if throttled else 62,
            "DCGM_FI_DEV_MEMORY_TEMP": 88 if throttled else 60,
            "DCGM_FI_DEV_POWER_USAGE": 512.5,
            "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": int(1_000_000 + 500_000 * t),
            "DCGM_FI_DEV_GPU_UTIL": 97,
            "DCGM_FI_DEV_FB_USED": 70_000,
            "DCGM_FI_DEV_FB_FREE": 73_000,
            "DCGM_FI_PROF_DRAM_ACTIVE": 0.83,
            "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": HW_THERMAL if throttled else 0,
        }
        for name, value in values.items():
            metrics.setdefault(name, []).append(f"{name}{{{labels}}} {value}")
    for name, samples in metrics.items():
        if name != "DCGM_FI_DEV_SM_CLOCK":
            kind = "counter" if name == "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION" else "gauge"
            lines.append(f"# TYPE {name} {kind}")
        lines += samples
    return "\n".join(lines) + "\n"


def vllm_body(t: float, queue_from: float = 1.0) -> str:
    """A vLLM-like /metrics page: 4 running, a queue growing by 2 per second after ``queue_from``."""
    waiting = max(0.0, (t - queue_from) * 2)
    requests = 10 * t
    return f"""# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="smollm2"}} 4.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="smollm2"}} {waiting:.1f}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{engine="0",model_name="smollm2"}} {min(0.95, 0.2 + 0.1 * t):.3f}
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{{engine="0",model_name="smollm2"}} {100.0 * t:.3f}
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{{engine="0",model_name="smollm2"}} {400.0 * t:.3f}
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{{engine="0",model_name="smollm2"}} {400.0 * t:.3f}
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{{engine="0",model_name="smollm2"}} {100.0 * t:.3f}
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{le="0.1",model_name="smollm2"}} {requests:.3f}
vllm:time_to_first_token_seconds_bucket{{le="+Inf",model_name="smollm2"}} {requests:.3f}
vllm:time_to_first_token_seconds_count{{model_name="smollm2"}} {requests:.3f}
vllm:time_to_first_token_seconds_sum{{model_name="smollm2"}} {0.05 * requests:.4f}
# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_count{{model_name="smollm2"}} {100.0 * t:.3f}
vllm:inter_token_latency_seconds_sum{{model_name="smollm2"}} {0.02 * 100.0 * t:.4f}
"""
