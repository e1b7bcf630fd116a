"""The first-start GGUF conversion reports a live counter before transformers' tensor loop starts (issue 10 item 9)."""

from __future__ import annotations

import time

import pytest

from tpstui.sources.generation import loader


def test_the_stage_counts_seconds_until_the_tensor_loop_reports_its_own_counter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    monkeypatch.setattr(loader, "TICK_SECONDS", 0.05)
    reports: list[tuple[float, str]] = []
    with loader._tensor_progress(lambda f, s: reports.append((f, s)), 0.4, 0.8, "tensors", "reading") as done:
        time.sleep(0.3)  # transformers reads the file and builds the model: no tqdm yet
        ticking = len(reports)
        list(gguf_utils.tqdm(range(100)))  # the de-quantisation loop, routed into progress
        done.set()
    preparing = [s for f, s in reports if s.startswith("reading")]
    assert preparing[0] == "reading: 0 s" and ticking >= 3  # a counter from the start, not a still 40 %
    assert all(f == 0.4 for f, s in reports if s.startswith("reading"))
    loop = [(f, s) for f, s in reports if s.startswith("tensors")]
    assert loop[0] == (0.4, "tensors (0/100)") and loop[-1][1] == "tensors (98/100)" and loop[-1][0] < 0.8
    after = len(reports)
    time.sleep(0.2)
    assert len(reports) == after  # the ticker stopped
    assert gguf_utils.tqdm is not None and gguf_utils.tqdm.__name__ != "reporting"  # restored
