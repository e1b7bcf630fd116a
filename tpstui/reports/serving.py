"""The bench report of an endpoint session: ``vllm bench serve --save-result`` fields, and its table.

The JSON keeps every tpstui field (one run per request) and adds, at the top level, the summary
under the names vLLM's ``--save-result`` uses (so scripts that read those files read these), the
``--save-detailed`` lists (``input_lens``, ``output_lens``, ``ttfts``, ``itls``, ``start_times``,
``generated_texts``, ``errors``), and a ``serving`` object with what vLLM does not report: errors by
kind, chunks that carried more than one token, server-reported vs counted tokens, stopped requests.
"""

from __future__ import annotations

import math
import time
from typing import Any

from tpstui.state.metrics import Distribution
from tpstui.state.serving import TOKEN_COUNT_TOLERANCE, serving_summary
from tpstui.state.session import Session

__all__ = ["SERVING_DEFINITIONS", "is_serving", "serving_fields", "serving_table_text"]

SERVING_DEFINITIONS = {
    "serving": "one run per request: start = request sent, arrival = a piece of the response body with content; "
    "tokens per arrival from the server's per-chunk usage, else the tokenizer, else one per chunk",
    "duration": "first measured request sent → last measured request ended (s)",
    "ttft_ms": "first arrival with content − request sent (AIPerf; vLLM counts the first chunk with choices)",
    "tpot_ms": "(e2el − ttft) / (output tokens − 1), per request",
    "itl_ms": "every gap between consecutive arrivals of every completed request, pooled (vLLM itl: per chunk)",
    "itl_per_token_ms": "an arrival of k tokens after a gap g counts as k gaps of g/k (a chunk is not a token)",
    "e2el_ms": "last arrival − request sent",
    "request_goodput": "completed requests meeting every --goodput SLO / duration",
    "output_throughput": "output tokens of completed requests / duration",
}
TABLE_SECTIONS = (
    ("ttft", "Time to First Token"),
    ("tpot", "Time per Output Token (excl. 1st token)"),
    ("itl", "Inter-token Latency (per chunk)"),
    ("itl_per_token", "Inter-token Latency (per token)"),
    ("e2el", "End-to-end Latency"),
)
STATS = (("mean", "mean"), ("median", "median"), ("std", "std"), ("p50", "p50"), ("p90", "p90"),
         ("p95", "p95"), ("p99", "p99"))  # fmt: skip


def is_serving(settings: dict[str, Any]) -> bool:
    """A session of the endpoint engine (its recorded settings say so)."""
    return settings.get("engine") == "endpoint"


def _stats(name: str, value: Distribution | None) -> dict[str, float | None]:
    return {f"{label}_{name}_ms": (getattr(value, attr) if value is not None else None) for label, attr in STATS}


def serving_fields(session: Session, settings: dict[str, Any]) -> dict[str, Any]:
    """The vLLM-named summary, the detailed lists, and the ``serving`` object, for the report's top level."""
    summary = serving_summary(session, settings.get("slos") or {})
    started = session.started
    rate = settings.get("request_rate")
    fields: dict[str, Any] = {
        "date": time.strftime("%Y%m%d-%H%M%S", time.localtime(started.wall_time if started else None)),
        "backend": "openai-chat" if settings.get("api") == "chat" else "openai",
        "model_id": session.model.name if session.model is not None else settings.get("served_model"),
        "tokenizer_id": settings.get("tokenizer") or (session.model.name if session.model is not None else None),
        "num_prompts": settings.get("num_requests"),
        "request_rate": rate if rate is not None else math.inf,
        "burstiness": settings.get("burstiness"),
        "max_concurrency": settings.get("max_concurrency"),
        "duration": summary.duration_s,
        "completed": summary.completed,
        "failed": summary.failed,
        "total_input_tokens": summary.total_input_tokens,
        "total_output_tokens": summary.total_output_tokens,
        "request_throughput": summary.request_throughput,
        "request_goodput": summary.request_goodput,
        "output_throughput": summary.output_throughput,
        "total_token_throughput": summary.total_token_throughput,
        "max_output_tokens_per_s": summary.max_output_tokens_per_s,
        "max_concurrent_requests": summary.max_concurrent_requests,
    }
    for name, value in (("ttft", summary.ttft_ms), ("tpot", summary.tpot_ms), ("itl", summary.itl_ms),
                        ("e2el", summary.e2el_ms), ("itl_per_token", summary.itl_token_ms)):  # fmt: skip
        fields |= _stats(name, value)
    fields |= _detailed(session)
    fields["serving"] = {
        "stopped": summary.stopped,
        "errors_by_kind": summary.errors,
        "chunks": summary.chunks,
        "multi_token_chunks": summary.multi_token_chunks,
        "server_output_tokens": summary.server_output_tokens,
        "counted_output_tokens": summary.counted_output_tokens,
        "token_count_difference": summary.token_count_difference,
        "slos_ms": summary.slos,
        "definitions": SERVING_DEFINITIONS,
    }
    return fields


def _detailed(session: Session) -> dict[str, Any]:
    """vLLM's ``--save-detailed`` lists, one entry per measured request (failed ones included)."""
    views = session.runs(include_warmup=False)
    first = min((v.started.t_ns for v in views), default=0)
    lists: dict[str, list[Any]] = {key: [] for key in
                                   ("input_lens", "output_lens", "ttfts", "itls", "start_times", "generated_texts",
                                    "errors")}  # fmt: skip
    for view in views:
        finished = view.finished
        server_prompt = finished.server_prompt_tokens if finished is not None else None
        lists["input_lens"].append(server_prompt if server_prompt is not None else view.started.prompt_tokens)
        lists["output_lens"].append(int(view.counts.sum()))
        lists["ttfts"].append((int(view.arrivals[0]) - view.started.t_ns) / 1e9 if view.arrivals.size else 0.0)
        lists["itls"].append([int(g) / 1e9 for g in (view.arrivals[1:] - view.arrivals[:-1])])
        lists["start_times"].append((view.started.t_ns - first) / 1e9)
        lists["generated_texts"].append(view.text)
        lists["errors"].append(view.error or "")
    return lists


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def serving_table_text(report: dict[str, Any]) -> str:
    """The summary as ``vllm bench serve`` prints it, plus tpstui's lines (errors, chunks, token counts)."""
    serving = report.get("serving") or {}
    model = report.get("model") or {}
    settings = report.get("settings") or {}
    width = 50
    lines = [f"model   {model.get('name', '?')} at {model.get('device', settings.get('url', '?'))}"]
    concurrency = settings.get("max_concurrency")
    rate = settings.get("request_rate")
    lines.append(f"load    concurrency {concurrency if concurrency is not None else 'unlimited'}, "
                 f"rate {rate if rate is not None else 'inf'} req/s, burstiness {settings.get('burstiness')}, "
                 f"{settings.get('api')} API, up to {settings.get('max_new_tokens')} tokens")  # fmt: skip
    lines += ["", " Serving Benchmark Result ".center(width, "=")]
    rows: list[tuple[str, str]] = [
        ("Successful requests:", str(report["completed"])),
        ("Failed requests:", str(report["failed"])),
        ("Benchmark duration (s):", f"{report['duration']:.2f}"),
        ("Total input tokens:", str(report["total_input_tokens"])),
        ("Total generated tokens:", str(report["total_output_tokens"])),
        ("Request throughput (req/s):", _rate(report["request_throughput"])),
    ]
    if report.get("request_goodput") is not None:
        rows.append(("Request goodput (req/s):", _rate(report["request_goodput"])))
    rows += [
        ("Output token throughput (tok/s):", _rate(report["output_throughput"])),
        ("Peak output token throughput (tok/s):", _rate(report["max_output_tokens_per_s"])),
        ("Peak concurrent requests:", str(report["max_concurrent_requests"])),
        ("Total token throughput (tok/s):", _rate(report["total_token_throughput"])),
    ]
    lines += [f"{label:<40}{value:>10}" for label, value in rows]
    for name, title in TABLE_SECTIONS:
        if report.get(f"mean_{name}_ms") is None:
            continue
        lines.append(f" {title} ".center(width, "-"))
        for stat in ("mean", "median", "p99"):
            label = f"{stat.capitalize() if stat != 'p99' else 'P99'} {name.upper().replace('_PER_TOKEN', '')} (ms):"
            lines.append(f"{label:<40}{_ms(report.get(f'{stat}_{name}_ms')):>10}")
    lines.append("=" * width)
    lines += _serving_notes(serving)
    return "\n".join(lines)


def _serving_notes(serving: dict[str, Any]) -> list[str]:
    lines = []
    errors = serving.get("errors_by_kind") or {}
    if errors:
        lines.append("errors by kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(errors.items())))
    if serving.get("stopped"):
        lines.append(f"stopped requests: {serving['stopped']}")
    chunks = serving.get("chunks") or 0
    if chunks:
        multi = serving.get("multi_token_chunks") or 0
        lines.append(f"chunks with content: {chunks}, of which {multi} carried more than one token")
    difference = serving.get("token_count_difference")
    if difference is not None and abs(difference) > TOKEN_COUNT_TOLERANCE:
        lines.append(f"output tokens: tpstui counted {serving['counted_output_tokens']}, the server reported "
                     f"{serving['server_output_tokens']} ({difference * 100:+.1f} %)")  # fmt: skip
    return lines
