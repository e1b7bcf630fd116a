"""The streamed text of the current run: the prompt dimmed, then the output, wrapped, following the end.

Only the end of the text is wrapped (enough characters to fill the panel), so the cost of a
frame does not grow with the length of the run; a token appended to the last line redraws
that line only.

Spacing combining marks (Unicode category Mc: most Devanagari vowel signs, ा ि ी) take no cell
in Rich's measure but one cell in terminals that measure with wcwidth (glibc, VTE, xterm, tmux),
which pushed the panel's right border out. Each line is therefore wrapped and padded to the
panel width as such a terminal counts it (``terminal_width``), and never starts with a
combining mark (the fold moves it back to its base character).
"""

from __future__ import annotations

import unicodedata
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["StreamText", "spacing_marks", "terminal_width"]


def spacing_marks(text: str) -> int:
    """Characters that take a cell in a wcwidth terminal but none in Rich's measure (Mc marks)."""
    return sum(1 for ch in text if ord(ch) >= 0x300 and unicodedata.category(ch) == "Mc" and cell_len(ch) == 0)


def terminal_width(text: str) -> int:
    """Cells ``text`` takes in a wcwidth terminal: Rich's measure plus the spacing marks."""
    return cell_len(text) + spacing_marks(text)


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
        self.set_strips([self._strip(line, width) for line in self._tail(width, height)])

    def _strip(self, line: Text, width: int) -> Strip:
        """The line padded to ``width`` cells of a wcwidth terminal (declared ``width`` cells long)."""
        base = self.rich_style
        console = self.app.console
        style = base + console.get_style(line.style, default=Style.null()) if line.style else base
        segments = list(Segment.apply_style(line.render(console, end=""), style))
        pad = width - terminal_width(line.plain)
        return Strip([*segments, Segment(" " * max(pad, 0), base)], width)

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
        lines = list(text.wrap(self.app.console, width, overflow="fold"))
        lines = _fit(lines, width)
        return lines[-height:]


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _fit(lines: list[Text], width: int) -> list[Text]:
    """Re-fold lines that are too wide for a wcwidth terminal, and keep combining marks on their base."""
    out: list[Text] = []
    for line in lines:
        while len(line.plain) and _is_mark(line.plain[0]) and out:  # a mark that lost its base
            out[-1].append_text(line[:1])
            line = line[1:]
        while terminal_width(line.plain) > width and len(line.plain) > 1:
            cut = len(line.plain)
            while cut > 1 and terminal_width(line.plain[:cut]) > width:
                cut -= 1
            while cut > 1 and _is_mark(line.plain[cut]):
                cut -= 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out
