"""Point tpstui (and the real pynvml / amdsmi) at the fake GPU libraries, for one test.

``FakeGpus(monkeypatch).nvml("nvml_steady.txt", at=2.0)`` builds the fake libnvidia-ml.so.1 if
needed and sets ``TPSTUI_NVML_LIBRARY``, ``FAKE_NVML_SCENARIO`` and ``FAKE_GPU_EPOCH_NS`` so that
the scenario's clock reads ``at`` seconds now. ``.amd(...)`` does the same for libamd_smi.so.
A process loads one libnvidia-ml.so.1 only (pynvml keeps it), so the old-driver variant is
used from subprocesses (``.env()`` gives the variables for one).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import time
from pathlib import Path

import pytest

from tests.fakes.build import SCENARIOS, fake_amdsmi, fake_nvml, gcc_available

CACHE = Path(tempfile.gettempdir()) / f"tpstui-fakes-{os.getuid()}"


def _need_gcc() -> None:
    if not gcc_available():
        pytest.skip("gcc is needed to build the fake GPU libraries")


def scenario_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    return path if path.is_absolute() else SCENARIOS / path


class FakeGpus:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.epoch_ns = 0
        self.library: Path | None = None

    def _epoch(self, at: float) -> None:
        self.epoch_ns = time.perf_counter_ns() - int(at * 1e9)
        self.monkeypatch.setenv("FAKE_GPU_EPOCH_NS", str(self.epoch_ns))

    def nvml(self, scenario: str | Path | None, at: float = 0.0, old_driver: bool = False) -> Path:
        """Use the fake NVML with ``scenario`` (None: like a machine whose driver is not loaded)."""
        _need_gcc()
        self.library = fake_nvml(CACHE, old_driver)
        self.monkeypatch.setenv("TPSTUI_NVML_LIBRARY", str(self.library))
        if scenario is None:
            self.monkeypatch.delenv("FAKE_NVML_SCENARIO", raising=False)
        else:
            self.monkeypatch.setenv("FAKE_NVML_SCENARIO", str(scenario_path(scenario)))
        self._epoch(at)
        return self.library

    def amd(self, scenario: str | Path | None, at: float = 0.0) -> Path:
        """Use the fake AMD SMI with ``scenario`` (None: a driver that finds no GPU)."""
        _need_gcc()
        self.library = fake_amdsmi(CACHE)
        self.monkeypatch.setenv("TPSTUI_AMDSMI_LIBRARY", str(self.library))
        self.monkeypatch.setenv("TPSTUI_SAMPLER", "inline")
        if scenario is None:
            self.monkeypatch.delenv("FAKE_AMDSMI_SCENARIO", raising=False)
        else:
            self.monkeypatch.setenv("FAKE_AMDSMI_SCENARIO", str(scenario_path(scenario)))
        self._epoch(at)
        return self.library

    def scenario_ns(self, seconds: float) -> int:
        """The perf_counter_ns time at which the scenario's clock reads ``seconds``."""
        return self.epoch_ns + int(seconds * 1e9)


def nvml_caller_tids(library: Path) -> set[int]:
    """Thread ids (gettid) that have called the fake NVML in this process (a test hook of the fake)."""
    lib = ctypes.CDLL(str(library))
    out = (ctypes.c_int * 256)()
    n = lib.fakeNvmlCallerTids(out, 256)
    return set(out[:n])


def reset_nvml_callers(library: Path) -> None:
    ctypes.CDLL(str(library)).fakeNvmlResetCallers()
