"""SVG snapshots of the main screen on frozen data (pytest-textual-snapshot).

The scripted session is frozen in the middle of its second measured run, while the GPU is
power-capped, so one picture shows every panel: the chart with run marks and the throttle
lane, the streamed text, both stats columns and the telemetry of a CPU and a GPU. The 160×48
dark one is the README's screenshot. Update with ``pytest tests/test_ui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tpstui.sources.scripted import NS, ScriptedSource, scripted_events
from tpstui.stream.events import ThrottleChanged
from tpstui.ui.app import TpsApp


def frozen_app(theme: str) -> TpsApp:
    events = scripted_events()
    throttle_on = next(e.t_ns for e in events if isinstance(e, ThrottleChanged))
    return TpsApp(ScriptedSource(events, at_ns=throttle_on + 2 * NS // 5), theme=theme)


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, TpsApp)
    for _ in range(4):
        app.tick(force=True)
        await pilot.pause(0.02)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("theme", ["dark", "high-contrast"])
def test_main_screen(snap_compare: Any, size: tuple[int, int], theme: str) -> None:
    assert snap_compare(frozen_app(theme), terminal_size=size, run_before=settle)
