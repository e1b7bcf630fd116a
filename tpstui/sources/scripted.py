"""Real session sources with known timestamps, for tests, snapshots, benchmarks and demos.

- ``scripted_events()`` builds a complete session (start, load, runs with token timestamps,
  CPU and GPU telemetry, a throttle span) on a made-up clock.
- ``ScriptedSource`` plays such a list: all at once on a frozen clock (snapshots), or in real
  time on a thread (Pilot tests of quitting mid-run). It implements ``LiveControls``: ``rerun``
  appends the measured runs again, ``stop_run`` ends the current run as "stopped".
- ``SyntheticSource`` produces tokens at a fixed rate for the UI ingest benchmark.

They feed a real ``Session`` through a real ``EventBus``; nothing here imports textual.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from tpstui.sources.base import Unrecorded
from tpstui.state.session import Session
from tpstui.stream.events import (
    Event,
    EventBus,
    LoadProgress,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    Stall,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)

__all__ = ["T0_NS", "ScriptedSource", "SyntheticSource", "scripted_events"]

T0_NS = 1_000_000_000_000
"""Where scripted clocks start (any positive value works)."""
NS = 1_000_000_000
_TEXT = (
    "Tokens leave the model one by one, and each one is stamped the moment it reaches the host. "
    "A graphics card spends most of a decode step reading weights from memory, so the speed of "
    "generation follows memory bandwidth more than compute. When the card gets hot its clocks "
    "fall and the rate drops with them; the chart shows both on one time axis. "
)
WORDS = _TEXT.split(" ")
PROMPT = "Explain why token generation speed depends on memory bandwidth."


@dataclass(frozen=True)
class Script:
    """Shape of a scripted session (all times in seconds)."""

    runs: int = 3
    warmup: int = 1
    tokens: int = 48
    tps: float = 20.0
    ttft_s: float = 0.12
    pause_s: float = 0.4
    load_s: float = 1.0
    gpu: bool = True
    throttle_run: int | None = 2
    """Index (among all runs) of the run during which the GPU throttles for a while."""


def _gap(i: int, base: float) -> float:
    """Deterministic jitter around ``base`` (no RNG, so snapshots are stable)."""
    return base * (1.0 + 0.25 * math.sin(i * 1.7) + (0.6 if i % 17 == 11 else 0.0))


def scripted_events(script: Script = Script(), t0_ns: int = T0_NS) -> list[Event]:
    """A whole session as events, sorted by time."""
    events: list[Event] = [
        SessionStarted(
            t0_ns,
            1_700_000_000.0,
            tool_version="test",
            host={"hostname": "scripted"},
            settings={"model": None, "dtype": "auto", "device": "auto", "runs": script.runs, "loop": False},
        )
    ]
    t = t0_ns
    for step in range(5):
        events.append(LoadProgress(t + int(script.load_s * NS * step / 5), step / 5, f"loading step {step + 1}/5"))
    t += int(script.load_s * NS)
    events.append(LoadProgress(t, 1.0, "ready"))
    events.append(
        ModelLoaded(t, "SmolLM2-135M-Instruct (scripted)", "embedded", 134_515_008, "float32", "cpu", 1.0, 538_060_032)
    )
    throttle: tuple[int, int] | None = None
    token_index = 0
    for run in range(script.warmup + script.runs):
        t += int(script.pause_s * NS)
        start = t
        events.append(RunStarted(start, run, run < script.warmup, 24, 1, script.tokens, PROMPT))
        t = start + int(script.ttft_s * NS)
        slow = run == script.throttle_run
        for i in range(script.tokens):
            if i:
                factor = 1.6 if slow and script.tokens // 3 <= i < 2 * script.tokens // 3 else 1.0
                t += int(_gap(token_index, 1 / script.tps) * factor * NS)
            word = WORDS[token_index % len(WORDS)]
            events.append(Tokens(t, run, [1000 + token_index % 500], 1, 1, word + " "))
            token_index += 1
            if slow and i == script.tokens // 3:
                throttle = (t, 0)
            if slow and i == 2 * script.tokens // 3 and throttle is not None:
                throttle = (throttle[0], t)
        events.append(RunFinished(t + 1000, run, "length", script.tokens, script.tokens))
    end = t + int(0.3 * NS)
    events += _telemetry(t0_ns, end, script.gpu, throttle)
    events.sort(key=lambda e: e.t_ns)
    return events


def _telemetry(t0_ns: int, end_ns: int, gpu: bool, throttle: tuple[int, int] | None) -> list[Event]:
    events: list[Event] = []
    step = NS // 10
    for k, t in enumerate(range(t0_ns + step // 2, end_ns, step)):
        phase = k / 10
        cpu = {
            "util_pct": 40 + 30 * abs(math.sin(phase)),
            "cpu_clock_mhz": 2800 + 200 * math.sin(phase / 3),
            "cpu_clock_max_mhz": 3500.0,
            "mem_used_mb": 5012.0,
            "mem_total_mb": 15990.0,
            "rss_mb": 812.0 + k,
            "core0_util_pct": 90.0,
            "core1_util_pct": 35.0 + 10 * math.sin(phase),
        }
        events.append(TelemetrySample(t, "cpu", cpu))
        if not gpu:
            continue
        hot = throttle is not None and throttle[0] <= t < throttle[1]
        values = {
            "temp_c": 60 + min(phase, 20.0),
            "temp_slowdown_c": 83.0,
            "sm_clock_mhz": 1410.0 if hot else 1755.0,
            "sm_clock_max_mhz": 1980.0,
            "mem_clock_mhz": 1593.0,
            "mem_clock_max_mhz": 1593.0,
            "power_w": 300.0 if hot else 240 + 20 * math.sin(phase),
            "power_limit_w": 300.0,
            "util_pct": 97.0,
            "bw_util_pct": 71.0,
            "mem_used_mb": 8120.0,
            "mem_total_mb": 24576.0,
        }
        events.append(TelemetrySample(t, "gpu0", values, ["SwPowerCap"] if hot else []))
    if throttle is not None and gpu:
        first = min((e.t_ns for e in events if e.t_ns >= throttle[0]), default=throttle[0])
        last = min((e.t_ns for e in events if e.t_ns >= throttle[1]), default=throttle[1])
        events.append(ThrottleChanged(first, "gpu0", "SwPowerCap", True))
        events.append(ThrottleChanged(last, "gpu0", "SwPowerCap", False))
    return events


class ScriptedSource(Unrecorded):
    """Plays scripted events into a real session; ``realtime=False`` freezes the clock at ``at_ns``."""

    kind = "live"

    def __init__(
        self, events: list[Event], *, realtime: bool = False, speed: float = 1.0, at_ns: int | None = None
    ) -> None:
        self.events = sorted(events, key=lambda e: e.t_ns)
        self.realtime = realtime
        self.speed = speed
        self.bus = EventBus()
        self._session = Session()
        self.bus.subscribe(self._session.apply)
        self.t0_ns = self.events[0].t_ns if self.events else 0
        self.at_ns = at_ns if at_ns is not None else (self.events[-1].t_ns if self.events else 0)
        self._cursor = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wall0 = 0
        self.started = False
        self.closed = False
        self.reruns = 0
        self.stops = 0
        self._script_last_run = max((e.run for e in self.events if isinstance(e, RunStarted)), default=-1)

    @property
    def session(self) -> Session:
        return self._session

    def now_ns(self) -> int:
        if not self.realtime:
            return self.at_ns
        return self.t0_ns + int((time.perf_counter_ns() - self._wall0) * self.speed)

    def start(self) -> None:
        self.started = True
        if not self.realtime:
            self._publish_until(self.at_ns)
            return
        self._wall0 = time.perf_counter_ns()
        self._thread = threading.Thread(target=self._play, name="tpstui-scripted", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        self.closed = True

    def advance(self, t_ns: int) -> None:
        """Move the frozen clock to ``t_ns`` and publish what became due (``realtime=False`` only)."""
        self.at_ns = max(self.at_ns, t_ns)
        self._publish_until(self.at_ns)

    def note_pause(self, start_ns: int, end_ns: int, detail: str) -> None:
        """Record the app's stalls as a live session does (``Stall`` events on the bus), on the
        scripted clock; a frozen clock (``realtime=False``) has no time for them."""
        if self.realtime:
            on_script = [self.t0_ns + int((t - self._wall0) * self.speed) for t in (start_ns, end_ns)]
            self.bus.publish(Stall(on_script[0], on_script[1], "ui", detail))

    @property
    def thread_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def busy(self) -> bool:
        with self._lock:
            return any(isinstance(e, RunStarted | Tokens) for e in self.events[self._cursor :])

    @property
    def ready(self) -> bool:
        return True

    def _publish_until(self, t_ns: int) -> None:
        with self._lock:
            while self._cursor < len(self.events) and self.events[self._cursor].t_ns <= t_ns:
                self.bus.publish(self.events[self._cursor])
                self._cursor += 1

    def _play(self) -> None:
        while not self._stop.is_set():
            self._publish_until(self.now_ns())
            with self._lock:
                if self._cursor >= len(self.events):
                    return
                wait = (self.events[self._cursor].t_ns - self.now_ns()) / self.speed / NS
            self._stop.wait(min(max(wait, 0.0), 0.05))

    # -- LiveControls ---------------------------------------------------------------------------------
    def rerun(self) -> None:
        """Append the measured runs of the script again, starting now."""
        self.reruns += 1
        with self._lock:
            runs = [e for e in self.events if isinstance(e, RunStarted) and not e.warmup]
            if not runs:
                return
            first = runs[0].t_ns
            last_run = max(e.run for e in self.events if isinstance(e, RunStarted))
            offset = max(self.now_ns(), self.events[-1].t_ns if self.events else 0) + NS // 10 - first
            shift = last_run + 1 - runs[0].run
            extra = [
                _shifted(e, offset, shift, self.reruns)
                for e in self.events
                if (run := _run_of(e)) is not None and e.t_ns >= first and run <= self._script_last_run
            ]
            self.events = sorted(self.events + [e for e in extra if e is not None], key=lambda e: e.t_ns)
        if not self.realtime:
            self.at_ns = self.events[-1].t_ns
            self._publish_until(self.at_ns)

    def stop_run(self) -> None:
        """End the current run now ("stopped") and drop every later run event."""
        self.stops += 1
        with self._lock:
            now = self.now_ns()
            current = max(
                (e for e in self.events[: self._cursor] if isinstance(e, RunStarted)),
                default=None,
                key=lambda e: e.t_ns,
            )
            self.events = self.events[: self._cursor] + [e for e in self.events[self._cursor :] if _run_of(e) is None]
            if current is not None and not any(
                isinstance(e, RunFinished) and e.run == current.run for e in self.events[: self._cursor]
            ):
                n = self._session.run_tail(current.run, 1 << 62, 1 << 62).n
                self.bus.publish(RunFinished(now, current.run, "stopped", n, n))


def _run_of(event: Event) -> int | None:
    return event.run if isinstance(event, RunStarted | Tokens | RunFinished) else None


def _shifted(event: Event, offset: int, shift: int, request: int) -> Event | None:
    if isinstance(event, RunStarted):
        return RunStarted(
            event.t_ns + offset,
            event.run + shift,
            False,
            event.prompt_tokens,
            event.batch_size,
            event.max_new_tokens,
            event.prompt_text,
            request,
        )
    if isinstance(event, Tokens):
        return Tokens(event.t_ns + offset, event.run + shift, event.ids, event.n, event.n_all, event.text)
    if isinstance(event, RunFinished):
        return RunFinished(event.t_ns + offset, event.run + shift, event.reason, event.tokens, event.tokens_all)
    return None


class SyntheticSource(Unrecorded):
    """``rate`` tokens per second for ``seconds``, one ``Tokens`` event per token, in real time.

    The producer thread publishes every token with its exact scheduled timestamp (in batches of
    whatever is due, about every millisecond), so a slow consumer cannot lose any; ``published``
    counts them.
    """

    kind = "live"

    def __init__(self, rate: float, seconds: float, runs: int = 1) -> None:
        self.rate = rate
        self.seconds = seconds
        self.runs = runs
        self.bus = EventBus()
        self._session = Session()
        self.bus.subscribe(self._session.apply)
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    @property
    def session(self) -> Session:
        return self._session

    @property
    def busy(self) -> bool:
        return not self.done.is_set()

    @property
    def ready(self) -> bool:
        return True

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def start(self) -> None:
        now = time.perf_counter_ns()
        self.bus.publish(SessionStarted(now, time.time(), settings={"runs": self.runs, "model": "synthetic"}))
        self.bus.publish(ModelLoaded(now, f"synthetic {self.rate:g} tok/s", "synthetic", 0, "none", "cpu", 0.0, 0))
        self._thread = threading.Thread(target=self._produce, name="tpstui-synthetic", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def rerun(self) -> None:
        """Not supported: a synthetic source runs its schedule once."""

    def stop_run(self) -> None:
        self._stop.set()

    def _produce(self) -> None:
        period = NS / self.rate
        total = int(self.rate * self.seconds)
        for run in range(self.runs):
            start = time.perf_counter_ns()
            self.bus.publish(RunStarted(start, run, False, 16, 1, total))
            first = start + 1_000_000
            sent = 0
            while sent < total and not self._stop.is_set():
                due = min(math.floor((time.perf_counter_ns() - first) / period) + 1, total)
                for i in range(sent, due):
                    self.bus.publish(Tokens(first + int(i * period), run, [7], 1, 1, "x"))
                self.published += max(due - sent, 0)
                sent = max(sent, due)
                self._stop.wait(0.001)
            self.bus.publish(RunFinished(time.perf_counter_ns(), run, "length", sent, sent))
            if self._stop.is_set():
                break
        self.bus.publish(SessionEnded(time.perf_counter_ns()))
        self.done.set()
