"""Generation in a child process (``IsolatedEngine``): the real child, the real tiny model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Collector
from tests.step_processors import CollectOnce, SleepPerStep, WritePid
from tpstui.errors import UserError
from tpstui.settings import RunSettings
from tpstui.sources.generation.isolated import IsolatedEngine
from tpstui.sources.priority import MONITOR_SWITCH_S
from tpstui.stream.events import ModelLoaded, RunFailed, RunFinished, RunStarted, Stall, Tokens


def _settings(model: Path, **overrides: object) -> RunSettings:
    values: dict[str, object] = {"model": str(model), "device": "cpu", "max_new_tokens": 6, "runs": 2, "warmup": 1}
    return RunSettings(**(values | overrides))  # type: ignore[arg-type]


def _loaded(engine: IsolatedEngine, collector: Collector) -> ModelLoaded:
    progress: list[tuple[float, str]] = []
    model = engine.load(lambda fraction, stage: progress.append((fraction, stage)))
    assert progress and progress[0][0] < progress[-1][0]  # the child's load progress came through
    engine.start(collector.bus)
    return model


def _wait_for_tokens(collector: Collector) -> None:
    """Until the first token of the run has arrived (a deadline, not a timing)."""
    deadline = time.monotonic() + 30
    while not any(isinstance(e, Tokens) for e in collector.events) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_runs_are_generated_in_the_child_and_stamped_on_this_clock(
    tiny_model_dir: Path, collector: Collector, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    engine = IsolatedEngine(_settings(tiny_model_dir), [WritePid(pid_file)])
    before = time.perf_counter_ns()
    try:
        model = _loaded(engine, collector)
        assert model.name == "tiny-llama0" and engine.pid != os.getpid()
        assert engine.wait_idle(0)
        engine.request_runs(2, 1)
        assert not engine.wait_idle(0)  # busy from the moment the runs are asked for
        assert engine.wait_idle(60)
    finally:
        engine.close()
    after = time.perf_counter_ns()
    assert int(pid_file.read_text()) == engine.pid  # generate() ran in the child
    started = [e for e in collector.events if isinstance(e, RunStarted)]
    finished = [e for e in collector.events if isinstance(e, RunFinished)]
    assert [e.run for e in started] == [0, 1, 2] and [e.warmup for e in started] == [True, False, False]
    assert [(e.run, e.reason, e.tokens) for e in finished] == [(0, "length", 6), (1, "length", 6), (2, "length", 6)]
    times = [e.t_ns for e in collector.events if isinstance(e, Tokens)]
    assert len(times) == 18 and times == sorted(times) and before < times[0] and times[-1] < after
    assert not engine.alive


def _interrupted_run(
    model: Path, collector: Collector, runs: int, interrupt: Callable[[IsolatedEngine], None]
) -> IsolatedEngine:
    """Start ``runs`` long runs, ``interrupt`` the engine once the first token is here, wait until idle."""
    engine = IsolatedEngine(_settings(model, max_new_tokens=140, runs=runs, warmup=0), [SleepPerStep(0.02)])
    try:
        _loaded(engine, collector)
        engine.request_runs(runs, 0)
        _wait_for_tokens(collector)
        interrupt(engine)
        assert engine.wait_idle(10)
    finally:
        engine.close()
    return engine


def test_stop_ends_the_run_in_the_child(tiny_model_dir: Path, collector: Collector) -> None:
    _interrupted_run(tiny_model_dir, collector, 3, IsolatedEngine.stop)
    ends = [e for e in collector.events if isinstance(e, RunFinished)]
    assert [(e.run, e.reason) for e in ends] == [(0, "stopped")] and ends[0].tokens < 140


def test_a_child_that_dies_fails_its_run_and_the_engine_goes_idle(tiny_model_dir: Path, collector: Collector) -> None:
    engine = _interrupted_run(tiny_model_dir, collector, 1, lambda engine: os.kill(engine.pid, signal.SIGKILL))
    failed = [e for e in collector.events if isinstance(e, RunFailed)]
    assert [(e.run, e.error) for e in failed] == [(0, "the generation process ended (signal SIGKILL)")]
    assert not engine.alive


def test_a_model_that_does_not_load_is_a_one_line_error_and_no_child_is_left(tmp_path: Path) -> None:
    engine = IsolatedEngine(_settings(tmp_path / "missing"))
    with pytest.raises(UserError) as raised:
        engine.load(lambda fraction, stage: None)
    assert "\n" not in str(raised.value) and "missing" in str(raised.value)
    assert not engine.alive


def test_a_cancelled_load_takes_the_child_with_it(tiny_model_dir: Path) -> None:
    class Cancelled(BaseException):
        pass

    def cancel(fraction: float, stage: str) -> None:
        raise Cancelled

    engine = IsolatedEngine(_settings(tiny_model_dir))
    with pytest.raises(Cancelled):
        engine.load(cancel)
    assert not engine.alive


def test_the_child_watches_its_own_collections(tiny_model_dir: Path, collector: Collector) -> None:
    """A full collection in the child (forced by the processor) arrives here as a Stall("gc")."""
    engine = IsolatedEngine(_settings(tiny_model_dir, runs=1, warmup=0), [CollectOnce()])
    try:
        _loaded(engine, collector)
        engine.request_runs(1, 0)
        assert engine.wait_idle(60)
    finally:
        engine.close()
    stalls = [e for e in collector.events if isinstance(e, Stall)]
    assert stalls and {s.kind for s in stalls} == {"gc"}


def test_a_session_with_a_child_engine_records_no_pauses_of_this_process(tiny_model_dir: Path) -> None:
    """This process's collections and the app's frames cannot hold up the child's tokens."""
    from tpstui.sources.live import LiveSession
    from tpstui.sources.telemetry.select import TelemetryOptions

    live = LiveSession(IsolatedEngine(_settings(tiny_model_dir)), TelemetryOptions(backend="none"))
    assert live.pauses is None
    live.note_pause(1, 40_000_000, "frame 40 ms")
    live.close()
    assert live.session.stalls() == []


def test_bench_generates_in_a_child_and_the_monitor_yields_the_cpu(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The real CLI: the runs succeed and tpstui's own process ends at nice 19."""
    out = tmp_path / "bench.json"
    script = (
        "import os, sys\n"
        "from tpstui.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps({'nice': os.getpriority(os.PRIO_PROCESS, 0), 'pid': os.getpid()}))\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, TPSTUI_MONITOR_NICE="19")
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + script, "bench", "--model", str(tiny_model_dir), "--device", "cpu",
         "--telemetry", "cpu", "--runs", "1", "--warmup", "0", "-n", "4", "--json", str(out), "--quiet"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    monitor = json.loads(result.stdout.strip().splitlines()[-1])
    report = json.loads(out.read_text())
    assert report["runs"][0]["status"] == "length"
    assert monitor["nice"] == 19


def test_yield_to_lowers_every_thread_here_and_not_the_generating_child() -> None:
    script = (
        "import json, os, subprocess, sys, threading\n"
        "from tpstui.sources.priority import yield_to\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "worker = threading.Thread(target=threading.Event().wait, daemon=True); worker.start()\n"
        "yield_to(child.pid)\n"
        "later = []\n"
        "t = threading.Thread(target=lambda: later.append(os.getpriority(os.PRIO_PROCESS, 0))); t.start(); t.join()\n"
        "tasks = [os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir('/proc/self/task')]\n"
        "print(json.dumps([tasks, later, os.getpriority(os.PRIO_PROCESS, child.pid), sys.getswitchinterval()]))\n"
        "child.kill()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TPSTUI_MONITOR_NICE"}  # the default: 19
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    tasks, later, child, switch = json.loads(result.stdout)
    assert len(tasks) >= 2 and set(tasks) == {19}  # the main thread and the worker
    assert later == [19] and child == 0  # a thread made afterwards inherits it; the child keeps its own
    assert switch == pytest.approx(MONITOR_SWITCH_S)  # from CPython's 5 ms: threads waiting for the GIL wake less often
