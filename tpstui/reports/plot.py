"""Plotly figures of sessions: the stacked timeline of one session, and several sessions overlaid.

The lanes are those of the app's timeline: tokens/s (per-token TPS, time-weighted per bin, and
the 1 s rolling rate), then for each device its clock against the maximum, its temperatures
against their own limits (core vs slowdown, hotspot vs hotspot max, memory vs memory max), its
power against the limit and its DRAM bandwidth (% of peak); throttle spans are drawn through
every lane, one colour per reason family. Plots are downsampled to at most ``MAX_POINTS``
points a trace (clocks keep each bin's lowest reading, the rest its highest, so dips and peaks
survive); the numbers of the report never are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tpstui.state import metrics
from tpstui.state.diagnosis import DecodeRun, binned_tps
from tpstui.state.session import Session
from tpstui.state.throttle import FAMILIES, family_intervals, merge_intervals
from tpstui.stream.fields import field

__all__ = ["FAMILY_COLOURS", "MAX_POINTS", "Lane", "compare_figure", "lanes_of", "timeline_figure"]

NS = 1_000_000_000
MAX_POINTS = 4000
FAMILY_COLOURS = {"power": "#9b59b6", "thermal": "#e67e22", "other": "#16a085"}
GPU_LANES = (
    ("clock", "SM clock (MHz)", (("sm_clock_mhz", "sm_clock_max_mhz"),)),
    ("temperature", "temperature (°C)",
     (("temp_c", "temp_slowdown_c"), ("temp_hotspot_c", "temp_hotspot_max_c"), ("temp_mem_c", "temp_mem_max_c"))),
    ("power", "power (W)", (("power_w", "power_limit_w"),)),
    ("bandwidth", "DRAM bw (% of peak)", (("bw_util_pct", None),)),
)  # fmt: skip
CPU_LANES = (
    ("clock", "CPU clock (MHz)", (("cpu_clock_mhz", "cpu_clock_max_mhz"),)),
    ("utilisation", "CPU util (%)", (("util_pct", None),)),
    ("temperature", "CPU temperature (°C)", (("temp_c", None),)),
)
SERVER_LANES = (
    ("requests", "requests (server)", (("requests_running", None), ("requests_waiting", None))),
    ("kv_cache", "KV cache (%)", (("kv_cache_pct", None),)),
    ("gen_tps", "generation tok/s (server)", (("server_gen_tps", None),)),
)
"""A serving engine's scraped metrics (``--server-metrics``, the device ``server``)."""
LANES_BY_DEVICE = {"cpu": CPU_LANES, "server": SERVER_LANES}
"""Every other device is a GPU (``gpuN``, a DCGM node's ``<node>/gpuN``)."""
LOWEST = frozenset({"sm_clock_mhz", "cpu_clock_mhz"})


@dataclass(frozen=True)
class Trace:
    """One plotted series (rounded to a millisecond and three decimals: a smaller file, the same picture)."""

    name: str
    x: np.ndarray
    y: np.ndarray
    dash: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", np.round(np.asarray(self.x, dtype=np.float64), 3))
        object.__setattr__(self, "y", np.round(np.asarray(self.y, dtype=np.float64), 3))


@dataclass(frozen=True)
class Lane:
    """One subplot: its title and traces."""

    key: str
    title: str
    traces: list[Trace]


def _origin(session: Session) -> int:
    if session.started is not None:
        return session.started.t_ns
    ids = session.run_ids()
    return session.run(ids[0]).started.t_ns if ids else 0


def _duration_ns(session: Session, origin: int) -> int:
    return max(session.latest_ns - origin, 1)


def _downsample(t: np.ndarray, y: np.ndarray, origin: int, bin_ns: int, lowest: bool) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since ``origin`` and values, at most one point per bin (the bin's min or max)."""
    if t.size <= MAX_POINTS:
        return (t - origin) / NS, y
    index = (t - origin) // bin_ns
    starts = np.flatnonzero(np.diff(index, prepend=index[0] - 1))
    reduce = np.minimum if lowest else np.maximum
    return (t[starts] - origin) / NS, reduce.reduceat(y, starts)


def _steps(t: np.ndarray, y: np.ndarray, origin: int) -> tuple[np.ndarray, np.ndarray]:
    """A limit (which seldom changes) as its change points and the last reading."""
    if t.size == 0:
        return t / NS, y
    keep = np.flatnonzero(np.diff(y, prepend=np.nan) != 0)
    keep = np.unique(np.concatenate((keep, [t.size - 1])))
    return (t[keep] - origin) / NS, y[keep]


def _tps_lane(session: Session, origin: int, bin_ns: int) -> Lane:
    runs = [v for v in session.runs(include_warmup=True) if v.arrivals.size >= 2]
    decode = [DecodeRun(v.arrivals, v.counts) for v in runs]
    tokens = sum(int(v.arrivals.size) for v in runs)
    step = bin_ns if tokens > MAX_POINTS else 1
    bins, tps = binned_tps(decode, origin, step) if step > 1 else (np.empty(0, dtype=np.int64), np.empty(0))
    if step == 1:  # few tokens: every token's own rate at its arrival
        x = np.concatenate([(v.arrivals[1:] - origin) / NS for v in runs]) if runs else np.empty(0)
        y = np.concatenate([metrics.instantaneous_tps(v.arrivals, v.counts) for v in runs]) if runs else np.empty(0)
    else:
        x, y = (bins * bin_ns + bin_ns // 2) / NS, tps
    rolling_x: list[np.ndarray] = []
    rolling_y: list[np.ndarray] = []
    for view in runs:
        first, last = int(view.arrivals[0]), int(view.arrivals[-1])
        count = max(min(int((last - first) // max(bin_ns, NS // 10)) + 1, MAX_POINTS // max(len(runs), 1)), 2)
        at = np.linspace(first, last, count).astype(np.int64)
        rolling_x += [(at - origin) / NS, np.array([np.nan])]  # a gap between runs
        rolling_y += [metrics.rolling_tps_series(view.arrivals, at, NS, view.counts), np.array([np.nan])]
    traces = [Trace("per-token TPS", x, np.where(np.isfinite(y), y, np.nan))]
    if rolling_x:
        traces.append(Trace("1 s rolling TPS", np.concatenate(rolling_x), np.concatenate(rolling_y)))
    return Lane("tps", "tokens/s", traces)


def lanes_of(session: Session) -> list[Lane]:
    """The lanes of a session, in display order (tokens/s, then each GPU and the server, then the CPU)."""
    origin = _origin(session)
    bin_ns = max(_duration_ns(session, origin) // MAX_POINTS, 1)
    lanes = [_tps_lane(session, origin, bin_ns)]
    devices = sorted(session.devices(), key=lambda d: (d == "cpu", d))
    for device in devices:
        samples = session.samples(device)
        times = np.fromiter((s.t_ns for s in samples), dtype=np.int64, count=len(samples))
        for key, title, pairs in LANES_BY_DEVICE.get(device, GPU_LANES):
            traces: list[Trace] = []
            for value_key, limit_key in pairs:
                for k, is_limit in ((value_key, False), (limit_key, True)):
                    if k is None:
                        continue
                    mask = np.fromiter((k in s.values for s in samples), dtype=bool, count=len(samples))
                    if not mask.any():
                        continue
                    y = np.fromiter((s.values[k] for s in samples if k in s.values), dtype=np.float64)
                    if is_limit:
                        x, y = _steps(times[mask], y, origin)
                    else:
                        x, y = _downsample(times[mask], y, origin, bin_ns, k in LOWEST)
                    traces.append(Trace(f"{device} {field(k).label}", x, y, dash=is_limit))
            if traces:
                lanes.append(Lane(f"{device}:{key}", f"{device} {title}", traces))
    return lanes


def _throttle_rects(session: Session, origin: int) -> dict[str, list[tuple[float, float]]]:
    """Each family's intervals in seconds, merged where closer than a pixel of a 2,000-pixel plot."""
    end = session.latest_ns
    tolerance = _duration_ns(session, origin) // 2000
    out: dict[str, list[tuple[float, float]]] = {}
    for family, intervals in family_intervals(session.throttle_spans(), origin, end).items():
        merged = merge_intervals((a - tolerance // 2, b + tolerance // 2) for a, b in intervals)
        out[family] = [((a - origin) / NS, (b - origin) / NS) for a, b in merged]
    return out


def timeline_figure(session: Session, title: str = "") -> go.Figure:
    """The stacked, zoomable timeline of one session (every lane on one shared time axis)."""
    lanes = lanes_of(session)
    heights = [3.0 if lane.key == "tps" else 1.0 for lane in lanes]
    fig = make_subplots(
        rows=len(lanes), cols=1, shared_xaxes=True, vertical_spacing=0.02,
        row_heights=heights, subplot_titles=[lane.title for lane in lanes],
    )  # fmt: skip
    for row, lane in enumerate(lanes, start=1):
        for trace in lane.traces:
            mode = "markers" if trace.name == "per-token TPS" else "lines"
            fig.add_trace(
                go.Scatter(
                    x=trace.x, y=trace.y, name=trace.name, mode=mode, marker={"size": 3},
                    line={"dash": "dash", "width": 1} if trace.dash else {"width": 1.5}, legendgroup=lane.key,
                ),
                row=row, col=1,
            )  # fmt: skip
    origin = _origin(session)
    # shapes as plain dicts, set once: plotly's add_shape / add_vline re-validate every shape so far
    # on each call (quadratic: minutes for a long session's runs and spans)
    shapes: list[dict[str, object]] = []
    for family, rects in _throttle_rects(session, origin).items():
        shapes += [
            {"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1, "y0": 0, "y1": 1, "layer": "below",
             "line": {"width": 0}, "fillcolor": FAMILY_COLOURS[family], "opacity": 0.18}
            for x0, x1 in rects
        ]  # fmt: skip
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"throttle: {family}",
                                 marker={"symbol": "square", "size": 12, "color": FAMILY_COLOURS[family]}))  # fmt: skip
    shapes += [
        {"type": "line", "xref": "x", "yref": "y domain", "x0": x, "x1": x, "y0": 0, "y1": 1,
         "line": {"width": 1, "dash": "dot", "color": "#888"}}
        for x in ((view.started.t_ns - origin) / NS for view in session.runs(include_warmup=True))
    ]  # fmt: skip
    fig.update_layout(shapes=shapes)
    fig.update_xaxes(title_text="seconds since the session started", row=len(lanes), col=1)
    fig.update_layout(
        title=title, height=260 + 170 * len(lanes), template="plotly_white", hovermode="x unified",
        legend={"orientation": "h", "y": -0.04},
    )  # fmt: skip
    return fig


def compare_figure(sessions: Sequence[tuple[str, Session]]) -> go.Figure:
    """Several sessions overlaid on "seconds since each session started": 1 s rolling TPS, the first
    GPU's (else the CPU's) clock and core temperature, and each session's throttled time."""
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[2.0, 1.0, 1.0],
                        subplot_titles=["1 s rolling tokens/s", "clock (MHz)", "core temperature (°C)"])  # fmt: skip
    for label, session in sessions:
        lanes = {lane.key: lane for lane in lanes_of(session)}
        tps = lanes["tps"].traces[-1]
        fig.add_trace(go.Scatter(x=tps.x, y=tps.y, name=f"{label} TPS", legendgroup=label), row=1, col=1)
        devices = sorted(session.devices(), key=lambda d: (d == "cpu", d))
        for row, key in ((2, "clock"), (3, "temperature")):
            lane = next((lanes[f"{d}:{key}"] for d in devices if f"{d}:{key}" in lanes), None)
            if lane is not None and lane.traces:
                trace = lane.traces[0]
                fig.add_trace(go.Scatter(x=trace.x, y=trace.y, name=f"{label} {trace.name}", legendgroup=label),
                              row=row, col=1)  # fmt: skip
    fig.update_xaxes(title_text="seconds since each session started", row=3, col=1)
    fig.update_layout(
        height=820, template="plotly_white", hovermode="x unified", legend={"orientation": "h", "y": -0.08}
    )
    return fig


def families_present(session: Session) -> list[str]:
    spans = session.throttle_spans()
    present = {f for f in family_intervals(spans, _origin(session), session.latest_ns)}
    return [f for f in FAMILIES if f in present]
