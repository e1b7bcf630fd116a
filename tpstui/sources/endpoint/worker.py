"""The endpoint client process: ``python -m tpstui.sources.endpoint.worker`` (see ``endpoint.protocol``).

It sends the requests of each job on an asyncio event loop (``endpoint.transport``: h11 on an
asyncio protocol) and stamps the body bytes of every socket read in the loop's read callback:
the time ``select()`` saw the socket ready, and a list append per read. Decoding the stream,
counting tokens and publishing events happen in the engine's process, so neither that work nor
the live app's frames (nor their hold on that process's GIL) can delay a timestamp here. A
writer thread sends batches of records to the engine, so the event loop never blocks on the pipe.

Load models, as ``vllm bench serve``: a closed loop (``concurrency`` requests in flight at most)
and an open loop (``rate`` requests per second with gamma-distributed gaps of shape
``burstiness``; 1 is a Poisson process), the two combinable; warm-up requests first, closed loop.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import sys
import threading
import time
from typing import Any

import msgspec

from tpstui.sources.endpoint.protocol import DATA, END, FATAL, IDLE, SENT, Job, read_frame, write_frame
from tpstui.sources.endpoint.transport import Pool, RequestFailed, StampingSelector

__all__ = ["main"]


def _message(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text and text[0] else type(error).__name__


class _Emitter:
    """Collects records on the event loop; one batch per loop iteration goes to the writer thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, out: queue.SimpleQueue[list[Any] | None]) -> None:
        self.loop = loop
        self.out = out
        self.batch: list[Any] = []

    def emit(self, record: list[Any]) -> None:
        if not self.batch:
            self.loop.call_soon(self.flush)
        self.batch.append(record)

    def flush(self) -> None:
        if self.batch:
            self.out.put(self.batch)
            self.batch = []


class _Client:
    """Runs jobs; ``stop()`` cancels the requests of the current job."""

    def __init__(self, emitter: _Emitter, selector: StampingSelector) -> None:
        self.emit = emitter.emit
        self.selector = selector
        self.tasks: set[asyncio.Task[None]] = set()
        self.job_task: asyncio.Task[None] | None = None
        self.stopping = False
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self.next_run = 0
        """Requests are numbered from 0 across all jobs."""
        self.job_start = 0

    async def serve(self) -> None:
        while True:
            job = await self.jobs.get()
            self.stopping = False
            self.job_task = asyncio.ensure_future(self.run_job(job))
            try:
                await self.job_task
            except asyncio.CancelledError:
                pass
            except Exception as error:  # a bug here must not leave the engine waiting forever
                self.emit([FATAL, _message(error)])
            self.job_task = None
            self.emit([IDLE])

    def stop(self) -> None:
        """Cancel the requests in flight (each ends as "stopped") and the rest of the job."""
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()
        if self.job_task is not None:
            self.job_task.cancel()

    async def run_job(self, job: Job) -> None:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = os.environ.get(job.api_key_env or "", "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        selector = self.selector
        client = Pool(job.url, job.timeout_s, headers, lambda: selector.ready_ns)
        try:
            try:
                self.job_start = self.next_run
                if job.warmup:
                    warm = asyncio.Semaphore(job.concurrency or job.warmup)
                    for _ in range(job.warmup):
                        await self.launch(client, job, True, warm)
                    await self.drain()
                await self.measured(client, job)
            finally:  # also when stopped: every request ends (and says so) before the client closes
                await self.drain()
        finally:
            client.close()

    async def measured(self, client: Pool, job: Job) -> None:
        gate = asyncio.Semaphore(job.concurrency) if job.concurrency else None
        rng = random.Random(job.seed)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + job.duration_s if job.duration_s is not None else None
        due = started
        sent = 0
        while not self.stopping and (job.count is None or sent < job.count):
            if deadline is not None and loop.time() >= deadline:
                return
            if job.rate is not None and sent:
                due += rng.gammavariate(job.burstiness, 1.0 / (job.rate * job.burstiness))
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait if deadline is None else min(wait, max(deadline - loop.time(), 0)))
                    if deadline is not None and loop.time() >= deadline:
                        return
            await self.launch(client, job, False, gate)
            sent += 1

    async def launch(self, client: Pool, job: Job, warmup: bool, gate: asyncio.Semaphore | None) -> None:
        if gate is not None:
            await gate.acquire()
        if self.stopping:
            if gate is not None:
                gate.release()
            return
        run, self.next_run = self.next_run, self.next_run + 1
        task = asyncio.ensure_future(self.request(client, job, run, warmup))
        self.tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.discard(finished)
            if gate is not None:
                gate.release()

        task.add_done_callback(done)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.wait(list(self.tasks))

    async def request(self, client: Pool, job: Job, run: int, warmup: bool) -> None:
        emit, clock = self.emit, time.perf_counter_ns
        index = (run - self.job_start) % len(job.bodies)

        def sink(t_ns: int, data: bytes) -> None:
            emit([DATA, run, t_ns, data])

        emit([SENT, run, clock(), warmup, index])
        try:
            status = await client.post(job.bodies[index], sink)
            emit([END, run, clock(), "", status, ""])
        except asyncio.CancelledError:
            emit([END, run, clock(), "stopped", 0, "stopped"])
        except RequestFailed as error:
            emit([END, run, clock(), error.kind, error.status, str(error)])
        except Exception as error:  # anything else ends this request, never the session
            emit([END, run, clock(), "http_error", 0, _message(error)])


def _writer(fd: int, out: queue.SimpleQueue[list[Any] | None]) -> None:
    while True:
        batch = out.get()
        if batch is None:
            return
        while True:  # take whatever else is waiting: one write for many batches
            try:
                more = out.get_nowait()
            except queue.Empty:
                break
            if more is None:
                write_frame(fd, batch)
                return
            batch.extend(more)
        try:
            write_frame(fd, batch)
        except OSError:  # the engine went away
            return


def _reader(fd: int, loop: asyncio.AbstractEventLoop, client: _Client, done: asyncio.Event) -> None:
    while True:
        try:
            frame = read_frame(fd)
        except (OSError, msgspec.DecodeError):
            frame = None
        if frame is None:
            loop.call_soon_threadsafe(done.set)
            return
        if frame[0] == "job":
            job = msgspec.convert(frame[1], Job)
            loop.call_soon_threadsafe(client.jobs.put_nowait, job)
        elif frame[0] == "stop":
            loop.call_soon_threadsafe(client.stop)


async def _main(in_fd: int, out_fd: int, selector: StampingSelector) -> None:
    loop = asyncio.get_running_loop()
    out: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
    writer = threading.Thread(target=_writer, args=(out_fd, out), name="tpstui-endpoint-writer", daemon=True)
    writer.start()
    emitter = _Emitter(loop, out)
    client = _Client(emitter, selector)
    done = asyncio.Event()
    threading.Thread(target=_reader, args=(in_fd, loop, client, done), name="tpstui-endpoint-reader",
                     daemon=True).start()  # fmt: skip
    server = asyncio.ensure_future(client.serve())
    await done.wait()
    client.stop()
    job = client.job_task
    if job is not None:
        await asyncio.wait([job], timeout=2.0)
    server.cancel()
    emitter.flush()
    out.put(None)
    writer.join(2.0)


def main() -> int:
    in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
    sys.stdout = sys.stderr  # nothing else may write into the frame stream
    try:
        import fcntl

        fcntl.fcntl(out_fd, 1031, 1 << 20)  # F_SETPIPE_SZ: room for a second of records if the engine lags
    except (ImportError, OSError):
        pass
    selector = StampingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        loop.run_until_complete(_main(in_fd, out_fd, selector))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
