"""Before a session: find the served model, load its tokenizer, and probe the server with one request.

Every way this can go wrong (nothing listening, 401/403, a wrong model name, a server that is not
OpenAI-compatible, one that does not stream SSE) is a one-line ``UserError`` before the session
starts. The probe also learns which optional request fields the server takes: vLLM's
``stream_options.continuous_usage_stats`` (usage in every chunk, so exact tokens per chunk) and
``ignore_eos``; a field a server rejects (``transformers serve`` answers 422 to both
``ignore_eos`` and unknown fields) is dropped, with a note.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tpstui.errors import UserError
from tpstui.sources.endpoint.requests import TokenCounter
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.endpoint.stream import RequestStream, StreamError

__all__ = ["ProbeResult", "ServerInfo", "discover", "headers", "load_tokenizer", "probe", "route"]

PROBE_TOKENS = 4
CHUNK_USAGE = {"include_usage": True, "continuous_usage_stats": True}


@dataclass(frozen=True)
class ServerInfo:
    model: str
    """The model name requests will carry."""
    models: list[str]
    software: str
    """The ``Server`` response header ("uvicorn", ...), "" when absent."""


@dataclass
class ProbeResult:
    extras: dict[str, Any]
    """Optional fields the server accepted, sent with every request."""
    usage_per_chunk: bool
    usage_reported: bool
    notes: list[str] = field(default_factory=list)


def route(settings: EndpointSettings) -> str:
    return f"{settings.url}/{'chat/completions' if settings.api == 'chat' else 'completions'}"


def headers(settings: EndpointSettings) -> dict[str, str]:
    key = os.environ.get(settings.api_key_env, "")
    return {"Authorization": f"Bearer {key}"} if key else {}


def _refused(settings: EndpointSettings, response: httpx.Response, what: str) -> UserError:
    status = response.status_code
    body = response.text.strip().replace("\n", " ")[:200]
    if status in (401, 403):
        has_key = bool(os.environ.get(settings.api_key_env))
        variable = settings.api_key_env
        hint = (f"the key in ${variable} was refused" if has_key
                else f"put the API key in ${variable} (or name another variable with --api-key-env)")  # fmt: skip
        return UserError(f"{settings.url} answered HTTP {status} to {what}: {hint}.")
    return UserError(f"{settings.url} answered HTTP {status} to {what}: {body or response.reason_phrase}")


def _unreachable(settings: EndpointSettings, error: httpx.HTTPError) -> UserError:
    if isinstance(error, httpx.TimeoutException):
        return UserError(f"{settings.url} did not answer within --timeout {settings.timeout_s:g} s.")
    reason = str(error).strip() or type(error).__name__
    return UserError(f"cannot reach {settings.url}: {reason} (is the server running?)")


def discover(settings: EndpointSettings) -> ServerInfo:
    """``GET {url}/models``: the served model (``--served-model`` must be one of them)."""
    try:
        response = httpx.get(f"{settings.url}/models", headers=headers(settings), timeout=settings.timeout_s)
    except httpx.HTTPError as error:
        raise _unreachable(settings, error) from None
    if response.status_code >= 400:
        if response.status_code in (401, 403):
            raise _refused(settings, response, "GET /models")
        raise UserError(f"{settings.url} is not an OpenAI-compatible server: GET {settings.url}/models answered "
                        f"HTTP {response.status_code}.")  # fmt: skip
    try:
        listing = msgspec.json.decode(response.content)
        models = [str(entry["id"]) for entry in listing["data"]]
    except (msgspec.DecodeError, KeyError, TypeError):
        raise UserError(f"{settings.url} is not an OpenAI-compatible server: GET {settings.url}/models did not "
                        "answer a model list.") from None  # fmt: skip
    if settings.served_model is not None:
        if models and settings.served_model not in models:
            raise UserError(f"{settings.url} does not serve model {settings.served_model!r}; it serves: "
                            f"{', '.join(models)}.")  # fmt: skip
        model = settings.served_model
    elif models:
        model = models[0]
    else:
        raise UserError(f"{settings.url} serves no model (GET /models is empty); give --served-model NAME.")
    return ServerInfo(model, models, response.headers.get("server", ""))


def load_tokenizer(settings: EndpointSettings, model: str) -> tuple[TokenCounter | None, str]:
    """The tokenizer for counting tokens: ``--tokenizer``, else the served model's id if it resolves
    here (a directory, or a hub id already in the local cache); None and a note otherwise."""
    import transformers
    from transformers import AutoTokenizer

    transformers.utils.logging.set_verbosity_error()
    trust = settings.trust_remote_code
    if settings.tokenizer is not None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(settings.tokenizer, trust_remote_code=trust)
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"--tokenizer {settings.tokenizer}: cannot load it ({first}).") from None
        return TokenCounter(tokenizer, settings.tokenizer), f"tokenizer: {settings.tokenizer}"
    try:
        local = Path(model).expanduser().is_dir()
        tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust, local_files_only=not local)
    except Exception:
        return None, (f"no tokenizer for {model!r} here: tokens are counted from the server's usage, else one per "
                      "chunk; give --tokenizer ID|DIR to count them")  # fmt: skip
    return TokenCounter(tokenizer, model), f"tokenizer: {model}"


def _probe_once(settings: EndpointSettings, body: bytes) -> tuple[httpx.Response, RequestStream | None]:
    stream = RequestStream(None)
    with httpx.Client(timeout=settings.timeout_s, headers=headers(settings)) as client:
        request = client.build_request("POST", route(settings), content=body,
                                       headers={"Content-Type": "application/json"})  # fmt: skip
        response = client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                return response, None
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                response.read()
                raise UserError(f"{route(settings)} is not an OpenAI-compatible streaming endpoint: it answered "
                                f"content-type {content_type or 'none'} to a streaming request.")  # fmt: skip
            for piece in response.iter_bytes():
                stream.feed(piece)
        finally:
            response.close()
    if not stream.complete:
        raise UserError(f"{route(settings)} ended its stream before a finish_reason or [DONE].")
    return response, stream


def probe(settings: EndpointSettings, model: str, prompt_body: dict[str, Any]) -> ProbeResult:
    """One short streaming request with every optional field; drop each field the server rejects."""
    extras: dict[str, Any] = {"stream_options": dict(CHUNK_USAGE)}
    if settings.ignore_eos:
        extras["ignore_eos"] = True
    notes: list[str] = []
    for _ in range(4):
        body = msgspec.json.encode(prompt_body | {"model": model, "max_tokens": PROBE_TOKENS, "stream": True} | extras)
        try:
            response, stream = _probe_once(settings, body)
        except httpx.HTTPError as error:
            raise _unreachable(settings, error) from None
        except StreamError as error:
            raise UserError(f"{route(settings)} streams something other than completion chunks: {error}") from None
        if stream is not None:
            return ProbeResult(extras, stream.usage_per_chunk, stream.server_tokens is not None, notes)
        text = response.text
        if response.status_code in (400, 422) and _drop_rejected(extras, text, notes):
            continue
        raise _refused(settings, response, f"a request for model {model!r}")
    raise UserError(f"{route(settings)} refused every form of a streaming request.")


def _drop_rejected(extras: dict[str, Any], error_text: str, notes: list[str]) -> bool:
    """Remove the optional field the server's error names; False when it names none of them."""
    if "ignore_eos" in extras and "ignore_eos" in error_text:
        del extras["ignore_eos"]
        notes.append("the server does not take ignore_eos: requests may stop at EOS before --max-new-tokens")
        return True
    options = extras.get("stream_options")
    if options is not None and "continuous_usage_stats" in options and "continuous_usage_stats" in error_text:
        extras["stream_options"] = {"include_usage": True}
        return True
    if options is not None and "stream_options" in error_text:
        del extras["stream_options"]
        return True
    return False
