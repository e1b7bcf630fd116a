"""What an endpoint session does: the server, the load it puts on it, and the requests it sends."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse

from tpstui.errors import UserError
from tpstui.settings import DEFAULT_PROMPT, public_url
from tpstui.state.serving import parse_goodput

__all__ = ["APIS", "EndpointSettings"]

APIS = ("chat", "completions")


@dataclass(frozen=True)
class EndpointSettings:
    """Validated once (``UserError`` for bad input); recorded in ``SessionStarted`` (never the API key)."""

    url: str
    """The server's base URL, e.g. ``http://127.0.0.1:8000/v1``."""
    api: str = "chat"
    served_model: str | None = None
    """The model name sent in requests (default: the first id of ``GET /v1/models``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (its value is never recorded)."""
    timeout_s: float = 60.0
    """The longest wait for the connection, the first byte, or the next byte of a stream."""
    concurrency: int | None = None
    """Requests in flight at most (closed loop); None: 1, or unlimited under ``request_rate``."""
    request_rate: float = math.inf
    """Requests sent per second (open loop, gamma gaps); inf: as fast as ``concurrency`` allows."""
    burstiness: float = 1.0
    """Shape of the gamma distribution of the gaps (1 = Poisson), as ``vllm bench serve``."""
    num_requests: int = 16
    duration_s: float | None = None
    """Send requests for this long instead of ``num_requests`` (those in flight then finish)."""
    warmup_requests: int = 1
    prompt: str | None = None
    prompt_file: str | None = None
    prompt_tokens: int | None = None
    """Synthetic prompts of exactly N tokens of the served model's tokenizer (chat template included)."""
    range_ratio: float = 0.0
    """Input and output lengths uniform in [L·(1−r), L·(1+r)] (vLLM ``--random-range-ratio``)."""
    max_tokens: int = 128
    ignore_eos: bool = False
    tokenizer: str | None = None
    """Tokenizer id or directory for counting tokens (default: the served model's id, if it resolves locally)."""
    trust_remote_code: bool = False
    goodput: tuple[str, ...] = ()
    slos: dict[str, float] = field(default_factory=dict)
    """``goodput`` parsed: SLO in ms per key (ttft, tpot, e2el)."""
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    loop: bool = False

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UserError(f"--endpoint must be an http:// or https:// URL such as http://127.0.0.1:8000/v1 "
                            f"(got {self.url!r}).")  # fmt: skip
        if self.api not in APIS:
            raise UserError(f"--api must be one of {', '.join(APIS)} (got {self.api!r}).")
        if self.concurrency is not None and self.concurrency < 1:
            raise UserError(f"--concurrency must be at least 1 (got {self.concurrency}).")
        if not self.request_rate > 0:
            raise UserError(f"--request-rate must be above 0 requests per second (got {self.request_rate:g}).")
        if not self.burstiness > 0:
            raise UserError(f"--burstiness must be above 0 (got {self.burstiness:g}).")
        if self.num_requests < 1:
            raise UserError(f"--num-requests must be at least 1 (got {self.num_requests}).")
        if self.duration_s is not None and not self.duration_s > 0:
            raise UserError(f"--duration must be above 0 seconds (got {self.duration_s:g}).")
        if self.warmup_requests < 0:
            raise UserError(f"--warmup-requests cannot be negative (got {self.warmup_requests}).")
        if not self.timeout_s > 0:
            raise UserError(f"--timeout must be above 0 seconds (got {self.timeout_s:g}).")
        if self.prompt_tokens is not None and self.prompt_tokens < 1:
            raise UserError(f"--prompt-tokens must be at least 1 (got {self.prompt_tokens}).")
        if sum(x is not None for x in (self.prompt, self.prompt_file, self.prompt_tokens)) > 1:
            raise UserError("give only one of --prompt, --prompt-file and --prompt-tokens.")
        if not 0 <= self.range_ratio < 1:
            raise UserError(f"--range-ratio must be in [0, 1) (got {self.range_ratio:g}).")
        if self.max_tokens < 1:
            raise UserError(f"--max-new-tokens must be at least 1 (got {self.max_tokens}).")
        if self.do_sample and self.temperature <= 0:
            raise UserError("--temperature must be above 0 when sampling.")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (got {self.top_p}).")
        if not self.api_key_env.strip():
            raise UserError("--api-key-env must name an environment variable.")
        object.__setattr__(self, "slos", parse_goodput(self.goodput))
        object.__setattr__(self, "url", self.url.rstrip("/"))

    @property
    def max_concurrency(self) -> int | None:
        """The semaphore: ``concurrency``, or 1 for a closed loop given neither, or None (unlimited)."""
        if self.concurrency is not None:
            return self.concurrency
        return None if math.isfinite(self.request_rate) else 1

    @property
    def user_text(self) -> str:
        """The prompt text when it is given (or the default); synthetic prompts are built from the tokenizer."""
        return self.prompt if self.prompt is not None else DEFAULT_PROMPT

    def as_dict(self) -> dict[str, Any]:
        """The recorded settings: these fields plus ``engine``, ``max_new_tokens``, ``batch_size`` and ``runs``
        under the names the reports read (no secret: only the key's variable name)."""
        data = asdict(self)
        data["request_rate"] = None if math.isinf(self.request_rate) else self.request_rate
        data["goodput"] = list(self.goodput)
        data["url"] = public_url(self.url)
        return data | {
            "engine": "endpoint",
            "max_new_tokens": self.max_tokens,
            "batch_size": 1,
            "runs": self.num_requests,
            "warmup": self.warmup_requests,
            "max_concurrency": self.max_concurrency,
            "model": self.served_model,
        }
