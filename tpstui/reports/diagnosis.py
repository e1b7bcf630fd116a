"""The throttling diagnosis as text lines: for the bench table (``replay --summary``), the app's
diagnosis screen and the HTML report. Works from ``Diagnosis.as_dict()`` (the JSON form), so a
report read back from JSON prints the same lines."""

from __future__ import annotations

from typing import Any

from tpstui.state.diagnosis import words_duration

__all__ = ["DIAGNOSIS_DEFINITIONS", "WEAK_R", "diagnosis_lines"]

WEAK_R = 0.3
"""Below this |r| the lines call a correlation weak and leave its slope out (the JSON keeps it)."""

DIAGNOSIS_DEFINITIONS = {
    "decoding": "the decode windows (first to last token) of every run that is not a warm-up and did not fail; "
    "tokens attributed by arrival time, each run's first token left out",
    "first_throttle_s": "session start → start of the first span of a real throttle reason",
    "cold_tps / hot_tps": "decode TPS over the first / last window_s seconds of decoding (decode time laid end "
    "to end); window_s = 30, or half the decode time when there is less than a minute of it",
    "by_family": "decode TPS and seconds while each reason family (power, thermal, other) was active on any "
    "device, and while no real reason was ('none'); families may overlap",
    "loss": "1 − tps / tps_unthrottled: the share of decode speed the throttled time cost (loss_tps in tok/s)",
    "correlations": "per second of the session clock: decode TPS (tokens arriving in the second over the gaps "
    "they closed; seconds with under 0.5 s of decoding left out) against each device's mean SM / CPU clock "
    "and core temperature in that second: Pearson r and least-squares slope (tok/s per 100 MHz, per °C)",
    "seconds_by_reason": "seconds each reason was on, per device, over the whole session",
}


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def diagnosis_lines(d: dict[str, Any]) -> list[str]:
    """The verdict, then one line per figure (labels padded to one column)."""
    rows: list[tuple[str, str]] = []
    rows.append(("decoding", f"{words_duration(d['decode_s'])}, {d['tokens']:,.0f} tokens, {_rate(d['tps'])} tok/s"))
    if d["first_throttle_s"] is not None:
        rows.append(("first throttle", f"after {words_duration(d['first_throttle_s'])} ({d['first_throttle_reason']})"))
    else:
        rows.append(("first throttle", "none"))
    if d["cold_tps"] is not None:
        change = d.get("hot_vs_cold")
        trend = f" ({change * 100:+.0f} %)" if change is not None else ""
        window = f"first / last {words_duration(d['window_s'])} of decoding"
        rows.append(("cold → hot", f"{_rate(d['cold_tps'])} → {_rate(d['hot_tps'])} tok/s{trend}, {window}"))
    parts = [
        f"{family} {_rate(v['tps'])} ({words_duration(v['seconds'])})"
        for family, v in d["by_family"].items()
        if v["seconds"] > 0
    ]
    if parts:
        rows.append(("decode TPS", " · ".join(parts)))
    if d["loss"] is not None:
        rows.append(
            (
                "loss",
                f"{d['loss'] * 100:.1f} % of decode speed ({d['loss_tps']:+,.2f} tok/s) over "
                f"{words_duration(d['throttled_s'])} throttled",
            )
        )
    for device, found in d["correlations"].items():
        for name, label in (("clock", "clock"), ("temp", "temperature")):
            c = found.get(name)
            if c is None:
                continue
            if c["r"] is None:
                text = f"n/a ({c['n']} s: too few, or the value did not change)"
            elif abs(c["r"]) < WEAK_R:
                text = f"r = {c['r']:+.2f} over {c['n']} s: weak, the slope says little"
            else:
                text = f"r = {c['r']:+.2f}, {c['slope']:+,.2f} tok/s per {c['per']} ({c['n']} s)"
            rows.append((f"{device} vs {label}", text))
    for device, reasons in d["seconds_by_reason"].items():
        ranked = sorted(reasons.items(), key=lambda item: -item[1])
        rows.append((f"{device} (session)", ", ".join(f"{r} {words_duration(s)}" for r, s in ranked)))
    width = max(len(label) for label, _ in rows)
    return [f"verdict: {d['verdict']}", *(f"{label.ljust(width)}  {text}" for label, text in rows)]
