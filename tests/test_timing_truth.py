"""Timing truth: the engine measures a known per-step delay, and its times add up to the wall time.

A tiny random model (built from a config, nothing downloaded) decodes with a logits processor that
sleeps a known delay per step. The measured median inter-token latency must equal that delay plus
the model's own step time (measured in the same way without the delay) within 2 %, and
TTFT + sum(ITL) must equal the run's wall time (``generate()`` call to return) within 1 ms.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tpstui.events import RunFinished, RunStarted
from tpstui.generation.engine import Engine
from tpstui.generation.prompts import build_prompt
from tpstui.settings import RunSettings

DELAY_S = 0.050
TOKENS = 41


class SleepPerStep:
    """A logits processor that waits ``seconds`` on every decode step."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        deadline = time.perf_counter() + self.seconds
        while (left := deadline - time.perf_counter()) > 0.002:
            time.sleep(left - 0.001)
        while time.perf_counter() < deadline:  # spin the last millisecond: sleep() overshoots
            pass
        return scores


def _measure(tiny_loaded: Any, tiny_model_dir: Any, collector: Any, processors: list[Any]) -> list[Any]:
    settings = RunSettings(
        model=str(tiny_model_dir),
        device="cpu",
        prompt_tokens=16,
        chat_template="off",
        max_new_tokens=TOKENS,
        ignore_eos=True,
        runs=3,
        warmup=1,
    )
    prompt = build_prompt(tiny_loaded.tokenizer, settings, tiny_loaded.context_length)
    assert len(prompt.ids) == 16
    engine = Engine(tiny_loaded, prompt, settings, collector.bus, processors)
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
    from tests.conftest import Collector

    # the model's own step time: same code path, zero delay
    base_runs = _measure(tiny_loaded, tiny_model_dir, Collector(), [SleepPerStep(0.0)])
    base = statistics.median(run.metrics().itl_s.median for run in base_runs)
    runs = _measure(tiny_loaded, tiny_model_dir, Collector(), [SleepPerStep(DELAY_S)])
    assert len(runs) == 3
    for run in runs:
        assert run.metrics().tokens == TOKENS
    measured = statistics.median(run.metrics().itl_s.median for run in runs)
    assert measured == pytest.approx(DELAY_S + base, rel=0.02)


def test_ttft_plus_itl_sum_is_the_wall_time(tiny_loaded: Any, tiny_model_dir: Any, collector: Any) -> None:
    runs = _measure(tiny_loaded, tiny_model_dir, collector, [SleepPerStep(0.005)])
    starts = {e.run: e.t_ns for e in collector.events if isinstance(e, RunStarted)}
    ends = {e.run: e.t_ns for e in collector.events if isinstance(e, RunFinished)}
    for run in runs:
        m = run.metrics()
        wall = (ends[run.run] - starts[run.run]) / 1e9
        assert m.ttft_s + m.itl_s.mean * m.itl_s.n == pytest.approx(wall, abs=0.001)
        assert run.finished is not None and run.finished.reason == "length"
