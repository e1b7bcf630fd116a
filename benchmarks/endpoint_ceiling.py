"""Client ceiling of ``--endpoint``: the chunks per second it times within 1 ms, and the streams at which it stops.

Against the scripted server (``tests/fakes/sse_server.py``, niced so that its CPU does not count as
the client's), which stamps each chunk with ``perf_counter_ns()`` right before writing it (the same
CLOCK_MONOTONIC as the client). For every gap between two chunks of a request:
timing error = measured ITL − the server's send gap. The whole path is measured: the client
process, the pipe, the pump, the Session.

1. HTTP client cost: CPU per body read of httpx (AsyncClient.stream + aiter_bytes) and of the
   engine's transport (h11 on an asyncio protocol), reading the same streams.
2. Rate sweep: 64 streams, chunks every G ms each (64000/G chunks/s offered, all streams in phase,
   as a batching server writes them).
3. Concurrency sweep: a chunk every 20 ms per stream, S streams.

Each point (the median of ``--repeat`` runs) prints the chunks/s achieved, |timing error| p50 / p99 /
max and the p99 delivery delay.
The ceiling is the last point whose p99 error stays under 1 ms. On a 2-core machine shared with
other work, run it as ``flock /tmp/tpstui-bench.lock .venv/bin/python benchmarks/endpoint_ceiling.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tpstui.sources.endpoint.engine import EndpointEngine  # noqa: E402
from tpstui.sources.endpoint.settings import EndpointSettings  # noqa: E402
from tpstui.sources.endpoint.transport import Pool, StampingSelector  # noqa: E402
from tpstui.sources.live import LiveSession  # noqa: E402
from tpstui.sources.telemetry.select import TelemetryOptions  # noqa: E402
from tpstui.stream.events import Event, Tokens  # noqa: E402

SERVER = ROOT / "tests" / "fakes" / "sse_server.py"
MS = 1_000_000


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: os.nice(10),
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline().split()[1])

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}/{scenario}-t{uuid.uuid4().hex[:8]}/v1"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def http_cost(server: Server, streams: int, chunks: int, gap_ms: float) -> tuple[float, float]:
    """(httpx µs, transport µs) of CPU per body read, on the same streams."""
    body = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "stream": True}).encode()
    headers = {"Content-Type": "application/json"}

    async def with_httpx(url: str) -> int:
        import httpx

        reads = 0
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=None), timeout=30) as client:

            async def one() -> None:
                nonlocal reads
                async with client.stream("POST", url, content=body, headers=headers) as response:
                    async for _ in response.aiter_bytes():
                        reads += 1

            await asyncio.gather(*[one() for _ in range(streams)])
        return reads

    async def with_transport(url: str, selector: StampingSelector) -> int:
        reads = 0

        def sink(t_ns: int, data: bytes) -> None:
            nonlocal reads
            reads += 1

        pool = Pool(url, 30, headers, lambda: selector.ready_ns)
        await asyncio.gather(*[pool.post(body, sink) for _ in range(streams)])
        pool.close()
        return reads

    results = []
    for kind in ("httpx", "transport"):
        url = server.url(f"steady-gap{gap_ms}-n{chunks}") + "/chat/completions"
        selector = StampingSelector()
        loop = asyncio.SelectorEventLoop(selector)
        start = cpu_s()
        reads = loop.run_until_complete(with_httpx(url) if kind == "httpx" else with_transport(url, selector))
        results.append((cpu_s() - start) / reads * 1e6)
        loop.close()
    return results[0], results[1]


def measure(server: Server, streams: int, gap_ms: float, chunks: int) -> dict[str, float]:
    settings = EndpointSettings(
        url=server.url(f"steady-gap{gap_ms}-n{chunks}"),
        num_requests=streams,
        concurrency=streams,
        warmup_requests=0,
        timeout_s=30,
    )
    live = LiveSession(EndpointEngine(settings), TelemetryOptions(backend="none"))
    arrivals: dict[int, list[tuple[int, int, int]]] = {}
    """Per request: (arrival, send time of the last chunk in it, chunks in it)."""

    def collect(event: Event) -> None:
        if isinstance(event, Tokens):
            sent = event.text.rstrip(";").split(";")
            arrivals.setdefault(event.run, []).append((event.t_ns, int(sent[-1]), len(sent)))

    live.bus.subscribe(collect)
    try:
        live.open()
        started = time.perf_counter()
        live.request_planned_runs()
        assert live.engine.wait_idle(300)
        wall = time.perf_counter() - started
    finally:
        live.close()
    errors, delays, total, coalesced = [], [], 0, 0
    for rows in arrivals.values():  # a read carrying several chunks is compared with its last chunk's send
        table = np.asarray(rows, dtype=np.int64)
        total += int(table[:, 2].sum())
        coalesced += int((table[:, 2] > 1).sum())
        errors.append((np.diff(table[:, 0]) - np.diff(table[:, 1])) / MS)
        delays.append((table[:, 0] - table[:, 1]) / MS)
    error = np.abs(np.concatenate(errors))
    delay = np.concatenate(delays)
    return {
        "offered": streams * 1000 / gap_ms,
        "achieved": total / wall,
        "p50": float(np.percentile(error, 50)),
        "p99": float(np.percentile(error, 99)),
        "max": float(error.max()),
        "delay_p99": float(np.percentile(delay, 99)),
        "coalesced": coalesced / max(sum(len(r) for r in arrivals.values()), 1),
    }


def repeated(server: Server, times: int, streams: int, gap_ms: float, chunks: int) -> dict[str, float]:
    """The median of each figure over ``times`` runs (the machine is shared: single runs are noisy)."""
    runs = [measure(server, streams, gap_ms, chunks) for _ in range(times)]
    return {key: float(np.median([r[key] for r in runs])) for key in runs[0]}


def row(label: str, result: dict[str, float]) -> str:
    return (
        f"{label:>22} {result['offered']:>9.0f} {result['achieved']:>9.0f} {result['p50']:>7.3f} "
        f"{result['p99']:>7.3f} {result['max']:>7.3f} {result['delay_p99']:>9.3f} {result['coalesced']:>9.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point; the medians are printed (default 3)")
    args = parser.parse_args()
    server = Server()
    try:
        httpx_us, transport_us = http_cost(server, 8, 400 if args.quick else 2000, 1)
        print(
            f"HTTP client CPU per body read (8 streams, 1 ms gaps): httpx {httpx_us:.1f} µs, "
            f"transport (h11 on asyncio.Protocol) {transport_us:.1f} µs"
        )
        header = (
            f"{'':>22} {'offered':>9} {'chunks/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'delay p99':>9} {'coalesced':>9}"
        )
        print("\nrate sweep: 64 streams in phase\n" + header)
        gaps = (8, 4, 2) if args.quick else (16, 8, 4, 3, 2.5, 2, 1.5)
        for gap in gaps:
            result = repeated(server, args.repeat, 64, gap, max(int(2000 / gap), 40))
            print(row(f"64 × every {gap:g} ms", result), flush=True)
        print("\nconcurrency sweep: a chunk every 20 ms per stream\n" + header)
        for streams in (16, 64, 256) if args.quick else (16, 64, 128, 256, 384, 512):
            print(row(f"{streams} streams", repeated(server, args.repeat, streams, 20, 50)), flush=True)
    finally:
        server.stop()
    print(
        "\nerror = |measured ITL − the server's send gap| per gap between reads; delay = arrival − send; a read "
        "carrying several chunks (coalesced: share of reads) is compared with its last chunk's send time."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
