"""Real HTTP servers on loopback for the endpoint tests: the scripted fake SSE server and ``transformers serve``.

Both start as child processes on free ports, are waited for (``PORT`` line / ``GET /health``) and
stopped at the end of the test session. Test modules import the fixtures they use.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tpstui.sources.endpoint.engine import EndpointEngine
from tpstui.sources.endpoint.settings import EndpointSettings
from tpstui.sources.live import LiveSession
from tpstui.sources.telemetry.select import TelemetryOptions
from tpstui.state.session import Session

FAKE_SERVER = Path(__file__).parent / "fakes" / "sse_server.py"
SERVE_START_S = 180.0


class FakeServer:
    """The scripted server (``tests/fakes/sse_server.py``) as a child process."""

    def __init__(self) -> None:
        # niced: on a 2-core machine the fake server's CPU must not delay the client it tests (its
        # send times are stamped before each write, so its own lateness does not count)
        self.process = subprocess.Popen(
            [sys.executable, str(FAKE_SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda: os.nice(10),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])

    def url(self, scenario: str) -> str:
        """Base URL of a scenario, unique per call (so per-scenario request counters never collide)."""
        return f"http://127.0.0.1:{self.port}/{scenario}-t{uuid.uuid4().hex[:8]}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture(scope="session")
def fake_sse() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.stop()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def served_model_dir(embedded_loaded: Any) -> Path:
    """The embedded model's converted directory (``embedded_loaded`` converts it on a fresh machine)."""
    from tpstui.sources.generation.model_source import embedded_gguf_path, gguf_cache_dir

    directory = gguf_cache_dir(embedded_gguf_path())
    assert (directory / "config.json").is_file()
    return directory


@pytest.fixture(scope="session")
def transformers_server(served_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``transformers serve`` on CPU serving the embedded model; yields its base URL (``.../v1``)."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(served_model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVE_START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not answer /health: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_endpoint(settings: EndpointSettings, record: Path | None = None, timeout: float = 60.0) -> LiveSession:
    """One endpoint session, headless, as ``tpstui bench`` runs it; returns it closed."""
    live = LiveSession(EndpointEngine(settings), TelemetryOptions(backend="none"), record=record)
    try:
        live.open()
        live.request_planned_runs()
        assert live.engine.wait_idle(timeout), "the requests did not finish in time"
    finally:
        live.close()
    return live


def send_times(session: Session, run: int) -> list[int]:
    """The fake server's send time of each content chunk of a run (its text is ``<ns>;`` per chunk)."""
    return [int(part) for part in session.run(run).text.split(";") if part]
