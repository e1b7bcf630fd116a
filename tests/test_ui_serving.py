"""The live app on an endpoint session: the requests panel, the header's request counts, the followed request.

Snapshots use a scripted session of overlapping requests (concurrency 4, one HTTP 500) frozen
mid-way; a Pilot test runs the real endpoint engine against the fake SSE server.
Update the pictures with ``pytest tests/test_ui_serving.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import pytest

from tests.endpoint_servers import FakeServer, fake_sse
from tests.pilot import settle
from tpstui.sources.endpoint.engine import EndpointEngine
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.live import LiveSession
from tpstui.sources.scripted import NS, T0_NS, WORDS, ScriptedSource
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.state.session import Session
from tpstui.stream.events import Event, ModelLoaded, RunFailed, RunFinished, RunStarted, SessionStarted, Tokens
from tpstui.ui.app import TpsApp
from tpstui.ui.model import ViewModel
from tpstui.ui.serving import ServingView

__all__ = ["fake_sse"]

MS = 1_000_000
SETTINGS = {"engine": "endpoint", "url": "http://10.0.0.7:8000/v1", "api": "chat", "runs": 12, "warmup": 0,
            "max_concurrency": 4, "request_rate": None, "max_new_tokens": 24}  # fmt: skip


def serving_events(requests: int = 12, concurrency: int = 4, tokens: int = 24) -> list[Event]:
    """Requests in a closed loop of ``concurrency``: each TTFT 150 ms, then a chunk every 40 ms."""
    events: list[Event] = [
        SessionStarted(T0_NS, 1_700_000_000.0, tool_version="test", host={"hostname": "scripted"}, settings=SETTINGS),
        ModelLoaded(T0_NS, "Qwen/Qwen2.5-7B-Instruct", "endpoint", 0, "", SETTINGS["url"], 0.2, 0),  # type: ignore[arg-type]
    ]
    slots = [T0_NS + 100 * MS + i * 35 * MS for i in range(concurrency)]
    for run in range(requests):
        slot = min(range(concurrency), key=lambda s: slots[s])
        start = slots[slot]
        events.append(RunStarted(start, run, False, 64, 1, tokens, f"request {run}: explain memory bandwidth"))
        if run == 6:
            end = start + 30 * MS
            events.append(RunFailed(end, run, "HTTP 500: boom", "http_500"))
        else:
            t = start + 150 * MS
            for i in range(tokens):
                t += int((40 + 8 * math.sin(run + i)) * MS) if i else 0
                events.append(Tokens(t, run, [], 1, 1, WORDS[(run * 7 + i) % len(WORDS)] + " "))
            end = t + MS
            events.append(RunFinished(end, run, "length", tokens, tokens, server_tokens=tokens, chunks=tokens))
        slots[slot] = end + 5 * MS
    events.sort(key=lambda e: e.t_ns)
    return events


def frozen(at_s: float = 1.6) -> TpsApp:
    return TpsApp(ScriptedSource(serving_events(), at_ns=T0_NS + int(at_s * NS)), theme="dark")



@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_serving_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(frozen(), terminal_size=size, run_before=settle)


def test_the_requests_panel_and_the_header() -> None:
    asyncio.run(_requests_panel_and_header())


async def _requests_panel_and_header() -> None:
    app = frozen()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        panel = app.requests
        assert panel.display
        first, second, errors = panel.summary
        serving = app.serving
        assert first == f"in flight {serving.in_flight} · done {serving.completed} · failed 1"
        assert errors == "errors: http_500 1"
        assert "tok/s" in second and "req/s" in second
        assert [row.run for row in panel.rows[:3]] == sorted(app.model.run_order, reverse=True)[:3]
        failed = next(row for row in panel.rows if row.run == 6)
        assert failed.status == "http_500" and failed.failed and failed.label == "7"  # as the stats panel counts
        status = app.status(app.source.session)
        assert status == f"{serving.completed + 1}/12 requests · {serving.in_flight} in flight"


def _feed(session: Session, events: list[Event], until_ns: int, cursor: int) -> int:
    while cursor < len(events) and events[cursor].t_ns <= until_ns:
        session.apply(events[cursor])
        cursor += 1
    return cursor


def test_the_output_panel_follows_one_request_until_it_ends() -> None:
    events = serving_events()
    session, model, cursor = Session(), ViewModel(), 0
    followed: list[int] = []
    for step in range(1, 80):
        now = T0_NS + step * 50 * MS
        cursor = _feed(session, events, now, cursor)
        model.update(session, now)
        if model.current is not None:
            followed.append(model.current.run)
    switches = [(a, b) for a, b in itertools.pairwise(followed) if a != b]
    assert followed[0] == 0
    for previous, _ in switches:  # a switch happens only when the followed request ended ...
        assert session.run(previous).done
    assert len(switches) < len(session.run_ids()) - 1  # ... not at every new request


def test_system_tps_counts_every_request() -> None:
    events = serving_events()
    session = Session.from_events(events)
    model, view = ViewModel(), ServingView()
    now = T0_NS + 1_200 * MS
    partial = Session.from_events([e for e in events if e.t_ns <= now])
    model.update(partial, now)
    view.update(partial, model, now)
    arrivals = [e.t_ns for e in events if isinstance(e, Tokens) and now - NS < e.t_ns <= now]
    assert view.system_tps is not None
    assert view.system_tps == pytest.approx(len(arrivals), rel=0.1)  # ~ tokens of the last second, all requests
    assert view.in_flight == partial.in_flight > 1
    assert session.in_flight == 0


def test_the_app_on_the_endpoint_engine(fake_sse: FakeServer) -> None:
    asyncio.run(_app_on_the_endpoint_engine(fake_sse))


async def _app_on_the_endpoint_engine(fake_sse: FakeServer) -> None:
    settings = EndpointSettings(url=fake_sse.url("steady-gap10-n20"), num_requests=6, concurrency=3,
                                warmup_requests=0)  # fmt: skip
    source = LiveSession(EndpointEngine(settings), TelemetryOptions(backend="none"))
    app = TpsApp(source, exit_when_done=True)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert app.return_code == 0
    assert app.serving.completed == 6 and app.serving.failed == 0
    assert len(app.requests.rows) == 6
