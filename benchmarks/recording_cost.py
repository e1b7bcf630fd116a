"""What recording costs, and where: the publishing threads only enqueue; a writer thread encodes and writes.

1. Synthetic: publish 100 tokens per telemetry sample through an EventBus with a Session, with
   and without a Recorder subscribed. Prints the extra CPU per event on the publishing thread
   (the enqueue) and the writer thread's CPU per event (encode + compress + write).
2. ``--model``: the embedded model on CPU, decode tok/s with the recorder subscribed versus not,
   alternating runs (ABBA) on one loaded model; prints the median ratio (target ≥ 0.99) and which
   threads called the recorder (never the generation thread: events are published by the pump
   and sampler threads).

    python benchmarks/recording_cost.py [--events 200000] [--model] [--pairs 4] [--tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from tpstui.state.session import Session
from tpstui.stream.events import EventBus, RunFinished, RunStarted, TelemetrySample, Tokens
from tpstui.stream.recording import Recorder


def publish_cost(count: int, recorder: Recorder | None) -> float:
    """CPU seconds per event spent on the publishing thread."""
    bus = EventBus()
    session = Session()
    bus.subscribe(session.apply)
    if recorder is not None:
        bus.subscribe(recorder)
    bus.publish(RunStarted(0, 0, False, 16, 1, count))
    events = []
    for i in range(count):
        events.append(Tokens(1000 + i * 10_000_000, 0, [i % 49152], 1, 1, " word"))
        if i % 10 == 0:
            events.append(TelemetrySample(1000 + i * 10_000_000, "gpu0", {"temp_c": 70.0, "power_w": 400.5}))
    start = time.thread_time()
    for event in events:
        bus.publish(event)
    return (time.thread_time() - start) / len(events)


def synthetic(count: int) -> None:
    base = min(publish_cost(count, None) for _ in range(3))
    with tempfile.TemporaryDirectory() as tmp:
        costs, writer = [], []
        for i in range(3):
            recorder = Recorder(Path(tmp) / f"r{i}.jsonl.zst")
            costs.append(publish_cost(count, recorder))
            recorder.close()
            writer.append(recorder.cpu_seconds / recorder.events_written)
    print(f"publishing thread: {base * 1e9:.0f} ns/event without recorder, {min(costs) * 1e9:.0f} ns with "
          f"(+{(min(costs) - base) * 1e9:.0f} ns: the enqueue)")  # fmt: skip
    print(f"writer thread: {min(writer) * 1e9:.0f} ns CPU/event (encode, compress, write), off the publishing threads")


def with_model(pairs: int, tokens: int) -> None:
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    settings = RunSettings(device="cpu", max_new_tokens=tokens, ignore_eos=True, runs=1, warmup=0)
    live = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="cpu", sample_hz=10.0))
    callers: set[str] = set()
    rates: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            live.open()
            engine = live.engine
            engine.request_runs(1, 1)  # warm-up
            engine.wait_idle()
            for pair in range(pairs):
                for record in (False, True, True, False) if pair % 2 == 0 else (True, False, False, True):
                    recorder = Recorder(Path(tmp) / f"{pair}-{len(rates[record])}-{record}.jsonl.zst")

                    def spy(event: object, recorder: Recorder = recorder) -> None:
                        callers.add(threading.current_thread().name)
                        recorder(event)  # type: ignore[arg-type]

                    if record:
                        live.bus.subscribe(spy)
                    before = len(live.session.run_ids())
                    engine.request_runs(1, 0)
                    engine.wait_idle()
                    live.bus.unsubscribe(spy)
                    recorder.close()
                    view = live.session.run(live.session.run_ids()[before])
                    assert isinstance(view.finished, RunFinished)
                    rates[record].append(view.metrics().output_tps or 0.0)
        finally:
            live.close()
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    print(f"embedded model, {tokens} tokens: {off:.2f} tok/s without, {on:.2f} with the recorder: ratio {on / off:.3f}")
    print("  runs without:", " ".join(f"{r:.2f}" for r in rates[False]))
    print("  runs with:   ", " ".join(f"{r:.2f}" for r in rates[True]))
    print(f"threads that called the recorder: {', '.join(sorted(callers))} (the generation thread is tpstui-generate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--model", action="store_true", help="also measure decode tok/s on the embedded model")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    synthetic(args.events)
    if args.model:
        with_model(args.pairs, args.tokens)


if __name__ == "__main__":
    main()
