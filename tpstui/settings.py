"""Run settings shared by ``tpstui bench`` and ``tpstui run``: one frozen record, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tpstui.errors import UserError

__all__ = ["DEFAULT_PROMPT", "DTYPES", "RunSettings"]

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
        if self.prompt_tokens is not None and self.prompt_tokens < 1:
            raise UserError(f"--prompt-tokens must be at least 1 (got {self.prompt_tokens}).")
        if sum(x is not None for x in (self.prompt, self.prompt_file, self.prompt_tokens)) > 1:
            raise UserError("give only one of --prompt, --prompt-file and --prompt-tokens.")
        if self.runs < 1:
            raise UserError(f"--runs must be at least 1 (got {self.runs}).")
        if self.warmup < 0:
            raise UserError(f"--warmup cannot be negative (got {self.warmup}).")
        if self.max_new_tokens < 1:
            raise UserError(f"--max-new-tokens must be at least 1 (got {self.max_new_tokens}).")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1 (got {self.batch_size}).")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; use one of: {', '.join(DTYPES)}.")
        if self.chat_template not in ("auto", "on", "off"):
            raise UserError(f"--chat-template must be auto, on or off (got {self.chat_template!r}).")
        if self.attn_implementation is not None and self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise UserError(
                f"unknown attention implementation {self.attn_implementation!r}; "
                f"use one of: {', '.join(ATTN_IMPLEMENTATIONS)}."
            )
        if self.temperature <= 0 and self.do_sample:
            raise UserError("--temperature must be above 0 when sampling.")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (got {self.top_p}).")
        _check_device_spelling(self.device)

    @property
    def torch_dtype_name(self) -> str:
        return DTYPES[self.dtype]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_device_spelling(device: str) -> None:
    base, _, index = device.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.")
