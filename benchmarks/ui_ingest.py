"""Is the live app's cost flat in the token rate? Feed it a synthetic source at rising rates.

For each rate (tokens/s) a ``SyntheticSource`` publishes one ``Tokens`` event per token on its
own thread for ``--seconds``, into a real Session, while the app (headless, 160×48) renders at
``--fps``. Reports, per rate:

- frame: the app's per-frame update (pull the session, fold new tokens in, update widgets);
- render: Textual's layout + compositing of what changed (``Screen._on_timer_update`` calls that
  had something to draw);
- the first second (start-up: first layout and full draw) is left out of both;
- the app runs without its CPU budget (``cpu_budget=1.0``), so every panel redraws at its full
  rate and the figures are the cost of a frame, not of the budget;
- p50 / p99 of each in ms, frames drawn, and whether the stats panel, the chart's timeline and
  the session counted every token the source published ("all counted");
- ``--gpus N --hz H``: a thread also publishes telemetry of N GPUs at H samples/s each (the keys
  the NVML backend reports), with thermal throttle reasons turning on and off every 2 s, so the
  timeline's lanes, the throttle tint and the telemetry panel are part of every frame;
- ``--json``: one JSON line per rate instead of the table (``ui_pairs.py`` reads it);
- after the first second the heap is frozen (``sources.pauses.freeze_heap``), as a live session
  does once its model is loaded; ``--no-freeze`` leaves it to the collector, whose full
  collections (15-30 ms here) then land in whichever frame trips them.

    python benchmarks/ui_ingest.py [--rates 10,100,1000,10000,50000] [--seconds 5] [--fps 10] [--gpus 4 --hz 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from typing import Any

from textual.screen import Screen

from tpstui.sources.scripted import SyntheticSource
from tpstui.stream.events import TelemetrySample, ThrottleChanged
from tpstui.ui import format as fmt
from tpstui.ui.app import TpsApp

WARMUP_S = 1.0
RENDER_SECONDS: list[float] = []
_original_update = Screen._on_timer_update


def _timed_update(self: Screen[Any]) -> None:
    painting = bool(self._dirty_widgets) or self._layout_required or self._repaint_required
    start = time.perf_counter()
    _original_update(self)
    if painting:  # the update timer also fires when there is nothing to draw
        RENDER_SECONDS.append(time.perf_counter() - start)


Screen._on_timer_update = _timed_update  # type: ignore[method-assign]


def _pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return 1e3 * data[min(int(len(data) * q), len(data) - 1)] if data else float("nan")


def _gpu(k: int, hot: bool) -> dict[str, float]:
    return {
        "temp_c": 80.0 + k % 7, "temp_slowdown_c": 89.0, "temp_hotspot_c": 90.0 + k % 5, "temp_mem_c": 85.0,
        "temp_mem_max_c": 95.0, "sm_clock_mhz": 1410.0 if hot else 1980.0, "sm_clock_max_mhz": 1980.0,
        "mem_clock_mhz": 2619.0, "mem_clock_max_mhz": 2619.0, "power_w": 500.0 + k % 50, "power_limit_w": 700.0,
        "energy_j": 1e6 + 50.0 * k, "util_pct": 97.0, "mem_busy_pct": 55.0, "bw_util_pct": 60.0 + k % 9,
        "bw_gbs": 2000.0, "bw_peak_gbs": 3352.0, "mem_used_mb": 40960.0, "mem_total_mb": 81559.0,
    }  # fmt: skip


def _telemetry(source: SyntheticSource, gpus: int, hz: float, stop: threading.Event) -> None:
    """Samples of ``gpus`` GPUs at ``hz`` each, thermally throttled every other 2 s."""
    k, hot = 0, False
    while not stop.wait(1 / hz):
        now = time.perf_counter_ns()
        flip = (k // int(2 * hz)) % 2 == 1
        for gpu in range(gpus):
            if flip != hot:
                source.bus.publish(ThrottleChanged(now, f"gpu{gpu}", "HwThermalSlowdown", flip))
            reasons = ["HwThermalSlowdown"] if flip else []
            source.bus.publish(TelemetrySample(now, f"gpu{gpu}", _gpu(k, flip), reasons))
        hot = flip
        k += 1


async def _one(
    rate: float, seconds: float, fps: float, gpus: int = 0, hz: float = 20.0, freeze: bool = True
) -> dict[str, Any]:
    source = SyntheticSource(rate, seconds + WARMUP_S)
    app = TpsApp(source, fps=fps, cpu_budget=1.0)  # no CPU budget: measure what every frame costs
    RENDER_SECONDS.clear()
    stop = threading.Event()
    if gpus:
        threading.Thread(target=_telemetry, args=(source, gpus, hz, stop), daemon=True).start()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(WARMUP_S)  # start-up (first layout, first full draw) is not steady state
        if freeze:  # what a live session does once its model is loaded (sources.live, issue 9)
            from tpstui.sources.pauses import freeze_heap

            freeze_heap()
        app.frame_seconds.clear()
        RENDER_SECONDS.clear()
        deadline = time.monotonic() + seconds + 60
        while not source.done.is_set() and time.monotonic() < deadline:
            await pilot.pause(0.1)
        frames = list(app.frame_seconds)
        renders = list(RENDER_SECONDS)
        app.tick(force=True)  # one last frame after the final token
        for _ in range(20):  # the last runs' full statistics may be on a worker thread
            if app.stats.values["tokens"][0] == fmt.count(source.published):
                break
            await pilot.pause(0.1)
            app.tick(force=True)
        shown = app.stats.values["tokens"][0]
        timeline = app.model.timeline.total_tokens if app.model.timeline is not None else 0
    stop.set()
    counted = (
        shown == fmt.count(source.published)
        and timeline == source.published
        and source.session.total_tokens == source.published
    )
    return {
        "rate": rate,
        "published": source.published,
        "frames": len(frames),
        "frame_p50": _pct(frames, 0.5),
        "frame_p99": _pct(frames, 0.99),
        "render_p50": _pct(renders, 0.5),
        "render_p99": _pct(renders, 0.99),
        "counted": counted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,100,1000,10000,50000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--gpus", type=int, default=0, help="also publish telemetry of this many GPUs")
    parser.add_argument("--hz", type=float, default=20.0, help="samples per second per GPU (with --gpus)")
    parser.add_argument("--json", action="store_true", help="one JSON line per rate")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the start-up heap to the collector (a live session freezes it)"
    )
    args = parser.parse_args()
    if args.json:
        for rate in (float(r) for r in args.rates.split(",")):
            row = asyncio.run(_one(rate, args.seconds, args.fps, args.gpus, args.hz, not args.no_freeze))
            print(json.dumps(row), flush=True)
        return
    heads = ("tokens/s", "tokens", "frames", "frame p50", "p99", "render p50", "p99")
    print(" ".join(h.rjust(w) for h, w in zip(heads, (9, 8, 6, 10, 7, 11, 7), strict=True)) + "  all counted")
    for rate in (float(r) for r in args.rates.split(",")):
        row = asyncio.run(_one(rate, args.seconds, args.fps, args.gpus, args.hz, not args.no_freeze))
        print(
            f"{row['rate']:>9,.0f} {row['published']:>8,} {row['frames']:>6} {row['frame_p50']:>7.2f} ms "
            f"{row['frame_p99']:>7.2f} {row['render_p50']:>8.2f} ms {row['render_p99']:>7.2f}  "
            f"{'yes' if row['counted'] else 'NO'}"
        )
    telemetry = f", {args.gpus} GPUs × {args.hz:g} Hz telemetry" if args.gpus else ""
    print(f"(headless 160×48 at {args.fps:g} fps, {args.seconds:g} s per rate{telemetry}; times in ms)")


if __name__ == "__main__":
    main()
