"""Generation options are checked before the model loads, and a run that dies is always a failed run
(an event, a row in the report, a non-zero exit), in bench and in the app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Collector
from tests.test_bad_input import run_main
from tpstui.settings import RunSettings
from tpstui.sources.generation import runner as runner_module
from tpstui.sources.generation.engine import TransformersEngine
from tpstui.sources.generation.prompts import build_prompt
from tpstui.sources.generation.runner import GenerationRunner
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.stream.events import RunFailed, RunFinished, RunStarted
from tpstui.ui.app import TpsApp

BAD_GENERATION_OPTIONS = {
    "negative seed": (["--seed", "-1"], "--seed"),
    "huge seed": (["--seed", str(2**70)], "--seed"),
    "temperature nan": (["--sample", "--temperature", "nan"], "--temperature"),
    "temperature inf": (["--temperature", "inf"], "--temperature"),
    "negative top-k": (["--top-k", "-1"], "--top-k"),
    "top-p nan": (["--top-p", "nan"], "--top-p"),
    "huge max-new-tokens": (["-n", str(2**40)], "--max-new-tokens"),
    "huge batch": (["--batch-size", str(2**40)], "--batch-size"),
    "negative warm-up": (["--warmup", "-1"], "--warmup"),
    "empty model": (["--model", ""], "--model is empty"),
    "empty prompt file name": (["--prompt-file", ""], "--prompt-file"),
}


@pytest.mark.parametrize("case", sorted(BAD_GENERATION_OPTIONS))
@pytest.mark.parametrize("command", ["bench", "run"])
def test_generation_options_are_checked_before_the_model_loads(
    case: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args, needle = BAD_GENERATION_OPTIONS[case]
    code, err = run_main([command, "--telemetry", "none", *args], capsys)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tpstui: error:"), err  # no "[ 2%] loading" line first
    assert needle in lines[0]


def test_run_with_a_bad_seed_exits_at_once_instead_of_waiting_forever() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "run", "--seed", "-1"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "--seed" in result.stderr and "Traceback" not in result.stderr


def _runner(loaded: Any, settings: RunSettings, collector: Collector) -> GenerationRunner:
    prompt = build_prompt(loaded.tokenizer, settings, loaded.context_length)
    runner = GenerationRunner(loaded, prompt, settings, collector.bus)
    runner.start()
    return runner


def _settings(tiny_model_dir: Path, **overrides: Any) -> RunSettings:
    base: dict[str, Any] = dict(
        model=str(tiny_model_dir), device="cpu", prompt_tokens=8, chat_template="off",
        max_new_tokens=4, ignore_eos=True, runs=2, warmup=0,
    )  # fmt: skip
    return RunSettings(**(base | overrides))


def test_a_run_that_raises_before_generate_is_a_failed_run_and_the_runner_goes_on(
    tiny_loaded: Any, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = Collector()
    runner = _runner(tiny_loaded, _settings(tiny_model_dir), collector)
    try:
        with monkeypatch.context() as patch:

            def broken(self: GenerationRunner) -> dict[str, Any]:
                raise ValueError("a setting generate() refuses")

            patch.setattr(GenerationRunner, "_generation_kwargs", broken)
            runner.request_runs(2, 0)
            assert runner.wait_idle(60)
        assert [type(e) for e in collector.events] == [RunStarted, RunFailed, RunStarted, RunFailed]
        assert all("a setting generate() refuses" in e.error for e in collector.events if isinstance(e, RunFailed))
        runner.request_runs(1, 0)  # the threads are alive: the next run works
        assert runner.wait_idle(60)
        assert isinstance(collector.events[-1], RunFinished)
    finally:
        runner.close()
    assert not runner.alive


def test_a_pump_failure_is_a_failed_run_and_the_pump_goes_on(
    tiny_loaded: Any, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = Collector()
    runner = _runner(tiny_loaded, _settings(tiny_model_dir, runs=1), collector)
    try:
        with monkeypatch.context() as patch:

            def broken(self: Any, t_ns: int, value: Any) -> Any:
                raise UnicodeError("the tokenizer cannot decode this")

            patch.setattr(runner_module._PumpRun, "tokens", broken)
            runner.request_runs(1, 0)
            assert runner.wait_idle(60)
        failed = [e for e in collector.events if isinstance(e, RunFailed)]
        assert len(failed) == 1 and failed[0].run == 0 and "cannot decode" in failed[0].error
        assert not [e for e in collector.events if isinstance(e, RunFinished)]  # one end per run
        runner.request_runs(1, 0)
        assert runner.wait_idle(60)
        assert isinstance(collector.events[-1], RunFinished) and collector.events[-1].run == 1
    finally:
        runner.close()


def test_bench_with_failing_runs_exits_1_and_lists_them(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A run thread that dies (here: building generate()'s arguments raises) is a failed run in the JSON."""
    out = tmp_path / "bench.json"
    script = (
        "import sys\n"
        "from tpstui.sources.generation.runner import GenerationRunner\n"
        "def refuse(self): raise RuntimeError('the seed was refused')\n"
        "GenerationRunner._generation_kwargs = refuse\n"
        "from tpstui.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "bench", "--same-process", "--model", str(tiny_model_dir), "--device", "cpu",
         "--telemetry", "none", "--runs", "2", "--warmup", "0", "-n", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "2 run(s) failed: RuntimeError: the seed was refused" in result.stderr
    assert "Traceback" not in result.stderr
    import json

    runs = json.loads(out.read_text())["runs"]
    assert [r["status"] for r in runs] == ["failed", "failed"]


def test_the_app_shows_a_failed_run_and_exits_1(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seed: int, deterministic: bool = False) -> None:
        raise RuntimeError("the seed was refused")

    import transformers

    monkeypatch.setattr(transformers, "set_seed", refuse)
    source = LiveSession(TransformersEngine(_settings(tiny_model_dir, runs=1)), TelemetryOptions(backend="none"))
    app = TpsApp(source, exit_when_done=True)

    async def drive() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(1200):  # a deadline, not a timing
                if not app.is_running:
                    break
                await pilot.pause(0.05)
            else:
                raise AssertionError("the app kept waiting for a run that had died")

    asyncio.run(drive())
    assert source.session.run(0).error is not None and "the seed was refused" in source.session.run(0).error
    assert app.return_code == 1
