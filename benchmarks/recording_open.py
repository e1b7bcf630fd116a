"""Opening a one-hour recording for replay, and replaying it at maximum speed.

Builds the synthetic hour (100 tokens/s, 18-key GPU at 10 Hz: ~400,000 events, ~8 MB; see
recording_synthetic.py), then times, best and median of ``--repeat``:

- open: ``ReplaySource.open(path)`` = read + decompress + decode every event + index them
  (what ``tpstui replay`` does before the first frame); target < 2 s;
- replay at maximum speed: feeding every event into a fresh Session (``jump_to_end`` + ``pump``,
  what the replay thread does), in events/s and as a multiple of real time;
- the replay thread itself at ``--speed max`` (10,000×) from start to end.

    python benchmarks/recording_open.py [--minutes 60] [--repeat 5] [--file existing.jsonl.zst]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from recording_synthetic import synthetic_events, write_synthetic

from tpstui.sources.replay import MAX_SPEED, ReplaySource


def timed(function: object, repeat: int) -> tuple[float, float, float, object]:
    """(best wall, median wall, median CPU seconds of this process, last result)."""
    times = []
    cpu = []
    result = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(times), statistics.median(times), statistics.median(cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--file", type=Path, help="use this recording instead of a synthetic one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "hour.jsonl.zst"
            write_synthetic(path, synthetic_events(args.minutes * 60, 100.0, 10.0))
        size = path.stat().st_size
        best, median, cpu, source = timed(lambda: ReplaySource.open(path, paused=True), args.repeat)
        assert isinstance(source, ReplaySource)
        events = len(source.recording.events)
        print(f"{path.name}: {size / 1e6:.2f} MB, {events} events, {source.duration_ns / 1e9:.0f} s")
        print(f"open for replay: best {best:.2f} s, median {median:.2f} s wall, {cpu:.2f} s CPU (target < 2 s)")

        def replay_all() -> int:
            fresh = ReplaySource(source.recording, paused=True)
            fresh.jump_to_end()
            return fresh.pump()

        best, median, cpu, fed = timed(replay_all, args.repeat)
        assert fed == events
        rate = events / median
        print(
            f"replay at maximum speed: {rate / 1e6:.2f} M events/s (median {median:.2f} s wall, "
            f"{cpu:.2f} s CPU for all; {source.duration_ns / 1e9 / median:,.0f}× real time)"
        )
        threaded = ReplaySource(source.recording, speed=MAX_SPEED)
        start = time.perf_counter()
        threaded.start()
        while not threaded.at_end:
            time.sleep(0.01)
        while threaded.session.events < events:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        threaded.close()
        print(f"replay thread at --speed max ({MAX_SPEED:g}×): {elapsed:.2f} s start to end")


if __name__ == "__main__":
    main()
