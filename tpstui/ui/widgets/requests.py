"""The requests panel of an endpoint session: in flight, done, failed by kind, system TPS, and the latest requests.

Shown only for endpoint sessions. The table lists the most recently sent requests, newest first,
with their status, TTFT, TPOT, tokens and output TPS; ``▸`` marks the one the output panel follows.
Requests are numbered as the stats panel numbers runs: measured ones from 1, warm-ups ``w1``, ``w2``...
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text

from tpstui.ui import format as fmt
from tpstui.ui.serving import RequestRow, ServingView
from tpstui.ui.widgets.lines import LinesWidget

__all__ = ["RequestsPanel"]

HEAD = ("req", "status", "TTFT", "TPOT", "tok", "t/s")
WIDE = (5, 10, 8, 8, 6, 6)
NARROW = (4, 9, 7, 7, 5)
"""Column widths; below the wide table's width the t/s column goes."""


class RequestsPanel(LinesWidget):
    """Two summary lines, then one line per recent request (as many as fit)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"requests--label", "requests--head", "requests--failed",
                                             "requests--live"}  # fmt: skip
    DEFAULT_CSS = """
    RequestsPanel > .requests--label { color: $foreground-muted; }
    RequestsPanel > .requests--head { color: $foreground-muted; text-style: bold; }
    RequestsPanel > .requests--failed { color: $error; }
    RequestsPanel > .requests--live { color: $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.summary: tuple[str, ...] = ()
        self.rows: list[RequestRow] = []
        self.following: int | None = None
        self._key: object = None

    def restyled(self) -> None:
        self._key = None

    def show(self, view: ServingView, rows: list[RequestRow], following: int | None) -> None:
        summary: tuple[str, ...] = (
            f"in flight {view.in_flight} · done {view.completed} · failed {view.failed}",
            f"system {fmt.rate(view.system_tps)} tok/s · {fmt.rate(view.request_rate)} req/s",
        )
        if view.errors:
            summary += ("errors: " + " ".join(f"{kind} {n}" for kind, n in sorted(view.errors.items())),)
        key = (summary, rows, following, self.size)
        if key == self._key:
            return
        self._key = key
        self.summary, self.rows, self.following = summary, rows, following
        self.set_lines(self._text_lines())

    @staticmethod
    def _cells(row: RequestRow) -> tuple[str, ...]:
        return (row.label, row.status, fmt.seconds_ms(row.ttft_s), fmt.seconds_ms(row.tpot_s),
                fmt.count(row.tokens), fmt.rate(row.tps))  # fmt: skip

    def _text_lines(self) -> list[Text]:
        label = self.component_style("requests--label")
        head = self.component_style("requests--head")
        width = max(self.size.width, 20)
        widths = WIDE if width >= sum(WIDE) + len(WIDE) - 1 else NARROW
        lines = [Text(text, label) for text in self.summary]

        def line(cells: tuple[str, ...], style: object = "", mark: str = " ") -> Text:
            parts = [mark + cells[0].rjust(widths[0] - 1), cells[1][: widths[1]].ljust(widths[1])]
            parts += [c.rjust(w) for c, w in zip(cells[2 : len(widths)], widths[2:], strict=True)]
            return Text(" ".join(parts)[:width], style)  # type: ignore[arg-type]

        lines.append(line(HEAD, head))
        room = max(self.size.height - len(lines), 0) if self.size.height else len(self.rows)
        for row in self.rows[:room]:
            style = self.component_style("requests--failed") if row.failed else (
                self.component_style("requests--live") if row.status == "streaming" else "")  # fmt: skip
            lines.append(line(self._cells(row), style, "▸" if row.run == self.following else " "))
        return lines
