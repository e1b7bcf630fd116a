"""The comparison of recordings as a screen (``tpstui compare A B --app``).

The figures come from ``tpstui.reports.compare`` (the same cells as the terminal table); the
better value in each row is shown bold. Uses tpstui's themes like the live app.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App, AutopilotCallbackType, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tpstui.errors import UserError
from tpstui.reports.compare import FOOTNOTE, Comparison, legend, table_cells
from tpstui.ui.themes import DEFAULT_THEME, app_variable_defaults, load_themes

__all__ = ["CompareApp", "CompareScreen", "run_compare_app"]


class CompareScreen(Screen[None]):
    """Recordings side by side: a legend, the table, the notes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "close")]
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen > #legend { height: auto; padding: 0 1; color: $text-muted; }
    CompareScreen > DataTable { height: auto; max-height: 1fr; margin: 1 1 0 1; }
    CompareScreen > #notes { height: auto; padding: 1 1 0 1; }
    """

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        yield Static("\n".join(legend(self.comparison)), id="legend", markup=False)
        yield DataTable(id="table", zebra_stripes=True, cursor_type="row")
        notes = [f"note: {note}" for note in self.comparison.notes] + [FOOTNOTE]
        yield Static("\n".join(notes), id="notes", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table: DataTable[Text] = self.query_one(DataTable)
        header, *rows = table_cells(self.comparison)
        table.add_columns(*header)
        shown = [row for row in self.comparison.rows if any(v is not None for v in row.values)]
        count = len(self.comparison.summaries)
        for cells, row in zip(rows, shown, strict=True):
            styled = []
            for column, cell in enumerate(cells):
                bold = 1 <= column <= count and (column - 1) in row.best and not row.tie
                styled.append(Text(cell, style="bold" if bold else "", justify="left" if column == 0 else "right"))
            table.add_row(*styled)
        self.title = "tpstui compare"

    def action_close(self) -> None:
        self.app.exit(0)


class CompareApp(App[int]):
    """A one-screen app around ``CompareScreen``."""

    TITLE = "tpstui compare"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "quit", show=False, priority=True)]

    def __init__(self, comparison: Comparison, theme: str = DEFAULT_THEME) -> None:
        super().__init__()
        self.comparison = comparison
        for registered in load_themes().values():
            self.register_theme(registered)
        if theme not in self.available_themes:
            raise UserError(f"unknown theme {theme!r}; use one of: {', '.join(sorted(self.available_themes))}.")
        self.theme = theme

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return app_variable_defaults(self.current_theme)

    def on_mount(self) -> None:
        self.push_screen(CompareScreen(self.comparison))


def run_compare_app(
    comparison: Comparison,
    *,
    theme: str = DEFAULT_THEME,
    headless: bool = False,
    auto_pilot: AutopilotCallbackType | None = None,
) -> int:
    """Show the comparison until the user closes it (q / escape); returns 0."""
    result = CompareApp(comparison, theme=theme).run(headless=headless, auto_pilot=auto_pilot)
    return int(result or 0)
