"""NVIDIA GPU telemetry through nvidia-ml-py (``pynvml``, the real NVML binding).

The backend opens NVML and the GPUs the run uses; each GPU (``nvml_device.NvmlGpu``) reads its
metrics one reader at a time, so what a device or driver lacks reads "n/a" and the rest goes on.
Everything here runs on the caller's thread: ``__init__`` on the thread that opens telemetry,
``sample()`` on the sampler thread, never on the generation thread.

``TPSTUI_NVML_LIBRARY=/path/to/libnvidia-ml.so.1`` loads that library first (by absolute path);
pynvml's own ``CDLL("libnvidia-ml.so.1")`` then resolves to it by soname. Tests use this to run
the real binding against a fake library; it also helps where the driver library is not on the
loader path.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import os
from typing import Any

from tpstui.sources.telemetry.base import Backend, BackendUnavailable, DeviceInfo, Reading
from tpstui.sources.telemetry.gpus import CUDA_VARIABLES, select_gpus
from tpstui.sources.telemetry.nvml_device import (
    CLOCK_EVENT_REASONS,
    LOST,
    NvmlGpu,
    decode_reasons,
    driver_text,
    peak_bandwidth_gbs,
)
from tpstui.sources.telemetry.process import ProcessBackend, in_child_process

__all__ = ["CLOCK_EVENT_REASONS", "LIBRARY_ENV", "NvmlBackend", "decode_reasons", "open_nvml", "peak_bandwidth_gbs"]

LIBRARY_ENV = "TPSTUI_NVML_LIBRARY"


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError as error:  # pragma: no cover - nvidia-ml-py is a dependency
        raise BackendUnavailable(f"nvidia-ml-py is not installed ({error})") from None
    return pynvml


def _preload_library() -> None:
    path = os.environ.get(LIBRARY_ENV)
    if path:
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as error:
            raise BackendUnavailable(f"{LIBRARY_ENV}={path}: cannot load it ({error})") from None


def _init_message(nv: Any, error: Any) -> str:
    messages = {
        nv.NVML_ERROR_LIBRARY_NOT_FOUND: "libnvidia-ml.so.1 not found (no NVIDIA driver installed)",
        nv.NVML_ERROR_DRIVER_NOT_LOADED: "the NVIDIA driver is not loaded",
        nv.NVML_ERROR_NO_PERMISSION: "no permission to open the NVIDIA devices (/dev/nvidia*)",
        nv.NVML_ERROR_LIB_RM_VERSION_MISMATCH: "NVML and the kernel driver differ in version (reboot after the update)",
    }
    return messages.get(error.value, f"NVML could not start: {error}")


class NvmlBackend:
    """All NVIDIA GPUs the run uses, sampled through NVML."""

    name = "nvml"

    def __init__(self, gpus: tuple[int, ...] | None = None, device: str = "auto") -> None:
        nv = _import_pynvml()
        _preload_library()
        try:
            nv.nvmlInit()
        except nv.NVMLError as error:
            raise BackendUnavailable(_init_message(nv, error)) from None
        self._nv = nv
        self._gpus: list[NvmlGpu] = []
        try:
            count = nv.nvmlDeviceGetCount()
            if count == 0:
                raise BackendUnavailable("NVML found no NVIDIA GPU")
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            uuids = [driver_text(nv.nvmlDeviceGetUUID, h) for h in handles]
            chosen = select_gpus(uuids, gpus, device, CUDA_VARIABLES)
            if not chosen:
                raise BackendUnavailable("no NVIDIA GPU is visible to this run (CUDA_VISIBLE_DEVICES)")
            self._gpus = [self._open_gpu(i, handles[i]) for i in chosen]
            self._versions = self._read_versions()
        except nv.NVMLError as error:
            self.close()
            raise BackendUnavailable(f"NVML failed while opening the GPUs: {error}") from None
        except BaseException:
            self.close()
            raise

    def _open_gpu(self, index: int, handle: Any) -> NvmlGpu:
        """A GPU already lost at start-up stays listed: its first sample reports the loss."""
        gpu = NvmlGpu(self._nv, index, handle)
        try:
            return gpu.open()
        except self._nv.NVMLError as error:
            if error.value not in LOST:
                raise
            gpu.error = f"{gpu.device} stopped answering: {error}"
            return gpu

    def _read_versions(self) -> dict[str, str]:
        nv = self._nv
        versions = {
            "driver": driver_text(nv.nvmlSystemGetDriverVersion),
            "NVML": driver_text(nv.nvmlSystemGetNVMLVersion),
        }
        try:
            cuda = nv.nvmlSystemGetCudaDriverVersion()
            versions["CUDA driver API"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except nv.NVMLError:
            pass
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions["nvidia-ml-py"] = importlib.metadata.version("nvidia-ml-py")
        return versions

    def devices(self) -> list[DeviceInfo]:
        return [gpu.info(self._versions) for gpu in self._gpus]

    def sample(self) -> list[Reading]:
        return [gpu.read() for gpu in self._gpus]

    def close(self) -> None:
        for gpu in self._gpus:
            gpu.close()
        self._gpus = []
        nv, self._nv = getattr(self, "_nv", None), None
        if nv is not None:
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()


def open_nvml(gpus: tuple[int, ...] | None = None, device: str = "auto") -> Backend:
    """The NVML backend as ``--telemetry nvml|auto`` opens it: in this process, or in a child with
    ``TPSTUI_SAMPLER=process`` (see ``telemetry.process``; the library must load here first)."""
    _preload_library()
    if not os.environ.get(LIBRARY_ENV):
        try:
            ctypes.CDLL("libnvidia-ml.so.1")
        except OSError:
            raise BackendUnavailable("libnvidia-ml.so.1 not found (no NVIDIA driver installed)") from None
    if in_child_process(default=False):
        return ProcessBackend("nvml", gpus, device)
    return NvmlBackend(gpus, device)
