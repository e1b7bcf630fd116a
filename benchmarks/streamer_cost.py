"""Cost of the streamer's put() on the generation thread, early and late in a long line.

Feeds 50,000 single-token puts of a text with no newline (the embedded model's tokenizer) to
tpstui's TimingStreamer while a consumer thread detokenises them as the engine's pump does, and
times each put() on the producing thread. transformers' TextIteratorStreamer is timed beside it
at token 10, 1,000 and 8,000 (it re-decodes the whole line on every put, so 50,000 would take
many minutes). Target: tpstui's put() < 20 µs and flat.

    python benchmarks/streamer_cost.py [--tokens 50000]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any

import torch

from tpstui.settings import RunSettings
from tpstui.sources.generation.loader import load_model
from tpstui.sources.generation.prompts import FILLER
from tpstui.sources.generation.streamer import IncrementalDetokenizer, TimingStreamer


def token_stream(tokenizer: object, count: int) -> list[torch.Tensor]:
    ids = tokenizer(FILLER.replace("\n", " "), add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    ids = (ids * (count // len(ids) + 1))[:count]
    return [torch.tensor([i]) for i in ids]


def window_median(times: list[int], at: int, half: int = 50) -> float:
    """Median put() time in µs around token ``at`` (1-based)."""
    lo, hi = max(at - half, 0), min(at + half, len(times))
    return statistics.median(times[lo:hi]) / 1e3


def time_puts(streamer: Any, consumer: threading.Thread, tokens: list[torch.Tensor]) -> list[int]:
    """Start the consumer, put the prompt, then time each token's put() on this thread (ns)."""
    consumer.start()
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt
    costs = []
    clock = time.perf_counter_ns
    for token in tokens:
        start = clock()
        streamer.put(token)
        costs.append(clock() - start)
    streamer.end()
    consumer.join()
    return costs


def time_tpstui(tokens: list[torch.Tensor], tokenizer: object) -> list[int]:
    streamer = TimingStreamer()
    detok = IncrementalDetokenizer(tokenizer)
    consumed = []

    def consume() -> None:  # what the engine's pump does with each put
        for raw in streamer.drain(timeout=10):
            consumed.append(detok.add(raw.ids))

    costs = time_puts(streamer, threading.Thread(target=consume), tokens)
    assert len(consumed) == len(tokens)
    return costs


def time_transformers(tokens: list[torch.Tensor], tokenizer: object) -> list[int]:
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
    drained: list[str] = []
    return time_puts(streamer, threading.Thread(target=lambda: drained.extend(streamer)), tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--hf-tokens", type=int, default=8_000)
    args = parser.parse_args()
    tokenizer = load_model(RunSettings(device="cpu")).tokenizer
    tokens = token_stream(tokenizer, args.tokens)
    ours = time_tpstui(tokens, tokenizer)
    theirs = time_transformers(tokens[: args.hf_tokens], tokenizer)
    print(f"put() cost on the generating thread, median µs around token N of a {args.tokens}-token line:")
    print(f"{'token':>8} {'tpstui TimingStreamer':>22} {'transformers TextIteratorStreamer':>34}")
    for at in sorted({a for a in (10, 1_000, 8_000, args.tokens) if a <= args.tokens}):
        hf = f"{window_median(theirs, at):.1f}" if at <= len(theirs) else "(not run: quadratic)"
        print(f"{at:>8} {window_median(ours, at):>22.2f} {hf:>34}")
    print(f"tpstui p99 over all {len(ours)} puts: {sorted(ours)[int(len(ours) * 0.99)] / 1e3:.2f} µs")


if __name__ == "__main__":
    main()
