"""Replay: "go to a time" (``g``), a small prompt that returns an offset in ns, or None."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tpstui.ui import format as fmt

__all__ = ["GotoScreen"]


class GotoScreen(ModalScreen[int | None]):
    """Asks for a time into the recording (``90``, ``1:30``, ``2.5s``); escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", show=False)]
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical {
        width: 48; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    GotoScreen #goto-hint { color: $text-muted; }
    """

    def __init__(self, duration_ns: int) -> None:
        super().__init__()
        self.duration_ns = duration_ns

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "go to"
            yield Input(placeholder="1:30, 90 or 2.5s", id="goto-input")
            yield Static(f"0 … {fmt.duration(self.duration_ns / 1e9)}; enter jumps, escape cancels", id="goto-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = fmt.parse_offset(event.value)
        except ValueError:
            self.query_one("#goto-hint", Static).update(f"not a time: {event.value!r} (e.g. 1:30, 90, 2.5s)")
            return
        self.dismiss(min(int(seconds * 1e9), self.duration_ns))

    def action_cancel(self) -> None:
        self.dismiss(None)
