"""Which GPUs to watch: the ones the run uses (``--device``, ``CUDA_VISIBLE_DEVICES``) or ``--gpus``.

Management libraries (NVML, AMD SMI) number GPUs in PCI bus order and ignore the visibility
variables; PyTorch numbers only the visible ones. ``cuda:N`` is the N-th entry of
``CUDA_VISIBLE_DEVICES`` (``HIP_VISIBLE_DEVICES`` / ``ROCR_VISIBLE_DEVICES`` on ROCm), given as
indices or UUIDs. Index entries are read as PCI-order indices, which is exact with
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` and on machines with identical GPUs; ``--gpus`` overrides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from tpstui.errors import UserError

__all__ = ["parse_gpu_list", "select_gpus", "visible_gpus"]

CUDA_VARIABLES = ("CUDA_VISIBLE_DEVICES",)
ROCM_VARIABLES = ("HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")


def parse_gpu_list(text: str | None) -> tuple[int, ...] | None:
    """``--gpus``: "all" or nothing → None (the run's GPUs); "0,2" → (0, 2)."""
    if text is None or text.strip().lower() in ("", "auto"):
        return None
    if text.strip().lower() == "all":
        return ()
    indices: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise UserError(f"--gpus {text!r}: give GPU indices separated by commas (e.g. 0,1), or 'all'.")
        if int(part) not in indices:
            indices.append(int(part))
    return tuple(indices)


def visible_gpus(uuids: Sequence[str], variables: Sequence[str], env: Mapping[str, str] | None = None) -> list[int]:
    """Library indices of the GPUs PyTorch can see, in PyTorch's order.

    Like the CUDA runtime, the list stops at the first entry that names no GPU.
    """
    env = os.environ if env is None else env
    spec = next((env[name] for name in variables if name in env), None)
    if spec is None:
        return list(range(len(uuids)))
    visible: list[int] = []
    for entry in (e.strip() for e in spec.split(",")):
        index: int | None = None
        if entry.isdigit():
            index = int(entry) if int(entry) < len(uuids) else None
        elif entry:
            matches = [i for i, uuid in enumerate(uuids) if uuid.lower().startswith(entry.lower())]
            index = matches[0] if len(matches) == 1 else None
        if index is None or index in visible:
            break
        visible.append(index)
    return visible


def select_gpus(
    uuids: Sequence[str],
    requested: tuple[int, ...] | None,
    device: str,
    variables: Sequence[str] = CUDA_VARIABLES,
    env: Mapping[str, str] | None = None,
) -> list[int]:
    """Library indices to sample.

    ``requested`` (``--gpus``): () means all, a tuple names indices (checked); None means the
    GPUs the run uses: all visible ones for ``--device auto`` (accelerate's device_map), the
    N-th visible one for ``cuda:N``, every GPU for anything else (the user asked for GPU
    telemetry explicitly).
    """
    count = len(uuids)
    if requested is not None:
        if not requested:
            return list(range(count))
        bad = [i for i in requested if i >= count]
        if bad:
            raise UserError(f"--gpus: no GPU {bad[0]}; this machine has {count} (0..{count - 1}).")
        return list(requested)
    visible = visible_gpus(uuids, variables, env)
    if device == "auto":
        return visible
    if device == "cuda":
        return visible[:1]
    if device.startswith("cuda:") and device[5:].isdigit():
        position = int(device[5:])
        return visible[position : position + 1]
    return list(range(count))
