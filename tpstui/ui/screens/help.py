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
    ("z / x", "zoom the timeline in / out"),
    ("[ / ]", "pan the timeline back / forward (to the end: follows it again)"),
    ("f", "the whole session, following the end"),
    ("d", "diagnosis: did throttling cost speed, how much, why"),
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
)
METRICS = """\
[b]TTFT[/b]         first token − the generate() call (tokenisation is before it)
[b]output TPS[/b]   (n − 1) / (last − first token): decoding only, prefill excluded
[b]total TPS[/b]    n / (last token − generate() call): prefill included
[b]ITL[/b]          gaps between consecutive tokens: p50 / p90 / p99
[b]timeline[/b]     lanes on one time axis. tokens/s: bars = per-token TPS (1 / gap),
             time-weighted per column; line = tokens in the last second;
             ┊ a run starts (╎ warm-up). Then each device: clock (lowest in a
             column), temperatures, power, DRAM bandwidth (highest in a column),
             each against its own limit; the throttle strip and the tint through
             every lane: power / thermal / other reasons
[b]peak[/b]         the highest 1 s rate of this run (≥ now; not the chart's scale)
[b]all runs[/b]     measured runs (warm-ups excluded; stopped ones count and are
             named): mean ± sample sd; elapsed = the measured runs' own time
[b]mem used[/b]     CPU: total − available (page cache excluded); [b]proc RSS[/b]: this
             process, mapped model files included, so it can read higher"""


class HelpScreen(ModalScreen[None]):
    """Keys and metric definitions; any of escape, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss_help", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
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
