"""``tpstui bench --endpoint`` progress on stderr: loading stages, then one line a second at most."""

from __future__ import annotations

import time
from typing import TextIO

from tpstui.commands.output import say
from tpstui.stream.events import Event, RunFailed, RunFinished, RunStarted, Tokens

__all__ = ["ServingProgress"]

EVERY_S = 1.0


class ServingProgress:
    """Counts requests as their events pass (bus subscriber: O(1) per event) and prints a line a second."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self._last_stage = ""
        self.sent = self.done = self.failed = self.tokens = 0
        self._printed_at = time.monotonic()
        self._first_error: str | None = None

    def stage(self, fraction: float, stage: str) -> None:
        if self.quiet or stage == self._last_stage:
            return
        self._last_stage = stage
        self.say(f"[{fraction * 100:3.0f}%] {stage}")

    def say(self, line: str) -> None:
        """A line on stderr (even with --quiet); nothing when stderr is gone."""
        say(line, self.stream)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Tokens):
            self.tokens += event.n_all
        elif isinstance(event, RunStarted):
            self.sent += 1
        elif isinstance(event, RunFinished):
            self.done += 1
        elif isinstance(event, RunFailed) and event.run >= 0:
            self.failed += 1
            if self._first_error is None:
                self._first_error = event.error
                if not self.quiet:
                    self.say(f"request {event.run} failed ({event.kind}): {event.error}")
        else:
            return
        now = time.monotonic()
        if not self.quiet and now - self._printed_at >= EVERY_S:
            self._printed_at = now
            self.line()

    def line(self) -> None:
        flight = self.sent - self.done - self.failed
        self.say(f"requests: {self.done} done, {self.failed} failed, {flight} in flight; {self.tokens} tokens")
