"""The app on the real embedded model: loads under the progress bar, generates, shows the numbers, quits."""

from __future__ import annotations

import asyncio

import pytest

from tpstui.settings import RunSettings
from tpstui.sources.generation.engine import TransformersEngine
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.state import metrics
from tpstui.ui import format as fmt
from tpstui.ui.app import TpsApp

pytestmark = pytest.mark.slow

TOKENS = 6


def test_app_runs_the_embedded_model_for_a_few_tokens() -> None:
    settings = RunSettings(max_new_tokens=TOKENS, ignore_eos=True, runs=1, warmup=0, device="cpu")
    source = LiveSession(TransformersEngine(settings), TelemetryOptions(backend="cpu", sample_hz=10))
    app = TpsApp(source, exit_when_done=True)
    stages: list[str] = []

    async def drive() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(3000):  # the app leaves by itself once the run is done (a deadline, not a timing)
                if source.session.load is not None:
                    stages.append(source.session.load.stage)
                if not app.is_running:
                    break
                await pilot.pause(0.05)
            else:
                raise AssertionError("the run did not finish")

    asyncio.run(drive())
    session = source.session
    assert session.load_error is None and session.model is not None
    assert stages and stages[-1] == "ready"
    view = session.run(0)
    assert view.finished is not None and view.finished.tokens == TOKENS
    shown = app.stats.values
    expected = metrics.run_metrics(view.started.t_ns, view.arrivals, view.counts)
    assert shown["tokens"][0] == fmt.count(TOKENS)
    assert shown["output TPS"][0] == fmt.rate(expected.output_tps)
    assert app.return_code == 0
    assert not source.alive or source.join(2.0)
