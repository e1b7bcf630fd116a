"""A recording replayed in the live app: keys drive the ReplaySource, the panels show the recorded stats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.recording_scripts import MS, scripted_events
from tpstui.sources.replay import ReplaySource
from tpstui.state import metrics
from tpstui.stream.recording import Recorder, read_recording
from tpstui.ui import format as fmt
from tpstui.ui.app import TpsApp


def test_keys_drive_the_replay_and_the_end_shows_the_final_stats(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "s.jsonl.zst")
    for event in scripted_events():
        recorder(event)
    recorder.close()
    recording = read_recording(recorder.path)
    source = ReplaySource(recording, paused=True)

    async def frames(pilot: object, count: int = 4) -> None:
        for _ in range(count):
            app.tick()
            await pilot.pause(0.03)  # type: ignore[attr-defined]

    app = TpsApp(source)

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await frames(pilot)
            assert source.position_ns == 0 and source.paused
            await pilot.press("n")  # next throttle event
            await frames(pilot)
            assert source.position_ns == 1150 * MS
            assert source.session.active_reasons() == {"gpu0": ["HwThermalSlowdown"]}
            await pilot.press("full_stop")  # step: the next token, at 1,160 ms
            await frames(pilot)
            assert source.position_ns == 1160 * MS and source.session.run(1).arrivals.size == 4
            await pilot.press("plus")
            assert source.speed == 2
            await pilot.press("end")
            await frames(pilot)
            assert source.at_end
            view = source.session.run(2)
            run2 = metrics.run_metrics(view.started.t_ns, view.arrivals, view.counts)
            shown = app.stats.values
            assert shown["TTFT"][0] == fmt.seconds_ms(run2.ttft_s) == fmt.seconds_ms(0.050)
            assert shown["output TPS"][0] == fmt.rate(run2.output_tps) == fmt.rate(100.0)
            await pilot.press("home")
            await frames(pilot)
            assert source.position_ns == 0 and source.session.run_ids() == []
            await pilot.press("g", *"x", "enter")  # not a time: the prompt stays
            await pilot.press("escape")
            assert source.position_ns == 0
            await pilot.press("g", *"1.2s", "enter")  # go to 1.2 s
            await frames(pilot)
            assert source.position_ns == 1200 * MS and source.session.run(1).arrivals.size == 5
            await pilot.press("q")

    asyncio.run(run())
