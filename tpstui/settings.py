"""Run settings shared by ``tpstui bench`` and ``tpstui run``: one frozen record, validated once."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from tpstui.errors import UserError

__all__ = ["DEFAULT_PROMPT", "DTYPES", "RunSettings", "public_url"]

DEFAULT_PROMPT = (
    "Explain, step by step, how a graphics card runs a large language model, "
    "and why the speed of token generation depends on memory bandwidth."
)

DTYPES = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
"""Accepted ``--dtype`` spellings and the torch dtype name each means."""

ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")

MAX_COUNT = 2**31 - 1
"""The largest count (tokens, runs, batch) accepted: what a 32-bit tensor index holds."""
MAX_SEED = 2**32 - 1
"""Seeds are set in random, NumPy and torch before every run; NumPy takes 0 .. 2**32 - 1."""


@dataclass(frozen=True)
class RunSettings:
    """Everything that determines what is generated and how it is measured."""

    model: str | None = None
    """Hub id, local directory or .gguf path; None = the embedded SmolLM2-135M-Instruct."""
    trust_remote_code: bool = False
    prompt: str | None = None
    prompt_file: str | None = None
    prompt_tokens: int | None = None
    chat_template: str = "auto"
    """"auto" (use the tokenizer's template if it has one), "on" or "off"."""
    max_new_tokens: int = 128
    ignore_eos: bool = False
    runs: int = 3
    warmup: int = 1
    batch_size: int = 1
    dtype: str = "auto"
    device: str = "auto"
    attn_implementation: str | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 50
    seed: int = 0
    loop: bool = False
    """Repeat runs until stopped (the live app's soak mode)."""

    def __post_init__(self) -> None:
        """Every option is checked here, before anything loads: a bad value is one line and exit 2."""
        if self.model is not None and not self.model.strip():
            raise UserError("--model is empty; give a Hugging Face id, a model directory or a .gguf file.")
        for option, value, lowest in (
            ("--prompt-tokens", self.prompt_tokens, 1),
            ("--max-new-tokens", self.max_new_tokens, 1),
            ("--runs", self.runs, 1),
            ("--warmup", self.warmup, 0),
            ("--batch-size", self.batch_size, 1),
            ("--top-k", self.top_k, 0),
        ):
            _check_count(option, value, lowest)
        if sum(x is not None for x in (self.prompt, self.prompt_file, self.prompt_tokens)) > 1:
            raise UserError("give only one of --prompt, --prompt-file and --prompt-tokens.")
        if self.prompt_file is not None and not self.prompt_file.strip():
            raise UserError("--prompt-file is empty; give the path of a text file.")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; use one of: {', '.join(DTYPES)}.")
        if self.chat_template not in ("auto", "on", "off"):
            raise UserError(f"--chat-template must be auto, on or off (got {self.chat_template!r}).")
        if self.attn_implementation is not None and self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise UserError(
                f"unknown attention implementation {self.attn_implementation!r}; "
                f"use one of: {', '.join(ATTN_IMPLEMENTATIONS)}."
            )
        if not math.isfinite(self.temperature) or (self.temperature <= 0 and self.do_sample):
            raise UserError(f"--temperature must be a number above 0 (got {self.temperature:g}).")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (got {self.top_p:g}).")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must be between 0 and {MAX_SEED} (got {self.seed}).")
        _check_device_spelling(self.device)

    @property
    def torch_dtype_name(self) -> str:
        return DTYPES[self.dtype]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_count(option: str, value: int | None, lowest: int) -> None:
    if value is None:
        return
    if value < lowest:
        raise UserError(f"{option} must be at least {lowest} (got {value}).")
    if value > MAX_COUNT:
        raise UserError(f"{option} must be at most {MAX_COUNT} (got {value}).")


def _check_device_spelling(device: str) -> None:
    base, _, index = device.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.")


def public_url(url: str) -> str:
    """``url`` without its ``user:password@`` part: what recordings and the screen may show."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))
