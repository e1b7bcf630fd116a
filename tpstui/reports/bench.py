"""The bench report: one dict (the JSON), a per-run CSV and a terminal table, all from a Session."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import Any

from tpstui import __version__
from tpstui.reports.diagnosis import DIAGNOSIS_DEFINITIONS, diagnosis_lines
from tpstui.reports.serving import SERVING_DEFINITIONS, is_serving, serving_fields, serving_table_text
from tpstui.state.diagnosis import diagnose_session
from tpstui.state.metrics import AcrossRuns, across_runs
from tpstui.state.session import RunView, Session
from tpstui.state.telemetry import run_telemetry
from tpstui.stream.fields import field

__all__ = [
    "METRIC_DEFINITIONS",
    "REPORT_SCHEMA",
    "build_report",
    "csv_text",
    "measured_entries",
    "table_text",
    "write_report",
]

REPORT_SCHEMA = "tpstui.bench/1"

METRIC_DEFINITIONS = {
    "clock": "time.perf_counter_ns() of the measuring process, shared by tokens and telemetry",
    "start": "the moment generate() is called; tokenisation happens before it (outside TTFT)",
    "arrival": "when the streamer's put() received a token's id on the host (stamped on the generation thread)",
    "ttft_s": "first arrival − start (vLLM: ttft; AIPerf: time_to_first_token)",
    "latency_s": "last arrival − start (vLLM: e2el; AIPerf: request_latency)",
    "tpot_s": "(latency − TTFT) / (tokens − 1) (vLLM: tpot; AIPerf calls this quantity 'inter_token_latency')",
    "output_tps": "(tokens − 1) / (last arrival − first arrival) = 1/TPOT, decode only, prefill excluded "
    "(AIPerf: output_token_throughput_per_user)",
    "total_tps": "tokens / latency, prefill included",
    "system_tps": "tokens of all sequences in the batch / (last arrival of any − start) (vLLM: output_throughput)",
    "itl_s": "distribution of gaps between consecutive arrivals (vLLM: itl; AIPerf: inter_chunk_latency); "
    "std is the population std",
    "aggregate": "across measured runs (measured: not a warm-up, and generate() returned; a run stopped early "
    "counts, a failed or unfinished one does not): mean, sample sd (N − 1, as llama-bench), median",
    "cpu_s": "CPU time of the generating process from start to the end of generate() (process_time: all its "
    "threads, torch's intra-op pool included; tpstui generates in a child process of its own, so the monitor's "
    "threads are not in it unless --same-process); null where not measured (an endpoint)",
    "cpu_ms_per_token": "cpu_s / tokens of all sequences, in ms: the cost of a token, which hardly moves with "
    "the neighbours' load on a shared machine while the wall time does",
    "monitor_pauses": "the measuring process's own pauses during the run (garbage collections of at least "
    "2 ms, UI frames or frame timers that held the app's thread for at least 30 ms) by kind: count, seconds, the "
    "longest; tokens_after_pause counts the tokens whose gap (previous arrival, or the start, to the arrival) "
    "overlapped one, i.e. the tokens the monitor may have delayed",
    "token_times_ns": "arrival times of sequence 0's tokens, ns after start; token_counts gives tokens per "
    "arrival when any arrival carried more than one (assisted decoding)",
    "diagnosis": DIAGNOSIS_DEFINITIONS,
}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _run_entry(session: Session, view: RunView) -> dict[str, Any]:
    start = view.started.t_ns
    entry: dict[str, Any] = {
        "run": view.run,
        "warmup": view.warmup,
        "measured": view.measured,
        "status": view.finished.reason if view.finished else ("failed" if view.error else "unfinished"),
        "error": view.error,
        "prompt_tokens": view.started.prompt_tokens,
        "batch_size": view.started.batch_size,
        "new_tokens": int(view.counts.sum()),
        "new_tokens_all": view.n_all,
        "start_ns": start,
        "end_ns": view.end_ns,
        "wall_s": (view.end_ns - start) / 1e9 if view.end_ns else None,
        "metrics": (run_metrics := view.metrics()).as_dict(),
        **cpu_figures(view),
        "token_times_ns": [int(t - start) for t in view.arrivals],
        "text": view.text,
    }
    if view.counts.size and int(view.counts.max()) > 1:
        entry["token_counts"] = [int(c) for c in view.counts]
    entry["telemetry"] = run_telemetry(session, view, run_metrics)
    entry["monitor_pauses"] = session.run_pauses(view.run).as_dict()
    return entry


def cpu_figures(view: RunView) -> dict[str, float | None]:
    """The generating process's CPU seconds over a finished run, and its CPU ms per token."""
    cpu_ns = view.finished.cpu_ns if view.finished is not None else None
    if cpu_ns is None:
        return {"cpu_s": None, "cpu_ms_per_token": None}
    return {"cpu_s": cpu_ns / 1e9, "cpu_ms_per_token": cpu_ns / 1e6 / view.n_all if view.n_all else None}


def measured_entries(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's entries of measured runs (``tpstui.state.session.is_measured``)."""
    return [entry for entry in runs if entry["measured"]]


def _aggregate_entry(value: AcrossRuns | None) -> dict[str, Any] | None:
    return value.as_dict() if value is not None else None


def build_report(
    session: Session,
    settings: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The bench JSON: metadata, every run with raw timestamps and telemetry, aggregates, the diagnosis."""
    model = session.model
    started = session.started
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "tool": {"name": "tpstui", "version": __version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started.wall_time if started else None)),
        "model": {
            "name": model.name,
            "source": model.source,
            "parameters": model.parameters,
            "dtype": model.dtype,
            "device": model.device,
            "weight_bytes": model.weight_bytes,
            "layers": model.n_layers,
            "kv_heads": model.n_kv_heads,
            "head_dim": model.head_dim,
            "context_length": model.context_length,
            "load_seconds": model.load_seconds,
            "loaded_from_cache": model.cached,
        }
        if model
        else None,
        "environment": (dict(started.host) if started else {}) | {"versions": dict(model.versions) if model else {}},
        "settings": settings,
        "metric_definitions": METRIC_DEFINITIONS,
        "runs": (runs := [_run_entry(session, view) for view in session.runs(include_warmup=True)]),
        "aggregate": {name: _aggregate_entry(value) for name, value in session.aggregate().items()}
        | _telemetry_aggregate(runs),
        "telemetry": {
            "devices": session.devices(),
            "failures": [{"t_ns": f.t_ns, "device": f.device, "message": f.message} for f in session.failures],
            "throttle_spans": [
                {"device": s.device, "reason": s.reason, "start_ns": s.start_ns, "end_ns": s.end_ns}
                for s in session.throttle_spans()
            ],
        },
        "diagnosis": diagnose_session(session).as_dict(),
    }
    if is_serving(settings):
        report["metric_definitions"] = METRIC_DEFINITIONS | SERVING_DEFINITIONS
        report.update(serving_fields(session, settings))
    if extra:
        report.update(extra)
    cleaned: dict[str, Any] = _finite(report)
    return cleaned


def _telemetry_aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """MBU and energy per token across measured finished runs (mean ± sd, median)."""
    tel = [r["telemetry"] for r in measured_entries(runs)]
    mbu = across_runs([(t.get("mbu") or {}).get("mbu") for t in tel])
    joules = across_runs([t.get("joules_per_token") for t in tel])
    per_joule = across_runs([t.get("tokens_per_joule") for t in tel])
    cpu = across_runs([r["cpu_ms_per_token"] for r in measured_entries(runs)])
    return {"mbu": _aggregate_entry(mbu), "joules_per_token": _aggregate_entry(joules),
            "tokens_per_joule": _aggregate_entry(per_joule), "cpu_ms_per_token": _aggregate_entry(cpu)}  # fmt: skip


CSV_COLUMNS = (
    "run",
    "warmup",
    "status",
    "prompt_tokens",
    "batch_size",
    "new_tokens",
    "new_tokens_all",
    "ttft_s",
    "latency_s",
    "tpot_s",
    "output_tps",
    "total_tps",
    "system_tps",
    "itl_mean_s",
    "itl_std_s",
    "itl_p50_s",
    "itl_p90_s",
    "itl_p95_s",
    "itl_p99_s",
    "throttled_s",
    "tps_throttled",
    "tps_unthrottled",
    "energy_j",
    "joules_per_token",
    "tokens_per_joule",
    "mbu",
    "cpu_ms_per_token",
    "tokens_after_pause",
)


def _csv_row(entry: dict[str, Any]) -> dict[str, Any]:
    m = entry["metrics"]
    itl = m.get("itl_s") or {}
    tel = entry.get("telemetry") or {}
    row = {key: entry.get(key) for key in ("run", "warmup", "status", "prompt_tokens", "batch_size")}
    row.update(new_tokens=entry["new_tokens"], new_tokens_all=entry["new_tokens_all"])
    for key in ("ttft_s", "latency_s", "tpot_s", "output_tps", "total_tps", "system_tps"):
        row[key] = m.get(key)
    for stat in ("mean", "std", "p50", "p90", "p95", "p99"):
        row[f"itl_{stat}_s"] = itl.get(stat)
    for key in ("throttled_s", "tps_throttled", "tps_unthrottled", "energy_j", "joules_per_token", "tokens_per_joule"):
        row[key] = tel.get(key)
    row["mbu"] = (tel.get("mbu") or {}).get("mbu")
    row["cpu_ms_per_token"] = entry.get("cpu_ms_per_token")
    row["tokens_after_pause"] = (entry.get("monitor_pauses") or {}).get("tokens_after_pause")
    return row


def csv_text(report: dict[str, Any]) -> str:
    """One row per run (warm-ups included, flagged)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in report["runs"]:
        writer.writerow({k: ("" if v is None else v) for k, v in _csv_row(entry).items()})
    return buffer.getvalue()


def write_report(report: dict[str, Any], json_path: str | None, csv_path: str | None) -> list[str]:
    """Write the JSON and/or CSV files (parents are created). Each is tried: returns one line per
    file that could not be written (a full disk, /dev/full), never raises for it."""
    problems = []
    writers = ((json_path, lambda: json.dumps(report, indent=2) + "\n"), (csv_path, lambda: csv_text(report)))
    for target, text in writers:
        if not target:
            continue
        path = Path(target)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text(), encoding="utf-8")
        except OSError as error:
            problems.append(f"cannot write {target}: {error.strerror or error}.")
    return problems


def _fmt(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value * scale:.{digits}f}"


def _pm(agg: dict[str, Any] | None, scale: float = 1.0, digits: int = 2) -> str:
    if not agg:
        return "n/a"
    sd = agg.get("sd")
    text = _fmt(agg["mean"], scale, digits)
    return f"{text} ± {_fmt(sd, scale, digits)}" if sd is not None else text


def table_text(report: dict[str, Any]) -> str:
    """A readable summary for the terminal."""
    if is_serving(report["settings"]):
        return "\n".join([serving_table_text(report), *_diagnosis_text(report)])
    lines: list[str] = []
    model = report.get("model") or {}
    if model:
        lines.append(
            f"model   {model['name']}  {model['parameters'] / 1e6:.0f}M params  {model['dtype']}  {model['device']}"
        )
    settings = report["settings"]
    runs = report["runs"]
    prompt_tokens = runs[0]["prompt_tokens"] if runs else "?"
    lines.append(
        f"prompt  {prompt_tokens} tokens; up to {settings.get('max_new_tokens')} new tokens; "
        f"batch {settings.get('batch_size')}; TTFT excludes tokenisation"
    )
    header = (
        f"{'run':>5} {'status':>8} {'tokens':>7} {'TTFT ms':>9} {'decode t/s':>11} {'total t/s':>10} "
        f"{'ITL p50':>8} {'p90':>7} {'p99 ms':>7}"
    )
    lines += ["", header, "-" * len(header)]
    for entry in runs:
        m = entry["metrics"]
        itl = m.get("itl_s") or {}
        label = f"w{entry['run']}" if entry["warmup"] else str(entry["run"])
        lines.append(
            f"{label:>5} {entry['status']:>8} {entry['new_tokens']:>7} {_fmt(m['ttft_s'], 1e3, 1):>9} "
            f"{_fmt(m['output_tps']):>11} {_fmt(m['total_tps']):>10} {_fmt(itl.get('p50'), 1e3, 1):>8} "
            f"{_fmt(itl.get('p90'), 1e3, 1):>7} {_fmt(itl.get('p99'), 1e3, 1):>7}"
        )
    agg = report["aggregate"]
    measured = measured_entries(runs)
    if measured:
        lines.append("-" * len(header))
        lines.append(f"over {len(measured)} measured run(s), mean ± sd (median):")
        for key, label, scale, digits in (
            ("output_tps", "decode tok/s", 1.0, 2),
            ("total_tps", "total tok/s", 1.0, 2),
            ("ttft_s", "TTFT ms", 1e3, 1),
            ("itl_p50_s", "ITL p50 ms", 1e3, 2),
            ("itl_p99_s", "ITL p99 ms", 1e3, 2),
            ("cpu_ms_per_token", "CPU ms/token", 1.0, 2),
        ):
            value = agg.get(key)
            median = _fmt(value["median"], scale, digits) if value else "n/a"
            lines.append(f"  {label:<14} {_pm(value, scale, digits):>20}  ({median})")
        if settings.get("batch_size", 1) > 1:
            lines.append(f"  {'system tok/s':<14} {_pm(agg.get('system_tps')):>20}")
    lines += _telemetry_lines(measured)
    lines += _diagnosis_text(report)
    return "\n".join(lines)


def _diagnosis_text(report: dict[str, Any]) -> list[str]:
    if not report.get("diagnosis"):
        return []
    return ["", "diagnosis (README: Diagnosis):", *(f"  {line}" for line in diagnosis_lines(report["diagnosis"]))]


TABLE_TELEMETRY = (
    "util_pct",
    "cpu_clock_mhz",
    "sm_clock_mhz",
    "temp_c",
    "temp_mem_c",
    "power_w",
    "bw_util_pct",
    "rss_mb",
)
"""The telemetry the bench table prints (mean and max over the last measured run)."""


def _telemetry_lines(measured: list[dict[str, Any]]) -> list[str]:
    if not measured:
        return []
    devices = measured[-1]["telemetry"]["devices"]
    lines: list[str] = []
    for device, data in devices.items():
        metrics = data["metrics"]
        parts = []
        for key in TABLE_TELEMETRY:
            if key in metrics and "mean" in metrics[key]:
                info = field(key)
                unit = info.unit if info.unit.startswith("%") else f" {info.unit}"
                parts.append(f"{info.brief} {metrics[key]['mean']:.0f}{unit} (max {metrics[key]['max']:.0f})")
        if parts:
            lines.append(f"  {device + ' (last run)':<14} " + ", ".join(parts))
    lines += _efficiency_lines(measured)
    lines += _pause_lines(measured)
    throttled = [r["telemetry"] for r in measured if r["telemetry"].get("throttle_s")]
    for tel in throttled[-1:]:
        for device, reasons in tel["throttle_s"].items():
            text = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in reasons.items())
            lines.append(f"  {device + ' throttled':<14} {text}")
    return lines


def _pause_lines(measured: list[dict[str, Any]]) -> list[str]:
    """The monitor's own pauses over the measured runs, when there were any."""
    pauses = [r.get("monitor_pauses") or {} for r in measured]
    kinds: dict[str, tuple[int, float]] = {}
    for part in pauses:
        for kind, count in part.get("count", {}).items():
            n, seconds = kinds.get(kind, (0, 0.0))
            kinds[kind] = (n + count, seconds + part["seconds"].get(kind, 0.0))
    if not kinds:
        return []
    tokens = sum(p.get("tokens_after_pause", 0) for p in pauses)
    text = ", ".join(f"{n} {kind.upper()} ({seconds * 1e3:.0f} ms)" for kind, (n, seconds) in sorted(kinds.items()))
    return [f"  {'monitor pauses':<14} {text}; {tokens} token(s) arrived after a gap that overlapped one"]


def _efficiency_lines(measured: list[dict[str, Any]]) -> list[str]:
    """MBU and energy per token of the last measured run (the JSON has every run's)."""
    tel = measured[-1]["telemetry"]
    lines = []
    mbu = tel.get("mbu") or {}
    if mbu:
        peak = f"{mbu['peak_gbs']:.0f} GB/s ({mbu['peak_source']})" if mbu.get("peak_gbs") else "unknown peak"
        value = f"{mbu['mbu'] * 100:.1f}%" if mbu.get("mbu") is not None else "n/a"
        lines.append(f"  {'MBU (last run)':<14} {value}: {mbu['achieved_gbs']:.1f} GB/s of {peak}")
    if tel.get("joules_per_token"):
        lines.append(
            f"  {'energy':<14} {tel['energy_j']:.1f} J, {tel['joules_per_token']:.3f} J/token, "
            f"{tel['tokens_per_joule']:.2f} tokens/J"
        )
    return lines
