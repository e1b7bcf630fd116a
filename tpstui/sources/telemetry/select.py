"""Choose a telemetry backend: ``auto`` tries NVML, then AMD SMI, then the CPU.

Every backend is opened (and later called) through ``bounded.BoundedBackend``: a driver that
hangs while opening delays start-up by ``OPEN_WAIT_S`` at most.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from tpstui.errors import UserError
from tpstui.sources.telemetry.base import Backend, BackendUnavailable
from tpstui.sources.telemetry.bounded import OPEN_WAIT_S, BoundedBackend

__all__ = [
    "BACKENDS",
    "BACKEND_NAMES",
    "BackendEntry",
    "TelemetryOptions",
    "open_backend",
    "open_bounded",
    "open_scraped",
]


@dataclass(frozen=True)
class TelemetryOptions:
    """Which backend to sample, how often, and what the backends need to know about the run."""

    backend: str = "auto"
    """``--telemetry``: a name of ``BACKEND_NAMES``."""
    sample_hz: float = 10.0
    """``--sample-hz``: samples per second."""
    gpus: tuple[int, ...] | None = None
    """``--gpus``: None = the GPUs the run uses, () = all, else these library indices."""
    device: str = "auto"
    """``--device``: picks the GPUs; a CPU (or MPS) run makes ``auto`` skip the GPU backends."""
    peak_bw_gbs: float | None = None
    """``--peak-bw``: the memory bandwidth peak for MBU, instead of the measured or derived one."""
    probe_cpu_bandwidth: bool = False
    """Measure the CPU's memory bandwidth once when the CPU backend opens (for CPU MBU)."""
    server_metrics: str | None = None
    """``--server-metrics``: a serving engine's Prometheus ``/metrics`` URL, scraped beside the local backend."""
    dcgm: tuple[str, ...] = ()
    """``--dcgm``: DCGM exporter URLs (one per node), scraped beside the local backend."""
    scrape_hz: float = 2.0
    """``--scrape-hz``: how often the server metrics and the DCGM exporters are scraped."""
    process: Callable[[], int] = os.getpid
    """The generating process (``TokenEngine.pid``): the CPU backend reports its memory (RSS)."""


def _open_nvml(options: TelemetryOptions) -> Backend:
    from tpstui.sources.telemetry.nvml import open_nvml

    return open_nvml(options.gpus, options.device)


def _open_amd(options: TelemetryOptions) -> Backend:
    from tpstui.sources.telemetry.amd import AmdBackend

    return AmdBackend(options.gpus, options.device)


def _open_cpu(options: TelemetryOptions) -> Backend:
    from tpstui.sources.telemetry.bandwidth import CpuWithPeak, cpu_peak_bandwidth
    from tpstui.sources.telemetry.cpu import CpuBackend

    backend = CpuBackend(options.process)
    peak = options.peak_bw_gbs
    if peak is None and options.probe_cpu_bandwidth:
        peak = cpu_peak_bandwidth()
    return CpuWithPeak(backend, peak) if peak else backend


@dataclass(frozen=True)
class BackendEntry:
    """One telemetry backend: how to open it, what to call it, whether it watches GPUs."""

    open: Callable[[TelemetryOptions], Backend]
    title: str
    gpu: bool


BACKENDS: dict[str, BackendEntry] = {
    "nvml": BackendEntry(_open_nvml, "NVML (NVIDIA)", gpu=True),
    "amd": BackendEntry(_open_amd, "AMD SMI", gpu=True),
    "cpu": BackendEntry(_open_cpu, "CPU (psutil)", gpu=False),
}
"""The backend registry: name → entry, in the order ``auto`` tries them."""

BACKEND_NAMES = ("auto", *BACKENDS, "none")
"""What ``--telemetry`` accepts."""


def open_bounded(name: str, options: TelemetryOptions, wait: float = OPEN_WAIT_S) -> BoundedBackend:
    """Open ``BACKENDS[name]`` on its own driver thread, waiting ``wait`` seconds at most (it may
    still be opening when this returns); ``BackendUnavailable`` when it said it cannot start."""
    entry = BACKENDS[name]
    return BoundedBackend(name, lambda: entry.open(options), open_wait=wait)


def open_backend(
    name: str, options: TelemetryOptions | None = None, wait: float = OPEN_WAIT_S
) -> tuple[BoundedBackend | None, list[str]]:
    """Open the named backend. Returns it (None for "none") and notes on what auto skipped.

    An explicitly named backend that cannot start is a UserError; ``auto`` falls through. A
    backend that has not opened within ``wait`` seconds is returned still opening (start-up goes
    on; sampling begins once it is open, or it is reported failed).
    """
    options = options or TelemetryOptions()
    if name not in BACKEND_NAMES:
        raise UserError(f"unknown telemetry backend {name!r}; use one of: {', '.join(BACKEND_NAMES)}.")
    if name == "none":
        return None, []
    if name != "auto":
        try:
            return open_bounded(name, options, wait), []
        except BackendUnavailable as error:
            raise UserError(f"--telemetry {name}: {error}") from None
    notes: list[str] = []
    cpu_run = options.device in ("cpu", "mps") and options.gpus is None
    for candidate, entry in BACKENDS.items():
        if cpu_run and entry.gpu:
            notes.append(
                f"{candidate}: skipped, the model runs on {options.device} (--telemetry {candidate} to watch it)"
            )
            continue
        try:
            return open_bounded(candidate, options, wait), notes
        except BackendUnavailable as error:
            notes.append(f"{candidate}: {error}")
    return None, notes


def open_scraped(options: TelemetryOptions) -> list[Backend]:
    """The scraped backends ``options`` asks for (engine ``/metrics``, DCGM exporters), opened now.

    A source that does not answer at all when opened is a UserError (a wrong URL); later, a failed
    scrape only makes that sample n/a.
    """
    from tpstui.sources.telemetry.dcgm import DcgmBackend
    from tpstui.sources.telemetry.engine_metrics import ServerMetricsBackend

    backends: list[Backend] = []
    try:
        if options.server_metrics:
            backends.append(ServerMetricsBackend(options.server_metrics))
        if options.dcgm:
            backends.append(DcgmBackend(options.dcgm))
    except BackendUnavailable as error:
        for backend in backends:
            backend.close()
        raise UserError(str(error)) from None
    return backends
