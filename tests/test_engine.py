"""The engine on a tiny random model: EOS and batch counting, stop, prompts of exactly N tokens."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Collector
from tpstui.settings import RunSettings
from tpstui.sources.generation.prompts import build_prompt
from tpstui.sources.generation.runner import GenerationRunner
from tpstui.stream.events import RunFinished, RunStarted, Tokens


class ForceTokenAt:
    """Logits processor: from decode step ``step`` on, sequence ``row`` must emit ``token``."""

    def __init__(self, token: int, step: int, row: int = 0) -> None:
        self.token, self.step, self.row, self.calls = token, step, row, 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.calls += 1
        if self.calls >= self.step:
            scores[self.row, :] = -float("inf")
            scores[self.row, self.token] = 0.0
        return scores


def run_engine(loaded: Any, settings: RunSettings, processors: list[Any] = ()) -> Collector:  # type: ignore[assignment]
    collector = Collector()
    prompt = build_prompt(loaded.tokenizer, settings, loaded.context_length)
    engine = GenerationRunner(loaded, prompt, settings, collector.bus, processors)
    engine.start()
    engine.request_runs(settings.runs, settings.warmup)
    assert engine.wait_idle(120)
    engine.close()
    assert not engine.alive
    return collector


def tiny_settings(tiny_model_dir: Any, **overrides: Any) -> RunSettings:
    base: dict[str, Any] = dict(
        model=str(tiny_model_dir), device="cpu", prompt_tokens=8, chat_template="off",
        max_new_tokens=12, runs=1, warmup=0,
    )  # fmt: skip
    return RunSettings(**(base | overrides))


def test_eos_ends_the_run_and_is_counted(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    eos = tiny_loaded.tokenizer.eos_token_id
    collector = run_engine(tiny_loaded, tiny_settings(tiny_model_dir), [ForceTokenAt(eos, step=5)])
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert finished[0].reason == "eos" and finished[0].tokens == 5
    assert collector.session.run(0).metrics().tokens == 5


def test_ignore_eos_makes_every_token(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    eos = tiny_loaded.tokenizer.eos_token_id
    settings = tiny_settings(tiny_model_dir, ignore_eos=True)
    collector = run_engine(tiny_loaded, settings, [ForceTokenAt(eos, step=5)])
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert finished[0].reason == "length" and finished[0].tokens == 12


def test_batch_counts_each_sequence_until_its_eos(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    eos = tiny_loaded.tokenizer.eos_token_id
    settings = tiny_settings(tiny_model_dir, batch_size=2)
    collector = run_engine(tiny_loaded, settings, [ForceTokenAt(eos, step=3, row=1)])
    started = next(e for e in collector.events if isinstance(e, RunStarted))
    assert started.batch_size == 2
    tokens = [e for e in collector.events if isinstance(e, Tokens)]
    assert all(len(e.ids) == 2 for e in tokens)
    finished = next(e for e in collector.events if isinstance(e, RunFinished))
    assert finished.tokens == 12  # sequence 0 ran to the limit
    assert finished.tokens_all == 12 + 3  # sequence 1 stopped at its EOS (counted) on step 3
    m = collector.session.run(0).metrics()
    assert m.tokens_all == 15
    assert m.system_tps is not None and m.total_tps is not None and m.system_tps > m.total_tps


def test_stop_ends_the_current_run_and_drops_queued_ones(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    settings = tiny_settings(tiny_model_dir, max_new_tokens=200, prompt_tokens=8, runs=5, ignore_eos=True)
    collector = Collector()
    prompt = build_prompt(tiny_loaded.tokenizer, settings, tiny_loaded.context_length)

    class StopAfter:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            self.calls += 1
            if self.calls == 10:
                engine.stop()
            return scores

    engine = GenerationRunner(tiny_loaded, prompt, settings, collector.bus, [StopAfter()])
    engine.start()
    engine.request_runs(5, 0)
    assert engine.wait_idle(60)
    engine.close()
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert len(finished) == 1
    assert finished[0].reason == "stopped" and finished[0].tokens < 200


def test_text_events_spell_the_generated_text(tiny_loaded: Any, tiny_model_dir: Any) -> None:
    collector = run_engine(tiny_loaded, tiny_settings(tiny_model_dir, ignore_eos=True))
    tokens = [e for e in collector.events if isinstance(e, Tokens)]
    ids = [i for e in tokens for i in e.ids]
    assert "".join(e.text for e in tokens) == tiny_loaded.tokenizer.decode(ids, skip_special_tokens=True)


@pytest.mark.slow
@pytest.mark.parametrize("template", ["on", "off"])
def test_synthetic_prompt_has_exactly_n_tokens(embedded_loaded: Any, template: str) -> None:
    for n in (40, 100, 1000):
        settings = RunSettings(prompt_tokens=n, chat_template=template)
        prompt = build_prompt(embedded_loaded.tokenizer, settings, embedded_loaded.context_length)
        assert len(prompt.ids) == n
        if template == "on":
            assert prompt.text.startswith("<|im_start|>") and prompt.text.endswith("<|im_start|>assistant\n")
