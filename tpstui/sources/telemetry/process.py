"""A GPU backend that runs in a child process: ``python -m tpstui.sources.telemetry.worker``.

Why: AMD SMI in the same process as PyTorch on ROCm can see no GPU once torch is imported
(pytorch#186516), so AMD samples from a child when torch is already loaded. For NVML it is an
option (``TPSTUI_SAMPLER=process``): each ctypes call releases and re-takes the GIL (~20 per
sample), which a child avoids, at the price of a process and its own CPU time; measured on a
2-core box the in-process sampler disturbed decoding no more than the child did, so in-process
is NVML's default. The sampler thread does one request and one reply per tick over a pipe.

Protocol, one JSON object per line: the worker first writes ``{"ok": true, "devices": [...]}``
(or ``{"ok": false, "error": ..., "user_error": bool}``), then one ``{"readings": [...]}`` (or
``{"failed": ...}``) per ``s`` line it reads; EOF on its stdin ends it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys

import msgspec

from tpstui.errors import UserError
from tpstui.sources.telemetry.base import BackendUnavailable, DeviceInfo, Reading

__all__ = ["SAMPLER_ENV", "ProcessBackend", "in_child_process"]

SAMPLER_ENV = "TPSTUI_SAMPLER"
START_TIMEOUT_S = 30.0
SAMPLE_TIMEOUT_S = 5.0


def in_child_process(default: bool) -> bool:
    """Whether a GPU backend samples in a child process: ``TPSTUI_SAMPLER=process|inline``, else ``default``."""
    mode = os.environ.get(SAMPLER_ENV, "").strip().lower()
    return default if mode not in ("process", "inline") else mode == "process"


class _Reading(msgspec.Struct):
    device: str
    values: dict[str, float]
    reasons: list[str]
    error: str | None = None


class _Reply(msgspec.Struct):
    readings: list[_Reading] = []
    failed: str | None = None


_decode_reply = msgspec.json.Decoder(_Reply).decode


class ProcessBackend:
    """The backend ``name`` ("nvml" or "amd") opened and sampled in a child process."""

    def __init__(self, name: str, gpus: tuple[int, ...] | None, device: str, timeout: float = START_TIMEOUT_S) -> None:
        self.name = name
        argument = json.dumps({"backend": name, "gpus": list(gpus) if gpus is not None else None, "device": device})
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tpstui.sources.telemetry.worker", argument],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            hello = json.loads(self._line(timeout))
        except RuntimeError as error:
            self.close()
            raise BackendUnavailable(str(error)) from None
        if not hello.get("ok"):
            self.close()
            message = str(hello.get("error", f"the {name} sampler process failed"))
            raise UserError(message) if hello.get("user_error") else BackendUnavailable(message)
        self._devices = [DeviceInfo(**{**d, "supported": tuple(d["supported"])}) for d in hello["devices"]]

    def _line(self, timeout: float) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(f"the {self.name} sampler process stopped answering")
        return line

    def devices(self) -> list[DeviceInfo]:
        return self._devices

    def sample(self) -> list[Reading]:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(b"s\n")
        stdin.flush()
        reply = _decode_reply(self._line(SAMPLE_TIMEOUT_S))
        if reply.failed is not None:
            raise RuntimeError(f"{self.name} sampler process: {reply.failed}")
        return [Reading(r.device, r.values, r.reasons, r.error) for r in reply.readings]

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.close()  # EOF: the worker closes its backend and exits
        try:
            self._process.wait(2.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
