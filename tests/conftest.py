"""Shared fixtures: a tiny random model built from a config (nothing downloaded) and the embedded model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tpstui.settings import RunSettings
from tpstui.state.session import Session
from tpstui.stream.events import Event, EventBus

# tpstui lowers its own priority once generation runs in its child process; the tests run tpstui
# in-process, and must not leave pytest (and every server it starts later) at nice 19. The tests
# of that lowering set it back (tests/test_isolated_engine.py).
os.environ["TPSTUI_MONITOR_NICE"] = "0"

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


LLAMA_TENSORS = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
}  # fmt: skip
"""transformers' Llama module names → the GGUF tensor names (llama.cpp's)."""


def build_tiny_gguf(path: Path, model_dir: Path) -> Path:
    """The tiny model of ``build_tiny_model`` as a GGUF file (float32 tensors, its BPE tokenizer as
    gpt2-style metadata): converts in a fraction of a second, so the conversion cache is cheap to test."""
    import json

    import numpy as np
    from gguf import GGUFWriter
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())["model"]
    tokens = [token for token, _ in sorted(tokenizer["vocab"].items(), key=lambda item: item[1])]
    writer = GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in ("<s>", "</s>") else 1 for token in tokens])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tokenizer["merges"]])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.add_pad_token_id(1)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}  # fmt: skip
    for name, tensor in load_file(str(model_dir / "model.safetensors")).items():
        if name not in names:
            parts = name.split(".")  # model.layers.N.<module>.weight
            names[name] = f"blk.{parts[2]}.{LLAMA_TENSORS['.'.join(parts[3:-1])]}.weight"
        writer.add_tensor(names[name], tensor.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_gguf(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny-llama.gguf", tiny_model_dir)


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
