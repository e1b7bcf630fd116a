"""The telemetry vocabulary: every key a backend may put in ``TelemetrySample.values``.

Backends use these names so that the session, the UI, the recorder and the exporters can treat
NVML, AMD SMI and the CPU alike. A key a device cannot provide is simply absent (shown "n/a").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELDS", "REASONS", "Field", "field", "per_core_key", "reason_description"]


@dataclass(frozen=True)
class Field:
    """How to show one telemetry value: label, unit and the key of its maximum / limit."""

    key: str
    label: str
    unit: str
    limit_key: str | None = None
    """A key whose value bounds this one (clock → max clock, power → power limit)."""
    history: bool = False
    """Worth a small history chart in the live view."""
    counter: bool = False
    """Monotonic counter (summaries report its increase, not min/max)."""
    short: str = ""
    """A label of at most 10 characters for narrow places (the telemetry panel, the bench table)."""

    @property
    def brief(self) -> str:
        """``short``, else ``label``."""
        return self.short or self.label


FIELDS: dict[str, Field] = {
    f.key: f
    for f in (
        # temperatures
        Field("temp_c", "core temp", "°C", "temp_slowdown_c", history=True, short="temp"),
        Field("temp_hotspot_c", "hotspot temp", "°C", "temp_hotspot_max_c", short="hotspot"),
        Field("temp_mem_c", "memory temp", "°C", "temp_mem_max_c", history=True, short="mem temp"),
        Field("temp_slowdown_c", "slowdown at", "°C"),
        Field("temp_shutdown_c", "shutdown at", "°C"),
        Field("temp_mem_max_c", "memory max", "°C"),
        Field("temp_hotspot_max_c", "hotspot max", "°C"),
        # clocks
        Field("sm_clock_mhz", "SM clock", "MHz", "sm_clock_max_mhz", history=True, short="SM clock"),
        Field("sm_clock_max_mhz", "SM clock max", "MHz"),
        Field("mem_clock_mhz", "memory clock", "MHz", "mem_clock_max_mhz", history=True, short="mem clk"),
        Field("mem_clock_max_mhz", "memory clock max", "MHz"),
        Field("cpu_clock_mhz", "CPU clock (mean)", "MHz", "cpu_clock_max_mhz", history=True, short="clock"),
        Field("cpu_clock_max_mhz", "CPU clock max", "MHz"),
        # power and energy
        Field("power_w", "power", "W", "power_limit_w", history=True, short="power"),
        Field("power_limit_w", "power limit", "W"),
        Field("energy_j", "energy", "J", counter=True, short="energy"),
        # activity and memory
        Field("util_pct", "utilisation", "%", history=True, short="util"),
        Field("mem_busy_pct", "memory controller busy", "%", short="mem busy"),
        Field("bw_util_pct", "DRAM bandwidth", "% of peak", history=True, short="DRAM bw"),
        Field("bw_gbs", "DRAM bandwidth", "GB/s", "bw_peak_gbs", short="DRAM GB/s"),
        Field("bw_peak_gbs", "peak bandwidth", "GB/s"),
        Field("mem_used_mb", "memory used", "MiB", "mem_total_mb", short="mem used"),
        Field("mem_total_mb", "memory total", "MiB"),
        Field("rss_mb", "process RSS (mapped model files included)", "MiB", "mem_total_mb", short="proc RSS"),
        # a serving engine's own metrics (its /metrics: vLLM, SGLang, TGI)
        Field("requests_running", "requests running", "", history=True, short="running"),
        Field("requests_waiting", "requests waiting", "", history=True, short="waiting"),
        Field("kv_cache_pct", "KV cache used", "%", history=True, short="KV cache"),
        Field("prefix_hit_pct", "prefix cache hits", "%", short="prefix hit"),
        Field("server_gen_tps", "generation (server)", "tok/s", history=True, short="gen tok/s"),
        Field("server_prompt_tps", "prompt (server)", "tok/s", short="prompt t/s"),
        Field("server_ttft_s", "TTFT (server)", "s", short="srv TTFT"),
        Field("server_itl_s", "ITL (server)", "s", short="srv ITL"),
        Field("server_e2el_s", "latency (server)", "s", short="srv e2el"),
        Field("server_queue_s", "queue time (server)", "s", short="srv queue"),
        # violation counters (time spent limited since driver load)
        Field("violation_power_s", "power-capped time", "s", counter=True, short="pwr capped"),
        Field("violation_thermal_s", "thermal-limited time", "s", counter=True, short="thermal"),
    )
}


def per_core_key(core: int, what: str) -> str:
    """Key of one CPU core's value: ``what`` is "util_pct" or "clock_mhz"."""
    return f"core{core}_{what}"


def field(key: str) -> Field:
    """The Field for a key; per-core and unknown keys get a generic description."""
    known = FIELDS.get(key)
    if known is not None:
        return known
    if key.startswith("core") and key.endswith("_util_pct"):
        return Field(key, f"{key.split('_')[0]} util", "%")
    if key.startswith("core") and key.endswith("_clock_mhz"):
        return Field(key, f"{key.split('_')[0]} clock", "MHz", "cpu_clock_max_mhz")
    return Field(key, key, "")


REASONS: dict[str, str] = {
    # NVML clock-event reasons (nvmlClocksEventReason*)
    "GpuIdle": "idle: nothing runs, so the clocks are low",
    "ApplicationsClocksSetting": "clocks held by the applications-clocks setting",
    "SwPowerCap": "software power cap: the board is at its power limit",
    "HwSlowdown": "hardware slowdown (too hot, power brake or power supply): clocks cut hard",
    "SyncBoost": "held to the clocks of its sync-boost group",
    "SwThermalSlowdown": "software thermal slowdown: GPU or memory above its maximum operating temperature",
    "HwThermalSlowdown": "hardware thermal slowdown: the GPU is too hot",
    "HwPowerBrakeSlowdown": "hardware power brake: an external power brake was asserted",
    "DisplayClockSetting": "clocks held by the display clock setting",
    "BoardLimit": "a board-level limit",
    "Reliability": "a reliability limit (voltage / current protection)",
    # AMD SMI violation status (MI300 and newer)
    "PPT_POWER": "package power tracking: at the power limit",
    "SOCKET_THERMAL": "socket thermal limit",
    "PROCHOT_THERMAL": "PROCHOT asserted: hardware thermal protection",
    "VR_THERMAL": "voltage regulator too hot",
    "HBM_THERMAL": "HBM memory too hot",
}
"""What each throttle reason means (AMD indep_throttle_status bits: see reason_description)."""


def reason_description(name: str) -> str:
    """A one-line explanation of a throttle reason name, for tooltips and reports."""
    if name in REASONS:
        return REASONS[name]
    prefixes = {
        "PPT": "package power tracking limit",
        "SPL": "sustained power limit",
        "FPPT": "fast power limit",
        "SPPT": "slow power limit",
        "TDC_": "current limit",
        "EDC_": "electrical current limit",
        "TEMP_": "temperature limit",
        "VRHOT": "voltage regulator too hot",
        "PROCHOT": "PROCHOT asserted",
        "APCC": "power/current limit (APCC)",
        "PPM": "platform power management limit",
        "FIT": "reliability (FIT) limit",
    }
    for prefix, meaning in prefixes.items():
        if name.startswith(prefix):
            return f"{meaning} ({name})"
    return name
