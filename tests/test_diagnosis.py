"""The throttling diagnosis (tpstui.state.diagnosis) against values computed by hand.

The scripted session (times in seconds after T0, the session start):

- one measured run starts at 1.0; its first token arrives at 2.025;
- unthrottled: a token every 50 ms (20 tok/s) up to 61.975 (tokens k = 1..1199 after the first);
- HwThermalSlowdown from 61.975 to the end (the session ends at 125.0): a token every 62.5 ms
  (16 tok/s) for 960 tokens, the last at 121.975; SwPowerCap on top of it from 100.0 to 110.0;
- the GPU, sampled every 100 ms at x.05: SM clock 1,980 MHz, core 70 °C, memory 80 °C before
  62.0, then 1,584 MHz (0.8 × 1,980: the TPS follows the clock), 86 °C (slowdown at 89) and
  93 °C (memory max 95).

Hand-computed: decode window 2.025 → 121.975 = 119.95 s, 2,159 tokens; throttled (61.975,
121.975] = 60 s with 960 tokens (16 tok/s); not throttled 59.95 s with 1,199 tokens (20 tok/s);
loss = 1 − (2,159 / 119.95) / 20. Cold (first 30 s of decoding: arrivals up to 32.025) = 600
tokens / 30 s = 20; hot (last 30 s: arrivals after 91.975) = 480 / 30 = 16. Power family:
(100, 110] holds 160 tokens in 10 s = 16 tok/s. Per second: 60 seconds at (1,980 MHz, 20 tok/s),
60 at (1,584 MHz, 16 tok/s): r = 1, slope 4 / 396 × 100 tok/s per 100 MHz; against the core
temperature r = −1, slope −4 / 16 tok/s per °C.
"""

from __future__ import annotations

import numpy as np
import pytest

from tpstui.state.diagnosis import (
    DecodeRun,
    correlation,
    diagnose_session,
    hot_cold,
    per_second_tps,
    words_duration,
)
from tpstui.state.session import Session
from tpstui.state.throttle import reason_family
from tpstui.stream.events import (
    Event,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)

T0 = 7_000_000_000_000
NS = 1_000_000_000


def at(seconds: float) -> int:
    return T0 + round(seconds * NS)


def arrivals() -> np.ndarray:
    fast = [2.025 + 0.05 * k for k in range(1200)]  # 2.025 ... 61.975
    slow = [61.975 + 0.0625 * j for j in range(1, 961)]  # ... 121.975
    return np.array([at(t) for t in fast + slow], dtype=np.int64)


def session_events(throttle: bool = True, simulated: bool = False) -> list[Event]:
    settings = {"runs": 1, "warmup": 0} | ({"simulated": "test"} if simulated else {})
    events: list[Event] = [
        SessionStarted(T0, 1_700_000_000.0, settings=settings),
        RunStarted(at(1.0), 0, False, 8, 1, 4096),
    ]
    times = arrivals()
    if not throttle:  # the same tokens at 20 tok/s throughout
        times = np.array([at(2.025 + 0.05 * k) for k in range(2160)], dtype=np.int64)
    events += [Tokens(int(t), 0, [1], 1, 1, "x") for t in times]
    events.append(RunFinished(int(times[-1]) + 1000, 0, "length", times.size, times.size))
    for k in range(1250):
        t = 0.05 + 0.1 * k
        hot = throttle and t >= 62.0
        values = {
            "sm_clock_mhz": 1584.0 if hot else 1980.0,
            "sm_clock_max_mhz": 1980.0,
            "temp_c": 86.0 if hot else 70.0,
            "temp_slowdown_c": 89.0,
            "temp_mem_c": 93.0 if hot else 80.0,
            "temp_mem_max_c": 95.0,
        }
        events.append(TelemetrySample(at(t), "gpu0", values, ["HwThermalSlowdown"] if hot else []))
    if throttle:
        events += [
            ThrottleChanged(at(61.975), "gpu0", "HwThermalSlowdown", True),
            ThrottleChanged(at(100.0), "gpu0", "SwPowerCap", True),
            ThrottleChanged(at(110.0), "gpu0", "SwPowerCap", False),
        ]
    events.sort(key=lambda e: e.t_ns)
    return [*events, SessionEnded(at(125.0))]


def test_a_clock_ramp_with_a_known_tps_response() -> None:
    d = diagnose_session(Session.from_events(session_events()))
    assert d.decode_s == pytest.approx(119.95) and d.tokens == 2159
    assert d.tps == pytest.approx(2159 / 119.95)
    assert d.first_throttle_s == pytest.approx(61.975) and d.first_throttle_reason == "HwThermalSlowdown"
    assert d.throttled_s == pytest.approx(60.0)
    assert d.tps_throttled == pytest.approx(16.0) and d.tps_unthrottled == pytest.approx(20.0)
    assert d.loss == pytest.approx(1 - (2159 / 119.95) / 20) and d.loss_tps == pytest.approx(20 - 2159 / 119.95)
    assert (d.window_s, d.cold_tps, d.hot_tps) == pytest.approx((30.0, 20.0, 16.0))
    assert d.hot_vs_cold == pytest.approx(-0.2)
    assert d.by_family["thermal"] == pytest.approx({"seconds": 60.0, "tps": 16.0})
    assert d.by_family["power"] == pytest.approx({"seconds": 10.0, "tps": 16.0})
    assert d.by_family["none"] == pytest.approx({"seconds": 59.95, "tps": 20.0})
    assert "other" not in d.by_family
    assert d.seconds_by_reason["gpu0"] == pytest.approx({"HwThermalSlowdown": 125.0 - 61.975, "SwPowerCap": 10.0})
    clock, temp = d.correlations["gpu0"]["clock"], d.correlations["gpu0"]["temp"]
    assert clock.n == 120 and clock.r == pytest.approx(1.0) and clock.slope == pytest.approx(400 / 396)
    assert temp.r == pytest.approx(-1.0) and temp.slope == pytest.approx(-0.25) and temp.per == "°C"
    assert d.verdict == (
        "decode TPS fell 20 % after 1 min 2 s while HwThermalSlowdown held the SM clock at 1,584/1,980 MHz; "
        "memory at 93/95 °C."
    )
    assert d.as_dict()["correlations"]["gpu0"]["clock"]["slope"] == pytest.approx(400 / 396)


def test_no_throttling_and_a_simulated_session_say_so() -> None:
    d = diagnose_session(Session.from_events(session_events(throttle=False, simulated=True)))
    assert d.throttled_s == 0 and d.loss is None and d.first_throttle_s is None
    assert d.tps == pytest.approx(20.0) and d.by_family == {"none": pytest.approx({"seconds": 107.95, "tps": 20.0})}
    assert (
        d.verdict
        == "SIMULATED: no throttling while decoding (1 min 48 s of decoding); decode TPS steady from cold to hot."
    )
    assert d.simulated


def test_throttling_that_did_not_slow_decoding_is_not_blamed() -> None:
    events = [e for e in session_events(throttle=False) if not isinstance(e, SessionEnded)]
    events += [
        ThrottleChanged(at(50.0), "gpu0", "SwThermalSlowdown", True),
        ThrottleChanged(at(70.0), "gpu0", "SwThermalSlowdown", False),
    ]
    events.sort(key=lambda e: e.t_ns)
    d = diagnose_session(Session.from_events(events))
    assert d.throttled_s == pytest.approx(20.0) and d.tps_throttled == pytest.approx(20.0)
    assert d.verdict == (
        "decode TPS did not fall (+0.0 %) while SwThermalSlowdown was on (throttled 20.0 s of 1 min 48 s of "
        "decoding); memory at 80/95 °C."
    )


def test_hot_cold_lays_decode_time_end_to_end_and_halves_a_short_session() -> None:
    # two runs of 10 s each at 10 and 5 tok/s: W = 10 s (half of 20 s of decoding)
    a = DecodeRun(np.array([at(1 + 0.1 * k) for k in range(101)]), np.ones(101, dtype=np.int64))
    b = DecodeRun(np.array([at(100 + 0.2 * k) for k in range(51)]), np.ones(51, dtype=np.int64))
    assert hot_cold([a, b]) == pytest.approx((10.0, 10.0, 5.0))


def test_per_second_tps_and_correlation_edge_cases() -> None:
    run = DecodeRun(np.array([at(0.5), at(0.75), at(1.25), at(3.0)]), np.ones(4, dtype=np.int64))
    seconds, tps = per_second_tps([run], T0)
    # second 0: 0.25 s of decoding (left out); 1: one token after 0.5 s; 3: one token after a 1.75 s gap
    assert seconds.tolist() == [1, 3] and tps == pytest.approx([2.0, 1 / 1.75])
    assert correlation([1, 2], [3, 4], 1.0, "°C").r is None  # too few points
    assert correlation([1, 1, 1], [3, 4, 5], 1.0, "°C").slope is None  # a constant
    assert words_duration(59.94) == "59.9 s" and words_duration(3725) == "1 h 02 min"


@pytest.mark.parametrize(
    ("reason", "family"),
    [
        ("SwPowerCap", "power"),
        ("HwPowerBrakeSlowdown", "power"),
        ("PPT_POWER", "power"),
        ("PPT0", "power"),
        ("HwThermalSlowdown", "thermal"),
        ("SOCKET_THERMAL", "thermal"),
        ("TEMP_HOTSPOT", "thermal"),
        ("HwSlowdown", "other"),
        ("SyncBoost", "other"),
        ("GpuIdle", None),
    ],
)
def test_reason_families(reason: str, family: str | None) -> None:
    assert reason_family(reason) == family


def test_replay_summary_of_the_sample_recording_prints_the_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped simulated recording tells its story in ``replay --summary``, labelled SIMULATED."""
    from pathlib import Path

    from tpstui.cli import main

    recording = Path(__file__).parent.parent / "recordings" / "simulated-gpu-thermal-throttle.jsonl.zst"
    assert main(["replay", str(recording), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis (README: Diagnosis):" in out
    verdict = next(line.strip() for line in out.splitlines() if line.strip().startswith("verdict:"))
    assert verdict.startswith("verdict: SIMULATED: decode TPS fell") and "SM clock at" in verdict
    assert "cold → hot" in out and "vs clock" in out
