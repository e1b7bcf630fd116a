"""A report to share: one self-contained HTML file per recording (or per comparison).

``session_report_html`` writes the session's stacked, zoomable timeline (``reports.plot``), the
diagnosis (``state.diagnosis``), the per-run table (the bench report's numbers) and the session's
metadata. plotly.js is embedded in the file (``include_plotlyjs=True``): it opens with no
network and loads nothing from elsewhere. ``compare_report_html`` overlays several recordings
with the comparison table and each one's verdict. Simulated sessions say so in a banner.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tpstui import __version__
from tpstui.reports.compare import FOOTNOTE, Comparison, legend, table_cells
from tpstui.reports.diagnosis import diagnosis_lines
from tpstui.reports.export import export_report
from tpstui.reports.plot import compare_figure, timeline_figure
from tpstui.state.diagnosis import is_simulated
from tpstui.state.session import Session
from tpstui.stream.recording.reader import Recording

__all__ = ["compare_report_html", "session_report_html", "write_html"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1400px; color: #1f2328; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.verdict { font-size: 1.15rem; font-weight: 600; padding: .6rem .9rem; border-left: 4px solid #e67e22;
           background: #fff7ed; }
.simulated { background: #fde8e8; color: #9b1c1c; font-weight: 700; padding: .5rem .9rem; border: 2px solid #9b1c1c; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.meta td { text-align: left; }
footer { color: #656d76; font-size: .8rem; margin-top: 2rem; }
"""
PLOT_CONFIG = {"responsive": True, "displaylogo": False, "scrollZoom": True}


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<footer>made by tpstui {html.escape(__version__)} on {time.strftime('%Y-%m-%d %H:%M')}; "
        "zoom: drag on a plot, double-click resets; the legend toggles traces.</footer>\n</body>\n</html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _num(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value * scale:,.{digits}f}"


def _run_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for entry in report["runs"]:
        m, tel = entry["metrics"], entry.get("telemetry") or {}
        itl = m.get("itl_s") or {}
        rows.append([
            f"w{entry['run']}" if entry["warmup"] else str(entry["run"]),
            entry["status"],
            str(entry["new_tokens"]),
            _num(m["ttft_s"], 1e3, 1),
            _num(m["output_tps"]),
            _num(m["total_tps"]),
            _num(itl.get("p50"), 1e3, 2),
            _num(itl.get("p90"), 1e3, 2),
            _num(itl.get("p99"), 1e3, 2),
            _num(tel.get("throttled_s")),
            _num(tel.get("tps_throttled")),
            _num(tel.get("tps_unthrottled")),
            _num(tel.get("joules_per_token"), 1e3, 1),
        ])  # fmt: skip
    return rows


RUN_HEADER = ("run", "status", "tokens", "TTFT ms", "decode tok/s", "total tok/s", "ITL p50 ms", "p90 ms",
              "p99 ms", "throttled s", "tok/s throttled", "tok/s not", "mJ/token")  # fmt: skip


def _metadata(report: dict[str, Any]) -> list[list[str]]:
    model = report.get("model") or {}
    env = report.get("environment") or {}
    rec = report.get("recording") or {}
    versions = env.get("versions") or {}
    rows = [
        ["model", f"{model.get('name', 'n/a')} ({model.get('parameters', 0) / 1e6:.1f}M params)"],
        ["dtype / device", f"{model.get('dtype', 'n/a')} / {model.get('device', 'n/a')}"],
        ["host", f"{env.get('hostname', 'n/a')} · {env.get('platform', 'n/a')} · {env.get('cpu', 'n/a')}"],
        ["python / tools", f"{env.get('python', 'n/a')} · " + ", ".join(f"{k} {v}" for k, v in versions.items())],
        ["recorded", f"{report.get('created', 'n/a')} with tpstui {report['tool']['version']}"],
        ["recording", f"{rec.get('path', 'n/a')} (schema {rec.get('schema', '?')}, {rec.get('events', 0):,} events"
                      + (", complete" if rec.get("complete") else ", cut short") + ")"],
        ["settings", json.dumps(report.get("settings") or {}, sort_keys=True)],
    ]  # fmt: skip
    rows += [["warning", w] for w in rec.get("warnings") or []]
    return rows


def session_report_html(recording: Recording, session: Session | None = None) -> str:
    """The whole report of one recording as an HTML document."""
    session = session if session is not None else Session.from_events(recording.events)
    report = export_report(recording, session)
    diagnosis = report["diagnosis"]
    settings = report.get("settings") or {}
    model = report.get("model") or {}
    simulated = is_simulated(settings, model.get("name"))
    name = Path(recording.path).name
    figure = timeline_figure(session, f"{name}: tokens/s and what explains it, on one time axis")
    verdict, *lines = diagnosis_lines(diagnosis)
    body = [f"<h1>tpstui report: {html.escape(name)}</h1>"]
    if simulated:
        what = html.escape(str(settings.get("simulated") or model.get("name")))
        body.append(f'<p class="simulated">SIMULATED: {what}. It is not a measurement.</p>')
    body += [
        f'<p class="verdict" id="verdict">{html.escape(verdict.removeprefix("verdict: "))}</p>',
        "<h2>Timeline</h2>",
        figure.to_html(full_html=False, include_plotlyjs=True, config=PLOT_CONFIG, div_id="timeline"),
        '<h2>Diagnosis</h2>\n<pre id="diagnosis">' + html.escape("\n".join(lines)) + "</pre>",
        "<p>Definitions: the README's Diagnosis section. The numbers use every token and sample; the plot is "
        "downsampled.</p>",
        "<h2>Runs</h2>",
        _table(RUN_HEADER, _run_rows(report)),
        "<h2>Session</h2>",
        _table(("", ""), _metadata(report), "meta"),
        '<script type="application/json" id="diagnosis-json">'
        + json.dumps(diagnosis).replace("</", "<\\/")
        + "</script>",
    ]
    return _page(f"tpstui report: {name}", body)


def compare_report_html(recordings: Sequence[Recording], comparison: Comparison) -> str:
    """Several recordings overlaid, with the comparison table and each one's verdict."""
    sessions = [(s.label, Session.from_events(r.events)) for s, r in zip(comparison.summaries, recordings, strict=True)]
    figure = compare_figure(sessions)
    header, *rows = table_cells(comparison)
    body = [
        "<h1>tpstui compare</h1>",
        "<pre>" + html.escape("\n".join(legend(comparison))) + "</pre>",
    ]
    simulated = [s.label for s in comparison.summaries if s.verdict.startswith("SIMULATED")]
    if simulated:
        body.append(
            f'<p class="simulated">SIMULATED: {", ".join(simulated)} come(s) from a simulated engine or GPU.</p>'
        )
    body += [
        figure.to_html(full_html=False, include_plotlyjs=True, config=PLOT_CONFIG, div_id="compare"),
        "<h2>Comparison</h2>",
        _table(header, rows),
        f"<p>{html.escape(FOOTNOTE)}</p>",
        *(f"<p>note: {html.escape(note)}</p>" for note in comparison.notes),
        "<h2>Diagnoses</h2>",
        *(f'<p class="verdict">{html.escape(s.label)}: {html.escape(s.verdict)}</p>' for s in comparison.summaries),
    ]
    return _page("tpstui compare", body)


def write_html(text: str, path: str | Path) -> Path:
    """Write the document (parents created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
