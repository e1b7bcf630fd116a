"""What the UI tests share: letting a Textual app run its frames."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tpstui.ui.app import TpsApp


async def settle(pilot: Pilot[Any], frames: int = 4) -> None:
    """Run a few frames (every widget redrawn) and let layout and rendering catch up."""
    app = pilot.app
    assert isinstance(app, TpsApp)
    for _ in range(frames):
        app.tick(force=True)
        await pilot.pause(0.02)
