"""The generation runner: runs ``generate()`` on a background thread and publishes run events.

Two threads:

- the generation thread calls ``model.generate()`` with a ``TimingStreamer`` whose ``put()``
  only stamps the time and queues the ids (O(1));
- the pump thread takes those from the queue, converts ids, counts tokens per sequence (EOS),
  detokenises incrementally and publishes ``RunStarted`` / ``Tokens`` / ``RunFinished`` in order.

Both threads wait with timeouts and watch a stop flag, so ``close()`` returns promptly even in
the middle of a run: a stopping criterion ends ``generate()`` at the next decode step.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tpstui.errors import error_line
from tpstui.settings import RunSettings
from tpstui.sources.generation.loader import LoadedModel
from tpstui.sources.generation.prompts import Prompt
from tpstui.sources.generation.streamer import IncrementalDetokenizer, TimingStreamer
from tpstui.stream.events import EventBus, RunFailed, RunFinished, RunStarted, Tokens

__all__ = ["GenerationRunner"]

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class _Begin:
    event: RunStarted


@dataclass(frozen=True)
class _Finish:
    t_ns: int
    run: int
    stopped: bool
    error: str | None = None
    cpu_ns: int | None = None
    """The process's CPU time over the run (``RunFinished.cpu_ns``)."""


@dataclass(frozen=True)
class _Job:
    runs: int
    warmup: int
    loop: bool
    request: int


def _eos_ids(loaded: LoadedModel) -> set[int]:
    config = getattr(loaded.model, "generation_config", None)
    value = getattr(config, "eos_token_id", None)
    if value is None:
        value = getattr(loaded.tokenizer, "eos_token_id", None)
    if value is None:
        return set()
    return {int(v) for v in value} if isinstance(value, list | tuple) else {int(value)}


class GenerationRunner:
    """Runs measured generations in the background and publishes them as events.

    ``request_runs()`` queues work; ``stop()`` ends the current run and drops queued ones;
    ``close()`` shuts both threads down. ``logits_processors`` are added to every ``generate()``
    (tests use one that sleeps a known time per step).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        prompt: Prompt,
        settings: RunSettings,
        bus: EventBus,
        logits_processors: Sequence[Any] = (),
    ) -> None:
        self.loaded = loaded
        self.prompt = prompt
        self.settings = settings
        self._bus = bus
        self._extra_processors = list(logits_processors)
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._stop_run = threading.Event()
        self._closed = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._next_run = 0
        self._requests = 0
        self._current: int | None = None
        """The run the generation thread is in (None between runs)."""
        self._eos = set() if settings.ignore_eos else _eos_ids(loaded)
        self._threads: list[threading.Thread] = []

    # -- control (any thread) ---------------------------------------------------------------
    def start(self) -> None:
        for target, name in ((self._generate_loop, "tpstui-generate"), (self._pump_loop, "tpstui-pump")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_runs(self, runs: int | None = None, warmup: int = 0, loop: bool = False) -> None:
        """Queue ``warmup`` warm-up runs then ``runs`` measured runs (``loop``: until stopped)."""
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
            request = self._requests
            self._requests += 1
        self._stop_run.clear()
        self._jobs.put(_Job(runs if runs is not None else self.settings.runs, warmup, loop, request))

    def stop(self) -> None:
        """End the current run at its next decode step and drop queued runs."""
        self._stop_run.set()

    def close(self, timeout: float = 1.0) -> None:
        """Stop everything and wait (bounded) for both threads."""
        self._stop_run.set()
        self._closed.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.0))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every requested run has been published; False on timeout."""
        return self._idle.wait(timeout)

    @property
    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    # -- generation thread ---------------------------------------------------------------------
    def _generate_loop(self) -> None:
        while not self._closed.is_set():
            try:
                job = self._jobs.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            try:
                self._run_job(job)
            except BaseException as exc:  # the thread must never die silently: the run in progress failed
                if self._current is not None:
                    self._outbox.put(_Finish(time.perf_counter_ns(), self._current, False, error_line(exc)))
                    self._current = None
            finally:
                self._outbox.put("job_done")

    def _run_job(self, job: _Job) -> None:
        count = 0
        while job.loop or count < job.warmup + job.runs:
            if self._stop_run.is_set() or self._closed.is_set():
                return
            self._generate_once(warmup=count < job.warmup, request=job.request)
            count += 1

    def _generation_kwargs(self) -> dict[str, Any]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        stop_flag = self._stop_run
        batch = self.settings.batch_size

        class StopWhenAsked(StoppingCriteria):
            """Ends generate() at the next decode step once stop() is called.

            Returns one of two tensors made once, on the ids' device (StoppingCriteriaList ORs
            it with a tensor there: a CPU tensor would fail on CUDA), so a step costs no allocation.
            """

            answers: tuple[Any, Any] | None = None

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if self.answers is None:
                    shape, device = (input_ids.shape[0],), input_ids.device
                    self.answers = (
                        torch.zeros(shape, dtype=torch.bool, device=device),
                        torch.ones(shape, dtype=torch.bool, device=device),
                    )
                return self.answers[stop_flag.is_set()]

        ids = torch.tensor([self.prompt.ids] * batch, dtype=torch.long, device=self.loaded.input_device)
        settings = self.settings
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "max_new_tokens": settings.max_new_tokens,
            "do_sample": settings.do_sample,
            "stopping_criteria": StoppingCriteriaList([StopWhenAsked()]),
            "logits_processor": LogitsProcessorList(self._extra_processors),
            "num_beams": 1,
        }
        pad = self.loaded.tokenizer.pad_token_id
        if pad is None and self._eos:
            pad = min(self._eos)
        if pad is None:
            pad = self.loaded.tokenizer.eos_token_id
        if pad is not None:
            kwargs["pad_token_id"] = pad
        if settings.do_sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings.ignore_eos:
            kwargs["eos_token_id"] = None
        return kwargs

    def _generate_once(self, warmup: bool, request: int = 0) -> None:
        """One run: ``RunStarted`` first, then whatever happens ends as ``RunFinished`` or ``RunFailed``."""
        run = self._current = self._next_run
        self._next_run += 1
        error: str | None = None
        t_start = time.perf_counter_ns()
        cpu_start = time.process_time_ns()
        self._outbox.put(
            _Begin(
                RunStarted(
                    t_ns=t_start,
                    run=run,
                    warmup=warmup,
                    prompt_tokens=len(self.prompt.ids),
                    batch_size=self.settings.batch_size,
                    max_new_tokens=self.settings.max_new_tokens,
                    prompt_text=self.prompt.text,
                    request=request,
                )
            )
        )
        try:
            from transformers import set_seed

            kwargs = self._generation_kwargs()
            set_seed(self.settings.seed)
            kwargs["streamer"] = TimingStreamer(self.settings.batch_size, sink=self._outbox)
            self.loaded.model.generate(**kwargs)
        except Exception as exc:  # OOM, a kernel error, a bad setting...: a failed run, the runner goes on
            error = error_line(exc)
        t_end = time.perf_counter_ns()
        cpu_ns = time.process_time_ns() - cpu_start
        self._current = None
        self._outbox.put(_Finish(t_end, run, self._stop_run.is_set(), error, cpu_ns))

    # -- pump thread -----------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        state: _PumpRun | None = None
        while True:
            try:
                item = self._outbox.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self._closed.is_set() and not any(
                    t.is_alive() for t in self._threads if t.name == "tpstui-generate"
                ):
                    return
                continue
            if item == "job_done":
                with self._pending_lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()
                continue
            try:
                state = self._pump_one(item, state)
            except Exception as exc:  # decoding or publishing broke: that run failed, the pump goes on
                if state is not None and not state.ended:
                    self._bus.publish(RunFailed(time.perf_counter_ns(), state.started.run, error_line(exc)))
                    state.ended = True

    def _pump_one(self, item: Any, state: _PumpRun | None) -> _PumpRun | None:
        """Publish what one outbox item means; returns the run being pumped afterwards."""
        if isinstance(item, tuple):
            if state is not None and not state.ended:
                self._bus.publish(state.tokens(*item))
        elif isinstance(item, _Begin):
            state = _PumpRun(item.event, self.loaded.tokenizer, self.prompt.ids, self._eos)
            self._bus.publish(item.event)
        elif isinstance(item, _Finish):
            if state is None or state.started.run != item.run:
                self._bus.publish(_failed(item))
            elif not state.ended:
                state.ended = True
                self._bus.publish(state.finish(item))
            return None
        return state


def _failed(item: _Finish) -> RunFailed:
    return RunFailed(item.t_ns, item.run, item.error or "run ended before it started")


class _PumpRun:
    """Per-run bookkeeping on the pump thread: token counts per sequence and the text."""

    def __init__(self, started: RunStarted, tokenizer: Any, prompt_ids: list[int], eos: set[int]) -> None:
        self.started = started
        self.detokenizer = IncrementalDetokenizer(tokenizer, context=prompt_ids[-4:])
        self.eos = eos
        self.finished = [False] * started.batch_size
        self.n = 0
        self.n_all = 0
        self.ended = False
        """RunFinished or RunFailed has been published (nothing more is published for this run)."""

    def tokens(self, t_ns: int, value: Any) -> Tokens:
        ids = [int(i) for i in value.reshape(-1).tolist()]
        batch = self.started.batch_size
        per_seq = max(len(ids) // batch, 1)
        n_seq0 = 0
        n_all = 0
        for seq in range(batch):
            for token in ids[seq * per_seq : (seq + 1) * per_seq]:
                if self.finished[seq]:
                    break
                n_all += 1
                if seq == 0:
                    n_seq0 += 1
                if token in self.eos:
                    self.finished[seq] = True
        real0 = ids[:n_seq0]
        text = self.detokenizer.add(real0) if real0 else ""
        self.n += n_seq0
        self.n_all += n_all
        return Tokens(t_ns=t_ns, run=self.started.run, ids=ids, n=n_seq0, n_all=n_all, text=text)

    def finish(self, item: _Finish) -> RunFinished | RunFailed:
        if item.error is not None:
            return RunFailed(item.t_ns, item.run, item.error)
        if item.stopped:
            reason = "stopped"
        elif self.n >= self.started.max_new_tokens:
            reason = "length"
        else:
            reason = "eos"
        return RunFinished(item.t_ns, item.run, reason, self.n, self.n_all, cpu_ns=item.cpu_ns)
