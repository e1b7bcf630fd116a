"""The streamed text of the current run: the prompt dimmed, then the output, wrapped, following the end.

Only the end of the text is wrapped (enough characters to fill the panel), so the cost of a
frame does not grow with the length of the run; a token appended to the last line redraws
that line only.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["StreamText"]


class StreamText(LinesWidget):
    """Shows the last lines of prompt + output that fit."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"stream--prompt", "stream--note"}
    DEFAULT_CSS = """
    StreamText > .stream--prompt { color: $prompt; text-style: italic; }
    StreamText > .stream--note { color: $foreground-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.prompt = ""
        self.output = ""
        self.note = ""
        self._key: tuple[object, ...] | None = None

    def restyled(self) -> None:
        self._key = None

    def show(self, prompt: str, output: str, note: str = "") -> None:
        width, height = self.size
        key = (len(prompt), len(output), output[-16:], note, width, height)
        if key == self._key:
            return
        self._key = key
        self.prompt, self.output, self.note = prompt, output, note
        self.set_lines(self._tail(width, height))

    def _tail(self, width: int, height: int) -> list[Text]:
        if width <= 0 or height <= 0:
            return []
        budget = width * height * 2 + width
        text = Text()
        output = self.output
        if len(output) < budget and self.prompt:  # a fixed slice, so its lines do not move as output grows
            text.append(self.prompt[-budget:], self.component_style("stream--prompt"))
            text.append("\n")
        text.append(output[-budget:])
        if self.note:
            text.append(("\n" if output else "") + self.note, self.component_style("stream--note"))
        lines = text.wrap(self.app.console, width, overflow="fold")
        return list(lines[-height:])
