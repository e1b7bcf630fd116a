"""``tpstui compare``: side-by-side figures, differences and the better side, checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recording_scripts import scripted_events
from tpstui.cli import main
from tpstui.reports.compare import compare, comparison_text
from tpstui.stream.recording import Recorder, read_recording


def write(path: Path, events: list[object]) -> Path:
    recorder = Recorder(path)
    for event in events:
        recorder(event)
    recorder.close()
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A: the scripted session. B: another model, run 2 decoding twice as slowly, twice the power."""
    folder = tmp_path_factory.mktemp("compare")
    a = write(folder / "a.jsonl.zst", scripted_events())  # type: ignore[arg-type]
    b = write(folder / "b.jsonl.zst", scripted_events(model="other-model", energy_step=10.0, slow=2.0))  # type: ignore[arg-type]
    return a, b


def test_figures_differences_and_winner(pair: tuple[Path, Path]) -> None:
    result = compare([read_recording(p) for p in pair])
    rows = {row.metric.key: row for row in result.rows}
    a, b = result.summaries
    assert (a.label, b.label) == ("A", "B") and a.runs == b.runs == 2
    # A: run 1 TTFT 100 ms, run 2 50 ms. B: run 2's tokens at 2,100-2,160 ms: TTFT 100 ms.
    assert rows["ttft_s"].values == pytest.approx([0.075, 0.100])
    assert rows["ttft_s"].relative[1] == pytest.approx(1 / 3)
    assert rows["ttft_s"].best == [0]
    # decode TPS: A (40 + 100) / 2 = 70; B run 2: 3 tokens in 60 ms = 50, (40 + 50) / 2 = 45
    assert rows["output_tps"].values == pytest.approx([70.0, 45.0])
    assert rows["output_tps"].diffs[1] == pytest.approx(-25.0)
    assert rows["output_tps"].best == [0]
    # total TPS: A (25 + 50) / 2 = 37.5; B (25 + 4 / 0.16 = 25) / 2 = 25
    assert rows["total_tps"].values == pytest.approx([37.5, 25.0])
    assert rows["tpot_s"].values == pytest.approx([0.0175, 0.0225])
    assert rows["itl_p50_s"].values == pytest.approx([0.0175, 0.0225])
    # both throttled 20 ms while decoding run 1: a tie
    assert rows["throttled_s"].values == pytest.approx([0.02, 0.02]) and rows["throttled_s"].tie
    # energy: A 10.5 + 5 J, B 21 + 20 J (counter interpolated at run ends), 9 tokens each
    assert rows["joules_per_token"].values == pytest.approx([15.5 / 9, 41 / 9])
    assert rows["joules_per_token"].best == [0]
    assert any("different models" in note and "other-model" in note for note in result.notes)


def test_three_recordings_and_shared_best(pair: tuple[Path, Path]) -> None:
    a, b = pair
    result = compare([read_recording(p) for p in (b, a, a)])
    rows = {row.metric.key: row for row in result.rows}
    assert rows["output_tps"].best == [1, 2] and not rows["output_tps"].tie
    text = comparison_text(result)
    line = next(x for x in text.splitlines() if x.startswith("decode TPS"))
    assert line.split()[-1] == "C" and line.split()[-2] == "B,"
    assert "+55.6%" in line  # 70 vs 45


def test_cli_table_and_json(pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.json"
    assert main(["compare", str(pair[0]), str(pair[1]), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    ttft = next(x for x in text.splitlines() if x.startswith("TTFT"))
    assert "75.0" in ttft and "100.0" in ttft and "+33.3%" in ttft and ttft.endswith("A")
    throttled = next(x for x in text.splitlines() if x.startswith("time throttled"))
    assert throttled.endswith("≈")
    assert "note: different models" in text
    data = json.loads(out.read_text())
    assert [r["label"] for r in data["recordings"]] == ["A", "B"]
    row = next(r for r in data["rows"] if r["metric"] == "output_tps")
    assert row["better"] == ["A"] and row["relative_vs_first"][1] == pytest.approx(-25 / 70)


def test_bad_input(pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)))
    for argv in (
        ["compare", str(pair[0])],
        ["compare", str(pair[0]), str(tmp_path / "missing.jsonl.zst")],
        ["compare", str(pair[0]), str(junk)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("tpstui: error: ") and err.count("\n") == 1, err


def test_time_throttled_is_labelled_a_total_and_energy_is_in_millijoules(pair: tuple[Path, Path]) -> None:
    """Issue 10 item 8: the throttled time is a sum over runs, not a mean; J/token in mJ."""
    result = compare([read_recording(p) for p in pair])
    text = comparison_text(result)
    throttled = next(line for line in text.splitlines() if line.startswith("time throttled"))
    assert throttled.startswith("time throttled (s, total)") and "±" not in throttled
    energy = next(line for line in text.splitlines() if line.startswith("energy per token"))
    assert energy.split()[:6] == ["energy", "per", "token", "(mJ)", "1722.2", "4555.6"]  # A: 15.5 J / 9 tokens
    assert "except time throttled: the total" in text
    assert "A diagnosis: decode TPS fell" in text
