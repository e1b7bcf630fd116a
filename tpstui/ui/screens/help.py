"""The help screen (``?``): the keys and what each number means."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]

LIVE_KEYS = (
    ("q", "quit (stops the run first)"),
    ("r", "run again with the same settings"),
    ("s", "stop the current run"),
    ("t", "next theme"),
    ("?", "this help"),
)
REPLAY_KEYS = (
    ("space", "pause / resume"),
    ("+ / -", "faster / slower"),
    ("← / →", "back / forward 5 s"),
    (".", "next token (paused)"),
    ("n", "next throttle event"),
    ("g", "go to a time (1:30, 90, 2.5s)"),
    ("home / end", "start / end of the recording"),
    ("g", "go to a time"),
)
METRICS = """\
[b]TTFT[/b]         first token − the generate() call (tokenisation is before it)
[b]output TPS[/b]   (n − 1) / (last − first token): decoding only, prefill excluded
[b]total TPS[/b]    n / (last token − generate() call): prefill included
[b]ITL[/b]          gaps between consecutive tokens: p50 / p90 / p99
[b]chart[/b]        bars: per-token TPS (1 / gap), time-weighted per column;
             line: tokens in the last second; ┊ a run starts (╎ warm-up);
             ━ under the axis: a throttle reason was active
[b]all runs[/b]     measured runs (warm-ups excluded): mean ± sample sd"""


class HelpScreen(ModalScreen[None]):
    """Keys and metric definitions; any of escape, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, replay: bool) -> None:
        super().__init__()
        self.replay = replay

    def compose(self) -> ComposeResult:
        keys = LIVE_KEYS if not self.replay else (LIVE_KEYS[0], *LIVE_KEYS[3:], *REPLAY_KEYS)
        rows = "\n".join(f"[b]{key:>10}[/b]  {text}" for key, text in keys)
        with VerticalScroll() as scroll:
            scroll.border_title = "tpstui help  (escape closes)"
            yield Static(rows + "\n\n" + METRICS)

    def action_dismiss_help(self) -> None:
        self.dismiss()
