"""Does the live app change what it measures? The real ``tpstui run`` in a pty against ``tpstui bench``.

Each pair runs the same workload twice, in alternating order (live first in odd pairs): once as
``tpstui bench`` (headless) and once as ``tpstui run --exit-when-done`` on a pseudo-terminal of the
given size (TERM=xterm-256color; its output is read and thrown away, as a terminal would draw it).
Both sides record the session, and both recordings are exported with ``tpstui export --json``, so
every figure comes from the same report code. Per pair it prints, for each side, decode TPS (mean
over measured runs, and each run's: a cost that grew with the session would show as a drift
over a ``--loop``), ITL p50 / p99 (over every gap of the measured runs), the longest gap, the
gaps above 2× the median ITL, and the monitor pauses the recording holds; then the median ratios
live ÷ bench. Targets: decode TPS ratio ≥ 0.97, ITL p99 ratio ≤ 1.15.

Wall-clock figures on a small shared VM move with the neighbours' load, so each side also reports
figures that hardly do: the generating process's CPU time per token (the recording's
``cpu_ms_per_token``: a UI that takes a core from torch's threads makes the others wait, spinning,
and a token costs more CPU), and from /proc the CPU time of tpstui's own process, how often its
threads woke, how often the generating child's threads were preempted, the CPU time stolen by the
hypervisor while it ran, and the app's main-thread share of a core while the measured runs ran.

    python benchmarks/live_distortion.py [--pairs 4] [--size 160x48] [--tokens 96] [--runs 3]
    python benchmarks/live_distortion.py --size 80x24
    python benchmarks/live_distortion.py --telemetry nvml      # the fake NVML library (built with gcc)
    python benchmarks/live_distortion.py --loop 120            # live: --loop for 120 s, then q
    python benchmarks/live_distortion.py --same-process        # both sides: generation in tpstui's process
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TPSTUI = [sys.executable, "-m", "tpstui"]


def workload(args: argparse.Namespace, runs: int) -> list[str]:
    return [
        "-n", str(args.tokens), "--ignore-eos", "--runs", str(runs), "--warmup", str(args.warmup),
        "--telemetry", args.telemetry, "--device", "cpu", *(["--same-process"] if args.same_process else []),
    ]  # fmt: skip


class ProcessWatch:
    """Low-noise figures of one tpstui process and its children, read from /proc while they run.

    Per thread the last reading is kept (a thread that has ended keeps its last counts): tpstui's
    own CPU time and wakeups (voluntary context switches), and the involuntary context switches
    of its children's threads (each one a preemption of the generating process by someone else);
    and the CPU time the hypervisor stole from this machine meanwhile."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.threads: dict[tuple[int, int], tuple[float, int, int]] = {}
        self.started, self.steal_start = time.monotonic(), steal_seconds()
        self.steal_end, self.wall = self.steal_start, 0.0
        self._last = 0.0
        self.main_series: list[tuple[int, float]] = []
        """(time.monotonic_ns(), CPU seconds of tpstui's main thread) at each poll."""

    def poll(self, every: float = 0.5) -> None:
        if time.monotonic() - self._last < every:
            return
        self._last = time.monotonic()
        self.steal_end = steal_seconds()
        self.wall = self._last - self.started
        for process in [self.pid, *children(self.pid)]:
            with contextlib.suppress(OSError):
                for tid in os.listdir(f"/proc/{process}/task"):
                    reading = thread_counts(process, int(tid))
                    if reading is not None:
                        self.threads[(process, int(tid))] = reading
                        if (process, int(tid)) == (self.pid, self.pid):
                            self.main_series.append((time.monotonic_ns(), reading[0]))

    def main_share(self, start_ns: int, end_ns: int) -> float:
        """The main thread's CPU share of a core from ``start_ns`` to ``end_ns`` (monotonic clock,
        the recording's: both are CLOCK_MONOTONIC), interpolated between polls."""
        if len(self.main_series) < 2 or end_ns <= start_ns:
            return float("nan")
        times, cpu = (np.asarray(v, dtype=np.float64) for v in zip(*self.main_series, strict=True))
        used = np.interp([start_ns, end_ns], times, cpu)
        return float(used[1] - used[0]) / ((end_ns - start_ns) / 1e9)

    def figures(self) -> dict[str, float]:
        mine = [v for (p, _), v in self.threads.items() if p == self.pid]
        theirs = [v for (p, _), v in self.threads.items() if p != self.pid]
        wall = max(self.wall, 1e-9)
        return {
            "main_cpu": self.threads.get((self.pid, self.pid), (0.0, 0, 0))[0],
            "monitor_cpu": sum(v[0] for v in mine),
            "monitor_wakeups": sum(v[1] for v in mine) / wall,
            "child_preempted": sum(v[2] for v in theirs) / wall,
            "steal": (self.steal_end - self.steal_start) / wall / (os.cpu_count() or 1),
        }


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def thread_counts(pid: int, tid: int) -> tuple[float, int, int] | None:
    """(CPU seconds, voluntary, involuntary context switches) of one thread, None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    except OSError:
        return None
    switches = {k: int(v) for k, v in (line.split(":") for line in status.splitlines() if "ctxt_switches" in line)}
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, switches["voluntary_ctxt_switches"], switches["nonvoluntary_ctxt_switches"]


def steal_seconds() -> float:
    """CPU time stolen by the hypervisor from all of this machine's CPUs since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def run_bench(args: argparse.Namespace, runs: int, record: Path, env: dict[str, str]) -> dict[str, float]:
    command = [*TPSTUI, "bench", *workload(args, runs), "--record", str(record), "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    watch = ProcessWatch(process.pid)
    while process.poll() is None:
        watch.poll()
        time.sleep(0.1)
    if process.returncode != 0:
        raise SystemExit(f"tpstui bench failed (exit {process.returncode})")
    return watch.figures()


def run_live(args: argparse.Namespace, runs: int, record: Path, env: dict[str, str]) -> dict[str, Any]:
    """The real app on a pty; returns the bytes it wrote to the terminal, the ``ProcessWatch``
    (its ``main_share`` is the CPU share of the app's main thread, where Textual draws; the model
    generates in a child process unless --same-process) and the watch's figures."""
    cols, rows = (int(x) for x in args.size.split("x"))
    extra = ["--loop"] if args.loop else ["--exit-when-done"]
    extra += ["--ui-cpu", str(args.ui_cpu)] if args.ui_cpu is not None else []
    extra += ["--fps", str(args.fps)] if args.fps is not None else []
    command = [*TPSTUI, "run", *workload(args, runs), "--record", str(record), *extra]
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.environ.update(env)
        os.execv(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    written, started, quit_sent = 0, time.monotonic(), False
    watch = ProcessWatch(pid)
    while True:
        watch.poll()
        if args.loop and not quit_sent and time.monotonic() - started >= args.loop:
            os.write(fd, b"q")
            quit_sent = True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            break
        written += len(data)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"tpstui run failed (exit {code})")
    watched = watch.figures()
    return {"written": written, "watch": watch, **watched}


def exported(record: Path, env: dict[str, str]) -> dict[str, Any]:
    out = record.with_suffix(".json")
    command = [*TPSTUI, "export", str(record), "--json", str(out)]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def figures(report: dict[str, Any]) -> dict[str, Any]:
    """Decode TPS, ITL percentiles, the longest gap and pauses over the measured runs of a report."""
    runs = [r for r in report["runs"] if r["measured"]]
    gaps = np.concatenate([np.diff(np.asarray(r["token_times_ns"], dtype=np.int64)) / 1e9 for r in runs])
    median = float(np.median(gaps))
    pauses: dict[str, int] = {}
    for r in runs:
        for kind, n in r["monitor_pauses"]["count"].items():
            pauses[kind] = pauses.get(kind, 0) + n
    cpu = [r["cpu_ms_per_token"] for r in runs if r.get("cpu_ms_per_token") is not None]
    return {
        "runs": len(runs),
        "span_ns": (runs[0]["start_ns"], runs[-1]["end_ns"]),
        "decode_tps": statistics.mean(r["metrics"]["output_tps"] for r in runs),
        "tps_by_run": [r["metrics"]["output_tps"] for r in runs],
        "cpu_per_token": statistics.mean(cpu) if cpu else float("nan"),
        "itl_p50": float(np.percentile(gaps, 50)),
        "itl_p99": float(np.percentile(gaps, 99)),
        "longest": float(gaps.max()),
        "over_2x": int((gaps > 2 * median).sum()),
        "pauses": pauses,
        "touched": sum(r["monitor_pauses"]["tokens_after_pause"] for r in runs),
    }


def line(name: str, f: dict[str, Any]) -> str:
    pauses = " ".join(f"{n} {k}" for k, n in sorted(f["pauses"].items())) or "none"
    return (
        f"  {name:<5} {f['runs']} runs  decode {f['decode_tps']:6.2f} tok/s  ITL p50 {f['itl_p50'] * 1e3:6.1f} ms  "
        f"p99 {f['itl_p99'] * 1e3:6.1f} ms  longest {f['longest'] * 1e3:6.1f} ms  gaps>2×median {f['over_2x']:3d}  "
        f"pauses {pauses} (tokens after one: {f['touched']})\n"
        f"        the generating process used {f['cpu_per_token']:6.1f} ms of CPU per token; decode TPS of its runs "
        f"{' '.join(f'{v:.1f}' for v in f['tps_by_run'])}\n"
        f"        tpstui's process {f['monitor_cpu']:5.2f} s CPU, woke {f['monitor_wakeups']:4.0f}/s; the generating "
        f"child preempted {f['child_preempted']:4.0f}/s; stolen {f['steal'] * 100:4.1f} % of the CPUs"
    )


def fake_nvml_env(tmp: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.build import SCENARIOS, fake_nvml

    library = fake_nvml(tmp / "fakes")
    return {
        "TPSTUI_NVML_LIBRARY": str(library),
        "FAKE_NVML_SCENARIO": str(SCENARIOS / "nvml_steady.txt"),
        "FAKE_GPU_EPOCH_NS": str(time.perf_counter_ns()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--size", default="160x48", help="terminal COLSxROWS (default 160x48)")
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--telemetry", default="cpu", help="cpu (default) or nvml (the fake NVML library)")
    parser.add_argument("--ui-cpu", type=float, help="live side: the app's --ui-cpu (default: the app's default)")
    parser.add_argument("--fps", type=float, help="live side: the app's --fps (default: the app's default)")
    parser.add_argument("--loop", type=float, default=0.0, metavar="S", help="live side: --loop for S seconds")
    parser.add_argument("--same-process", action="store_true", help="both sides: generate in tpstui's own process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tpstui-distortion-") as name:
        tmp = Path(name)
        env = dict(os.environ, TERM="xterm-256color", TPSTUI_RECORDINGS_DIR=str(tmp))
        if args.telemetry == "nvml":
            env.update(fake_nvml_env(tmp))
        ratios: dict[str, list[float]] = {"decode": [], "p99": [], "cpu": []}
        for pair in range(args.pairs):
            order = ("live", "bench") if pair % 2 == 0 else ("bench", "live")
            result: dict[str, dict[str, Any]] = {}
            live_runs = args.runs
            for side in order:
                record = tmp / f"{pair}-{side}.jsonl.zst"
                if side == "live":
                    watched = run_live(args, args.runs, record, env)
                    result[side] = {**figures(exported(record, env)), **watched}
                    live_runs = result[side]["runs"]
                else:  # with --loop the bench side makes as many runs as the live side made (or --runs first)
                    runs = live_runs if args.loop and "live" in result else args.runs
                    watched = run_bench(args, runs, record, env)
                    result[side] = {**figures(exported(record, env)), **watched}
            live, bench = result["live"], result["bench"]
            ratios["decode"].append(live["decode_tps"] / bench["decode_tps"])
            ratios["p99"].append(live["itl_p99"] / bench["itl_p99"])
            ratios["cpu"].append(live["cpu_per_token"] / bench["cpu_per_token"])
            ui_share = live["watch"].main_share(*live["span_ns"])
            for key in ("child_preempted", "monitor_wakeups"):
                ratios.setdefault(key, []).append(live[key] / max(bench[key], 1e-9))
            print(
                f"pair {pair + 1} ({' then '.join(order)}; the app wrote {live['written'] / 1e6:.1f} MB, its main "
                f"thread used {ui_share * 100:.1f} % of a core from the first measured run's start to the last's end):"
            )
            print(line("bench", bench))
            print(line("live", live))
            print(
                f"  ratio live/bench: decode TPS {ratios['decode'][-1]:.3f}  ITL p99 {ratios['p99'][-1]:.3f}  "
                f"CPU per token {ratios['cpu'][-1]:.3f}"
            )
            sys.stdout.flush()
        print(
            f"{args.size}, telemetry {args.telemetry}, {args.tokens} tokens × {args.runs} runs"
            + (f", live --loop {args.loop:g} s" if args.loop else "")
            + (", --same-process" if args.same_process else "")
            + f": median ratio live/bench over {args.pairs} pairs: decode TPS {statistics.median(ratios['decode']):.3f}"
            f" (target ≥ 0.97; pairs {min(ratios['decode']):.3f}–{max(ratios['decode']):.3f}), ITL p99 "
            f"{statistics.median(ratios['p99']):.3f} (target ≤ 1.15), CPU per token "
            f"{statistics.median(ratios['cpu']):.3f} (pairs {min(ratios['cpu']):.3f}–{max(ratios['cpu']):.3f}); "
            "the child preempted "
            f"{statistics.median(ratios['child_preempted']):.2f}× as often, tpstui woke "
            f"{statistics.median(ratios['monitor_wakeups']):.2f}× as often"
        )


if __name__ == "__main__":
    main()
