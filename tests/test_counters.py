"""Counters that go backwards (the fake NVML's ``counters_reset_at``: a driver reload, a GPU reset):
energy and violation time read n/a across the reset, never a negative amount; a run after it is fine."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.conftest import Collector
from tests.fakes.env import FakeGpus
from tpstui.reports.bench import build_report, table_text
from tpstui.sources.telemetry.sampler import Sampler
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend
from tpstui.state.telemetry import counter_increase
from tpstui.stream.events import RunFinished, RunStarted, TelemetrySample, Tokens


def _run(collector: Collector, run: int, until_ns: int) -> None:
    """A run until ``until_ns`` (perf_counter_ns) with a token every 50 ms, published on the real
    clock while sampling goes on."""
    bus = collector.bus
    bus.publish(RunStarted(time.perf_counter_ns(), run, False, 8, 1, 1000))
    tokens = 0
    while time.perf_counter_ns() < until_ns:
        time.sleep(0.05)
        bus.publish(Tokens(time.perf_counter_ns(), run, [1], 1, 1, "x"))
        tokens += 1
    bus.publish(RunFinished(time.perf_counter_ns(), run, "length", tokens, tokens))


def test_energy_and_violation_time_across_a_counter_reset_are_na(
    monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    gpus = FakeGpus(monkeypatch)
    gpus.nvml("nvml_counter_reset.txt", at=0.2)  # the counters restart from 0 in 0.8 s
    backend, _ = open_backend("nvml", TelemetryOptions(gpus=()))
    assert backend is not None
    sampler = Sampler(backend, collector.bus, hz=20)
    sampler.start()
    try:
        assert time.perf_counter_ns() < gpus.scenario_ns(0.9)
        _run(collector, 0, gpus.scenario_ns(1.4))  # spans the reset
        _run(collector, 1, time.perf_counter_ns() + 600_000_000)  # all after it
    finally:
        sampler.stop(5)
    energy = [e.values["energy_j"] for e in collector.events if isinstance(e, TelemetrySample)]
    assert min(b - a for a, b in itertools.pairwise(energy)) < -4000  # the counter did go back
    report = build_report(collector.session, {"max_new_tokens": 1000, "batch_size": 1})
    across, after = (r["telemetry"] for r in report["runs"])
    assert across["energy_j"] is None and across["joules_per_token"] is None and across["tokens_per_joule"] is None
    metrics = across["devices"]["gpu0"]["metrics"]
    assert metrics["energy_j"]["delta"] is None and metrics["violation_power_s"]["delta"] is None
    second = collector.session.run(1)
    assert second.end_ns is not None
    seconds = (second.end_ns - second.started.t_ns) / 1e9
    assert after["energy_j"] == pytest.approx(72 * seconds, rel=0.1)  # 72 W for the run's time, after the reset
    assert after["devices"]["gpu0"]["metrics"]["violation_power_s"]["delta"] > 0
    assert report["aggregate"]["joules_per_token"]["n"] == 1  # only the run with a clean span counts
    table = table_text(report)
    assert "energy" in table and "−" not in table and "energy -" not in table


def test_counter_increase() -> None:
    assert counter_increase([1.0, 2.0, 2.0, 5.0]) == 4.0
    assert counter_increase([5000.0, 5010.0, 3.0, 10.0]) is None
    assert counter_increase([1.0]) is None
