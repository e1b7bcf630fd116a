"""The replay keys of the live app (shown and active only when the source has ``ReplayControls``)."""

from __future__ import annotations

from textual.app import App

from tpstui.sources.base import ReplayControls, SessionSource

__all__ = ["REPLAY_ACTIONS", "ReplayKeys"]

REPLAY_ACTIONS = frozenset(
    {"pause", "faster", "slower", "seek", "step", "next_throttle", "seek_start", "seek_end", "goto"}
)


class ReplayKeys(App[int]):
    """Actions for space, + / -, ← / →, ., n, g, home and end; each does nothing on a live source."""

    source: SessionSource

    def action_pause(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.toggle_pause()

    def action_faster(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.set_speed(self.source.speed * 2)  # the source clamps to its range

    def action_slower(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.set_speed(self.source.speed / 2)

    def action_seek(self, seconds: float) -> None:
        if isinstance(self.source, ReplayControls):
            target = self.source.position_ns + int(float(seconds) * 1e9)
            self.source.seek(min(max(target, 0), self.source.duration_ns))

    def action_step(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.step()

    def action_next_throttle(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.seek_next_throttle()

    def action_seek_start(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.seek(0)

    def action_seek_end(self) -> None:
        if isinstance(self.source, ReplayControls):
            self.source.jump_to_end()

    def action_goto(self) -> None:
        """Ask for a time and seek there (tpstui/ui/goto_screen.py)."""
        source = self.source
        if isinstance(source, ReplayControls):
            from tpstui.ui.screens.goto import GotoScreen

            self.push_screen(
                GotoScreen(source.duration_ns), lambda offset: None if offset is None else source.seek(offset)
            )
