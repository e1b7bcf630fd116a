"""The app-attached mode of ``benchmarks/overhead.py`` (``--app headless`` or ``--app pty``).

Rounds of three arms in alternating order (bare ``model.generate``; tpstui's live path with the
app's frame timer paused; the same with the live app rendering tpstui's session at ``--fps``):

- ``headless``: Textual's headless driver in this process (layout and compositing run; nothing
  is encoded for or written to a terminal);
- ``pty``: a child process runs the app with its real terminal driver on a pseudo-terminal
  whose output this process reads and discards, so escape-code generation and writes count.

Prints each round, the median ratio of tpstui+app to bare (target ≥ 0.97 on a 2-core CPU), the
median ratio of app on to app off (the app's own cost, less exposed to machine noise than the
ratio to bare) and the app's frame time p50 / p99.

    python benchmarks/overhead.py --app headless [--pairs 6] [--tokens 64] [--fps 10]
    python benchmarks/overhead.py --app pty
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from tpstui.sources.base import Unrecorded

__all__ = ["main_attached"]


class AttachedSource(Unrecorded):
    """A SessionSource over an existing LiveSession (the benchmark drives the engine itself)."""

    kind = "live"

    def __init__(self, live: Any) -> None:
        self.live = live

    @property
    def session(self) -> Any:
        return self.live.session

    @property
    def busy(self) -> bool:
        return self.live.busy

    @property
    def ready(self) -> bool:
        return self.live.ready

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def start(self) -> None:
        """The benchmark has started everything already."""

    def close(self) -> None:
        """The benchmark closes the LiveSession itself."""


def _measure(args: argparse.Namespace, headless: bool) -> dict[str, Any]:
    """Run the pairs with the app attached; returns the figures (called in the app's process)."""
    from overhead import TpstuiSide, bare_rate

    from tpstui.settings import RunSettings
    from tpstui.ui.app import TpsApp

    settings = RunSettings(device="cpu", max_new_tokens=args.tokens, ignore_eos=True, runs=1, warmup=0)
    side = TpstuiSide(settings, args.telemetry)
    prompt = side.prompt.ids
    app = TpsApp(AttachedSource(side.live), fps=args.fps, cpu_budget=args.ui_cpu / 100)
    result: dict[str, Any] = {"pairs": []}

    async def pairs(pilot: Any) -> None:
        def bare() -> tuple[float, float]:
            return bare_rate(side.loaded, prompt, args.tokens)

        async def without_app(work: Any) -> Any:
            app.frame_timer.pause()
            try:
                return await asyncio.to_thread(work)
            finally:
                app.frame_timer.resume()

        await without_app(bare)  # warm-up, every arm
        await asyncio.to_thread(side.rate)
        app.frame_seconds.clear()
        for pair in range(args.pairs):
            arms = ["bare", "app", "no_app"] if pair % 2 == 0 else ["no_app", "app", "bare"]
            row: dict[str, float] = {}
            for arm in arms:
                if arm == "bare":
                    row["bare"], row["bare_cpu"] = await without_app(bare)
                elif arm == "no_app":
                    row["no_app"], _, row["no_app_cpu"] = await without_app(side.rate)
                else:
                    spent, started = app.schedule.budget.spent_s, time.monotonic()
                    row["ours"], row["decode"], row["ours_cpu"] = await asyncio.to_thread(side.rate)
                    app.schedule.budget.charge()
                    row["ui_cpu"] = (app.schedule.budget.spent_s - spent) / (time.monotonic() - started)
            result["pairs"].append(row)
        frames = sorted(app.frame_seconds)
        result["frames"] = len(frames)
        result["frame_p50_ms"] = 1e3 * frames[len(frames) // 2] if frames else None
        result["frame_p99_ms"] = 1e3 * frames[min(int(len(frames) * 0.99), len(frames) - 1)] if frames else None
        app.exit()

    try:
        app.run(headless=headless, auto_pilot=pairs, size=(160, 48) if headless else None)
    finally:
        side.live.close()
    return result


def _report(args: argparse.Namespace, mode: str, result: dict[str, Any]) -> None:
    ratios, app_ratios = [], []
    for index, pair in enumerate(result["pairs"]):
        ratio = pair["ours"] / pair["bare"]
        ratios.append(ratio)
        app_ratios.append(pair["ours"] / pair["no_app"])
        print(
            f"round {index + 1}: bare {pair['bare']:6.2f}  tpstui {pair['no_app']:6.2f}  "
            f"tpstui+app {pair['ours']:6.2f} tok/s  ratio vs bare {ratio:.3f}  app on/off {app_ratios[-1]:.3f}"
        )
    bare = statistics.median(p["bare"] for p in result["pairs"])
    ours = statistics.median(p["ours"] for p in result["pairs"])
    decode = statistics.median(p["decode"] for p in result["pairs"])
    cpu = statistics.median(p["ours_cpu"] / p["bare_cpu"] for p in result["pairs"])
    print(
        f"embedded model, {args.tokens} tokens, {args.pairs} pairs, telemetry={args.telemetry}, app={mode} "
        f"at {args.fps:g} fps: median bare {bare:.2f} tok/s, tpstui+app {ours:.2f} tok/s (its decode TPS "
        f"{decode:.2f}); median ratio {statistics.median(ratios):.3f} "
        f"(app on/off {statistics.median(app_ratios):.3f}); the app's thread used "
        f"{100 * statistics.median(p['ui_cpu'] for p in result['pairs']):.1f} % of a core; frame time p50 "
        f"{result['frame_p50_ms']:.2f} ms, p99 {result['frame_p99_ms']:.2f} ms over {result['frames']} frames; "
        f"process CPU per token tpstui+app ÷ bare: median {cpu:.3f}"
    )


def _pty(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``_measure`` in a child process whose terminal is a pty we drain."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    handle_fd, result_path = tempfile.mkstemp(suffix=".json")
    os.close(handle_fd)
    argv = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "overhead.py"),
        "--app",
        "pty-child",
        "--result",
        result_path,
        "--pairs",
        str(args.pairs),
        "--tokens",
        str(args.tokens),
        "--telemetry",
        args.telemetry,
        "--fps",
        str(args.fps),
        "--ui-cpu",
        str(args.ui_cpu),
    ]
    pid, fd = pty.fork()
    if pid == 0:  # child: the app's terminal is the pty
        os.execv(sys.executable, argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    written = 0
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            written += len(data)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the pty child failed (exit {os.waitstatus_to_exitcode(status)})")
    with open(result_path, encoding="utf-8") as handle:
        result: dict[str, Any] = json.load(handle)
    os.unlink(result_path)
    print(f"(the app wrote {written / 1e6:.1f} MB of terminal output)")
    return result


def main_attached(args: argparse.Namespace) -> None:
    if args.app == "pty-child":
        result = _measure(args, headless=False)
        with open(args.result, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        return
    result = _pty(args) if args.app == "pty" else _measure(args, headless=True)
    _report(args, args.app, result)
