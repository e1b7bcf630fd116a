"""What scraping a cluster costs: N DCGM exporters × G GPUs at H Hz, CPU time of the scraping process.

The exporters are scripted servers (tests/metrics_servers.py) in a child process, so their own
work is not counted; this process runs only tpstui's DcgmBackend on a Sampler thread (the HTTP
requests and the parsing run on the backend's pool threads), publishing into a Session. Prints
the process CPU time over the window as a share of one core (target < 2 % for 8 × 8 at 2 Hz),
the scrapes done, and per-scrape wall time p50 / p99.

    python benchmarks/scrape_cost.py [--nodes 8] [--gpus 8] [--hz 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

SERVE = """
import json, sys, time
sys.path.insert(0, {root!r})
from tests.metrics_servers import MetricsServer, dcgm_body
servers = [MetricsServer(lambda t, n=n: dcgm_body(f"node{{n}}", {gpus}, lambda g, t: False, t)).start()
           for n in range({nodes})]
print(json.dumps([s.url for s in servers]), flush=True)
sys.stdin.read()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--hz", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tpstui.sources.telemetry.dcgm import DcgmBackend
    from tpstui.sources.telemetry.sampler import Sampler
    from tpstui.state.session import Session
    from tpstui.stream.events import EventBus

    code = SERVE.format(root=str(ROOT), gpus=args.gpus, nodes=args.nodes)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    urls = json.loads(child.stdout.readline())
    try:
        bus = EventBus()
        session = Session()
        bus.subscribe(session.apply)
        backend = DcgmBackend(urls)
        durations: list[float] = []
        original = backend.sample

        def timed() -> list:  # type: ignore[type-arg]
            started = time.perf_counter()
            readings = original()
            durations.append(time.perf_counter() - started)
            return readings

        backend.sample = timed  # type: ignore[method-assign]
        sampler = Sampler(backend, bus, args.hz)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        sampler.start()
        time.sleep(args.seconds)
        sampler.stop()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        child.stdin.close()
        child.wait(5)
    devices = len(session.devices())
    samples = sum(len(session.samples(d)) for d in session.devices())
    p50, p99 = (float(np.percentile(durations, q)) * 1e3 for q in (50, 99))
    print(
        f"{args.nodes} nodes × {args.gpus} GPUs at {args.hz:g} Hz for {wall:.0f} s: {len(durations)} scrapes, "
        f"{devices} devices, {samples} samples; scrape wall p50 {p50:.1f} ms p99 {p99:.1f} ms; "
        f"process CPU {cpu:.2f} s = {cpu / wall * 100:.2f} % of one core (target < 2 %)"
    )


if __name__ == "__main__":
    main()
