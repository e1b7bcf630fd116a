"""A scripted session with hand-computable numbers, for the recording, replay, export and compare tests.

Times are ms after ``T0``. One warm-up run, then two measured runs; a GPU sampled every 100 ms
with an energy counter rising 5 J per sample; a thermal throttle from 1,150 to 1,170 ms.

- warm-up run 0: start 100, tokens at 150, 160 (ignored by the aggregates)
- run 1: start 1,000, tokens at 1,100, 1,120, 1,150, 1,160, 1,200 (text "a", "b", "c", "d", "e"), end 1,210
  TTFT 100 ms, latency 200 ms, decode 100 ms over 4 gaps (20, 30, 10, 40 ms): decode TPS 40, total 25,
  TPOT 25 ms; throttled 20 ms of its decode window (1,150-1,170; the token at 1,160 decodes in it)
- run 2: start 2,000, tokens at 2,050, 2,060, 2,070, 2,080 (text "w", "x", "y", "z"), end 2,100
  TTFT 50 ms, decode 30 ms over 3 gaps of 10 ms: decode TPS 100, total 50, TPOT 10 ms; not throttled
- energy: samples at 0, 100, ..., 2,200 ms with energy_j = 1000 + 5 × index, interpolated at
  each run's start and end. Run 1 [1,000, 1,210]: 1,050 → 1,060.5 J, 10.5 J for 5 tokens (2.1 J
  per token). Run 2 [2,000, 2,100]: 1,100 → 1,105 J, 5 J for 4 tokens. Together 15.5 J / 9 tokens.
"""

from __future__ import annotations

from tpstui.stream.events import (
    Event,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)

T0 = 5_000_000_000_000
MS = 1_000_000


def at(ms: float) -> int:
    return T0 + int(ms * MS)


def _run(run: int, start_ms: int, token_ms: list[int], end_ms: int, text: str, warmup: bool = False) -> list[Event]:
    events: list[Event] = [RunStarted(at(start_ms), run, warmup, 7, 1, len(token_ms), prompt_text="hi")]
    for i, (ms, char) in enumerate(zip(token_ms, text, strict=True)):
        events.append(Tokens(at(ms), run, [100 + i], 1, 1, char))
    events.append(RunFinished(at(end_ms), run, "length", len(token_ms), len(token_ms)))
    return events


def scripted_events(model: str = "scripted-model", energy_step: float = 5.0, slow: float = 1.0) -> list[Event]:
    """The session above, in publish order (``slow`` stretches run 2's token gaps, for compare tests)."""
    settings = {"model": model, "max_new_tokens": 5, "runs": 2, "warmup": 1, "batch_size": 1, "telemetry": "fake"}
    head: list[Event] = [
        SessionStarted(T0, 1_700_000_000.0, tool_version="test", host={"hostname": "test"}, settings=settings)
    ]
    runs = [ModelLoaded(at(50), model, "local", 1000, "float32", "cpu", 0.05, 4000)] + (
        _run(0, 100, [150, 160], 170, "ok", warmup=True)
        + _run(1, 1000, [1100, 1120, 1150, 1160, 1200], 1210, "abcde")
        + _run(2, 2000, [2000 + round(x * slow) for x in (50, 60, 70, 80)], 2000 + round(100 * slow), "wxyz")
    )
    samples: list[Event] = []
    for index in range(23):
        values = {"temp_c": 60.0 + index, "energy_j": 1000 + energy_step * index}
        samples.append(TelemetrySample(at(index * 100), "gpu0", values, []))
    throttle: list[Event] = [
        ThrottleChanged(at(1150), "gpu0", "HwThermalSlowdown", True),
        ThrottleChanged(at(1170), "gpu0", "HwThermalSlowdown", False),
    ]
    merged = sorted(runs + samples + throttle, key=lambda e: e.t_ns)  # stable: runs first at equal times
    assert merged[0].t_ns == T0
    return head + merged + [SessionEnded(at(2300))]
