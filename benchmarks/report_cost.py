"""How long ``tpstui report`` takes on a long recording, and how large the HTML file gets.

Writes a synthetic recording (``recording_synthetic.py``: default one hour at 100 tokens/s with 2
GPUs sampled at 10 Hz, thermally throttled 30 s of every 5 minutes), then runs the report
``--repeats`` times, each in a fresh process (``python -m tpstui report FILE --html OUT``, as a
user would), and prints the wall and CPU time of each run (children's CPU time from
``resource``), the medians, the HTML size, and where the time goes in one in-process run
(read, session, bench report + diagnosis, figure + HTML). The plot is downsampled, the numbers
are not (see ``tpstui.reports.plot``).

    python benchmarks/report_cost.py [--hours 1] [--tps 100] [--gpus 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recording_synthetic import synthetic_events, write_synthetic

from tpstui.reports.export import export_report
from tpstui.reports.html import session_report_html
from tpstui.state.session import Session
from tpstui.stream.recording import read_recording


def one_process(recording: Path, out: Path) -> tuple[float, float]:
    """(wall s, CPU s) of ``tpstui report`` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tpstui", "report", str(recording), "--html", str(out)], check=True,
                   capture_output=True)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stages(recording_path: Path) -> list[tuple[str, float]]:
    """Where the time of one in-process report goes (CPU seconds of this process)."""
    marks = []
    t = time.process_time()
    recording = read_recording(recording_path)
    marks.append(("read the recording", time.process_time() - t))
    t = time.process_time()
    session = Session.from_events(recording.events)
    marks.append(("events into a Session", time.process_time() - t))
    t = time.process_time()
    export_report(recording, session)
    marks.append(("bench report + diagnosis", time.process_time() - t))
    t = time.process_time()
    session_report_html(recording, session)
    marks.append(("whole HTML report (report again + figure)", time.process_time() - t))
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--tps", type=float, default=100.0)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--gpus", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "long.jsonl.zst"
        writer = write_synthetic(recording, synthetic_events(args.hours * 3600, args.tps, args.hz, gpus=args.gpus))
        print(f"recording: {args.hours:g} h, {args.tps:g} tok/s, {args.gpus} GPU(s) at {args.hz:g} Hz: "
              f"{writer.events:,} events, {os.path.getsize(recording) / 1e6:.1f} MB")  # fmt: skip
        out = Path(tmp) / "report.html"
        runs = [one_process(recording, out) for _ in range(args.repeats)]
        for i, (wall, cpu) in enumerate(runs, 1):
            print(f"run {i}: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        print(f"median: {wall:.2f} s wall, {cpu:.2f} s CPU")
        print(f"HTML: {out.stat().st_size / 1e6:.2f} MB")
        for name, seconds in stages(recording):
            print(f"  {name:<42} {seconds:6.2f} s CPU")


if __name__ == "__main__":
    main()
