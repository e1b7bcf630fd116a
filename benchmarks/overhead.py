"""Does measuring slow the thing measured? tpstui's engine against bare ``model.generate``.

Alternates (ABBA order, several pairs) the seeds' bare method — ``model.generate`` with no
streamer, new tokens / wall time, after a warm-up — with tpstui's full live path on the same
model, prompt and settings: timing streamer, pump thread (ids → text → events), session state
and the CPU telemetry sampler at 10 Hz. Both sides are measured the same way (tokens / wall time
of ``generate()``), and the median ratio is printed. Target ≥ 0.99. ``--app headless|pty`` attaches the live app
(overhead_app.py; target ≥ 0.97).

    python benchmarks/overhead.py [--pairs 6] [--tokens 64] [--app headless|pty] [--isolated]

``--isolated``: tpstui's side is ``IsolatedEngine`` (generation in a child process, what ``tpstui
bench`` and ``tpstui run`` do by default) and the bare side runs in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch

from tpstui.settings import RunSettings
from tpstui.sources.generation.engine import TransformersEngine
from tpstui.sources.generation.isolated import IsolatedEngine
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.stream.events import RunFinished, RunStarted


def bare_rate(loaded: Any, prompt_ids: list[int], tokens: int) -> tuple[float, float]:
    """The seeds' method: generate without a streamer, tokens / time; and process CPU s per token.

    EOS is ignored as tpstui's --ignore-eos does (no EOS stopping criterion), so both sides run the
    same generation loop and differ only by what tpstui adds.
    """
    ids = torch.tensor([prompt_ids])
    cpu = time.process_time()
    start = time.perf_counter()
    out = loaded.model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=tokens, eos_token_id=None,
        do_sample=False, temperature=None, top_p=None, top_k=None, pad_token_id=loaded.tokenizer.eos_token_id,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert out.shape[1] - ids.shape[1] == tokens
    return tokens / elapsed, (time.process_time() - cpu) / tokens


class TpstuiSide:
    """tpstui's live path; one measured run per call."""

    def __init__(self, settings: RunSettings, telemetry: str, isolated: bool = False) -> None:
        self.engine: Any = IsolatedEngine(settings) if isolated else TransformersEngine(settings)
        self.live = LiveSession(self.engine, TelemetryOptions(backend=telemetry, sample_hz=10.0))
        self.live.open()
        bare = self.engine if not isolated else TransformersEngine(settings)
        if isolated:  # the bare side needs the model in this process too (the child has its own copy)
            bare.load(lambda fraction, stage: None)
        assert bare.loaded is not None and bare.prompt is not None
        self.loaded = bare.loaded
        self.prompt = bare.prompt
        self.starts: dict[int, int] = {}
        self.ends: dict[int, RunFinished] = {}
        self.live.bus.subscribe(self._watch)

    def _watch(self, event: object) -> None:
        if isinstance(event, RunStarted):
            self.starts[event.run] = event.t_ns
        elif isinstance(event, RunFinished):
            self.ends[event.run] = event

    def rate(self) -> tuple[float, float, float]:
        """(tokens / wall time of generate(), tpstui's own decode TPS, process CPU s per token) of one run.

        The CPU figure counts every thread of the process (generation, pump, sampler), and with
        ``--isolated`` the generation child's too, so its ratio to the bare method's is tpstui's
        extra work, whatever the VM's steal time does to the wall clock.
        """
        cpu = self._cpu()
        self.engine.request_runs(1, 0)
        assert self.engine.wait_idle(600)
        cpu = self._cpu() - cpu
        run = max(self.ends)
        finished = self.ends[run]
        wall = (finished.t_ns - self.starts[run]) / 1e9
        decode = self.live.session.run(run).metrics().output_tps or 0.0
        return finished.tokens / wall, decode, cpu / finished.tokens

    def _cpu(self) -> float:
        """CPU seconds of this process, plus the generation child's when there is one (from /proc)."""
        if self.engine.pid == os.getpid():
            return time.process_time()
        with open(f"/proc/{self.engine.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return time.process_time() + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--telemetry", default="cpu")
    parser.add_argument("--app", choices=("none", "headless", "pty", "pty-child"), default="none",
                        help="attach the live app (see overhead_app.py)")  # fmt: skip
    parser.add_argument("--fps", type=float, default=10.0, help="the app's frame rate (--app)")
    parser.add_argument("--ui-cpu", type=float, default=1.5, help="the app's CPU budget, %% of a core (--app)")
    parser.add_argument("--isolated", action="store_true",
                        help="tpstui's side generates in a child process, as tpstui bench does by default")  # fmt: skip
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app != "none":
        from overhead_app import main_attached

        main_attached(args)
        return
    settings = RunSettings(device="cpu", max_new_tokens=args.tokens, ignore_eos=True, runs=1, warmup=0)
    side = TpstuiSide(settings, args.telemetry, args.isolated)
    prompt = side.prompt.ids
    bare_rate(side.loaded, prompt, args.tokens)  # warm-up, both sides
    side.rate()
    ratios, bare_all, ours_all, decode_all, cpu_ratios = [], [], [], [], []
    for pair in range(args.pairs):
        if pair % 2 == 0:
            bare, bare_cpu = bare_rate(side.loaded, prompt, args.tokens)
            ours, decode, our_cpu = side.rate()
        else:
            ours, decode, our_cpu = side.rate()
            bare, bare_cpu = bare_rate(side.loaded, prompt, args.tokens)
        ratios.append(ours / bare)
        cpu_ratios.append(our_cpu / bare_cpu)
        bare_all.append(bare)
        ours_all.append(ours)
        decode_all.append(decode)
        print(
            f"pair {pair + 1}: bare {bare:6.2f} tok/s  tpstui {ours:6.2f} tok/s  ratio {ours / bare:.3f}  "
            f"CPU/token bare {bare_cpu * 1e3:.1f} ms tpstui {our_cpu * 1e3:.1f} ms"
        )
    side.live.close()
    print(
        f"embedded model, {args.tokens} tokens, {args.pairs} pairs, telemetry={args.telemetry}"
        f"{', tpstui in a child process' if args.isolated else ''}: "
        f"median bare {statistics.median(bare_all):.2f} tok/s, tpstui {statistics.median(ours_all):.2f} tok/s "
        f"(its decode TPS {statistics.median(decode_all):.2f}); median ratio {statistics.median(ratios):.3f}; "
        f"process CPU per token tpstui ÷ bare: median {statistics.median(cpu_ratios):.3f}"
    )


if __name__ == "__main__":
    main()
