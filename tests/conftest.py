"""Shared fixtures: a tiny random model built from a config (nothing downloaded) and the embedded model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tpstui.settings import RunSettings
from tpstui.state.session import Session
from tpstui.stream.events import Event, EventBus

TINY_CORPUS = (
    "the quick brown fox jumps over the lazy dog while the gpu grows hot and its clocks fall "
    "tokens arrive one by one from memory bound decoding on a small machine with two cores "
) * 20


def build_tiny_model(directory: Path, context: int = 256) -> Path:
    """Save a 2-layer random Llama and a byte-level BPE tokenizer (trained here) to ``directory``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator([TINY_CORPUS], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir: Path) -> Any:
    from tpstui.sources.generation.loader import load_model

    return load_model(RunSettings(model=str(tiny_model_dir), device="cpu"))


@pytest.fixture(scope="session")
def embedded_loaded() -> Any:
    """The embedded SmolLM2 (converted into the user cache on first use, ~40 s; then ~3 s)."""
    from tpstui.sources.generation.loader import load_model

    return load_model(RunSettings(device="cpu"))


class Collector:
    """A bus with a Session and a list of every event, for assertions."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.session = Session()
        self.events: list[Event] = []
        self.bus.subscribe(self.session.apply)
        self.bus.subscribe(self.events.append)


@pytest.fixture
def collector() -> Iterator[Collector]:
    yield Collector()
