"""The event stream: everything tpstui observes, as immutable records on one clock.

Producers (a token engine, the telemetry sampler, a replayed recording) publish these events on
an ``EventBus``; its subscribers are the session state (``tpstui.state.session``) and the
recorder. The UI never subscribes: it pulls a snapshot of the session at its frame rate. A
recording is this stream written down, so live and replayed sessions are indistinguishable
downstream.

Every ``t_ns`` is ``time.perf_counter_ns()`` of the recording process: one monotonic clock for
tokens and telemetry alike. ``SessionStarted`` maps it to wall time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "BackendFailed",
    "Event",
    "EventBus",
    "LoadProgress",
    "ModelLoaded",
    "RunFailed",
    "RunFinished",
    "RunStarted",
    "SessionEnded",
    "SessionStarted",
    "Stall",
    "TelemetrySample",
    "ThrottleChanged",
    "Tokens",
]

SCHEMA_VERSION = "1.1"
"""major.minor; readers refuse a newer major version and accept any minor.

1.1 (additive): ``RunFinished`` gained ``server_tokens``, ``server_prompt_tokens``, ``chunks`` and
``multi_token_chunks``, ``RunFailed`` gained ``kind``, ``TelemetrySample`` gained ``late_ns``,
``RunStarted`` gained ``request``, and ``Stall`` events (the monitor's own pauses) are new (all
with defaults, so 1.0 files read as before).
"""


class SessionStarted(msgspec.Struct, frozen=True, tag="session"):
    """First event of a session: who, where, with what settings."""

    t_ns: int
    wall_time: float
    """Unix time (seconds) at ``t_ns``."""
    schema: str = SCHEMA_VERSION
    tool_version: str = ""
    host: dict[str, Any] = {}
    """hostname, platform, python, torch/transformers versions, CPU model."""
    settings: dict[str, Any] = {}
    """The run settings as the user gave them (model, prompt, max_new_tokens, ...)."""


class LoadProgress(msgspec.Struct, frozen=True, tag="load"):
    """Model loading advanced: ``fraction`` in [0, 1] and what is happening."""

    t_ns: int
    fraction: float
    stage: str


class ModelLoaded(msgspec.Struct, frozen=True, tag="model"):
    """The model is ready; static facts needed for MBU and the header."""

    t_ns: int
    name: str
    source: str
    """"embedded", "hub", "local" or "gguf"."""
    parameters: int
    dtype: str
    device: str
    """Where the weights live: "cpu", "cuda:0", or a device_map summary like "cuda:0,cuda:1"."""
    load_seconds: float
    weight_bytes: int
    n_layers: int = 0
    n_kv_heads: int = 0
    head_dim: int = 0
    kv_bytes_per_elem: int = 0
    context_length: int = 0
    cached: bool = False
    """True when a converted GGUF was loaded from tpstui's cache."""
    versions: dict[str, str] = {}
    """torch, transformers, accelerate... as loaded."""


class RunStarted(msgspec.Struct, frozen=True, tag="run_start"):
    """``generate()`` is being called now (tokenisation already done: it is outside TTFT)."""

    t_ns: int
    run: int
    warmup: bool
    prompt_tokens: int
    batch_size: int
    max_new_tokens: int
    prompt_text: str = ""
    request: int = 0
    """Which request to the engine queued this run: 0 for the planned runs, 1, 2, ... for each
    "run again" (``r``). Runs of one request are one set of ``runs`` (1.0 recordings: all 0)."""


class Tokens(msgspec.Struct, frozen=True, tag="tok", array_like=True):
    """One streamer ``put()``: new token ids for every sequence, stamped on the generation thread.

    ``ids`` is row-major ``batch_size × k`` (k > 1 only for assisted decoding). ``n`` counts the
    real tokens of sequence 0 in this put (0 once it has finished); ``n_all`` counts real tokens
    of all sequences; ``text`` is sequence 0's newly decoded text (may be empty while a
    multi-byte character is incomplete).
    """

    t_ns: int
    run: int
    ids: list[int]
    n: int
    n_all: int
    text: str


class RunFinished(msgspec.Struct, frozen=True, tag="run_end"):
    """``generate()`` returned."""

    t_ns: int
    run: int
    reason: str
    """"length", "eos" or "stopped" (the user asked)."""
    tokens: int
    """Real tokens of sequence 0."""
    tokens_all: int
    server_tokens: int | None = None
    """Output tokens the server reported (an endpoint's ``usage.completion_tokens``; None: not reported)."""
    server_prompt_tokens: int | None = None
    """Prompt tokens the server reported (``usage.prompt_tokens``)."""
    chunks: int = 0
    """Stream chunks that carried output (an endpoint's SSE events with content; 0 for the transformers engine)."""
    multi_token_chunks: int = 0
    """Of those, the chunks that carried more than one token (a chunk is not a token)."""
    cpu_ns: int | None = None
    """CPU time the generating process used from the run's start to its end (``process_time``: all
    its threads, torch's intra-op pool included; where the app or bench shares that process, theirs
    too). None: not measured (an endpoint's request, a recording from before it was kept)."""


class RunFailed(msgspec.Struct, frozen=True, tag="run_fail"):
    """A run (or loading) raised; ``run`` is -1 for loading."""

    t_ns: int
    run: int
    error: str
    kind: str = ""
    """What went wrong, for counting errors by kind: "http_500", "timeout", "disconnect", "connect",
    "malformed", "server_error" (an endpoint's request); "" for a generation or load error."""


class TelemetrySample(msgspec.Struct, frozen=True, tag="sample", omit_defaults=True):
    """One reading of one device. Keys of ``values`` are listed in ``telemetry.fields``.

    Fields at their defaults are not written (``reasons`` empty, ``late_ns`` 0); recordings
    written before ``late_ns`` existed read with 0.
    """

    t_ns: int
    """The middle of the read."""
    device: str
    """"cpu", "gpu0", "gpu1", ..."""
    values: dict[str, float]
    reasons: list[str] = []
    """Active throttle / clock-event reasons, decoded to names."""
    late_ns: int = 0
    """How long the read took when it took too long (0: on time). The values of a late sample
    belong to some moment of that span: summaries leave them out and the app shows n/a."""

    @property
    def late(self) -> bool:
        return self.late_ns > 0


class ThrottleChanged(msgspec.Struct, frozen=True, tag="throttle"):
    """A throttle reason turned on or off on a device (first sample where the change was seen)."""

    t_ns: int
    device: str
    reason: str
    active: bool


class BackendFailed(msgspec.Struct, frozen=True, tag="backend_fail"):
    """A telemetry backend (or one of its devices) stopped answering; the run goes on."""

    t_ns: int
    device: str
    message: str


class Stall(msgspec.Struct, frozen=True, tag="stall"):
    """The measuring process paused itself: a garbage collection, or the UI holding its thread.

    ``t_ns`` is when the pause began and ``end_ns`` when it ended (published at the end, so it
    arrives after the tokens of its time). A token whose gap overlaps a stall may have been
    delayed by the monitor rather than by the model: the stats count such tokens (schema 1.1;
    older recordings have none).
    """

    t_ns: int
    end_ns: int
    kind: str
    """"gc" (a garbage collection of any thread) or "ui" (a frame or the app's event loop)."""
    detail: str = ""
    """What it was, e.g. "generation 2" or "frame 41 ms"."""


class SessionEnded(msgspec.Struct, frozen=True, tag="session_end"):
    """Last event of a cleanly closed session."""

    t_ns: int


Event = (
    SessionStarted
    | LoadProgress
    | ModelLoaded
    | RunStarted
    | Tokens
    | RunFinished
    | RunFailed
    | TelemetrySample
    | ThrottleChanged
    | BackendFailed
    | Stall
    | SessionEnded
)

Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out to subscribers. Thread-safe; subscribers must be cheap (O(1)).

    Subscribers run on the publishing thread, so they only append to state or enqueue;
    slow work (rendering, disk writes) happens on the subscriber's own thread.
    """

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)
