"""A live measuring session: event bus + session state + telemetry sampler + generation engine.

``tpstui bench`` drives it from the terminal, ``tpstui run`` from the Textual app; both see the
same events. Nothing here imports torch at module import: loading does, on the caller's thread.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tpstui import __version__
from tpstui.errors import UserError
from tpstui.events import EventBus, LoadProgress, ModelLoaded, RunFailed, SessionEnded, SessionStarted
from tpstui.generation.engine import Engine
from tpstui.generation.loader import LoadedModel, load_model
from tpstui.generation.prompts import Prompt, build_prompt
from tpstui.recording import Recorder
from tpstui.session import Session
from tpstui.settings import RunSettings
from tpstui.telemetry.base import Backend
from tpstui.telemetry.sampler import Sampler
from tpstui.telemetry.select import TelemetryOptions, open_backend

__all__ = ["LiveSession", "host_info", "library_versions"]


def host_info() -> dict[str, Any]:
    """Where the session runs (no torch import needed)."""
    from tpstui.telemetry.cpu import _cpu_model

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "pid": os.getpid(),
    }


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the numbers (imports torch: call after loading)."""
    import importlib.metadata

    versions = {}
    for name in (
        "torch",
        "transformers",
        "accelerate",
        "numpy",
        "textual",
        "nvidia-ml-py",
        "amdsmi",
        "psutil",
    ):
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


class LiveSession:
    """Owns the moving parts of one live session and closes them in the right order."""

    def __init__(
        self,
        settings: RunSettings,
        telemetry: str = "auto",
        sample_hz: float = 10.0,
        record: str | os.PathLike[str] | None = None,
        telemetry_options: TelemetryOptions | None = None,
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.sample_hz = sample_hz
        self.telemetry_options = replace(telemetry_options or TelemetryOptions(), device=settings.device)
        """``--gpus`` / ``--peak-bw``; the CPU bandwidth probe runs for CPU runs without ``--peak-bw``."""
        self.bus = EventBus()
        self.session = Session()
        self.bus.subscribe(self.session.apply)
        self.recorder: Recorder | None = None
        """Writes every event to ``record`` (on its own thread) when a path is given."""
        if record is not None:
            self.recorder = Recorder(record)
            self.bus.subscribe(self.recorder)
        self.sampler: Sampler | None = None
        self.backend: Backend | None = None
        self.engine: Engine | None = None
        self.loaded: LoadedModel | None = None
        self.prompt: Prompt | None = None
        self.telemetry_notes: list[str] = []
        self._closed = False

    def begin(self) -> None:
        """Publish ``SessionStarted`` (the first event)."""
        self.bus.publish(
            SessionStarted(
                t_ns=time.perf_counter_ns(),
                wall_time=time.time(),
                tool_version=__version__,
                host=host_info(),
                settings=self.recorded_settings(),
            )
        )

    def recorded_settings(self) -> dict[str, Any]:
        """Every setting of the session: run settings, telemetry backend and rate, --gpus, --peak-bw."""
        return (
            self.settings.as_dict()
            | {"telemetry": self.telemetry, "sample_hz": self.sample_hz}
            | self.telemetry_settings()
        )

    def telemetry_settings(self) -> dict[str, Any]:
        """``--gpus`` and ``--peak-bw`` as recorded in the session settings (replays use the peak)."""
        options = self.telemetry_options
        return {"gpus": list(options.gpus) if options.gpus is not None else None, "peak_bw_gbs": options.peak_bw_gbs}

    def start_telemetry(self) -> None:
        """Open the backend and start sampling (a UserError if a named backend cannot start)."""
        options = self.telemetry_options
        probe = options.peak_bw_gbs is None and self.settings.device in ("auto", "cpu")
        backend, notes = open_backend(self.telemetry, replace(options, probe_cpu_bandwidth=probe))
        self.telemetry_notes = notes
        if backend is None:
            return
        self.backend = backend
        self.sampler = Sampler(backend, self.bus, self.sample_hz)
        self.sampler.start()

    def load(self, progress: Callable[[float, str], None] | None = None) -> LoadedModel:
        """Load model and prompt, publishing progress; errors become ``RunFailed(run=-1)`` too."""

        def report(fraction: float, stage: str) -> None:
            self.bus.publish(LoadProgress(time.perf_counter_ns(), fraction, stage))
            if progress is not None:
                progress(fraction, stage)

        try:
            loaded = load_model(self.settings, report)
            self.prompt = build_prompt(loaded.tokenizer, self.settings, loaded.context_length)
        except UserError as error:
            self.bus.publish(RunFailed(time.perf_counter_ns(), -1, str(error)))
            raise
        self.loaded = loaded
        report(1.0, "ready")
        self.bus.publish(
            ModelLoaded(
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
        )
        return loaded

    def start_engine(self, logits_processors: Sequence[Any] = ()) -> Engine:
        if self.loaded is None or self.prompt is None:
            raise RuntimeError("load() must succeed before start_engine()")
        self.engine = Engine(self.loaded, self.prompt, self.settings, self.bus, logits_processors)
        self.engine.start()
        return self.engine

    def close(self, timeout: float = 1.0) -> None:
        """Stop generation and sampling (bounded waits) and publish ``SessionEnded``."""
        if self._closed:
            return
        self._closed = True
        if self.engine is not None:
            self.engine.close(timeout)
        if self.sampler is not None:
            self.sampler.stop(timeout)
        elif self.backend is not None:
            self.backend.close()
        self.bus.publish(SessionEnded(time.perf_counter_ns()))
        if self.recorder is not None:
            self.recorder.close()
