"""The requests an endpoint session sends: prompts (given, or synthetic of exactly N tokens) and bodies.

Synthetic prompts (``--prompt-tokens N``) are built with the served model's tokenizer so that the
server sees N prompt tokens: for the chat API the chat template's tokens are part of the N (the
server applies the template), for the completions API the tokenizer's special tokens are. Each
request starts at another place of the filler text, so a server's prefix cache cannot serve one
request's prompt from another's. ``--range-ratio r`` draws each request's input and output length
uniformly from [L·(1−r), L·(1+r)] (seeded), as ``vllm bench serve --random-range-ratio``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import msgspec

from tpstui.errors import UserError
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.generation.prompts import FILLER, SENTINEL, filler_ids, templated_text, user_text

__all__ = ["MAX_DISTINCT", "RequestSpec", "TokenCounter", "build_requests", "encode_bodies", "prompt_counter"]

MAX_DISTINCT = 256
"""At most this many different request bodies; later requests reuse them in turn."""
FIT_TRIES = 8


@dataclass(frozen=True)
class RequestSpec:
    """One request's prompt and length limit, before the body is encoded."""

    prompt_text: str
    prompt_tokens: int
    """Prompt tokens as the tokenizer counts them (0 without a tokenizer; the server's usage says)."""
    max_tokens: int


class TokenCounter:
    """The served model's tokenizer, as the endpoint engine uses it."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.name = name

    def count(self, text: str) -> int:
        """Tokens of a piece of output text (no special tokens)."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))

    def encode(self, text: str, special: bool) -> list[int]:
        return [int(i) for i in self.tokenizer(text, add_special_tokens=special)["input_ids"]]

    @property
    def has_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def prompt_counter(counter: TokenCounter, api: str) -> Any:
    """How the server counts a prompt: the chat template applied (chat), or with special tokens (completions)."""
    if api == "chat" and counter.has_template:
        return lambda text: len(counter.encode(templated_text(counter.tokenizer, text), special=False))
    return lambda text: len(counter.encode(text, special=api != "chat"))


def _lengths(rng: random.Random, length: int, ratio: float) -> int:
    if ratio <= 0:
        return length
    return max(1, rng.randint(math.floor(length * (1 - ratio)), math.ceil(length * (1 + ratio))))


def _synthetic(counter: TokenCounter, api: str, n_tokens: int, offset: int) -> str:
    """Text that the server counts as exactly ``n_tokens`` prompt tokens (or as close as the tokenizer allows)."""
    count = prompt_counter(counter, api)
    if api == "chat" and counter.has_template:
        prefix, _, suffix = templated_text(counter.tokenizer, SENTINEL).partition(SENTINEL)
        overhead = len(counter.encode(prefix, special=False)) + len(counter.encode(suffix, special=False))
    else:
        overhead = count("")
    room = n_tokens - overhead
    if room < 1:
        raise UserError(f"--prompt-tokens {n_tokens} is shorter than what the server adds to every prompt "
                        f"({overhead} tokens: chat template or special tokens); ask for more.")  # fmt: skip
    text = ""
    for _ in range(FIT_TRIES):
        ids = filler_ids(counter.tokenizer, room + offset)[offset:]
        text = counter.decode(ids)
        got = count(text)
        if got == n_tokens:
            break
        room = max(room + n_tokens - got, 1)
    return text


def build_requests(settings: EndpointSettings, counter: TokenCounter | None, needed: int) -> list[RequestSpec]:
    """The distinct requests of the session (``needed`` of them at most, up to ``MAX_DISTINCT``)."""
    rng = random.Random(settings.seed)
    varied = settings.prompt_tokens is not None or settings.range_ratio > 0
    distinct = min(max(needed, 1), MAX_DISTINCT) if varied else 1
    if settings.prompt_tokens is not None and counter is None:
        raise UserError("--prompt-tokens needs the served model's tokenizer: give --tokenizer ID|DIR.")
    fixed = user_text(settings.prompt, settings.prompt_file) if settings.prompt_tokens is None else ""
    specs = []
    filler_length = len(counter.encode(FILLER, special=False)) if counter is not None else 1
    for _ in range(distinct):
        max_tokens = _lengths(rng, settings.max_tokens, settings.range_ratio)
        if settings.prompt_tokens is not None:
            assert counter is not None
            n = _lengths(rng, settings.prompt_tokens, settings.range_ratio)
            text = _synthetic(counter, settings.api, n, rng.randrange(filler_length))
        else:
            text = fixed
        tokens = prompt_counter(counter, settings.api)(text) if counter is not None else 0
        specs.append(RequestSpec(text, tokens, max_tokens))
    return specs


def encode_bodies(
    specs: list[RequestSpec], settings: EndpointSettings, model: str, extras: dict[str, Any]
) -> list[bytes]:
    """The JSON body of each request: the prompt, ``max_tokens``, streaming with usage, sampling, ``extras``."""
    bodies = []
    for spec in specs:
        body: dict[str, Any] = {"model": model}
        if settings.api == "chat":
            body["messages"] = [{"role": "user", "content": spec.prompt_text}]
        else:
            body["prompt"] = spec.prompt_text
        body.update(max_tokens=spec.max_tokens, stream=True)
        if settings.do_sample:
            body.update(temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed)
        else:
            body["temperature"] = 0.0
        bodies.append(msgspec.json.encode(body | extras))
    return bodies
