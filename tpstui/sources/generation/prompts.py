"""Build the prompt ids: given text, a file, or a synthetic prompt of exactly N tokens."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpstui.errors import UserError
from tpstui.settings import DEFAULT_PROMPT, RunSettings

__all__ = [
    "FILLER",
    "MAX_PROMPT_BYTES",
    "SENTINEL",
    "Prompt",
    "build_prompt",
    "filler_ids",
    "read_prompt_file",
    "templated_text",
    "user_text",
]

FILLER = (
    "The history of computing is a history of moving data. Every processor waits on memory, and "
    "every clever design hides that wait a little better: caches, prefetchers, wide buses and many "
    "small cores that take turns. A language model that writes one token at a time must read all "
    "of its weights for each token, so its speed is set less by arithmetic than by how fast bytes "
    "arrive from memory. When the chip grows hot its clocks fall, and the tokens slow with them. "
)
SENTINEL = "\u2063TPSTUI\u2063"


@dataclass(frozen=True)
class Prompt:
    """Token ids of one sequence (the batch repeats it) and its text for display."""

    ids: list[int]
    text: str


MAX_PROMPT_BYTES = 16 * 1024 * 1024
"""The largest --prompt-file read: more than any model's context (a million tokens is ~4 MB)."""


def read_prompt_file(name: str) -> str:
    """The text of ``--prompt-file``: at most ``MAX_PROMPT_BYTES`` read (``/dev/zero`` or a huge file
    is one line, not a machine out of memory), UTF-8, not empty; every problem a ``UserError``."""
    path = Path(name).expanduser()
    try:
        if path.is_dir():
            raise UserError(f"--prompt-file {name} is a directory; give a text file.")
        with path.open("rb") as handle:
            data = handle.read(MAX_PROMPT_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"--prompt-file {name}: no such file.") from None
    except OSError as error:
        raise UserError(f"--prompt-file {name}: cannot read it ({error.strerror or error}).") from None
    if len(data) > MAX_PROMPT_BYTES:
        raise UserError(f"--prompt-file {name} is larger than {MAX_PROMPT_BYTES // 2**20} MiB: too long for a prompt.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"--prompt-file {name}: cannot read it as text ({error}).") from None
    if not text.strip() or not text.strip("\0").strip():
        raise UserError(f"--prompt-file {name} is empty.")
    return text


def user_text(prompt: str | None, prompt_file: str | None) -> str:
    """The prompt text: ``--prompt-file``'s content, ``--prompt``, or the default prompt."""
    if prompt_file is not None:
        return read_prompt_file(prompt_file)
    if prompt is not None:
        if not prompt.strip():
            raise UserError("--prompt is empty.")
        return prompt
    return DEFAULT_PROMPT


def _user_text(settings: RunSettings) -> str:
    return user_text(settings.prompt, settings.prompt_file)


def _use_template(tokenizer: Any, settings: RunSettings) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if settings.chat_template == "on" and not has_template:
        raise UserError("--chat-template on: this tokenizer has no chat template; use --chat-template off.")
    return has_template and settings.chat_template != "off"


def _encode(tokenizer: Any, text: str, special: bool) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=special)["input_ids"]]


def templated_text(tokenizer: Any, content: str) -> str:
    messages = [{"role": "user", "content": content}]
    return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))


def filler_ids(tokenizer: Any, count: int) -> list[int]:
    ids = _encode(tokenizer, FILLER, special=False)
    if not ids:
        raise UserError("the tokenizer turns the filler text into no tokens; use --prompt instead.")
    repeats = count // len(ids) + 1
    return (ids * repeats)[:count]


def _synthetic(tokenizer: Any, n_tokens: int, template: bool) -> Prompt:
    """Exactly ``n_tokens`` ids: template prefix + filler + template suffix (or BOS + filler)."""
    if template:
        prefix_text, _, suffix_text = templated_text(tokenizer, SENTINEL).partition(SENTINEL)
        prefix = _encode(tokenizer, prefix_text, special=False)
        suffix = _encode(tokenizer, suffix_text, special=False)
    else:
        prefix = _encode(tokenizer, "", special=True)
        suffix = []
    room = n_tokens - len(prefix) - len(suffix)
    if room < 1:
        raise UserError(
            f"--prompt-tokens {n_tokens} is shorter than the chat template itself "
            f"({len(prefix) + len(suffix)} tokens); ask for more, or use --chat-template off."
        )
    ids = prefix + filler_ids(tokenizer, room) + suffix
    return Prompt(ids=ids, text=str(tokenizer.decode(ids, skip_special_tokens=False)))


def build_prompt(tokenizer: Any, settings: RunSettings, context_length: int) -> Prompt:
    """The prompt for every run; errors when prompt + new tokens exceed the model's context."""
    template = _use_template(tokenizer, settings)
    if settings.prompt_tokens is not None:
        prompt = _synthetic(tokenizer, settings.prompt_tokens, template)
    else:
        text = _user_text(settings)
        if template:
            text = templated_text(tokenizer, text)
            ids = _encode(tokenizer, text, special=False)
        else:
            ids = _encode(tokenizer, text, special=True)
        prompt = Prompt(ids=ids, text=text)
    needed = len(prompt.ids) + settings.max_new_tokens
    if context_length and needed > context_length:
        raise UserError(
            f"the prompt is {len(prompt.ids)} tokens and --max-new-tokens is {settings.max_new_tokens}: "
            f"{needed} tokens exceed the model's context of {context_length}; shorten the prompt or ask "
            "for fewer new tokens."
        )
    return prompt
