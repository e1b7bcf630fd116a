"""SVG snapshots of the main screen on frozen data (pytest-textual-snapshot).

The scripted throttling scenario (``tpstui.sources.scenario``) is frozen 28 s in, in the middle
of the last measured run, while the GPU is thermally throttled (after a power-cap blip at
12-14 s), so one picture shows every panel: the timeline's lanes with both reason families, the
header badge, the streamed text, both stats columns and the telemetry of a GPU and a CPU, from
80×24 to 200×60. The 160×48 dark one is the README's screenshot. ``tests/test_ui_timeline.py``
checks the same screens' content (badge, reason names, lanes, no scrollbar). Update with
``pytest tests/test_ui_snapshots.py --snapshot-update`` and look at the result.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.pilot import settle
from tpstui.sources.scenario import throttle_scenario_events
from tpstui.sources.scripted import NS, T0_NS, ScriptedSource
from tpstui.ui.app import TpsApp

FROZEN_AT_NS = T0_NS + 28 * NS
SIZES = [(80, 24), (120, 30), (160, 48), (200, 60)]


def frozen_app(theme: str) -> TpsApp:
    return TpsApp(ScriptedSource(throttle_scenario_events(), at_ns=FROZEN_AT_NS), theme=theme)



@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_main_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app("dark"), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_main_screen_high_contrast(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app("high-contrast"), terminal_size=size, run_before=settle)
