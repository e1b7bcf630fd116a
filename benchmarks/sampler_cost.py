"""What does GPU telemetry cost? The sampler thread's CPU time, and decode speed with sampling on/off.

1. Sampler cost: the real nvidia-ml-py against the fake libnvidia-ml.so.1 (tests/fakes, built
   with gcc), sampled by tpstui's Sampler into a Session for ``--seconds`` at 10 and 50 Hz. The
   sampler measures its own thread's CPU time (``time.thread_time``): printed per sample, per
   second and as % of one core (target < 1 % at 10 Hz). The fake answers instantly, so this is
   tpstui + pynvml overhead; a real driver adds its own time per call (and it is spent in the
   driver, not on the generation thread). The CPU backend is shown for comparison.
2. Decode TPS with sampling on ÷ off on the embedded model: alternating pairs (ABBA), the same
   loaded model, prompt and engine; "on" samples the fake NVML at ``--hz``. Target ≥ 0.99.

    python benchmarks/sampler_cost.py [--seconds 5] [--pairs 6] [--tokens 64] [--hz 10] [--child]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.build import SCENARIOS, fake_nvml  # noqa: E402
from tpstui.sources.telemetry.base import Backend  # noqa: E402
from tpstui.sources.telemetry.sampler import Sampler  # noqa: E402
from tpstui.state.session import Session  # noqa: E402
from tpstui.stream.events import EventBus, RunFinished  # noqa: E402


def use_fake_nvml(scenario: str) -> None:
    library = fake_nvml(Path(tempfile.gettempdir()) / f"tpstui-fakes-{os.getuid()}")
    os.environ["TPSTUI_NVML_LIBRARY"] = str(library)
    os.environ["FAKE_NVML_SCENARIO"] = str(SCENARIOS / scenario)


def open_backend(kind: str, child: bool = False) -> Backend:
    """The CPU backend, or NVML on the fake library with the scenario ``kind`` (in a child process)."""
    if kind == "cpu":
        from tpstui.sources.telemetry.cpu import CpuBackend

        return CpuBackend()
    from tpstui.sources.telemetry.nvml import NvmlBackend
    from tpstui.sources.telemetry.process import ProcessBackend

    use_fake_nvml(kind)
    return ProcessBackend("nvml", None, "auto") if child else NvmlBackend()


def sampler_cost(kind: str, hz: float, seconds: float, child: bool = False) -> tuple[int, float]:
    """(samples, sampler-thread CPU seconds) over ``seconds`` of sampling into a Session."""
    bus = EventBus()
    bus.subscribe(Session().apply)
    sampler = Sampler(open_backend(kind, child), bus, hz)
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    return sampler.samples, sampler.cpu_seconds


def part_one(seconds: float) -> None:
    print(f"sampler thread CPU time, {seconds:g} s per row (fake NVML answers instantly):")
    for label, kind, child in (
        ("NVML, 1 GPU (H100, GPM)", "nvml_steady.txt", False),
        ("NVML, 2 GPUs (A100)", "nvml_two_gpus.txt", False),
        ("NVML, 1 GPU, child process*", "nvml_steady.txt", True),
        ("CPU (psutil)", "cpu", False),
    ):
        for hz in (10.0, 50.0):
            samples, cpu = sampler_cost(kind, hz, seconds, child)
            per_sample = cpu / samples * 1e6 if samples else float("nan")
            per_second = cpu / seconds
            print(
                f"  {label:<28} {hz:4.0f} Hz: {samples:4d} samples, {per_sample:7.1f} µs/sample, "
                f"{per_second * 1e3:6.2f} ms/s = {per_second * 100:5.2f} % of one core"
            )
    print("  * TPSTUI_SAMPLER=process: the parent's sampler thread only; the child spends its own CPU time")


def part_two(pairs: int, tokens: int, hz: float, child: bool) -> None:
    from tpstui.settings import RunSettings
    from tpstui.sources.generation.engine import TransformersEngine
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    use_fake_nvml("nvml_steady.txt")
    settings = RunSettings(device="cpu", max_new_tokens=tokens, ignore_eos=True, runs=1, warmup=0)
    live = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="none", sample_hz=hz))
    live.open()
    engine = live.engine
    finished: list[int] = []
    live.bus.subscribe(lambda e: finished.append(e.run) if isinstance(e, RunFinished) else None)

    def decode_tps(sampling: bool) -> float:
        sampler = Sampler(open_backend("nvml_steady.txt", child), live.bus, hz) if sampling else None
        if sampler is not None:
            sampler.start()
        engine.request_runs(1, 0)
        assert engine.wait_idle(600)
        if sampler is not None:
            sampler.stop()
        return live.session.run(finished[-1]).metrics().output_tps or float("nan")

    decode_tps(False)  # warm-up
    ratios, on_all, off_all = [], [], []
    for pair in range(pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        rates = {sampling: decode_tps(sampling) for sampling in order}
        on_all.append(rates[True])
        off_all.append(rates[False])
        ratios.append(rates[True] / rates[False])
        print(f"  pair {pair + 1}: off {rates[False]:6.2f} tok/s  on {rates[True]:6.2f} tok/s  ratio {ratios[-1]:.3f}")
    live.close()
    print(
        f"decode TPS, embedded model, {tokens} tokens, {pairs} pairs, fake NVML at {hz:g} Hz"
        f"{' in a child process' if child else ''}: "
        f"median off {statistics.median(off_all):.2f}, on {statistics.median(on_all):.2f} tok/s; "
        f"median ratio on/off {statistics.median(ratios):.3f} (mean {statistics.fmean(ratios):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="sampling time per cost row")
    parser.add_argument("--pairs", type=int, default=6, help="on/off pairs for the decode ratio (0: skip)")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--hz", type=float, default=10.0, help="sample rate of the 'on' side")
    parser.add_argument("--child", action="store_true", help="the 'on' side samples from a child process")
    args = parser.parse_args()
    if args.seconds > 0:
        part_one(args.seconds)
    if args.pairs:
        part_two(args.pairs, args.tokens, args.hz, args.child)


if __name__ == "__main__":
    main()
