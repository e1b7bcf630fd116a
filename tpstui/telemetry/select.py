"""Choose a telemetry backend: ``auto`` tries NVML, then AMD SMI, then the CPU."""

from __future__ import annotations

from collections.abc import Callable

from tpstui.errors import UserError
from tpstui.telemetry.base import Backend, BackendUnavailable

__all__ = ["BACKEND_NAMES", "open_backend"]

BACKEND_NAMES = ("auto", "nvml", "amd", "cpu", "none")


def _open_cpu() -> Backend:
    from tpstui.telemetry.cpu import CpuBackend

    return CpuBackend()


OPENERS: dict[str, Callable[[], Backend]] = {"cpu": _open_cpu}
"""Backend name → opener; GPU backends register here in the order ``auto`` tries them."""


def open_backend(name: str) -> tuple[Backend | None, list[str]]:
    """Open the named backend. Returns it (None for "none") and notes on what auto skipped.

    An explicitly named backend that cannot start is a UserError; ``auto`` falls through.
    """
    if name not in BACKEND_NAMES:
        raise UserError(f"unknown telemetry backend {name!r}; use one of: {', '.join(BACKEND_NAMES)}.")
    if name == "none":
        return None, []
    if name != "auto":
        opener = OPENERS.get(name)
        if opener is None:
            raise UserError(f"telemetry backend {name!r} is not available in this build.")
        try:
            return opener(), []
        except BackendUnavailable as error:
            raise UserError(f"--telemetry {name}: {error}") from None
    notes: list[str] = []
    for candidate, opener in OPENERS.items():
        try:
            return opener(), notes
        except BackendUnavailable as error:
            notes.append(f"{candidate}: {error}")
    return None, notes
