"""Which lanes a session gets and how many rows each: ``build_lanes`` and ``allocate``, plus the
endpoint session's ``InFlightLane`` (requests in flight over time)."""

from __future__ import annotations

import numpy as np

from tpstui.ui.lanes import Cells, GaugeLane, K, Lane, LaneContext, ThrottleLane, TpsLane, bar_cells
from tpstui.ui.model import LANE_KEYS, ViewModel, device_kind
from tpstui.ui.serving import is_serving_session
from tpstui.ui.timeline import column_edges

__all__ = ["InFlightLane", "allocate", "build_lanes", "in_flight_columns"]

KIND_PRIORITY = {"gpu": 0, "server": 5, "cpu": 0}
"""Added to a device lane's rank priority: a GPU's clock before the server's running requests."""


def in_flight_columns(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Requests in flight per column, averaged over the column's time (``edges``: n + 1 bounds).

    With ``F(t) = Σ max(0, min(t, end) − start)`` the time all requests had been in flight by
    ``t``, a column holds ``(F(right) − F(left)) / width``: O((requests + columns) log requests).
    """
    starts, ends = np.sort(starts.astype(np.float64)), np.sort(ends.astype(np.float64))
    points = edges.astype(np.float64)

    def total_until(sorted_times: np.ndarray) -> np.ndarray:
        k = np.searchsorted(sorted_times, points, side="left")
        prefix = np.concatenate(([0.0], np.cumsum(sorted_times)))
        return k * points - prefix[k]

    covered = total_until(starts) - total_until(ends)
    width = np.maximum(np.diff(points), 1.0)
    return np.diff(covered) / width


class InFlightLane(Lane):
    """Requests in flight (sent, not yet ended) over time, in an endpoint session."""

    key = "inflight"
    label = "in fl."
    min_rows = 1
    max_rows = 3
    priority = 8

    def cells(self, ctx: LaneContext, rows: int) -> Cells:
        starts, ends = ctx.model.run_spans()
        edges = column_edges(ctx.start_ns, ctx.span_ns, ctx.n)
        values = in_flight_columns(starts, np.minimum(ends, ctx.now_ns), edges)
        values[edges[1:] <= (int(starts.min()) if starts.size else 0)] = np.nan  # before the first request
        values[edges[:-1] >= ctx.now_ns] = np.nan  # the future
        finite = values[np.isfinite(values)]
        top = max(float(finite.max()) if finite.size else 1.0, 1.0)
        chars, has = bar_cells(values / top, rows)
        kinds = np.where(has, K["spark"], K["base"])
        labels = [self.label, f"/{top:.0f}"][:rows] + [""] * max(rows - 2, 0)
        return Cells(chars, kinds, labels)


def build_lanes(model: ViewModel) -> list[Lane]:
    """The lanes the session has data for, in display order: tokens/s, each device's values, the
    throttle strip (when a GPU is watched or a reason was seen)."""
    lanes: list[Lane] = [TpsLane()]
    if model.session is not None and is_serving_session(model.session):
        lanes.append(InFlightLane())
    devices = sorted(model.devices, key=lambda d: (device_kind(d) == "cpu", d))
    gpus = [d for d in devices if device_kind(d) == "gpu"]
    for device in devices:
        state = model.devices[device]
        keys = LANE_KEYS[device_kind(device)]
        for rank, key in enumerate(keys):
            if key in state.series:
                # every device's clock before any temperature; the CPU last when there are GPUs
                priority = (
                    10 * (rank + 1) + KIND_PRIORITY[device_kind(device)] + (100 if gpus and device == "cpu" else 0)
                )
                lanes.append(GaugeLane(device, key, len(gpus) > 1, priority))
    if gpus or model.spans:
        lanes.append(ThrottleLane())
    return lanes


def allocate(lanes: list[Lane], rows: int) -> tuple[list[tuple[Lane, int]], int]:
    """Rows for each lane that fits (in display order) and how many lanes did not fit.

    Tokens/s first gets two fifths of the height (at least its minimum), the other lanes of
    priority below 10 (the throttle strip) their minimum; then the rest are admitted by priority
    at their minimum height while they fit; the admitted ones grow to their maximum in priority
    order, and tokens/s takes what is left.
    """
    order = sorted(range(len(lanes)), key=lambda i: (lanes[i].priority, i))
    given: dict[int, int] = {}
    left = rows
    for i in order:
        lane = lanes[i]
        if lane.priority < 10:
            want = max(lane.min_rows, rows * 2 // 5) if isinstance(lane, TpsLane) else lane.min_rows
            given[i] = min(want, max(left, 0))
            left -= given[i]
    for i in order:
        if i not in given and lanes[i].min_rows <= left:
            given[i] = lanes[i].min_rows
            left -= lanes[i].min_rows
    tps = [i for i in given if isinstance(lanes[i], TpsLane)]
    for i in order:
        if i in given and i not in tps and left > 0:
            extra = min(lanes[i].max_rows - given[i], left)
            given[i] += extra
            left -= extra
    for i in tps:
        given[i] += left
        left = 0
    shown = [(lanes[i], given[i]) for i in range(len(lanes)) if given.get(i, 0) > 0]
    return shown, len(lanes) - len(shown)
