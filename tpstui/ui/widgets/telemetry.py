"""The telemetry panel: every value the backend offers, against its limit, with short histories.

Rows come from ``tpstui.stream.fields``: a value with a ``limit_key`` is shown as ``value /
limit`` and drawn against it; ``history`` fields get a sparkline (scaled to the limit when there
is one, so its height reads as "how close to the limit"); the rest get a bar when they have a
limit. Keys a device lacks among the usual ones read "n/a". Throttle reasons are shown by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from tpstui.stream.events import BackendFailed
from tpstui.stream.fields import FIELDS, field
from tpstui.ui import format as fmt
from tpstui.ui.model import DeviceState, ViewModel
from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["TelemetryPanel", "device_rows", "sparkline"]

SPARKS = "▁▂▃▄▅▆▇█"
HOT_FRACTION = 0.9
"""A temperature or power this close to its limit is drawn in the "poor" colour."""
LABEL = 9
USUAL = {
    "cpu": ("util_pct", "cpu_clock_mhz", "temp_c", "mem_used_mb", "rss_mb"),
    "gpu": ("temp_c", "sm_clock_mhz", "mem_clock_mhz", "power_w", "util_pct", "bw_util_pct", "mem_used_mb"),
}
"""Keys each kind of device is expected to have: shown as "n/a" when absent."""
LIMIT_KEYS = frozenset(f.limit_key for f in FIELDS.values() if f.limit_key) | {"temp_shutdown_c"}


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> str:
    """The last ``width`` values as bar glyphs.

    With a limit ``top`` the scale is [min(lowest, top / 2), top]: the height reads as "how close
    to the limit" and a drop (a clock falling from 1,755 to 1,410 MHz) stays visible. Without
    one it is [0, the highest value].
    """
    data = list(values)[-width:] if width > 0 else []
    if not data:
        return " " * max(width, 0)
    if top is not None and top > 0:
        lo, hi = min(min(data), top / 2), max(top, max(data))
    else:
        lo, hi = 0.0, max(max(data), 1e-12)
    steps = len(SPARKS) - 1
    glyphs = [SPARKS[min(max(int((v - lo) / max(hi - lo, 1e-12) * steps + 0.5), 0), steps)] for v in data]
    return "".join(glyphs).rjust(width)


def _bar(fraction: float, width: int) -> str:
    filled = min(max(fraction, 0.0), 1.0) * width
    whole = int(filled)
    part = " ▏▎▍▌▋▊▉"[int((filled - whole) * 8)] if whole < width else ""
    return ("█" * whole + part).ljust(width, "·")


def _kind(device: str) -> str:
    return "cpu" if device == "cpu" else "gpu"


def _shown_values(state: DeviceState) -> dict[str, float]:
    """The newest sample's values; none (n/a) when that read was late (its moment is unknown)."""
    latest = state.latest
    return latest.values if latest is not None and not latest.late_ns else {}


def device_rows(state: DeviceState) -> list[tuple[str, str, str, float | None]]:
    """(key, label, value text, fraction of limit or None) for each row of a device, in order."""
    values = _shown_values(state)
    keys = list(USUAL[_kind(state.device)])
    keys += sorted(k for k in values if k not in keys and k not in LIMIT_KEYS and not k.startswith("core"))
    rows: list[tuple[str, str, str, float | None]] = []
    for key in keys:
        info = field(key)
        label = info.brief[: LABEL - 1]
        number = values.get(key)
        limit = values.get(info.limit_key) if info.limit_key else (100.0 if info.unit == "%" else None)
        if number is None:
            rows.append((key, label, fmt.NA, None))
            continue
        text = fmt.value(number, info.unit)
        if info.limit_key and limit:
            text = f"{fmt.value(number)}/{fmt.value(limit, info.unit)}"
        rows.append((key, label, text, number / limit if limit else None))
    return rows


class TelemetryPanel(LinesWidget):
    """All devices, one block each; rebuilt when a new sample arrives or the size changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "telemetry--device",
        "telemetry--label",
        "telemetry--spark",
        "telemetry--hot",
        "telemetry--throttle",
        "telemetry--error",
        "telemetry--na",
    }
    DEFAULT_CSS = """
    TelemetryPanel > .telemetry--device { color: $primary; text-style: bold; }
    TelemetryPanel > .telemetry--label { color: $foreground-muted; }
    TelemetryPanel > .telemetry--spark { color: $tps-avg; }
    TelemetryPanel > .telemetry--hot { color: $tps-poor; }
    TelemetryPanel > .telemetry--throttle { color: $throttle; text-style: bold; }
    TelemetryPanel > .telemetry--error { color: $error; }
    TelemetryPanel > .telemetry--na { color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[object, ...] | None = None
        self.text_lines: list[Text] = []
        self.notes: list[str] = []
        self.rows: dict[str, list[tuple[str, str, str, float | None]]] = {}

    def restyled(self) -> None:
        self._key = None

    def show(self, model: ViewModel, active: dict[str, list[str]], failures: Sequence[BackendFailed]) -> None:
        width = self.size.width
        key = (
            model.telemetry_version,
            width,
            tuple(sorted((d, tuple(r)) for d, r in active.items())),
            len(failures),
            tuple(self.notes),
        )
        if key == self._key:
            return
        self._key = key
        self.text_lines = self._build(model, active, failures, max(width, 20))
        self.set_lines(self.text_lines, height=len(self.text_lines))  # a layout only when the count changes

    def _build(
        self, model: ViewModel, active: dict[str, list[str]], failures: Sequence[BackendFailed], width: int
    ) -> list[Text]:
        style = {
            n: self.component_style(f"telemetry--{n}")
            for n in ("device", "label", "spark", "hot", "throttle", "error", "na")
        }
        lines: list[Text] = []
        lost = {f.device: f.message for f in failures}
        if not model.devices:
            message = "no telemetry yet" if not lost else ""
            lines.append(Text(message, style["na"]))
            lines.extend(Text(f"{d}: {m}", style["error"]) for d, m in lost.items())
            lines.extend(Text(note, style["na"]) for note in self.notes)
            return lines
        self.rows = {}
        for device, state in model.devices.items():
            lines.append(Text(_title(device, state), style["device"]))
            if device in lost:
                lines.append(Text(f"lost: {lost[device]}", style["error"]))
            rows = device_rows(state)
            self.rows[device] = rows
            graph = max(width - LABEL - 1 - max(len(text) for _, _, text, _ in rows), 0)
            for key, label, text, fraction in rows:
                lines.append(self._row(state, key, label, text, fraction, graph, width, style))
            cores = _core_glyphs(state)
            if cores:
                lines.append(
                    Text.assemble(("cores".ljust(LABEL), style["label"]), (cores[: width - LABEL], style["spark"]))
                )
            reasons = active.get(device, [])
            lines.append(
                Text.assemble(
                    ("throttle".ljust(LABEL), style["label"]),
                    (", ".join(reasons), style["throttle"]) if reasons else ("none", style["na"]),
                )
            )
        return lines

    def _row(
        self,
        state: DeviceState,
        key: str,
        label: str,
        text: str,
        fraction: float | None,
        graph: int,
        width: int,
        style: dict[str, Style],
    ) -> Text:
        if text == fmt.NA:
            return Text.assemble(
                (label.ljust(LABEL), style["label"]),
                (" " * graph, ""),
                (text.rjust(width - LABEL - graph), style["na"]),
            )
        history = state.history.get(key)
        info = field(key)
        limit = None
        if state.latest is not None and info.limit_key:
            limit = state.latest.values.get(info.limit_key)
        if info.unit == "%":
            limit = 100.0
        hot = fraction is not None and fraction >= HOT_FRACTION and (key.startswith("temp") or key == "power_w")
        if history:
            picture = (sparkline(history, graph, limit), style["spark"])
        elif fraction is not None:
            picture = (_bar(fraction, graph), style["hot"] if hot else style["spark"])
        else:
            picture = (" " * graph, style["spark"])
        return Text.assemble(
            (label.ljust(LABEL), style["label"]),
            picture,
            (text.rjust(width - LABEL - graph), style["hot"] if hot else ""),
        )


def _title(device: str, state: DeviceState) -> str:
    if state.latest is None:
        return f"{device.upper()} (no sample yet)"
    if state.latest.late_ns:
        return f"{device.upper()} (late reading: {state.latest.late_ns / 1e9:.1f} s)"
    return device.upper()


def _core_glyphs(state: DeviceState) -> str:
    values = _shown_values(state)
    cores: Iterable[tuple[int, float]] = sorted(
        (int(k[4:].split("_")[0]), v) for k, v in values.items() if k.startswith("core") and k.endswith("_util_pct")
    )
    return "".join(SPARKS[min(int(v / 100 * 7 + 0.5), 7)] for _, v in cores)
