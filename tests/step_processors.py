"""Logits processors the generation child can unpickle (a test module's classes travel by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


class SleepPerStep:
    """Sleeps ``seconds`` at every decode step (a run of known length)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        time.sleep(self.seconds)
        return scores


class WritePid:
    """Writes the pid of the process that generates to ``path`` (once per step)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.path.write_text(str(os.getpid()))
        return scores


class CollectOnce:
    """Makes the generating process collect once, with a heap big enough to pass the 2 ms threshold."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self.done:
            import gc

            self.done = True
            garbage = [[i] for i in range(1_500_000)]
            gc.collect()
            del garbage
        return scores
