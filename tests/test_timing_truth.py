"""Timing truth: the engine measures a known per-step delay, and its times add up to the wall time.

A tiny random model (built from a config, nothing downloaded) decodes with a logits processor that
waits a known delay per step. The measured median inter-token latency must equal that delay plus
the model's own step time, from 2 % under to 5 % over, and TTFT + sum(ITL) must equal the run's wall time
(``generate()`` call to return) within 1 ms.

The model's own step time is measured the same way in runs without the delay. A step that follows
a pause runs 1-2 ms slower than one in a hot loop on this VM (measured with bare ``generate()`` too,
not a tpstui effect), so the delay is 200 ms: that penalty stays near 1 % (2.5 % with a busy neighbour core).
The processor also stamps its waits, to check that every token is stamped after its own step's
wait and before the next one's: on the generation thread, at the moment the token exists.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tpstui.settings import RunSettings
from tpstui.sources.generation.prompts import build_prompt
from tpstui.sources.generation.runner import GenerationRunner
from tpstui.stream.events import RunFinished, RunStarted

DELAY_S = 0.200
TOKENS = 21


class SleepPerStep:
    """A logits processor that waits ``seconds`` on every decode step and notes when it waited."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.waits: list[tuple[int, int]] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        begin = time.perf_counter_ns()
        deadline = begin + int(self.seconds * 1e9)
        while (left := deadline - time.perf_counter_ns()) > 2_000_000:
            time.sleep((left - 1_000_000) / 1e9)
        while time.perf_counter_ns() < deadline:  # spin the last millisecond: sleep() overshoots
            pass
        self.waits.append((begin, time.perf_counter_ns()))
        return scores


def own_step_times(arrivals: Any, waits: list[tuple[int, int]]) -> list[float]:
    """Each inter-token gap minus the wait inside it; asserts the wait lies between the two stamps."""
    begins = [b for b, _ in waits]
    own = []
    for before, after in itertools.pairwise(arrivals):
        index = bisect.bisect_right(begins, before)
        begin, end = waits[index]
        assert before < begin < end < after
        own.append((after - before - (end - begin)) / 1e9)
    return own


def _measure(tiny_loaded: Any, tiny_model_dir: Any, collector: Any, processors: list[Any]) -> list[Any]:
    settings = RunSettings(
        model=str(tiny_model_dir),
        device="cpu",
        prompt_tokens=16,
        chat_template="off",
        max_new_tokens=TOKENS,
        ignore_eos=True,
        runs=2,
        warmup=1,
    )
    prompt = build_prompt(tiny_loaded.tokenizer, settings, tiny_loaded.context_length)
    assert len(prompt.ids) == 16
    engine = GenerationRunner(tiny_loaded, prompt, settings, collector.bus, processors)
    engine.start()
    engine.request_runs(settings.runs, settings.warmup)
    assert engine.wait_idle(120)
    engine.close()
    assert not engine.alive
    return collector.session.runs()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The tiny model gains nothing from intra-op threads; one thread keeps its step time steady."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_median_itl_matches_the_injected_delay(tiny_loaded: Any, tiny_model_dir: Any, one_thread: None) -> None:
    """From 2 % under to 5 % over on one of up to three attempts. A gap cannot be shorter than its
    wait and step; it can be longer: a neighbour on this VM that takes the core for a few of a
    run's steps moves a median of 20 gaps by more than 4 ms, and with a busy loop on the other core
    a step after a pause ran 5 ms slower than in a hot loop (207.7 ms against 202.5). Gaps counted
    or scaled wrongly fail every attempt, and ``own_step_times`` checks each stamp's place."""
    from tests.conftest import Collector

    base_runs = _measure(tiny_loaded, tiny_model_dir, Collector(), [SleepPerStep(0.0)])
    base = statistics.median(run.metrics().itl_s.median for run in base_runs)
    measured = []
    for _ in range(3):
        delay = SleepPerStep(DELAY_S)
        runs = _measure(tiny_loaded, tiny_model_dir, Collector(), [delay])
        assert len(runs) == 2
        for run in runs:
            assert run.metrics().tokens == TOKENS
            own_step_times(run.arrivals, delay.waits)  # each token stamped between its wait and the next
        measured.append(statistics.median(run.metrics().itl_s.median for run in runs))
        if 0.98 * (DELAY_S + base) <= measured[-1] <= 1.05 * (DELAY_S + base):
            return
    pytest.fail(f"median ITL per attempt {measured} s, expected {DELAY_S + base:.4f} s, -2 % to +5 %")


def _sum_errors(tiny_loaded: Any, tiny_model_dir: Any) -> list[float]:
    """|TTFT + sum(ITL) − wall time| of each measured run, in seconds (cyclic GC off meanwhile)."""
    from tests.conftest import Collector

    collector = Collector()
    gc.disable()
    try:
        runs = _measure(tiny_loaded, tiny_model_dir, collector, [SleepPerStep(0.005)])
    finally:
        gc.enable()
    starts = {e.run: e.t_ns for e in collector.events if isinstance(e, RunStarted)}
    ends = {e.run: e.t_ns for e in collector.events if isinstance(e, RunFinished)}
    errors = []
    for run in runs:
        m = run.metrics()
        assert run.finished is not None and run.finished.reason == "length"
        wall = (ends[run.run] - starts[run.run]) / 1e9
        errors.append(abs(m.ttft_s + m.itl_s.mean * m.itl_s.n - wall))
    return errors


def test_ttft_plus_itl_sum_is_the_wall_time(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    """Every run of an attempt within 1 ms, or at least half the runs of three attempts.

    The difference is the time generate() spends after its last token (about 0.4 ms here). On this
    VM the scheduler now and then takes a few ms from a thread (steal time: about 2 % of runs showed
    a 2-3 ms gap with the cyclic GC off; with a busy loop on the other core one run in two showed
    4-6 ms), so a run may be late; a systematic error (a start or token stamped in the wrong place)
    is in every run of every attempt.
    """
    attempts = [_sum_errors(tiny_loaded, tiny_model_dir)]
    while max(attempts[-1]) > 0.001 and len(attempts) < 3:
        attempts.append(_sum_errors(tiny_loaded, tiny_model_dir))
    if max(attempts[-1]) <= 0.001:
        return
    within = sum(error <= 0.001 for attempt in attempts for error in attempt)
    assert 2 * within >= sum(map(len, attempts)), f"|TTFT + sum(ITL) − wall| per run, per attempt (s): {attempts}"


class SpinPerStep:
    """A logits processor that burns ``seconds`` of this thread's CPU time on every decode step."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        deadline = time.thread_time() + self.seconds
        while time.thread_time() < deadline:
            pass
        return scores


def test_cpu_per_token_is_the_generating_process_cpu_time(
    tiny_loaded: Any, tiny_model_dir: Any, one_thread: None
) -> None:
    """A run's ``cpu_ns`` holds the CPU its steps burned and not the time they slept.

    CPU time does not move when a neighbour takes the core (a spin to a CPU-time deadline burns
    exactly that much), so the bounds hold on a loaded machine: a spinning run used at least its
    20 steps × 20 ms, about that much more than a sleeping one, which used far less than its wall time.
    """
    from tests.conftest import Collector
    from tpstui.reports.bench import build_report

    def finished(processor: Any) -> tuple[list[RunFinished], Any]:
        collector = Collector()
        _measure(tiny_loaded, tiny_model_dir, collector, [processor])
        return [e for e in collector.events if isinstance(e, RunFinished)], collector.session

    slept, _ = finished(SleepPerStep(0.020))
    spun, session = finished(SpinPerStep(0.020))
    steps = TOKENS - 1  # the processor runs on every step after the first token's
    for sleeping, spinning in zip(slept[1:], spun[1:], strict=True):  # the measured runs
        assert sleeping.cpu_ns is not None and spinning.cpu_ns is not None
        assert spinning.cpu_ns >= steps * 20_000_000
        # the sleeper spins its last millisecond of each step: 1 ms a step is CPU time there too
        assert spinning.cpu_ns - sleeping.cpu_ns >= steps * 18_000_000
        assert sleeping.cpu_ns < steps * 20_000_000 / 2  # the sleeps' wall time is not CPU
    report = build_report(session, {})
    for entry, event in zip(report["runs"], spun, strict=True):
        assert entry["cpu_s"] == event.cpu_ns / 1e9
        assert entry["cpu_ms_per_token"] == pytest.approx(event.cpu_ns / 1e6 / TOKENS)
    measured = [e["cpu_ms_per_token"] for e in report["runs"] if e["measured"]]
    assert report["aggregate"]["cpu_ms_per_token"]["mean"] == pytest.approx(statistics.mean(measured))
