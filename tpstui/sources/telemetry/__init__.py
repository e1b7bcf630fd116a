"""Telemetry: backends (NVML, AMD SMI, CPU) behind one interface, and the sampler thread."""

from tpstui.sources.telemetry.base import Backend, BackendUnavailable, DeviceInfo, Reading
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.sources.telemetry.select import BACKEND_NAMES, open_backend

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendUnavailable",
    "DeviceInfo",
    "Reading",
    "Sampler",
    "open_backend",
]
