"""How numbers look in the live app (short, fixed width, "n/a" when undefined)."""

from __future__ import annotations

__all__ = ["NA", "POOR_TPS_FRACTION", "count", "duration", "params", "parse_offset", "rate", "seconds_ms", "value"]

NA = "n/a"
POOR_TPS_FRACTION = 0.85
"""A rate below this fraction of its typical value is drawn in the "poor" colour (chart and stats)."""


def rate(tps: float | None) -> str:
    """Tokens per second: 3 significant digits up to 1000, then integers with thin separators."""
    if tps is None or tps != tps:
        return NA
    if tps == float("inf"):
        return "∞"
    if tps >= 1000:
        return f"{tps:,.0f}"
    if tps >= 100:
        return f"{tps:.0f}"
    if tps >= 10:
        return f"{tps:.1f}"
    return f"{tps:.2f}"


def seconds_ms(value_s: float | None) -> str:
    """A latency: µs below 1 ms, ms below 10 s, else seconds."""
    if value_s is None or value_s != value_s:
        return NA
    if value_s < 1e-3:
        return f"{value_s * 1e6:.0f} µs"
    if value_s < 0.1:
        return f"{value_s * 1e3:.1f} ms"
    if value_s < 10:
        return f"{value_s * 1e3:.0f} ms"
    return f"{value_s:.1f} s"


def duration(value_s: float | None) -> str:
    """An elapsed time: 12.3 s, 4:05, 1:02:03."""
    if value_s is None or value_s != value_s:
        return NA
    if value_s < 60:
        return f"{value_s:.1f} s"
    whole = int(value_s)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def count(n: int | None) -> str:
    return NA if n is None else f"{n:,}"


def params(n: int) -> str:
    """Parameter count: 134.5M, 7.24B."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}K"
    return str(n)


def value(number: float | None, unit: str = "") -> str:
    """A telemetry reading with its unit; integers when large."""
    if number is None or number != number:
        return NA
    text = f"{number:,.0f}" if abs(number) >= 100 else f"{number:.1f}"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", "°C") else f"{text} {unit}"


def parse_offset(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``1:30`` or ``1:02:03`` (a ValueError otherwise)."""
    parts = text.strip().lower().removesuffix("s").split(":")
    values = [float(part) for part in parts]  # ValueError for anything else
    if len(values) > 3 or any(not 0 <= v < float("inf") for v in values):
        raise ValueError(f"not a time: {text!r}")
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds
