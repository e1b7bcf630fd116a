"""The telemetry panel: every value the backend offers, each against its own limit, fitted to the panel.

Rows come from ``tpstui.stream.fields``: a value with a ``limit_key`` is shown as ``value /
limit`` and drawn against it (the hotspot against the hotspot's own limit when the device has
one, never against the core's); ``history`` fields get a sparkline, the rest a bar when they
have a limit. Keys a device lacks among the usual ones read "n/a". Each device's ``throttle``
row comes right after its title and shows the frame's ``ViewModel.throttle`` (the state the
header badge and the timeline show). Nothing sits behind a scrollbar: when the rows do not fit
the height, they are packed several to a line, and when that does not fit either, the least
important ones give way to a "+N more" mark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text

from tpstui.stream.events import BackendFailed
from tpstui.stream.fields import FIELDS, field
from tpstui.ui import format as fmt
from tpstui.ui.model import DeviceState, ViewModel, device_kind
from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["LABEL", "TelemetryPanel", "device_rows", "sparkline"]

SPARKS = "▁▂▃▄▅▆▇█"
HOT_FRACTION = 0.9
"""A temperature or power this close to its limit is drawn in the "poor" colour."""
LABEL = max(len(f.brief) for f in FIELDS.values() if f.short) + 1
"""Label column: the longest short label and a space (no label is ever cut)."""
USUAL = {
    "cpu": ("util_pct", "cpu_clock_mhz", "temp_c", "mem_used_mb", "rss_mb"),
    "gpu": ("temp_c", "sm_clock_mhz", "mem_clock_mhz", "power_w", "util_pct", "bw_util_pct", "mem_used_mb"),
    "server": ("requests_running", "requests_waiting", "kv_cache_pct"),
}
"""Keys each kind of device is expected to have: shown as "n/a" when absent."""
IMPORTANCE = ("temp_c", "sm_clock_mhz", "cpu_clock_mhz", "power_w", "temp_mem_c", "temp_hotspot_c",
              "util_pct", "bw_util_pct", "mem_used_mb", "rss_mb", "mem_clock_mhz")  # fmt: skip
"""Which rows stay longest when the panel is short (the rest give way first, in reverse order)."""
LIMIT_KEYS = frozenset(f.limit_key for f in FIELDS.values() if f.limit_key) | {"temp_shutdown_c"}
MERGED = {"bw_gbs": "bw_util_pct"}
"""Shown inside another row when both are there: DRAM bandwidth as GB/s and as % of peak is one row."""
Row = tuple[str, str, str, "float | None"]


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


def _limit(values: dict[str, float], key: str) -> float | None:
    info = field(key)
    if info.unit.startswith("%"):
        return 100.0
    return values.get(info.limit_key) if info.limit_key else None


def _shown_values(state: DeviceState) -> dict[str, float]:
    """The newest sample's values; none (n/a) when that read was late (its moment is unknown)."""
    latest = state.latest
    return latest.values if latest is not None and not latest.late_ns else {}


def device_rows(state: DeviceState) -> list[Row]:
    """(key, label, value text, fraction of its own limit or None) for each row of a device, in order."""
    values = _shown_values(state)
    keys = list(USUAL[device_kind(state.device)])
    keys += sorted(k for k in values if k not in keys and k not in LIMIT_KEYS and not k.startswith("core"))
    rows: list[Row] = []
    for key in keys:
        if key in MERGED and MERGED[key] in values:
            continue
        info = field(key)
        number = values.get(key)
        limit = _limit(values, key)
        if number is None:
            rows.append((key, info.brief, fmt.NA, None))
            continue
        text = fmt.value(number, info.unit)
        if info.limit_key and limit:
            text = f"{fmt.value(number)}/{fmt.value(limit, info.unit)}"
        merged = next((k for k, into in MERGED.items() if into == key and k in values), None)
        if merged is not None:  # "2,011 GB/s 60%"
            text = f"{fmt.value(values[merged], field(merged).unit)} {number:.0f}%"
        rows.append((key, info.brief, text, number / limit if limit else None))
    return rows


def _importance(key: str) -> int:
    return IMPORTANCE.index(key) if key in IMPORTANCE else len(IMPORTANCE)


class TelemetryPanel(LinesWidget):
    """All devices, one block each, fitted to the panel; rebuilt when a sample arrives or the size changes."""

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
        self.rows: dict[str, list[Row]] = {}
        self.mode = "full"
        """"full" (a row per value, with histories), "packed" (several values a line) or "short"
        (packed, some values left out)."""
        self.throttle_rows: dict[str, str] = {}
        """The text of each device's throttle row (tests compare it with the header badge)."""

    def restyled(self) -> None:
        self._key = None

    def show(self, model: ViewModel, failures: Sequence[BackendFailed]) -> None:
        width, height = self.size
        key = (model.telemetry_version, model.throttle_version, width, height, len(failures), tuple(self.notes))
        if key == self._key:
            return
        self._key = key
        self.text_lines = self._build(model, failures, max(width, 20), max(height, 1))
        self.set_lines(self.text_lines)

    def _styles(self) -> dict[str, Style]:
        names = ("device", "label", "spark", "hot", "throttle", "error", "na")
        return {n: self.component_style(f"telemetry--{n}") for n in names}

    def _build(self, model: ViewModel, failures: Sequence[BackendFailed], width: int, height: int) -> list[Text]:
        style = self._styles()
        lost = {f.device: f.message for f in failures}
        if not model.devices:
            lines = [Text("no telemetry yet" if not lost else "", style["na"])]
            lines.extend(Text(f"{d}: {m}", style["error"]) for d, m in lost.items())
            lines.extend(Text(note, style["na"]) for note in self.notes)
            return lines
        devices = sorted(model.devices, key=lambda d: (device_kind(d) == "cpu", d))
        self.rows = {device: device_rows(model.devices[device]) for device in devices}
        heads = {device: self._head(model, device, lost.get(device), width, style) for device in devices}
        fixed = sum(len(h) for h in heads.values())
        full = {device: self._full(model.devices[device], self.rows[device], width, style) for device in devices}
        if fixed + sum(len(lines) for lines in full.values()) <= height:
            self.mode = "full"
            return [line for device in devices for line in (*heads[device], *full[device])]
        budget = max(height - fixed, 0)
        cells = {device: list(self.rows[device]) for device in devices}
        label_width = max((len(label) for group in cells.values() for _, label, _, _ in group), default=4)
        value_width = max((len(text) for group in cells.values() for _, _, text, _ in group), default=4)
        per_line = max((width + 1) // (label_width + value_width + 2), 1)
        self.mode = "packed"
        dropped: dict[str, int] = dict.fromkeys(devices, 0)
        ranked = sorted(  # what gives way first: the CPU's rows when there are GPUs, then by importance
            ((device, key) for device in devices for key, _, _, _ in cells[device]),
            key=lambda item: (device_kind(item[0]) == "cpu" and len(devices) > 1, _importance(item[1])),
        )

        def needed(d: str) -> int:
            return -(-(len(cells[d]) + (dropped[d] > 0 and bool(cells[d]))) // per_line)

        while sum(needed(d) for d in devices) > budget and ranked:
            device, key = ranked.pop()
            cells[device] = [c for c in cells[device] if c[0] != key]
            dropped[device] += 1
            self.mode = "short"
        packed: list[Text] = []
        for device in devices:
            head = heads[device]
            if not cells[device] and dropped[device]:  # nothing of it fits: say so on its title line
                head = [
                    head[0].copy().append(f"  +{dropped[device]} values on a taller terminal", style["na"]),
                    *head[1:],
                ]
                packed.extend(head)
                continue
            packed.extend(head)
            packed.extend(self._packed(cells[device], dropped[device], label_width, value_width, per_line, style))
            if "rss_mb" in {key for key, *_ in cells[device]}:
                packed.extend(self._rss_note(model.devices[device], width, style, height - len(packed)))
        return packed[:height]

    def _head(self, model: ViewModel, device: str, lost: str | None, width: int, style: dict[str, Style]) -> list[Text]:
        """The title, a "lost" line, and the throttle row (wrapped, never cut)."""
        state = model.devices[device]
        lines = [Text(_title(device, state), style["device"])]
        if lost is not None:
            lines.append(Text(f"lost: {lost}", style["error"]))
        reasons = model.throttle.active.get(device, ())
        text = ", ".join(reasons) if reasons else "none"
        self.throttle_rows[device] = text
        if device_kind(device) != "gpu" and not reasons:
            return lines  # CPU backends and engine metrics have no throttle reasons: no row that always reads "none"
        row = Text.assemble(
            ("throttle".ljust(LABEL), style["label"]), (text, style["throttle"] if reasons else style["na"])
        )
        lines.extend(row.wrap(self.app.console, width, overflow="fold"))
        return lines

    def _full(self, state: DeviceState, rows: list[Row], width: int, style: dict[str, Style]) -> list[Text]:
        graph = max(width - LABEL - 1 - max((len(text) for _, _, text, _ in rows), default=0), 0)
        lines = [
            self._row(state, key, label, text, fraction, graph, width, style) for key, label, text, fraction in rows
        ]
        cores = _core_glyphs(state)
        if cores:
            lines.append(
                Text.assemble(("cores".ljust(LABEL), style["label"]), (cores[: width - LABEL], style["spark"]))
            )
        lines.extend(self._rss_note(state, width, style))
        return lines

    def _rss_note(self, state: DeviceState, width: int, style: dict[str, Style], room: int = 1 << 30) -> list[Text]:
        """Why the process's RSS can read above "memory used" (only when it does), in ``room`` lines."""
        values = _shown_values(state)
        if device_kind(state.device) != "cpu" or values.get("rss_mb", 0.0) <= values.get("mem_used_mb", float("inf")):
            return []
        note = Text('RSS counts mapped model files, which "used" leaves out (page cache)', style["na"])
        lines = list(note.wrap(self.app.console, width))
        if len(lines) > room:
            lines = [Text("RSS includes mapped model files", style["na"])] if room > 0 else []
        return lines

    def _packed(
        self,
        cells: list[Row],
        dropped: int,
        label_width: int,
        value_width: int,
        per_line: int,
        style: dict[str, Style],
    ) -> list[Text]:
        """Cells of ``label value`` side by side, ``per_line`` to a line, and a "+N more" mark."""
        parts: list[list[tuple[str, Style | str]]] = []
        for key, label, text, fraction in cells:
            hot = fraction is not None and fraction >= HOT_FRACTION and (key.startswith("temp") or key == "power_w")
            value_style = style["na"] if text == fmt.NA else (style["hot"] if hot else "")
            parts.append([(label.ljust(label_width + 1), style["label"]), (text.rjust(value_width) + " ", value_style)])
        if dropped:
            parts.append([(f"+{dropped} more", style["na"])])
        return [
            Text.assemble(*(p for cell in parts[i : i + per_line] for p in cell))
            for i in range(0, len(parts), per_line)
        ]

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
        limit = _limit(state.latest.values, key) if state.latest is not None else None
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
