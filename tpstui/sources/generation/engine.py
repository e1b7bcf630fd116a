"""The in-process transformers engine: a ``TokenEngine`` that loads a model and runs ``generate()``.

``load()`` resolves and loads the model (the embedded GGUF, a hub id, a directory or a .gguf) and
builds the prompt; ``start()`` starts a ``GenerationRunner`` (generation + pump threads). Nothing
here imports torch at module import: ``load()`` does, on the caller's thread.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Sequence
from typing import Any

from tpstui.settings import RunSettings
from tpstui.sources.base import Progress, RunPlan
from tpstui.sources.generation.loader import LoadedModel, load_model
from tpstui.sources.generation.prompts import Prompt, build_prompt
from tpstui.sources.generation.runner import GenerationRunner
from tpstui.stream.events import EventBus, ModelLoaded

__all__ = ["TransformersEngine", "library_versions"]

VERSIONED = ("torch", "transformers", "accelerate", "numpy", "textual", "nvidia-ml-py", "amdsmi", "psutil")
"""Libraries whose versions shape the numbers (recorded in ``ModelLoaded``)."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers (imports torch: call after loading)."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import torch

        versions["torch_cuda"] = str(torch.version.cuda)
        versions["torch_threads"] = str(torch.get_num_threads())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return versions


class TransformersEngine:
    """A Hugging Face model in this process (implements ``tpstui.sources.base.TokenEngine``).

    ``logits_processors`` are added to every ``generate()`` (tests use one that sleeps a known
    time per step).
    """

    separate_process = False

    def __init__(self, settings: RunSettings, logits_processors: Sequence[Any] = ()) -> None:
        self.run_settings = settings
        self.plan = RunPlan(settings.runs, settings.warmup, settings.loop)
        self.device = settings.device
        self.loaded: LoadedModel | None = None
        self.prompt: Prompt | None = None
        self.runner: GenerationRunner | None = None
        self._processors = list(logits_processors)

    def settings(self) -> dict[str, Any]:
        return self.run_settings.as_dict()

    def load(self, progress: Progress) -> ModelLoaded:
        loaded = load_model(self.run_settings, progress)
        self.prompt = build_prompt(loaded.tokenizer, self.run_settings, loaded.context_length)
        self.loaded = loaded
        return ModelLoaded(
            t_ns=time.perf_counter_ns(),
            name=loaded.source.name,
            source=loaded.source.kind,
            parameters=loaded.parameters,
            dtype=loaded.dtype,
            device=loaded.device,
            load_seconds=loaded.load_seconds,
            weight_bytes=loaded.weight_bytes,
            n_layers=loaded.n_layers,
            n_kv_heads=loaded.n_kv_heads,
            head_dim=loaded.head_dim,
            kv_bytes_per_elem=loaded.kv_bytes_per_elem,
            context_length=loaded.context_length,
            cached=loaded.cached,
            versions=library_versions(),
        )

    def start(self, bus: EventBus) -> None:
        if self.loaded is None or self.prompt is None:
            raise RuntimeError("load() must succeed before start()")
        self.runner = GenerationRunner(self.loaded, self.prompt, self.run_settings, bus, self._processors)
        self.runner.start()

    def request_runs(self, runs: int, warmup: int, loop: bool = False) -> None:
        if self.runner is not None:
            self.runner.request_runs(runs, warmup, loop)

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop()

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self.runner.wait_idle(timeout) if self.runner is not None else True

    def close(self, timeout: float = 1.0) -> None:
        if self.runner is not None:
            self.runner.close(timeout)

    @property
    def alive(self) -> bool:
        return self.runner is not None and self.runner.alive

    @property
    def pid(self) -> int:
        return os.getpid()
