"""Choose a telemetry backend: ``auto`` tries NVML, then AMD SMI, then the CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tpstui.errors import UserError
from tpstui.telemetry.base import Backend, BackendUnavailable

__all__ = ["BACKEND_NAMES", "OPENERS", "TelemetryOptions", "open_backend"]

BACKEND_NAMES = ("auto", "nvml", "amd", "cpu", "none")


@dataclass(frozen=True)
class TelemetryOptions:
    """What the backends need to know about the run."""

    gpus: tuple[int, ...] | None = None
    """``--gpus``: None = the GPUs the run uses, () = all, else these library indices."""
    device: str = "auto"
    """``--device``: picks the GPUs; a CPU (or MPS) run makes ``auto`` skip the GPU backends."""
    peak_bw_gbs: float | None = None
    """``--peak-bw``: the memory bandwidth peak for MBU, instead of the measured or derived one."""
    probe_cpu_bandwidth: bool = False
    """Measure the CPU's memory bandwidth once when the CPU backend opens (for CPU MBU)."""


def _open_nvml(options: TelemetryOptions) -> Backend:
    from tpstui.telemetry.nvml import open_nvml

    return open_nvml(options.gpus, options.device)


def _open_amd(options: TelemetryOptions) -> Backend:
    from tpstui.telemetry.amd import AmdBackend

    return AmdBackend(options.gpus, options.device)


def _open_cpu(options: TelemetryOptions) -> Backend:
    from tpstui.mbu import CpuWithPeak, cpu_peak_bandwidth
    from tpstui.telemetry.cpu import CpuBackend

    backend = CpuBackend()
    peak = options.peak_bw_gbs
    if peak is None and options.probe_cpu_bandwidth:
        peak = cpu_peak_bandwidth()
    return CpuWithPeak(backend, peak) if peak else backend


OPENERS: dict[str, Callable[[TelemetryOptions], Backend]] = {"nvml": _open_nvml, "amd": _open_amd, "cpu": _open_cpu}
"""Backend name → opener, in the order ``auto`` tries them."""

GPU_BACKENDS = ("nvml", "amd")


def open_backend(name: str, options: TelemetryOptions | None = None) -> tuple[Backend | None, list[str]]:
    """Open the named backend. Returns it (None for "none") and notes on what auto skipped.

    An explicitly named backend that cannot start is a UserError; ``auto`` falls through.
    """
    options = options or TelemetryOptions()
    if name not in BACKEND_NAMES:
        raise UserError(f"unknown telemetry backend {name!r}; use one of: {', '.join(BACKEND_NAMES)}.")
    if name == "none":
        return None, []
    if name != "auto":
        opener = OPENERS.get(name)
        if opener is None:
            raise UserError(f"telemetry backend {name!r} is not available in this build.")
        try:
            return opener(options), []
        except BackendUnavailable as error:
            raise UserError(f"--telemetry {name}: {error}") from None
    notes: list[str] = []
    cpu_run = options.device in ("cpu", "mps") and options.gpus is None
    for candidate, opener in OPENERS.items():
        if cpu_run and candidate in GPU_BACKENDS:
            notes.append(
                f"{candidate}: skipped, the model runs on {options.device} (--telemetry {candidate} to watch it)"
            )
            continue
        try:
            return opener(options), notes
        except BackendUnavailable as error:
            notes.append(f"{candidate}: {error}")
    return None, notes
