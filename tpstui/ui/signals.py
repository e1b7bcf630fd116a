"""Signals while the app runs: Ctrl-C (as a signal), SIGTERM and SIGHUP end it as ``q`` does.

The handlers are the event loop's (``loop.add_signal_handler``), so the callback runs on the app's
own loop between frames, never in the middle of one; the handlers that were there before are put
back when the app ends.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from tpstui.errors import ENDING_SIGNALS

__all__ = ["SignalCatcher"]


class SignalCatcher:
    """Calls ``on_signal(signum)`` for each of ``ENDING_SIGNALS`` until ``restore()``."""

    def __init__(self, on_signal: Callable[[int], None]) -> None:
        self._previous: dict[int, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            loop = asyncio.get_running_loop()
            for signum in ENDING_SIGNALS:
                previous = signal.getsignal(signum)
                loop.add_signal_handler(signum, on_signal, signum)
                self._previous[signum] = previous
        except (RuntimeError, ValueError, NotImplementedError):  # no loop, not the main thread, Windows
            pass
        else:
            self._loop = loop

    def restore(self) -> None:
        """Put back the handlers that were there before (idempotent)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        for signum, previous in self._previous.items():
            try:
                loop.remove_signal_handler(signum)
                signal.signal(signum, previous)
            except (RuntimeError, ValueError, TypeError):  # the loop is closing, or no Python handler before
                pass
