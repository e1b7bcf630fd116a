"""One response stream decoded: SSE events → content chunks → tokens per arrival.

Server-sent events (the WHATWG format the OpenAI streaming API uses): lines end with LF, CRLF or
CR; ``data:`` lines of one event are joined with LF; a blank line ends the event; lines starting
with ``:`` are comments (pings). The framing is done here, on the bytes of each arrival, because
the arrival's timestamp belongs to every event completed in it (a library that yields decoded
lines or events one by one would hide which arrived together); each event's JSON is decoded by
msgspec.

Tokens per chunk (a chunk is not a token, vllm-project/vllm#27485): from ``usage`` when the
server sends it with content chunks (vLLM's ``continuous_usage_stats``: the difference of
``completion_tokens``), else the tokenizer's count of the chunk's text, else one per chunk with
content. The last ``usage`` seen is the server's count for the request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["FINISH_REASONS", "RequestStream", "SseFramer", "StreamError"]

FINISH_REASONS = {"stop": "eos", "length": "length"}
"""OpenAI ``finish_reason`` → ``RunFinished.reason`` (others are kept as the server said them)."""


class StreamError(Exception):
    """The stream cannot be read as an OpenAI completion stream; ``kind`` is ``RunFailed.kind``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    text: str | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


class SseFramer:
    """Feeds bytes, returns the ``data`` of every event completed by them."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []

    @property
    def partial(self) -> bool:
        """Bytes of an unfinished event are waiting (a stream cut mid-event)."""
        return bool(self._pending.strip() or self._data)

    def feed(self, piece: bytes) -> list[bytes]:
        text = self._pending + piece
        if text.endswith(b"\r"):  # a CR may be the first half of a CRLF still on its way
            text, self._pending = text[:-1], b"\r"
        else:
            self._pending = b""
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        self._pending = lines.pop() + self._pending
        events: list[bytes] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            # comments (":"), "event:", "id:", "retry:" and unknown fields carry nothing we count
        return events


class RequestStream:
    """The state of one request's stream; ``feed`` each arrival, read the totals at the end."""

    def __init__(self, count_tokens: Callable[[str], int] | None) -> None:
        self.framer = SseFramer()
        self.count_tokens = count_tokens
        self.tokens = 0
        self.chunks = 0
        self.multi_token_chunks = 0
        self.finish_reason: str | None = None
        self.done = False
        """``data: [DONE]`` arrived."""
        self.server_tokens: int | None = None
        self.server_prompt_tokens: int | None = None
        self._usage_tokens = 0
        self.usage_per_chunk = False
        """The server sent ``usage`` with content chunks (exact tokens per chunk)."""

    @property
    def complete(self) -> bool:
        """The server said the request is over (a ``finish_reason`` or ``[DONE]``)."""
        return self.done or self.finish_reason is not None

    def feed(self, piece: bytes) -> tuple[int, str]:
        """Tokens and text of one arrival; ``StreamError`` for a stream that is not one."""
        tokens, texts = 0, []
        for data in self.framer.feed(piece):
            if data.strip() == b"[DONE]":
                self.done = True
                continue
            try:
                chunk = _decode_chunk(data)
            except msgspec.DecodeError as error:
                raise StreamError("malformed", f"a stream event is not a completion chunk ({error}): "
                                  f"{data[:80].decode('utf-8', 'replace')!r}") from None  # fmt: skip
            if chunk.error is not None:
                raise StreamError("server_error", f"the server sent an error in the stream: {chunk.error}")
            n, text = self._chunk(chunk)
            if n or text:
                self.chunks += 1
                self.multi_token_chunks += n > 1
                tokens += n
                texts.append(text)
        self.tokens += tokens
        return tokens, "".join(texts)

    def _chunk(self, chunk: _Chunk) -> tuple[int, str]:
        text = ""
        for choice in chunk.choices or ():
            if choice.delta is not None:
                text += (choice.delta.reasoning_content or "") + (choice.delta.content or "")
            if choice.text:
                text += choice.text
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        usage = chunk.usage
        if usage is not None:
            if usage.completion_tokens is not None:
                self.server_tokens = usage.completion_tokens
            if usage.prompt_tokens is not None:
                self.server_prompt_tokens = usage.prompt_tokens
        if usage is not None and usage.completion_tokens is not None and (text or self.usage_per_chunk):
            self.usage_per_chunk = True
            n = max(usage.completion_tokens - self._usage_tokens, 0)
            self._usage_tokens = usage.completion_tokens
            return n, text
        if not text:
            return 0, ""
        n = self.count_tokens(text) if self.count_tokens is not None else 1
        self._usage_tokens += n
        return max(n, 1), text
