"""``tpstui report FILE --html`` and ``tpstui compare ... --html``: valid HTML, every lane's data, the
diagnosis, and nothing loaded from the network."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tpstui.cli import main
from tpstui.sources.scenario import throttle_scenario_events
from tpstui.state.diagnosis import diagnose_session
from tpstui.state.session import Session
from tpstui.stream.events import Event, SessionStarted, TelemetrySample
from tpstui.stream.recording import Recorder

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class Checker(HTMLParser):
    """Checks that tags nest and close, and collects what could load something from elsewhere."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self.ids: dict[str, str] = {}
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        for name in ("src", "href", "data"):
            link = values.get(name) or ""
            if link.startswith(("http:", "https:", "//")) or (tag == "link" and values.get("rel") == "stylesheet"):
                self.external.append(f"<{tag} {name}={link!r}>")
        if tag == "script" and values.get("src"):
            self.external.append(f"<script src={values['src']!r}>")
        if values.get("id"):
            self._capture = values["id"]
            self.ids[values["id"]] = ""
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self.ids[self._capture] += data


def record(path: Path, events: list[Event]) -> Path:
    recorder = Recorder(path)
    for event in events:
        recorder(event)
    recorder.close()
    return path


def plot_data(text: str, div_id: str) -> list[dict[str, Any]]:
    """The traces plotly.js is given for the plot in ``div_id``."""
    marker = f'Plotly.newPlot(                        "{div_id}",'
    start = text.index(marker) + len(marker)
    data, _ = json.JSONDecoder().raw_decode(text[start:].lstrip())
    assert isinstance(data, list)
    return data


def plot_layout(text: str, div_id: str) -> dict[str, Any]:
    """The layout plotly.js is given for the plot in ``div_id`` (the argument after the traces)."""
    marker = f'Plotly.newPlot(                        "{div_id}",'
    rest = text[text.index(marker) + len(marker) :].lstrip()
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip().removeprefix(",").lstrip())
    assert isinstance(layout, dict)
    return layout


def values(encoded: Any) -> list[float]:
    """A trace's numbers: a list, or plotly's typed array ({"bdata": base64, "dtype": ...})."""
    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"]).tolist()
    return list(encoded)


def check_page(text: str) -> Checker:
    assert text.startswith("<!DOCTYPE html>")
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    assert checker.external == []  # opens with no network
    assert {"html", "head", "body", "script", "table"} <= checker.tags
    assert "plotly.js v" in text and len(text) > 1_000_000  # plotly.js itself is in the file
    return checker


def test_report_has_every_lane_the_diagnosis_and_no_external_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = throttle_scenario_events()
    path = record(tmp_path / "scenario.jsonl.zst", events)
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(path), "--html", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    checker = check_page(text)
    names = {trace.get("name") for trace in plot_data(text, "timeline")}
    lanes = {
        "per-token TPS", "1 s rolling TPS",
        "gpu0 SM clock", "gpu0 SM clock max",
        "gpu0 core temp", "gpu0 slowdown at", "gpu0 hotspot temp", "gpu0 memory temp", "gpu0 memory max",
        "gpu0 power", "gpu0 power limit", "gpu0 DRAM bandwidth",
        "cpu CPU clock (mean)", "cpu utilisation",
        "throttle: power", "throttle: thermal",
    }  # fmt: skip
    assert lanes <= names
    traces = {trace["name"]: trace for trace in plot_data(text, "timeline")}
    clock = values(traces["gpu0 SM clock"]["y"])
    assert (
        min(clock) == 1410
        and max(clock) == 1980
        and len(clock) == sum(isinstance(e, TelemetrySample) and e.device == "gpu0" for e in events)
    )
    session = Session.from_events(events)
    shapes = plot_layout(text, "timeline")["shapes"]
    rects = [(s["x0"], s["x1"]) for s in shapes if s["type"] == "rect"]  # throttle spans, through every lane
    assert rects and all(s["yref"] == "paper" for s in shapes if s["type"] == "rect")
    assert min(x0 for x0, _ in rects) == pytest.approx(12.0, abs=0.2)  # the power cap at 12-14 s comes first
    marks = [s["x0"] for s in shapes if s["type"] == "line"]  # one dotted line per run start, in the TPS lane
    assert len(marks) == len(session.runs(include_warmup=True))
    expected = diagnose_session(session)
    assert checker.ids["verdict"] == expected.verdict and "fell" in expected.verdict
    embedded = json.loads(checker.ids["diagnosis-json"])
    assert embedded["verdict"] == expected.verdict and embedded["tps_throttled"] == pytest.approx(
        expected.tps_throttled
    )
    assert "first throttle" in checker.ids["diagnosis"] and "SIMULATED" not in text.split("<script")[0]


def test_a_simulated_session_says_so_and_compare_overlays_recordings(tmp_path: Path) -> None:
    events = throttle_scenario_events()
    head = events[0]
    assert isinstance(head, SessionStarted)
    simulated = [
        SessionStarted(head.t_ns, head.wall_time, settings=head.settings | {"simulated": "a test"}),
        *events[1:],
    ]
    a = record(tmp_path / "a.jsonl.zst", events)
    b = record(tmp_path / "b.jsonl.zst", simulated)
    out = tmp_path / "b.html"
    assert main(["report", str(b), "--html", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert 'class="simulated">SIMULATED: a test' in text
    cmp = tmp_path / "cmp.html"
    assert main(["compare", str(a), str(b), "--html", str(cmp)]) == 0
    text = cmp.read_text(encoding="utf-8")
    check_page(text)
    names = {trace.get("name") for trace in plot_data(text, "compare")}
    assert {"A TPS", "B TPS", "A gpu0 SM clock", "B gpu0 core temp"} <= names
    assert "A: decode TPS fell" in text and "B: SIMULATED: decode TPS fell" in text


def test_bad_report_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing.jsonl.zst"), "--html", str(tmp_path / "x.html")]) == 2
    assert main(["report", str(tmp_path), "--html", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tpstui: error:") for line in err)


def test_the_servers_metrics_get_lanes_in_the_report() -> None:
    from tpstui.reports.plot import lanes_of
    from tpstui.sources.scripted import T0_NS, Script, scripted_events

    events: list[Event] = list(scripted_events(Script(runs=1, warmup=0, tokens=20, tps=20, gpu=True)))
    events += [
        TelemetrySample(T0_NS + k * 500_000_000, "server", {"requests_running": float(k), "kv_cache_pct": 10.0 * k})
        for k in range(4)
    ]
    lanes = {lane.key: lane for lane in lanes_of(Session.from_events(sorted(events, key=lambda e: e.t_ns)))}
    assert {"server:requests", "server:kv_cache"} <= set(lanes) and "server:clock" not in lanes
    assert any(key.startswith("gpu0:") for key in lanes)
    assert lanes["server:requests"].traces[0].name == "server requests running"
