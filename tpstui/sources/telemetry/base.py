"""The interface every telemetry backend implements (NVML, AMD SMI, CPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Backend", "BackendUnavailable", "DeviceInfo", "Reading"]


class BackendUnavailable(Exception):
    """The backend cannot start here (no library, no device, no permission); the message says why."""


@dataclass(frozen=True)
class DeviceInfo:
    """Static facts about one device, for ``tpstui devices`` and the header."""

    device: str
    """Stable id used in samples: "cpu", "gpu0", ..."""
    name: str
    backend: str
    details: dict[str, str] = field(default_factory=dict)
    """Driver / library versions, bus id, memory size, peak bandwidth..."""
    supported: tuple[str, ...] = ()
    """Telemetry keys this device answered at start-up."""


@dataclass
class Reading:
    """One device's values at one moment (becomes a TelemetrySample)."""

    device: str
    values: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    """Set when the device stopped answering (lost, reset): the sampler reports it once."""
    stale: bool = False
    """Could not be read this time (a scrape that failed or timed out): n/a for this sample, and
    its throttle reasons unknown (spans stay as they were); the next sample tries again."""


class Backend(Protocol):
    """Opened once, sampled at a fixed rate from the sampler thread, closed at the end.

    ``sample()`` must not raise for a metric a device lacks (leave the key out). A device that
    disappeared comes back as a Reading with ``error`` set, and is skipped afterwards. If
    ``sample()`` raises, the whole backend is reported failed and sampling stops; the run goes on.
    """

    name: str

    def devices(self) -> list[DeviceInfo]: ...

    def sample(self) -> list[Reading]: ...

    def close(self) -> None: ...
