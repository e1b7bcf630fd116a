"""A synthetic long session written exactly as the recorder would write it in real time.

Used by recording_size.py, recording_open.py and report_cost.py. Tokens carry real SmolLM2 token
texts (the embedded tokenizer, read from tpstui's conversion cache when it is there; else README
words), arrive at a fixed rate with ±10 % jitter, and ``gpus`` GPUs (default 1) are sampled at
10 Hz with the keys the NVML backend reports, thermally throttled 30 s of every 5 minutes.
Frames are cut every ``FLUSH_SECONDS`` of the session's own clock, as the writer thread cuts
them every 0.5 s of wall time during a live session.

    python benchmarks/recording_synthetic.py OUT.jsonl.zst [--hours 1] [--tps 100] [--hz 10] [--gpus 1]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

from tpstui.stream.events import (
    Event,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)
from tpstui.stream.recording.writer import FLUSH_SECONDS, FrameWriter

T0 = 123_456_789_000_000
RUN_TOKENS = 512
README = Path(__file__).resolve().parents[1] / "README.md"


def token_texts(limit: int = 20_000) -> list[tuple[int, str]]:
    """(id, text) pairs of a real English text tokenised by the embedded tokenizer."""
    text = README.read_text(encoding="utf-8") * 3
    caches = [os.environ.get("TPSTUI_CACHE_DIR", ""), os.path.expanduser("~/.cache/tpstui"), "/tmp/tpscache"]
    for cache in filter(None, caches):
        for path in glob.glob(os.path.join(cache, "gguf", "*", "tokenizer.json")):
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(path)
            ids = tokenizer.encode(text).ids[:limit]
            return [(i, tokenizer.decode([i])) for i in ids]
    words = re.findall(r"\s*\S+", text)[:limit]
    return [(1000 + hash(w) % 48000, w) for w in words]


def gpu_values(rng: random.Random, index: int, throttled: bool) -> dict[str, float]:
    """What the NVML backend reports for an H100 under a steady decode load."""
    sm = 1410.0 if throttled else 1980.0
    return {
        "temp_c": float(rng.randint(70, 84)),
        "temp_hotspot_c": float(rng.randint(80, 92)),
        "temp_mem_c": float(rng.randint(70, 78)),
        "temp_slowdown_c": 89.0,
        "temp_shutdown_c": 92.0,
        "sm_clock_mhz": sm,
        "sm_clock_max_mhz": 1980.0,
        "mem_clock_mhz": 2619.0,
        "mem_clock_max_mhz": 2619.0,
        "power_w": round(rng.uniform(380, 520), 3),
        "power_limit_w": 700.0,
        "energy_j": round(1_000_000 + index * 45.0 + rng.random(), 3),
        "util_pct": float(rng.randint(94, 100)),
        "mem_busy_pct": float(rng.randint(45, 65)),
        "bw_util_pct": round(rng.uniform(55, 70), 2),
        "bw_gbs": round(rng.uniform(1800, 2300), 2),
        "mem_used_mb": 40960.0 + rng.randint(0, 64),
        "mem_total_mb": 81559.0,
    }


def synthetic_events(
    seconds: float, tps: float, hz: float, telemetry: bool = True, seed: int = 0, gpus: int = 1
) -> Iterator[Event]:
    """The session in publish order: runs of RUN_TOKENS back to back, samples interleaved."""
    rng = random.Random(seed)
    texts = token_texts()
    yield SessionStarted(T0, 1_700_000_000.0, tool_version="synthetic", settings={"max_new_tokens": RUN_TOKENS})
    yield ModelLoaded(T0 + 1_000_000, "synthetic", "hub", 135_000_000, "bfloat16", "cuda:0", 1.0, 270_000_000)
    end = T0 + int(seconds * 1e9)
    gap = 1e9 / tps
    period = int(1e9 / hz)
    next_sample = T0 + 2_000_000
    sample_index = 0
    throttled = False
    t = T0 + 10_000_000
    run = 0
    k = 0
    while t < end:
        yield RunStarted(t, run, False, 128, 1, RUN_TOKENS)
        for _ in range(RUN_TOKENS):
            t += int(gap * rng.uniform(0.9, 1.1))
            while next_sample <= t and telemetry:
                reasons_now = (sample_index // 300) % 10 == 9  # throttled 30 s of every 5 min
                if reasons_now != throttled:
                    throttled = reasons_now
                    for gpu in range(gpus):
                        for reason in ("SwThermalSlowdown", "HwThermalSlowdown"):
                            yield ThrottleChanged(next_sample, f"gpu{gpu}", reason, throttled)
                reasons = ["SwThermalSlowdown", "HwThermalSlowdown"] if throttled else []
                for gpu in range(gpus):
                    yield TelemetrySample(next_sample, f"gpu{gpu}", gpu_values(rng, sample_index, throttled), reasons)
                next_sample += period
                sample_index += 1
            token_id, text = texts[k % len(texts)]
            k += 1
            yield Tokens(t, run, [token_id], 1, 1, text)
        t += 1_000_000
        yield RunFinished(t, run, "length", RUN_TOKENS, RUN_TOKENS)
        run += 1
        t += 5_000_000
    yield SessionEnded(t)


def write_synthetic(path: Path, events: Iterator[Event]) -> FrameWriter:
    """Write ``events`` as the recorder would, with a frame every FLUSH_SECONDS of session time."""
    with open(path, "xb", buffering=0) as handle:
        writer = FrameWriter(handle)
        frame_start: int | None = None
        for event in events:
            if frame_start is None:
                frame_start = event.t_ns
            elif event.t_ns - frame_start >= FLUSH_SECONDS * 1e9:
                writer.flush()
                frame_start = event.t_ns
            writer.add(event)
        writer.flush()
    return writer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--gpus", type=int, default=1)
    args = parser.parse_args()
    writer = write_synthetic(args.out, synthetic_events(args.hours * 3600, args.tps, args.hz, gpus=args.gpus))
    print(f"{args.out}: {writer.events} events, {writer.frames} frames, {writer.bytes / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
