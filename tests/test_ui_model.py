"""The live app's incremental view model and timeline agree with tpstui.state.metrics; themes are data."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from tpstui.sources.scripted import NS, T0_NS, Script, scripted_events
from tpstui.state import metrics
from tpstui.state.session import Session
from tpstui.stream.events import Tokens
from tpstui.ui.model import ViewModel, compute_full
from tpstui.ui.timeline import Timeline, nice_span_ns

ROOT = Path(__file__).resolve().parents[1]


def _arrivals(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return T0_NS + 100_000_000 + np.cumsum(rng.integers(20_000_000, 90_000_000, n))


def test_timeline_spreads_every_decode_token_and_matches_output_tps() -> None:
    arrivals = _arrivals(200)
    counts = np.ones(arrivals.size, dtype=np.int64)
    counts[50] = 3  # an assisted-decoding style arrival carrying 3 tokens
    timeline = Timeline(T0_NS)
    for lo, hi in ((0, 1), (1, 77), (77, 200)):  # folded in pieces, as frames would
        timeline.add(int(arrivals[lo - 1]) if lo else None, arrivals[lo:hi], counts[lo:hi])
    expected = metrics.run_metrics(T0_NS, arrivals, counts)
    assert timeline.total_tokens == expected.tokens
    assert timeline.spread.sum() == pytest.approx(expected.tokens - 1)  # the first token ends prefill
    busy_s = timeline.busy.sum() / NS
    assert busy_s == pytest.approx(expected.decode_s)
    assert timeline.spread.sum() / busy_s == pytest.approx(expected.output_tps)


def test_timeline_column_with_one_gap_is_that_tokens_instantaneous_tps() -> None:
    arrivals = np.array([T0_NS + 1 * NS, T0_NS + 3 * NS, T0_NS + 7 * NS], dtype=np.int64)
    timeline = Timeline(T0_NS)
    timeline.add(None, arrivals, np.ones(3, dtype=np.int64))
    columns = timeline.columns(T0_NS + 8 * NS, 10)  # span 10 s: one column per second
    instantaneous = metrics.instantaneous_tps(arrivals)
    assert columns.span_ns == 10 * NS
    assert np.isnan(columns.per_token[0])  # before the first token: prefill, not decoding
    assert columns.per_token[1:3] == pytest.approx([instantaneous[0]] * 2)
    assert columns.per_token[3:7] == pytest.approx([instantaneous[1]] * 4)
    assert np.isnan(columns.per_token[8:]).all()  # the future


def test_timeline_memory_is_flat_and_merges_keep_totals() -> None:
    timeline = Timeline(T0_NS, capacity=64, base_width_ns=1_000_000)
    arrivals = T0_NS + np.arange(1, 20_001, dtype=np.int64) * 1_000_000  # 1000 tok/s for 20 s
    timeline.add(None, arrivals, np.ones(arrivals.size, dtype=np.int64))
    assert timeline.tokens.size == 64 and timeline.width_ns >= 20_000_000_000 // 64
    assert timeline.tokens.sum() == 20_000
    assert timeline.spread.sum() == pytest.approx(19_999)


def test_nice_span_grows_in_steps() -> None:
    assert nice_span_ns(1) == 10 * NS
    assert nice_span_ns(10 * NS + 1) == 20 * NS
    assert nice_span_ns(45 * 60 * NS) == 3600 * NS


def _feed(session: Session, model: ViewModel, events: list, chunks: int) -> None:
    bounds = np.linspace(0, len(events), chunks + 1).astype(int)
    for lo, hi in itertools.pairwise(bounds):
        session.apply_all(events[lo:hi])
        now = events[hi - 1].t_ns if hi else T0_NS
        model.update(session, now)
        current = model.current
        if current is None:
            continue
        view = session.run(current.run)
        full = view.metrics()
        quick = current.quick_metrics()
        assert quick.tokens == full.tokens
        for name in ("ttft_s", "latency_s", "output_tps", "total_tps", "system_tps", "tpot_s"):
            assert getattr(quick, name) == getattr(full, name), name
        assert current.current_tps(now) == metrics.rolling_tps(view.arrivals, now, NS, view.counts)


def test_view_model_incremental_numbers_equal_full_metrics() -> None:
    events = scripted_events(Script(runs=2, warmup=1, tokens=30))
    session, model = Session(), ViewModel()
    _feed(session, model, events, chunks=37)
    assert model.current is not None and model.current.tail.done
    assert model.full_due()
    full = model.refresh_full()
    assert full is not None and not model.full_due()
    assert full.aggregate == session.aggregate()
    assert full.run_metrics == session.run(model.current.run).metrics()
    assert full.measured_runs == 2 and full.measured_tokens == 60
    assert [warm for _, warm in model.run_marks] == [True, False, False]


def test_view_model_resets_when_the_source_swaps_its_session() -> None:
    events = scripted_events(Script(runs=1, warmup=0, tokens=10, gpu=False))
    first, model = Session.from_events(events), ViewModel()
    model.update(first, events[-1].t_ns)
    assert model.current is not None and model.current.tail.n == 10
    second = Session.from_events(events[: len(events) // 2])
    model.update(second, events[len(events) // 2].t_ns)
    assert model.current is None or model.current.tail.n < 10
    assert model.session is second


def test_large_runs_compute_full_statistics_in_the_background_path() -> None:
    from tpstui.stream.events import RunFinished, RunStarted
    from tpstui.ui.model import SYNC_FULL_LIMIT

    session, model = Session(), ViewModel()
    session.apply(RunStarted(T0_NS, 0, False, 8, 1, 10**6))
    arrivals = _arrivals(SYNC_FULL_LIMIT + 5_000, seed=3)
    for t in arrivals.tolist():
        session.apply(Tokens(t, 0, [5], 1, 1, "x"))
    model.update(session, int(arrivals[-1]))
    assert model.full_in_background and model.full_due()
    session.apply(RunFinished(int(arrivals[-1]) + 1, 0, "length", arrivals.size, arrivals.size))
    full = compute_full(session, 0)  # what the worker thread runs
    expected = metrics.run_metrics(T0_NS, arrivals)
    assert full.run_metrics.itl_s == expected.itl_s
    assert full.aggregate["output_tps"] is not None
    assert full.aggregate["output_tps"].mean == expected.output_tps


def test_theme_files_define_every_app_variable_and_no_tcss_names_a_colour() -> None:
    from tpstui.ui.themes import APP_VARIABLES, load_themes

    themes = load_themes()
    assert list(themes)[:3] == ["dark", "light", "high-contrast"]
    for theme in themes.values():
        assert set(APP_VARIABLES) <= set(theme.variables), theme.name
    contrast = themes["high-contrast"].variables
    assert contrast["tps-good"].lower() != contrast["tps-poor"].lower()
    hex_colour = re.compile(r"#[0-9a-fA-F]{3,8}\b")
    for path in (ROOT / "tpstui" / "ui").rglob("*.tcss"):
        assert not hex_colour.search(path.read_text()), path
    for path in (ROOT / "tpstui" / "ui").rglob("*.py"):
        for css in re.findall(r'DEFAULT_CSS = """(.*?)"""', path.read_text(), re.S):
            assert not hex_colour.search(css), path


def test_builtin_textual_themes_get_app_variable_defaults() -> None:
    from textual.theme import BUILTIN_THEMES

    from tpstui.ui.themes import APP_VARIABLES, app_variable_defaults

    defaults = app_variable_defaults(BUILTIN_THEMES["nord"])
    assert set(defaults) == set(APP_VARIABLES)


def test_cpu_budget_refills_at_its_fraction_and_charges_cpu_used() -> None:
    from tpstui.ui.budget import CpuBudget

    wall, cpu = [0.0], [0.0]
    budget = CpuBudget(0.02, burst_s=0.03, clock=lambda: wall[0], cpu=lambda: cpu[0])
    assert budget.allows
    cpu[0] += 0.05  # a 50 ms redraw overdraws the 30 ms burst
    budget.charge()
    assert not budget.allows and budget.credit_s == pytest.approx(-0.02)
    wall[0] += 0.5  # half a second at 2 % of a core refills 10 ms: still short
    budget.charge()
    assert not budget.allows
    wall[0] += 1.0
    budget.charge()
    assert budget.allows and budget.credit_s == pytest.approx(0.01)
    wall[0] += 100.0  # idle for long: credit is capped at the burst
    budget.charge()
    assert budget.credit_s == pytest.approx(0.03) and budget.spent_s == pytest.approx(0.05)
