"""The diagnosis screen (``d``): did throttling cost speed, how much, and why (``tpstui.state.diagnosis``).

The numbers are computed on a worker thread (they read every token of the session) when the
screen opens and every ``REFRESH_S`` seconds while it is open; the lines are
``tpstui.reports.diagnosis.diagnosis_lines``, the same as ``replay --summary`` prints.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from tpstui.reports.diagnosis import diagnosis_lines
from tpstui.sources.base import SessionSource
from tpstui.state.diagnosis import Diagnosis, diagnose_session

__all__ = ["DiagnosisScreen"]

REFRESH_S = 2.0


class DiagnosisScreen(ModalScreen[None]):
    """The verdict and the figures behind it; escape, d or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,d,q", "close", "close", show=False)]
    DEFAULT_CSS = """
    DiagnosisScreen { align: center middle; }
    DiagnosisScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $throttle; background: $surface; padding: 0 1;
    }
    DiagnosisScreen #diagnosis-verdict { text-style: bold; margin-bottom: 1; }
    DiagnosisScreen #diagnosis-body { color: $foreground; }
    DiagnosisScreen #diagnosis-hint { color: $foreground-muted; margin-top: 1; }
    """

    def __init__(self, source: SessionSource) -> None:
        super().__init__()
        self.source = source
        self.diagnosis: Diagnosis | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "diagnosis  (escape closes)"
            yield Static("computing…", id="diagnosis-verdict")
            yield Static("", id="diagnosis-body", markup=False)
            yield Static(
                "definitions: README, Diagnosis; the same lines: tpstui replay FILE --summary", id="diagnosis-hint"
            )

    def on_mount(self) -> None:
        self._refresh_now()
        self.set_interval(REFRESH_S, self._refresh_now)

    def _refresh_now(self) -> None:
        session = self.source.session
        self.run_worker(lambda: diagnose_session(session), thread=True, exclusive=True, group="diagnosis",
                        exit_on_error=False)  # fmt: skip

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "diagnosis":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Diagnosis):
            self.show(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.query_one("#diagnosis-verdict", Static).update(f"diagnosis failed: {event.worker.error}")

    def show(self, diagnosis: Diagnosis) -> None:
        self.diagnosis = diagnosis
        verdict, *rest = diagnosis_lines(diagnosis.as_dict())
        self.query_one("#diagnosis-verdict", Static).update(Text(verdict.removeprefix("verdict: ")))
        self.query_one("#diagnosis-body", Static).update("\n".join(rest))

    def action_close(self) -> None:
        self.dismiss()
