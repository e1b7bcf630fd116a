"""A scripted GPU throttling session with known timestamps: the scenario of the timeline's tests and snapshots.

``throttle_scenario_events()`` is a made-up but self-consistent session: an H100-like GPU warms
up, hits its power cap briefly (12-14 s: SwPowerCap, SM clock 1,800 MHz), then its thermal limit
(from 20 s: HwThermalSlowdown + SwThermalSlowdown, SM clock 1,410 MHz, memory at 93/95 °C); the
tokens come at 20 tok/s × (SM clock / 1,980 MHz), so the TPS follows the clock exactly. A
warm-up and three measured runs of 160 tokens; a CPU is sampled too. Nothing here is measured:
it feeds ``ScriptedSource`` (tests, snapshots) like ``sources.scripted``.
"""

from __future__ import annotations

import math

from tpstui.sources.scripted import PROMPT, T0_NS, WORDS
from tpstui.stream.events import (
    Event,
    LoadProgress,
    ModelLoaded,
    RunFinished,
    RunStarted,
    SessionEnded,
    SessionStarted,
    TelemetrySample,
    ThrottleChanged,
    Tokens,
)

__all__ = ["BASE_TPS", "MAX_CLOCK", "clock_at", "reasons_at", "throttle_scenario_events"]

NS = 1_000_000_000
MAX_CLOCK = 1980.0
BASE_TPS = 20.0
POWER_CAP = (12.0, 14.0)
THERMAL_FROM = 20.0


def clock_at(seconds: float) -> float:
    """The scripted SM clock (MHz) at ``seconds`` after the session start."""
    if seconds >= THERMAL_FROM:
        return 1410.0
    if POWER_CAP[0] <= seconds < POWER_CAP[1]:
        return 1800.0
    return MAX_CLOCK


def reasons_at(seconds: float) -> list[str]:
    if seconds >= THERMAL_FROM:
        return ["HwThermalSlowdown", "SwThermalSlowdown"]
    if POWER_CAP[0] <= seconds < POWER_CAP[1]:
        return ["SwPowerCap"]
    return []


def _gpu(seconds: float, k: int) -> dict[str, float]:
    warm = min(seconds / THERMAL_FROM, 1.0)
    capped = POWER_CAP[0] <= seconds < POWER_CAP[1]
    return {
        "temp_c": 62 + 26 * warm,
        "temp_slowdown_c": 89.0,
        "temp_shutdown_c": 92.0,
        "temp_hotspot_c": 72 + 25 * warm,
        "temp_mem_c": 78 + 15 * warm,
        "temp_mem_max_c": 95.0,
        "sm_clock_mhz": clock_at(seconds),
        "sm_clock_max_mhz": MAX_CLOCK,
        "mem_clock_mhz": 2619.0,
        "mem_clock_max_mhz": 2619.0,
        "power_w": 700.0 if capped else 450 + 200 * warm + 15 * math.sin(k / 3),
        "power_limit_w": 700.0,
        "energy_j": 1_000_000 + 60.0 * k,
        "util_pct": 97.0,
        "mem_busy_pct": 55.0,
        "bw_util_pct": 64 + 4 * math.sin(k / 5),
        "bw_gbs": (64 + 4 * math.sin(k / 5)) / 100 * 3352,
        "bw_peak_gbs": 3352.0,
        "mem_used_mb": 2100.0,
        "mem_total_mb": 81559.0,
        "violation_power_s": 12.0 + max(min(seconds, POWER_CAP[1]) - POWER_CAP[0], 0.0),
        "violation_thermal_s": 3.0 + max(seconds - THERMAL_FROM, 0.0),
    }


def _cpu(k: int) -> dict[str, float]:
    return {
        "util_pct": 55 + 20 * abs(math.sin(k / 10)),
        "cpu_clock_mhz": 2900 + 100 * math.sin(k / 30),
        "cpu_clock_max_mhz": 3500.0,
        "mem_used_mb": 5012.0,
        "mem_total_mb": 15990.0,
        "rss_mb": 812.0,
        "core0_util_pct": 90.0,
        "core1_util_pct": 40.0,
    }


def throttle_scenario_events(t0_ns: int = T0_NS, tokens: int = 160) -> list[Event]:
    """The whole session as events, in time order."""
    events: list[Event] = [
        SessionStarted(
            t0_ns,
            1_700_000_000.0,
            tool_version="test",
            host={"hostname": "scripted"},
            settings={"model": None, "dtype": "auto", "device": "cuda:0", "runs": 3, "loop": False},
        ),
        LoadProgress(t0_ns, 0.02, "importing torch and transformers"),
        LoadProgress(t0_ns + NS, 1.0, "ready"),
        ModelLoaded(t0_ns + NS, "scripted model (GPU throttling scenario)", "hub", 134_515_008, "bfloat16",
                    "cuda:0", 1.0, 269_030_016),
    ]  # fmt: skip
    t = t0_ns + NS
    index = 0
    for run in range(4):
        t += int(0.4 * NS)
        events.append(RunStarted(t, run, run == 0, 24, 1, tokens if run else 48, PROMPT))
        t += int(0.12 * NS)
        for i in range(tokens if run else 48):
            if i:
                seconds = (t - t0_ns) / NS
                rate = BASE_TPS * clock_at(seconds) / MAX_CLOCK
                t += int(NS / rate * (1.0 + 0.15 * math.sin(index * 1.7)))
            events.append(Tokens(t, run, [1000 + index % 500], 1, 1, WORDS[index % len(WORDS)] + " "))
            index += 1
        events.append(RunFinished(t + 1000, run, "length", tokens if run else 48, tokens if run else 48))
    end = t + int(0.3 * NS)
    previous: list[str] = []
    for k, sample_t in enumerate(range(t0_ns + NS // 20, end, NS // 10)):
        seconds = (sample_t - t0_ns) / NS
        events.append(TelemetrySample(sample_t, "cpu", _cpu(k)))
        reasons = reasons_at(seconds)
        events.append(TelemetrySample(sample_t, "gpu0", _gpu(seconds, k), reasons))
        for reason in sorted(set(previous) ^ set(reasons)):
            events.append(ThrottleChanged(sample_t, "gpu0", reason, reason in reasons))
        previous = reasons
    events.sort(key=lambda e: e.t_ns)
    return [*events, SessionEnded(end)]
