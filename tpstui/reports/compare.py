"""Compare recordings side by side: TTFT, the TPS kinds, ITL percentiles, throttling, energy, CPU per token.

Each recording is summarised from its bench report (``export_report``): the across-run means
(measured runs, warm-ups excluded) of the bench aggregate, the total time throttled while
decoding and the energy per token over those runs, and the diagnosis' verdict. The first
recording is the baseline for differences; a value within ``TIE_FRACTION`` of the best counts
as a tie.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpstui.reports.bench import measured_entries
from tpstui.reports.export import export_report
from tpstui.stream.recording.reader import Recording

__all__ = [
    "FOOTNOTE",
    "METRICS",
    "TIE_FRACTION",
    "Comparison",
    "Metric",
    "Row",
    "Summary",
    "compare",
    "comparison_text",
    "legend",
    "table_cells",
]

TIE_FRACTION = 0.01
"""Relative differences below 1 % are reported as a tie ("≈")."""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    scale: float
    digits: int
    higher_is_better: bool
    total: bool = False
    """A sum over the measured runs, not a mean (no ± sd)."""


METRICS = (
    Metric("ttft_s", "TTFT", "ms", 1e3, 1, False),
    Metric("output_tps", "decode TPS", "tok/s", 1.0, 2, True),
    Metric("total_tps", "total TPS", "tok/s", 1.0, 2, True),
    Metric("system_tps", "system TPS", "tok/s", 1.0, 2, True),
    Metric("tpot_s", "TPOT", "ms", 1e3, 2, False),
    Metric("itl_p50_s", "ITL p50", "ms", 1e3, 2, False),
    Metric("itl_p90_s", "ITL p90", "ms", 1e3, 2, False),
    Metric("itl_p99_s", "ITL p99", "ms", 1e3, 2, False),
    Metric("throttled_s", "time throttled", "s", 1.0, 2, False, total=True),
    Metric("joules_per_token", "energy per token", "mJ", 1e3, 1, False),
    Metric("cpu_ms_per_token", "CPU per token", "ms", 1.0, 2, False),
)


@dataclass
class Summary:
    """One recording reduced to the compared figures (None: not measured / not available)."""

    label: str
    path: str
    model: str
    device: str
    dtype: str
    runs: int
    workload: tuple[Any, ...]
    """(prompt tokens, max new tokens, batch size) of the measured runs."""
    complete: bool
    values: dict[str, float | None]
    sd: dict[str, float | None] = field(default_factory=dict)
    verdict: str = ""
    """The diagnosis' verdict (``tpstui.state.diagnosis``)."""


@dataclass
class Row:
    metric: Metric
    values: list[float | None]
    diffs: list[float | None]
    """value − baseline (the first recording), per recording."""
    relative: list[float | None]
    """(value − baseline) / |baseline|; None when the baseline is 0 or missing."""
    best: list[int]
    """Indices of the better recording(s): those within ``TIE_FRACTION`` of the best value
    (empty when fewer than two recordings have the value)."""
    tie: bool
    """Every recording with the value is within ``TIE_FRACTION`` of the best."""


@dataclass
class Comparison:
    summaries: list[Summary]
    rows: list[Row]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordings": [
                {k: getattr(s, k) for k in ("label", "path", "model", "device", "dtype", "runs", "complete", "verdict")}
                | {"values": s.values, "sd": s.sd}
                for s in self.summaries
            ],
            "rows": [
                {
                    "metric": r.metric.key,
                    "values": r.values,
                    "diff_vs_first": r.diffs,
                    "relative_vs_first": r.relative,
                    "better": [self.summaries[i].label for i in r.best],
                    "tie": r.tie,
                }
                for r in self.rows
            ],
            "notes": self.notes,
        }


def summarize(recording: Recording, label: str) -> Summary:
    """The compared figures of one recording."""
    report = export_report(recording)
    measured = measured_entries(report["runs"])
    values: dict[str, float | None] = {}
    sd: dict[str, float | None] = {}
    for metric in METRICS:
        if metric.key in ("throttled_s", "joules_per_token"):  # sums over the runs, below
            continue
        agg = report["aggregate"].get(metric.key)
        values[metric.key] = agg["mean"] if agg else None
        sd[metric.key] = agg.get("sd") if agg else None
    # Only GPU backends report throttle reasons; on a CPU-only recording "0 s" would claim too much.
    has_telemetry = any(device != "cpu" for device in report["telemetry"]["devices"])
    throttled = [r["telemetry"].get("throttled_s") for r in measured]
    values["throttled_s"] = sum(t or 0.0 for t in throttled) if has_telemetry and measured else None
    with_energy = [r for r in measured if r["telemetry"].get("energy_j") is not None]
    tokens = sum(r["new_tokens_all"] for r in with_energy)
    energy = sum(r["telemetry"]["energy_j"] for r in with_energy)
    values["joules_per_token"] = energy / tokens if with_energy and tokens else None
    model = report.get("model") or {}
    workload = tuple(
        sorted({(r["prompt_tokens"], report["settings"].get("max_new_tokens"), r["batch_size"]) for r in measured})
    )
    return Summary(
        label=label,
        path=recording.path,
        model=str(model.get("name", "unknown model")),
        device=str(model.get("device", "?")),
        dtype=str(model.get("dtype", "?")),
        runs=len(measured),
        workload=workload,
        complete=recording.complete,
        values=values,
        sd=sd,
        verdict=str((report.get("diagnosis") or {}).get("verdict", "")),
    )


def _row(metric: Metric, summaries: list[Summary]) -> Row:
    values = [s.values.get(metric.key) for s in summaries]
    base = values[0]
    diffs = [None if v is None or base is None else v - base for v in values]
    relative = [None if d is None or not base else d / abs(base) for d in diffs]
    present = [(v, i) for i, v in enumerate(values) if v is not None]
    if len(present) < 2:
        return Row(metric, values, diffs, relative, [], False)
    top = (max if metric.higher_is_better else min)(v for v, _ in present)
    best = [i for v, i in present if abs(v - top) <= TIE_FRACTION * max(abs(v), abs(top))]
    return Row(metric, values, diffs, relative, best, len(best) == len(present))


def _notes(summaries: list[Summary]) -> list[str]:
    notes = []
    legend = "; ".join(f"{s.label}: {s.model}" for s in summaries)
    if len({s.model for s in summaries}) > 1:
        notes.append(f"different models ({legend}): the differences include the models, not only the setup.")
    if len({(s.device, s.dtype) for s in summaries}) > 1:
        where = "; ".join(f"{s.label}: {s.device} {s.dtype}" for s in summaries)
        notes.append(f"different devices or dtypes ({where}).")
    if len({s.workload for s in summaries}) > 1:
        notes.append("different workloads (prompt tokens, max new tokens or batch size): compare rates with care.")
    for s in summaries:
        if not s.complete:
            notes.append(f"{s.label} was cut off (no clean end): its last run may be missing.")
        if s.runs == 0:
            notes.append(f"{s.label} has no finished measured run: its figures are n/a.")
    return notes


def compare(recordings: list[Recording]) -> Comparison:
    """Summaries labelled A, B, C... (the first is the baseline), one row per metric, and notes."""
    labels = [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(len(recordings))]
    summaries = [summarize(rec, label) for rec, label in zip(recordings, labels, strict=True)]
    return Comparison(summaries, [_row(m, summaries) for m in METRICS], _notes(summaries))


def _fmt(value: float | None, metric: Metric) -> str:
    return "n/a" if value is None else f"{value * metric.scale:.{metric.digits}f}"


def _cell(summary: Summary, metric: Metric) -> str:
    text = _fmt(summary.values.get(metric.key), metric)
    sd = summary.sd.get(metric.key)
    return f"{text} ± {_fmt(sd, metric)}" if sd is not None and summary.values.get(metric.key) is not None else text


def _delta(row: Row, index: int) -> str:
    relative = row.relative[index]
    if relative is not None:
        return f"{relative * 100:+.1f}%"
    diff = row.diffs[index]
    return "n/a" if diff is None else f"{diff * row.metric.scale:+.{row.metric.digits}f}"


def legend(comparison: Comparison) -> list[str]:
    """One line per recording: its label, path, model, device, dtype and measured runs."""
    return [
        f"{x.label}  {x.path}  ({x.model}, {x.device}, {x.dtype}, {x.runs} measured run(s))"
        for x in comparison.summaries
    ]


def table_cells(comparison: Comparison) -> list[list[str]]:
    """The table as text cells: a header row, then one row per metric that any recording has."""
    s = comparison.summaries
    header = ["metric", *[x.label for x in s], *[f"{x.label} vs {s[0].label}" for x in s[1:]], "better"]
    table = [header]
    for row in comparison.rows:
        if all(v is None for v in row.values):
            continue
        better = "≈" if row.tie else (", ".join(s[i].label for i in row.best) or "n/a")
        name = f"{row.metric.label} ({row.metric.unit}{', total' if row.metric.total else ''})"
        table.append([name, *[_cell(x, row.metric) for x in s], *[_delta(row, i) for i in range(1, len(s))], better])
    return table


FOOTNOTE = (
    "means over measured runs (± sample sd), except time throttled: the total over them; "
    "differences relative to A; ≈ = within 1 %."
)


def comparison_text(comparison: Comparison) -> str:
    """The terminal table: a legend, one line per metric, the differences and which is better."""
    table = table_cells(comparison)
    widths = [max(len(r[c]) for r in table) for c in range(len(table[0]))]
    lines = [*legend(comparison), ""]
    for number, cells in enumerate(table):
        padded = (
            cell.ljust(w) if c == 0 else cell.rjust(w) for c, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )
        lines.append("  ".join(padded))
        if number == 0:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    lines += [f"note: {note}" for note in comparison.notes]
    lines.append(FOOTNOTE)
    lines += ["", *(f"{s.label} diagnosis: {s.verdict}" for s in comparison.summaries if s.verdict)]
    return "\n".join(lines)
