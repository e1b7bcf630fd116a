"""The stats panel: this run and across runs (TTFT, output / total TPS, ITL p50/p90/p99, tokens, elapsed).

Every figure is ``tpstui.state.metrics`` output obtained through the session (see ``ui.model``);
``values`` keeps the strings on screen so tests can compare them with the metrics module. The
"all runs" column is over the measured runs: its head says how many were stopped with ``s``
(they count), and its "elapsed" adds up the measured runs' own time (no warm-ups, no pauses).
On a short terminal (``COMPACT_BELOW`` rows) total TPS and ITL p90 give way; the line of time
per throttle reason wraps, it is never cut.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text

from tpstui.state import metrics
from tpstui.state.pauses import PauseStats
from tpstui.state.throttle import NOT_THROTTLING, ThrottleStats
from tpstui.ui import format as fmt
from tpstui.ui.model import ViewModel
from tpstui.ui.widgets.lines import LinesWidget

__all__ = [
    "ROWS",
    "StatsPanel",
    "across_latency",
    "across_rate",
    "after_pause",
    "reason_times",
    "split_rates",
    "throttled_time",
]

ROWS = (
    "TTFT",
    "output TPS",
    "total TPS",
    "ITL p50",
    "ITL p90",
    "ITL p99",
    "tokens",
    "elapsed",
    "throttled",
    "TPS thr/ok",
    "after pause",
)
COMPACT_HIDDEN = frozenset({"total TPS", "ITL p90"})
COMPACT_BELOW = 32
"""Terminals with fewer rows than this get the compact stats (without ``COMPACT_HIDDEN``)."""
THROTTLE_ROWS = frozenset({"throttled", "TPS thr/ok"})
"""Shown once the session has seen any throttle reason (never on a CPU-only run)."""
PAUSE_ROWS = frozenset({"after pause"})
"""Shown once the monitor has recorded a pause of its own (a long garbage collection, a UI stall)."""
LABEL, THIS = 11, 9


def throttled_time(stats: ThrottleStats | None) -> str:
    """Time throttled and its share of the decode time: "2.1 s 35%"."""
    if stats is None:
        return fmt.NA
    share = f" {stats.throttled_s / stats.decode_s:.0%}" if stats.decode_s > 0 else ""
    return f"{fmt.duration(stats.throttled_s)}{share}"


def split_rates(stats: ThrottleStats | None) -> str:
    """Decode TPS while throttled / while not: "12.1/16.4"."""
    if stats is None:
        return fmt.NA
    return f"{fmt.rate(stats.tps_throttled)}/{fmt.rate(stats.tps_unthrottled)}"


def reason_times(stats: ThrottleStats | None) -> str:
    """This run's time per throttle reason, longest first."""
    if stats is None or not stats.seconds_by_reason:
        return ""
    real = {r: s for r, s in stats.seconds_by_reason.items() if r.rsplit(" ", 1)[-1] not in NOT_THROTTLING}
    ranked = sorted(real.items(), key=lambda item: -item[1])
    return " · ".join(f"{reason} {fmt.duration(seconds)}" for reason, seconds in ranked)


def after_pause(parts: list[PauseStats] | None) -> str:
    """Tokens whose gap overlapped a pause of the monitor, and the pauses: "3 tok · 2 GC 1 UI"."""
    if parts is None:
        return fmt.NA
    tokens = sum(p.tokens_after_pause for p in parts)
    kinds: dict[str, int] = {}
    for part in parts:
        for kind, n in part.count.items():
            kinds[kind] = kinds.get(kind, 0) + n
    pauses = " ".join(f"{n} {kind.upper()}" for kind, n in sorted(kinds.items()))
    return f"{fmt.count(tokens)} tok" + (f" · {pauses}" if pauses else "")


def across_rate(value: metrics.AcrossRuns | None) -> str:
    """A rate across runs: mean ± sample sd."""
    if value is None:
        return fmt.NA
    return fmt.rate(value.mean) + (f"±{fmt.rate(value.sd)}" if value.sd is not None else "")


def across_latency(value: metrics.AcrossRuns | None) -> str:
    """A latency across runs in ms: mean ± sample sd."""
    if value is None:
        return fmt.NA
    if value.mean >= 10:
        return fmt.seconds_ms(value.mean)
    sd = f"±{value.sd * 1e3:.1f}" if value.sd is not None else ""
    return f"{value.mean * 1e3:.1f}{sd} ms"


class StatsPanel(LinesWidget):
    """Two columns of numbers, redrawn only when a string on screen changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"stats--label", "stats--head", "stats--good", "stats--poor"}
    DEFAULT_CSS = """
    StatsPanel > .stats--label { color: $foreground-muted; }
    StatsPanel > .stats--head { color: $foreground-muted; text-style: bold; }
    StatsPanel > .stats--good { color: $tps-good; text-style: bold; }
    StatsPanel > .stats--poor { color: $tps-poor; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.head: tuple[str, str] = ("this run", "all runs")
        self.values: dict[str, tuple[str, str]] = {row: (fmt.NA, fmt.NA) for row in ROWS}
        self.reasons = ""
        """This run's time per throttle reason (a line under the table)."""
        self.verdict: str | None = None
        """"good" / "poor": this run's output TPS against the mean over runs."""
        self._width = -1
        self._height = -1

    def restyled(self) -> None:
        self._width = -1

    def show(self, model: ViewModel) -> None:
        head, values, verdict = self._compute(model)
        full = model.full
        reasons = reason_times(full.throttle if full is not None and model.current is not None else None)
        key = (head, values, verdict, reasons, self.size.width, self.app.size.height)
        if key != (self.head, self.values, self.verdict, self.reasons, self._width, self._height):
            self.head, self.values, self.verdict, self.reasons, self._width, self._height = key
            self.set_lines(self._text_lines())

    def _compute(self, model: ViewModel) -> tuple[tuple[str, str], dict[str, tuple[str, str]], str | None]:
        current, full = model.current, model.full
        this: dict[str, str] = dict.fromkeys(ROWS, fmt.NA)
        across: dict[str, str] = dict.fromkeys(ROWS, fmt.NA)
        run_head, all_head, verdict = "this run", "all runs", None
        if current is not None:
            quick = current.quick_metrics()
            index = model.measured_index(current)
            run_head = "warm-up" if index == 0 else f"run {index}"
            this["TTFT"] = fmt.seconds_ms(quick.ttft_s)
            this["output TPS"] = fmt.rate(quick.output_tps)
            this["total TPS"] = fmt.rate(quick.total_tps)
            this["tokens"] = fmt.count(current.tail.n)
            this["elapsed"] = fmt.duration(current.elapsed_s(model.now_ns))
            if full is not None and full.run == current.run and full.run_metrics.itl_s is not None:
                itl = full.run_metrics.itl_s
                this["ITL p50"], this["ITL p90"], this["ITL p99"] = (
                    fmt.seconds_ms(itl.p50),
                    fmt.seconds_ms(itl.p90),
                    fmt.seconds_ms(itl.p99),
                )
            finished = current.tail.finished
            if current.tail.error is not None:
                run_head = f"{run_head} failed"
            elif finished is not None and finished.reason == "stopped":
                run_head = f"{run_head} stopped"
            if full is not None and full.run == current.run:
                this["throttled"] = throttled_time(full.throttle)
                this["TPS thr/ok"] = split_rates(full.throttle)
                this["after pause"] = after_pause([full.pauses] if full.pauses is not None else None)
        if full is not None and full.measured_runs:
            aggregate = full.aggregate
            all_head = f"{full.measured_runs} run{'s' if full.measured_runs > 1 else ''}"
            if full.stopped_runs:
                all_head += f", {full.stopped_runs} stopped"
            across["TTFT"] = across_latency(aggregate["ttft_s"])
            across["output TPS"] = across_rate(aggregate["output_tps"])
            across["total TPS"] = across_rate(aggregate["total_tps"])
            across["ITL p50"] = across_latency(aggregate["itl_p50_s"])
            across["ITL p90"] = across_latency(aggregate["itl_p90_s"])
            across["ITL p99"] = across_latency(aggregate["itl_p99_s"])
            across["tokens"] = fmt.count(full.measured_tokens)
            across["throttled"] = throttled_time(full.throttle_all)
            across["TPS thr/ok"] = split_rates(full.throttle_all)
            across["after pause"] = after_pause(full.pauses_all)
            mean = aggregate["output_tps"]
            quick_tps = current.quick_metrics().output_tps if current is not None else None
            if mean is not None and quick_tps is not None:
                verdict = "good" if quick_tps >= fmt.POOR_TPS_FRACTION * mean.mean else "poor"
            across["elapsed"] = fmt.duration(full.measured_s)
        return (run_head, all_head), {row: (this[row], across[row]) for row in ROWS}, verdict

    def _text_lines(self) -> list[Text]:
        label_style = self.component_style("stats--label")
        head_style = self.component_style("stats--head")
        verdict_style: Style | None = None
        if self.verdict is not None:
            verdict_style = self.component_style(f"stats--{self.verdict}")
        width = self.size.width
        this = max((width - LABEL) * 2 // 5, THIS, len(self.head[0]))
        across = max(width - LABEL - this, 0)
        compact = self.app.size.height < COMPACT_BELOW
        heads = (" " * LABEL, self.head[0].rjust(this), self.head[1].rjust(across))
        lines = [Text.assemble(*((part, head_style) for part in heads))]
        throttling = any(self.values[row] != (fmt.NA, fmt.NA) for row in THROTTLE_ROWS)
        paused = any(self.values[row] != (fmt.NA, fmt.NA) for row in PAUSE_ROWS)
        for row in ROWS:
            hidden = (row in THROTTLE_ROWS and not throttling) or (row in PAUSE_ROWS and not paused)
            if hidden or (compact and row in COMPACT_HIDDEN):
                continue
            mine, theirs = self.values[row]
            style = verdict_style if row == "output TPS" and verdict_style is not None else None
            lines.append(
                Text.assemble((row.ljust(LABEL), label_style), (mine.rjust(this), style or ""), theirs.rjust(across))
            )
        if self.reasons:
            line = Text.assemble(("this run: ", label_style), self.reasons)
            lines.extend(line.wrap(self.app.console, max(width, 1)))
        self.styles.height = len(lines) + 2  # the panel's border
        return lines
