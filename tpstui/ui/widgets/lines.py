"""A widget drawn from pre-rendered lines, redrawing only the lines that changed.

Widgets that return a Rich ``Text`` from ``render()`` are laid out and re-rendered whole on
every refresh; here each line is rendered once to a ``Strip`` and compared with the previous
frame's, so appending a token to the streamed text redraws one line, not the panel.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["LinesWidget"]


class LinesWidget(Widget):
    """Subclasses call ``set_lines`` with one ``Text`` per line; ``styles`` caches component styles."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Strip] = []
        self._style_memo: dict[str, Style] = {}

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_memo = {}
        self.restyled()  # the next show() rebuilds every line in the new colours

    def restyled(self) -> None:
        """Called after a theme change; subclasses forget their change-detection keys here."""

    def component_style(self, component: str) -> Style:
        """A component class's style (cached until the theme changes)."""
        cached = self._style_memo.get(component)
        if cached is None:
            cached = self._style_memo[component] = self.get_component_rich_style(component)
        return cached

    def set_lines(self, lines: list[Text], height: int | None = None) -> None:
        """Show ``lines``; redraw those that differ from what is on screen now."""
        width = self.size.width
        base = self.rich_style
        console = self.app.console
        strips = []
        for line in lines:  # Text.render leaves the text's own base style out: apply it here
            style = base + console.get_style(line.style, default=Style.null()) if line.style else base
            strips.append(Strip(Segment.apply_style(line.render(console, end=""), style)).crop_extend(0, width, base))
        self.set_strips(strips, height)

    def set_strips(self, strips: list[Strip], height: int | None = None) -> None:
        """Show ready-made strips (one per line); redraw those that changed."""
        width = self.size.width
        old = self._lines
        self._lines = strips
        if height is not None and (self.styles.height is None or self.styles.height.value != height):
            self.styles.height = height
            self.refresh()
            return
        if len(old) != len(strips):
            self.refresh()
            return
        changed = [y for y, (before, after) in enumerate(zip(old, strips, strict=True)) if before != after]
        start = 0
        while start < len(changed):  # one region per run of consecutive changed lines
            end = start
            while end + 1 < len(changed) and changed[end + 1] == changed[end] + 1:
                end += 1
            self.refresh(Region(0, changed[start], width, changed[end] - changed[start] + 1))
            start = end + 1

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self._lines):
            strip = self._lines[y]
            return strip if strip.cell_length == width else strip.crop_extend(0, width, self.rich_style)
        return Strip.blank(width, self.rich_style)
