"""The timing streamer: the prompt put is not a token, multi-token puts count each, text is right."""

from __future__ import annotations

from pathlib import Path

import torch

from tpstui.sources.generation.streamer import END, IncrementalDetokenizer, RawPut, TimingStreamer


def test_first_put_is_the_prompt_and_is_skipped() -> None:
    streamer = TimingStreamer()
    streamer.put(torch.tensor([[5, 6, 7, 8]]))  # the prompt
    streamer.put(torch.tensor([9]))
    streamer.put(torch.tensor([10]))
    streamer.end()
    puts = list(streamer.drain(timeout=1))
    assert [p.ids for p in puts] == [[9], [10]]
    assert all(p.per_sequence == 1 for p in puts)
    assert puts[0].t_ns <= puts[1].t_ns


def test_multi_token_and_batched_puts() -> None:
    streamer = TimingStreamer(batch_size=2)
    streamer.put(torch.tensor([[1, 2], [3, 4]]))  # prompt for two sequences
    streamer.put(torch.tensor([11, 21]))  # one step: a token per sequence
    streamer.put(torch.tensor([[12, 13, 14], [22, 23, 24]]))  # assisted: three tokens per sequence
    streamer.end()
    first, second = streamer.drain(timeout=1)
    assert first == RawPut(first.t_ns, [11, 21], 1)
    assert second.ids == [12, 13, 14, 22, 23, 24] and second.per_sequence == 3


def test_put_defers_conversion() -> None:
    """put() keeps the tensor as is: conversion happens on the consumer's thread."""
    sink: object = None

    class Spy:
        def __init__(self) -> None:
            self.items: list[object] = []

        def put(self, item: object) -> None:
            self.items.append(item)

    spy = Spy()
    streamer = TimingStreamer(sink=spy)  # type: ignore[arg-type]
    value = torch.tensor([3])
    streamer.put(torch.tensor([[1]]))
    streamer.put(value)
    streamer.end()
    assert len(spy.items) == 2
    t_ns, tensor = spy.items[0]  # type: ignore[misc]
    assert tensor is value and isinstance(t_ns, int)
    assert spy.items[1] is END
    del sink


def test_incremental_text_equals_full_decode(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "the gpu grows hot: 85°C — clocks fall 🔥 and tokens slow, naïve café"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok = IncrementalDetokenizer(tokenizer)
    pieces = [detok.add([token]) for token in ids]
    assert "".join(pieces) == tokenizer.decode(ids)
    assert all("\ufffd" not in piece for piece in pieces)  # partial UTF-8 is held back, not emitted
    assert any(piece == "" for piece in pieces)  # the emoji spans several byte tokens


def test_text_iterator_interface(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tokenizer("the quick brown fox", add_special_tokens=False)["input_ids"]
    streamer = TimingStreamer(tokenizer=tokenizer, timeout=1)
    streamer.put(torch.tensor([[0]]))
    for token in ids:
        streamer.put(torch.tensor([token]))
    streamer.end()
    assert "".join(streamer) == "the quick brown fox"
