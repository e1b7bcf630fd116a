"""A real terminal for tests: ``tpstui`` in a pseudo-terminal (``os.openpty``), as a user runs it.

The child gets the pty as its controlling terminal and as stdin, stdout and stderr; a thread
collects everything it writes (screen updates, the escape sequences that set up and restore
the terminal, messages after the app closes). Nothing to install: the standard library only.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["RESTORE_SEQUENCES", "Terminal"]

RESTORE_SEQUENCES = {
    "alternate screen left": b"\x1b[?1049l",
    "cursor shown": b"\x1b[?25h",
    "mouse reporting off": b"\x1b[?1000l",
}
"""What a terminal application writes on the way out (Textual's driver), each checked after the end."""


def _controlling_terminal() -> None:  # runs in the child, after setsid (start_new_session)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``tpstui ARGS`` in a new pseudo-terminal of ``columns`` × ``rows``."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        columns: int = 100,
        rows: int = 30,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.cooked = termios.tcgetattr(self.slave)
        environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(rows)}

        def child_setup() -> None:
            _controlling_terminal()
            if preexec is not None:
                preexec()

        self.process = subprocess.Popen(
            [sys.executable, "-m", "tpstui", *args],
            stdin=self.slave, stdout=self.slave, stderr=self.slave,
            env={**environment, **(env or {})}, start_new_session=True, preexec_fn=child_setup,
        )  # fmt: skip
        self.output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed
                return
            if not data:
                return
            with self._lock:
                self.output += data

    def text(self) -> bytes:
        with self._lock:
            return bytes(self.output)

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str) -> None:
        """Until ``condition()`` holds (a deadline for the test, never a timing assertion)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"tpstui exited ({self.process.returncode}) before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, size: int = 3000) -> str:
        return self.text()[-size:].decode("utf-8", "replace")

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def hang_up(self) -> None:
        """Close the terminal, as closing its window does: the kernel sends SIGHUP to the session."""
        os.close(self.slave)
        self.slave = -1
        os.close(self.master)
        self.master = -1

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for tpstui to exit; its exit status (the child is killed after ``timeout``)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"tpstui did not exit within {timeout} s:\n{self.tail()}") from None
        finally:
            time.sleep(0.1)  # the reader takes the last bytes

    def restored(self) -> bool:
        """The terminal's modes are back as they were before tpstui started (echo, line editing)."""
        now = termios.tcgetattr(self.slave)
        return bool(now[3] & termios.ECHO and now[3] & termios.ICANON) and now[3] == self.cooked[3]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

