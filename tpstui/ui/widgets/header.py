"""The one-line header (model, dtype, device, parameters; the THROTTLED badge and the status on
the right) and the load panel."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import ProgressBar, Static

from tpstui.state.throttle import ThrottleNow, throttle_now
from tpstui.stream.events import LoadProgress, ModelLoaded
from tpstui.ui import format as fmt

__all__ = ["HeaderBar", "LoadPanel", "model_facts"]


def model_facts(model: ModelLoaded | None, settings: dict[str, Any]) -> list[str]:
    """What the header says about the model: name, dtype, device, parameters."""
    if model is not None and model.source == "endpoint":
        concurrency = settings.get("max_concurrency")
        rate = settings.get("request_rate")
        load = f"concurrency {concurrency}" if concurrency else "unlimited concurrency"
        return [
            model.name,
            model.device,
            f"{settings.get('api', 'chat')} API",
            load + (f", {rate:g} req/s" if rate else ""),
        ]
    if model is not None:
        return [model.name, model.dtype, model.device, f"{fmt.params(model.parameters)} params"]
    name = settings.get("model") or "embedded SmolLM2-135M-Instruct"
    return [str(name), f"dtype {settings.get('dtype', 'auto')}", f"device {settings.get('device', 'auto')}"]


BADGE_ROOM = 24
"""The model facts keep at least this many columns before the badge drops the reason names."""


class HeaderBar(Widget):
    """``tpstui │ model · dtype · device · params`` on the left; on the right the THROTTLED badge
    (with the reason names when there is room) and the status. The badge shows the frame's
    ``ViewModel.throttle``, the same state the timeline and the telemetry panel show."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"header--name", "header--status", "header--error", "header--throttle"}
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; }
    HeaderBar > .header--name { color: $primary; text-style: bold; }
    HeaderBar > .header--status { color: $accent; text-style: bold; }
    HeaderBar > .header--error { color: $error; text-style: bold; }
    HeaderBar > .header--throttle { color: $background; background: $throttle; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facts: list[str] = []
        self.status = ""
        self.error = False
        self.throttle: ThrottleNow = throttle_now([])

    def show(self, facts: list[str], status: str, error: bool, throttle: ThrottleNow | None = None) -> None:
        throttle = throttle if throttle is not None else throttle_now([])
        if (facts, status, error, throttle) != (self.facts, self.status, self.error, self.throttle):
            self.facts, self.status, self.error, self.throttle = facts, status, error, throttle
            self.refresh()

    def badge(self, width: int) -> str:
        """The badge text for a header ``width`` wide ("" when not throttled)."""
        if not self.throttle.throttled:
            return ""
        full = f" THROTTLED {', '.join(self.throttle.reasons)} "
        if width - len(self.status) - 2 - len(full) >= BADGE_ROOM:
            return full
        return " THROTTLED "

    def render(self) -> Text:
        width = self.size.width
        status_style = self.get_component_rich_style("header--error" if self.error else "header--status")
        badge = self.badge(width)
        right = Text.assemble(
            (badge, self.get_component_rich_style("header--throttle")), (f" {self.status} ", status_style)
        )
        left = Text.assemble((" tpstui ", self.get_component_rich_style("header--name")), "│ ", " · ".join(self.facts))
        room = max(width - right.cell_len, 0)
        left.truncate(room, overflow="ellipsis", pad=True)
        return Text.assemble(left, right)


class LoadPanel(Vertical):
    """A progress bar and the loading stage; the error instead if loading failed."""

    DEFAULT_CSS = """
    LoadPanel { height: auto; padding: 0 1; background: $surface; }
    LoadPanel #load-stage { color: $foreground-muted; }
    LoadPanel.-error #load-stage { color: $error; text-style: bold; }
    LoadPanel.-error ProgressBar { display: none; }
    LoadPanel ProgressBar Bar { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False, id="load-bar")
        yield Static("starting", id="load-stage")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).styles.width = "100%"

    def show(self, load: LoadProgress | None, error: str | None) -> None:
        stage = self.query_one("#load-stage", Static)
        if error is not None:
            self.add_class("-error")
            stage.update(Text(f"error: {error}  (q quits)"))
            return
        fraction = load.fraction if load is not None else 0.0
        self.query_one(ProgressBar).update(progress=round(fraction * 100, 1))
        text = load.stage if load is not None else "starting (importing torch)"
        stage.update(Text(f"{fraction * 100:.0f}% · {text}"))  # wraps: a cache path is never cut
