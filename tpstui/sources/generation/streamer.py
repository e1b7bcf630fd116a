"""A timing streamer for ``generate()``: O(1) on the generation thread, text decoded elsewhere.

``put()`` runs on the generation thread once per decode step. It takes
``time.perf_counter_ns()``, queues the (already host-side) id tensor and returns; the first put
(the prompt ids) is not a token and is skipped. Everything else (``tolist()``, counting,
detokenising) happens on whichever thread consumes the queue, incrementally, so the cost of a
put does not grow with the length of the text (transformers' TextStreamer re-decodes the whole
line on every put).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["END", "IncrementalDetokenizer", "RawPut", "TimingStreamer"]

END: Any = object()
"""Queued by ``end()``: generation is over."""


@dataclass(frozen=True)
class RawPut:
    """What ``put()`` saw, converted off the generation thread."""

    t_ns: int
    ids: list[int]
    """Row-major batch × k token ids."""
    per_sequence: int
    """k: tokens per sequence in this put (more than one only for assisted decoding)."""


class IncrementalDetokenizer:
    """Turns a growing list of ids into text deltas, decoding only a short tail each time.

    The technique of vLLM / text-generation-inference: keep a prefix offset and a read offset,
    decode ``ids[prefix:]`` and ``ids[prefix:read]`` and emit the difference, holding text back
    while it ends in an incomplete UTF-8 sequence (U+FFFD).
    """

    def __init__(self, tokenizer: Any, context: list[int] | None = None, skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        # A few prompt ids as context: tokenizers read a token differently at the start of a text.
        self._ids: list[int] = list(context or [])
        self._prefix = 0
        self._read = len(self._ids)

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=self._skip))

    def add(self, ids: list[int]) -> str:
        """Append ids; return the newly complete text (possibly empty)."""
        self._ids.extend(ids)
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        full_text = self._decode(self._ids[self._prefix :])
        if len(full_text) > len(prefix_text) and not full_text.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return full_text[len(prefix_text) :]
        return ""


class TimingStreamer:
    """A ``generate()`` streamer that timestamps every put and defers all other work.

    It implements transformers' ``BaseStreamer`` interface (``put`` / ``end``) by duck typing,
    so importing this module does not import transformers. Given a ``sink`` queue, every put
    goes there as ``(t_ns, ids tensor)`` (the runner's pump thread reads it, with the runner's
    own messages in the same queue); otherwise consumers call ``get()`` / ``drain()`` or iterate
    text like ``TextIteratorStreamer``.
    """

    def __init__(
        self,
        batch_size: int = 1,
        tokenizer: Any = None,
        timeout: float | None = None,
        sink: queue.SimpleQueue[Any] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self._tokenizer = tokenizer
        self._timeout = timeout
        self._queue: queue.SimpleQueue[Any] = sink if sink is not None else queue.SimpleQueue()
        """Receives ``(t_ns, ids tensor)`` per put and ``END``; the runner shares one with its pump."""
        self._prompt_seen = False

    # -- generation thread: O(1) -------------------------------------------------------------
    def put(self, value: Any) -> None:
        t_ns = time.perf_counter_ns()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self._queue.put((t_ns, value))

    def end(self) -> None:
        self._queue.put(END)

    # -- consumer side ------------------------------------------------------------------------
    def get(self, timeout: float | None = None) -> RawPut | Any:
        """Next put as a ``RawPut``, or ``END``; raises ``queue.Empty`` after ``timeout``."""
        item = self._queue.get(timeout=timeout)
        if item is END:
            return END
        t_ns, value = item
        ids = [int(i) for i in value.reshape(-1).tolist()]
        return RawPut(t_ns=t_ns, ids=ids, per_sequence=max(len(ids) // self.batch_size, 1))

    def drain(self, timeout: float | None = None) -> Iterator[RawPut]:
        """Yield puts until ``end()``."""
        while True:
            item = self.get(timeout if timeout is not None else self._timeout)
            if item is END:
                return
            yield item

    def __iter__(self) -> Iterator[str]:
        """TextIteratorStreamer-compatible: yield text of sequence 0 as it is decoded."""
        if self._tokenizer is None:
            raise TypeError("iterating text needs TimingStreamer(tokenizer=...)")
        detokenizer = IncrementalDetokenizer(self._tokenizer)
        for raw in self.drain():
            text = detokenizer.add(raw.ids[: raw.per_sequence])
            if text:
                yield text
