"""Make ``simulated-gpu-thermal-throttle.jsonl.zst``: a SIMULATED session whose TPS follows a fake GPU clock.

Nothing in it is a GPU measurement. The GPU is the test suite's fake ``libnvidia-ml.so.1``
(``tests/fakes/fake_nvml.c``, loaded by the real nvidia-ml-py) playing
``tests/fakes/scenarios/nvml_thermal_story.txt``, its clock starting when the session does. The
engine is tpstui's real transformers engine running a tiny randomly initialised Llama (2 layers,
hidden size 32, built here from a config with the tests' ``build_tiny_model``: its text is
noise, and a decode step costs it a few milliseconds of CPU), with a logits processor
(``ClockPacedSteps``) that pads every decode step to ``BASE_STEP_S × max SM clock / current SM
clock``, reading the clock from the same fake NVML the telemetry samples. So a decode step takes
longer when the simulated GPU is throttled, as it would for a memory- or compute-bound model on
a real GPU, and decode TPS follows the clock; the model's own step is so short that a busy
machine hardly shows. The session's settings (``"simulated"``), the model's name
("SIMULATED · ...") and therefore the app's header, the diagnosis, the bench table, the HTML
report and compare all say so.

    PYTHONPATH=. .venv/bin/python recordings/make_simulated.py recordings/simulated-gpu-thermal-throttle.jsonl.zst
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from tests.conftest import build_tiny_model
from tests.fakes.build import SCENARIOS, fake_nvml
from tests.fakes.env import CACHE
from tpstui.reports.bench import build_report, table_text
from tpstui.settings import RunSettings
from tpstui.sources.base import Progress
from tpstui.sources.generation.engine import TransformersEngine
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.stream.events import ModelLoaded

BASE_STEP_S = 0.050
"""A decode step at the full SM clock (20 tok/s; the tiny model's own step is a few ms)."""
MAX_CLOCK_MHZ = 1980.0
SCENARIO = SCENARIOS / "nvml_thermal_story.txt"
LABEL = (
    f"decode steps padded to {BASE_STEP_S * 1e3:.0f} ms × {MAX_CLOCK_MHZ:,.0f} MHz / the SM clock of a fake NVML "
    f"GPU (tests/fakes, scenario {SCENARIO.name}); tokens from a tiny random Llama on the CPU (its text is noise)"
)


class ClockPacedSteps:
    """A logits processor: each decode step lasts at least ``base_s × max / current SM clock``."""

    def __init__(self, base_s: float, max_clock_mhz: float) -> None:
        self.base_s = base_s
        self.max_clock = max_clock_mhz
        self.last_ns = 0
        self.handle: Any = None

    def clock(self) -> float:
        import pynvml

        if self.handle is None:
            pynvml.nvmlInit()  # reference-counted: the telemetry sampler has initialised it already
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return float(pynvml.nvmlDeviceGetClockInfo(self.handle, pynvml.NVML_CLOCK_SM))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        target_ns = int(self.base_s * self.max_clock / max(self.clock(), 1.0) * 1e9)
        now = time.perf_counter_ns()
        if self.last_ns and now - self.last_ns < target_ns:
            time.sleep((target_ns - (now - self.last_ns)) / 1e9)
        self.last_ns = time.perf_counter_ns()
        return scores


class SimulatedEngine(TransformersEngine):
    """The transformers engine with ``ClockPacedSteps``, labelled SIMULATED in its settings and name."""

    def __init__(self, settings: RunSettings) -> None:
        super().__init__(settings, [ClockPacedSteps(BASE_STEP_S, MAX_CLOCK_MHZ)])

    def settings(self) -> dict[str, Any]:
        return super().settings() | {"simulated": LABEL}

    def load(self, progress: Progress) -> ModelLoaded:
        loaded = super().load(progress)
        return replace(loaded, name="SIMULATED · tiny random Llama, steps follow a fake GPU clock")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/tpstui-simulated-tiny-llama"))
    args = parser.parse_args()
    if not (args.model_dir / "config.json").exists():
        build_tiny_model(args.model_dir, context=1024)
    os.environ["TPSTUI_NVML_LIBRARY"] = str(fake_nvml(CACHE))
    os.environ["FAKE_NVML_SCENARIO"] = str(SCENARIO)
    os.environ["FAKE_GPU_EPOCH_NS"] = str(time.perf_counter_ns())  # the scenario's clock starts now
    settings = RunSettings(
        model=str(args.model_dir), max_new_tokens=args.tokens, ignore_eos=True, runs=args.runs, warmup=1, device="cpu"
    )
    live = LiveSession(SimulatedEngine(settings), TelemetryOptions(backend="nvml", sample_hz=10.0), record=args.out)
    try:
        live.open(lambda fraction, stage: print(f"[{fraction * 100:3.0f}%] {stage}", file=sys.stderr))
        live.request_planned_runs()
        while not live.engine.wait_idle(0.5):
            pass
    finally:
        live.close()
    print(table_text(build_report(live.session, live.recorded_settings())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
