"""The app's CPU budget while a run generates: who redraws, how often, and what is left alone.

``RedrawSchedule`` on a made-up clock with the budget always spent: the output text and header
still redraw every second and the heavier panels every 2 s (``MAX_STALE_S``), and the frames in
between are idle. Then the real app on a real-time scripted run, its frames driven by hand (the
frame timer paused): an idle frame does not even pull the session.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tpstui.sources.scripted import Script, ScriptedSource, scripted_events
from tpstui.ui.app import TpsApp
from tpstui.ui.budget import CpuBudget
from tpstui.ui.schedule import DRAW_ORDER, MAX_STALE_S, RedrawSchedule


class MadeUpClock:
    """Wall time moves only when told; each CPU reading adds 10 ms (far more than 1.5 % of the
    0.1 s between frames, so the budget is always spent)."""

    def __init__(self) -> None:
        self.now, self.cpu_s = 1000.0, 0.0

    def monotonic(self) -> float:
        return self.now

    def thread_time(self) -> float:
        self.cpu_s += 0.01
        return self.cpu_s

    def schedule(self) -> RedrawSchedule:
        return RedrawSchedule(10, CpuBudget(0.015, clock=self.monotonic, cpu=self.thread_time), clock=self.monotonic)


def frames(clock: MadeUpClock, schedule: RedrawSchedule, n: int, generating: bool = True) -> tuple[Counter[str], int]:
    """Run ``n`` frames 0.1 s apart; the redraws by panel and how many frames were not idle."""
    drawn: Counter[str] = Counter()
    busy = 0
    for _ in range(n):
        clock.now += 0.1
        schedule.start_frame()
        if schedule.idle(generating):
            continue
        busy += 1
        drawn.update(schedule.redraws(False, generating, 0))
    return drawn, busy


def test_with_the_budget_spent_each_panel_redraws_at_its_floor_and_other_frames_are_idle() -> None:
    clock = MadeUpClock()
    schedule = clock.schedule()
    frames(clock, schedule, 30)  # past the first frames (the burst credit, the first draws)
    drawn, busy = frames(clock, schedule, 120)  # 12 s
    for name in ("stream", "header", "chart", "stats", "telemetry", "requests"):
        expected = 12 / MAX_STALE_S[name]
        assert expected * 0.8 <= drawn[name] <= expected + 1, (name, drawn)
    assert drawn["stream"] > drawn["chart"]
    assert drawn["stream"] <= busy <= sum(drawn.values()) and busy <= 120 // 3, (busy, drawn)


def test_without_a_run_generating_every_panel_redraws_at_its_rate() -> None:
    clock = MadeUpClock()
    schedule = clock.schedule()
    frames(clock, schedule, 1, generating=False)  # the first frame draws what shows "throttled now" too
    drawn, busy = frames(clock, schedule, 100, generating=False)  # 10 s at 10 frames a second
    assert busy == 100
    assert drawn == Counter({"stream": 100, "chart": 50, "header": 50, "stats": 50, "requests": 50, "telemetry": 20})


def test_a_throttle_change_redraws_the_throttle_panels_at_once_whatever_the_budget() -> None:
    clock = MadeUpClock()
    schedule = clock.schedule()
    frames(clock, schedule, 30)
    clock.now += 0.1
    schedule.start_frame()
    now = list(schedule.redraws(False, True, 1))
    assert {"header", "chart", "telemetry"} <= set(now)
    assert now == [name for name in DRAW_ORDER if name in now]


def test_an_idle_frame_of_the_app_does_not_pull_the_session() -> None:
    clock = MadeUpClock()
    source = ScriptedSource(scripted_events(Script(runs=1, warmup=0, tokens=4000, tps=50)), realtime=True)
    app = TpsApp(source)
    drawn: Counter[str] = Counter()
    pulls = [0]

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            app.frame_timer.pause()
            for _ in range(400):
                if source.session.total_tokens >= 3:
                    break
                await pilot.pause(0.05)
            app.schedule = clock.schedule()
            original_draw, original_update = app._draw, app.model.update

            def draw(name: str, session: Any) -> None:
                drawn[name] += 1
                original_draw(name, session)

            def update(*args: Any) -> None:
                pulls[0] += 1
                original_update(*args)

            app._draw = draw  # type: ignore[method-assign]
            app.model.update = update  # type: ignore[method-assign]
            for _ in range(30):  # the first frames: burst credit, every panel drawn once
                clock.now += 0.1
                app.tick()
            drawn.clear()
            pulls[0] = 0
            for _ in range(60):  # 6 s of frames at 10 per second
                clock.now += 0.1
                app.tick()
            assert app._generating  # the run (80 s of tokens) is still going
            await pilot.press("q")

    asyncio.run(scenario())
    assert 5 <= drawn["stream"] <= 7 and 2 <= drawn["chart"] <= 4, drawn
    assert drawn["stream"] <= pulls[0] <= 20, (pulls, drawn)  # of 60 frames only those that drew
