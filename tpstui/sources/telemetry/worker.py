"""The telemetry sampler process (see ``telemetry.process``): opens one backend and answers ticks.

``python -m tpstui.sources.telemetry.worker '{"backend": "nvml", "gpus": null, "device": "auto"}'``

It never imports torch, so AMD SMI sees every GPU, and driver calls never touch the GIL of the
process that generates.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import msgspec

from tpstui.errors import UserError, error_line
from tpstui.sources.telemetry.base import Backend, BackendUnavailable


def _open(name: str, gpus: tuple[int, ...] | None, device: str) -> Backend:
    if name == "nvml":
        from tpstui.sources.telemetry.nvml import NvmlBackend

        return NvmlBackend(gpus, device)
    if name == "amd":
        from tpstui.sources.telemetry.amd import AmdReader

        return AmdReader(gpus, device)
    raise BackendUnavailable(f"no such telemetry backend: {name}")


def main(argv: list[str]) -> int:
    options = json.loads(argv[0]) if argv else {}
    gpus = tuple(options["gpus"]) if options.get("gpus") is not None else None
    out = sys.stdout.buffer
    encode = msgspec.json.Encoder().encode
    try:
        backend = _open(str(options.get("backend")), gpus, str(options.get("device", "auto")))
    except (BackendUnavailable, UserError) as error:
        out.write(encode({"ok": False, "error": str(error), "user_error": isinstance(error, UserError)}) + b"\n")
        out.flush()
        return 0
    try:
        out.write(encode({"ok": True, "devices": [dataclasses.asdict(d) for d in backend.devices()]}) + b"\n")
        out.flush()
        for line in sys.stdin.buffer:
            if line.strip() != b"s":
                break
            reply: dict[str, object]
            try:
                reply = {"readings": [dataclasses.asdict(r) for r in backend.sample()]}
            except Exception as error:  # reported by the parent as a failed backend
                reply = {"failed": error_line(error)}
            out.write(encode(reply) + b"\n")
            out.flush()
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
