"""AMD GPU telemetry through the ``amdsmi`` package (ctypes over libamd_smi.so).

In the same process as PyTorch on ROCm, ``amdsmi_get_processor_handles()`` can return no GPU
once torch has been imported (pytorch#186516). ``LiveSession`` opens telemetry before it loads
torch, so amdsmi is initialised here; if torch is already imported the readers run in a child
process that never imports it (``telemetry.process``) and the sampler thread asks it for one
reading per tick over a pipe. ``TPSTUI_SAMPLER=process|inline`` forces either.

Bandwidth: ``umc_activity`` (memory controller activity, %) × ``vram_max_bandwidth`` (GB/s), as
ROCm's RDC computes it. Throttling: the violation-status flags (MI300 and newer, ROCm 6.3+) when
the device has them, else the decoded ``indep_throttle_status`` bits of gpu_metrics (some
Radeon cards report TEMP_HOTSPOT permanently; it is shown as reported).

``TPSTUI_AMDSMI_LIBRARY=/path/to/libamd_smi.so`` loads that library first, by absolute path.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import io
import os
import sys
from typing import Any

from tpstui.sources.telemetry.amd_device import AmdGpu
from tpstui.sources.telemetry.base import Backend, BackendUnavailable, DeviceInfo, Reading
from tpstui.sources.telemetry.gpus import ROCM_VARIABLES, select_gpus
from tpstui.sources.telemetry.process import ProcessBackend, in_child_process

__all__ = ["LIBRARY_ENV", "AmdBackend", "AmdReader"]

LIBRARY_ENV = "TPSTUI_AMDSMI_LIBRARY"
GROUPS_HINT = "add your user to the render and video groups (sudo usermod -aG render,video $USER) and log in again"


def _precheck() -> None:
    """Fail fast, without importing amdsmi, where there is no AMD GPU driver at all."""
    if not os.environ.get(LIBRARY_ENV) and not os.path.exists("/dev/kfd"):
        raise BackendUnavailable("no AMD GPU driver (/dev/kfd does not exist)")


def _import_amdsmi() -> Any:
    _precheck()
    path = os.environ.get(LIBRARY_ENV)
    if path:
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as error:
            raise BackendUnavailable(f"{LIBRARY_ENV}={path}: cannot load it ({error})") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the wrapper prints when the library is missing
            import amdsmi
    except (ImportError, OSError, KeyError, AttributeError) as error:
        raise BackendUnavailable(f"libamd_smi.so not usable (install amd-smi-lib from ROCm): {error!r}") from None
    return amdsmi


def _permission_problem() -> bool:
    nodes = ["/dev/kfd"] + [f"/dev/dri/{n}" for n in _listdir("/dev/dri") if n.startswith("renderD")]
    return any(os.path.exists(n) and not os.access(n, os.R_OK | os.W_OK) for n in nodes)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


class AmdReader:
    """amdsmi in this process: opens the chosen GPUs and reads them."""

    name = "amd"

    def __init__(self, gpus: tuple[int, ...] | None = None, device: str = "auto") -> None:
        smi = _import_amdsmi()
        self.smi = smi
        try:
            smi.amdsmi_init(smi.AmdSmiInitFlags.INIT_AMD_GPUS)
        except smi.AmdSmiLibraryException as error:
            if error.err_code == 10 or _permission_problem():
                raise BackendUnavailable(f"no permission to open the AMD GPUs: {GROUPS_HINT}") from None
            raise BackendUnavailable(f"AMD SMI could not start: {error.get_error_info(False)}") from None
        self._gpus: list[AmdGpu] = []
        try:
            handles = smi.amdsmi_get_processor_handles()
            if not handles:
                if _permission_problem():
                    raise BackendUnavailable(f"AMD GPUs present but not accessible: {GROUPS_HINT}")
                raise BackendUnavailable("AMD SMI found no AMD GPU")
            uuids = [str(smi.amdsmi_get_gpu_device_uuid(h)) for h in handles]
            chosen = select_gpus(uuids, gpus, device, ROCM_VARIABLES)
            if not chosen:
                raise BackendUnavailable("no AMD GPU is visible to this run (HIP_VISIBLE_DEVICES)")
            for index in chosen:
                gpu = AmdGpu(smi, index, handles[index])
                try:
                    self._gpus.append(gpu.open())
                except smi.AmdSmiLibraryException as error:
                    gpu.error = f"gpu{index} stopped answering: {error.get_error_info(False)}"
                    self._gpus.append(gpu)
            self.versions = self._versions()
        except smi.AmdSmiLibraryException as error:
            self.close()
            raise BackendUnavailable(f"AMD SMI failed while opening the GPUs: {error.get_error_info(False)}") from None
        except BaseException:
            self.close()
            raise

    def _versions(self) -> dict[str, str]:
        versions = {}
        try:
            lib = self.smi.amdsmi_get_lib_version()
            versions["AMD SMI library"] = f"{lib['major']}.{lib['minor']}.{lib['release']}"
        except self.smi.AmdSmiLibraryException:
            pass
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions["amdsmi (Python)"] = importlib.metadata.version("amdsmi")
        return versions

    def devices(self) -> list[DeviceInfo]:
        return [gpu.info(self.versions) for gpu in self._gpus]

    def sample(self) -> list[Reading]:
        return [gpu.read() for gpu in self._gpus]

    def close(self) -> None:
        if getattr(self, "smi", None) is not None:
            with contextlib.suppress(Exception):
                self.smi.amdsmi_shut_down()
            self.smi = None


class AmdBackend:
    """All AMD GPUs the run uses, sampled through AMD SMI (from a child process once torch is loaded)."""

    name = "amd"

    def __init__(self, gpus: tuple[int, ...] | None = None, device: str = "auto", isolate: bool | None = None) -> None:
        _precheck()
        default = "torch" in sys.modules  # before torch (as LiveSession opens it) amdsmi is safe here
        self.isolated = in_child_process(default) if isolate is None else isolate
        self._impl: Backend = ProcessBackend("amd", gpus, device) if self.isolated else AmdReader(gpus, device)

    def devices(self) -> list[DeviceInfo]:
        return self._impl.devices()

    def sample(self) -> list[Reading]:
        return self._impl.sample()

    def close(self) -> None:
        self._impl.close()
