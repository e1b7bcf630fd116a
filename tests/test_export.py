"""``tpstui export``: tables and the per-run summary against the hand-computed scripted session."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.recording_scripts import T0, scripted_events
from tpstui.cli import main
from tpstui.reports.bench import CSV_COLUMNS, build_report
from tpstui.reports.export import export_report
from tpstui.state.session import Session
from tpstui.stream.recording import Recorder, read_recording


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "s.jsonl.zst"
    recorder = Recorder(path)
    for event in scripted_events():
        recorder(event)
    recorder.close()
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_tables(recorded: Path, tmp_path: Path) -> None:
    assert main(["export", str(recorded), "--csv", str(tmp_path / "out")]) == 0
    tokens = rows(tmp_path / "out" / "tokens.csv")
    assert len(tokens) == 11
    run1 = [r for r in tokens if r["run"] == "1"]
    assert [float(r["gap_s"]) for r in run1] == pytest.approx([0.100, 0.020, 0.030, 0.010, 0.040])
    assert [float(r["since_start_s"]) for r in run1] == pytest.approx([0.100, 0.120, 0.150, 0.160, 0.200])
    assert "".join(r["text"] for r in run1) == "abcde"
    assert [r["index"] for r in run1] == ["0", "1", "2", "3", "4"]
    assert run1[0]["ids"] == "100" and run1[0]["warmup"] == "False" and tokens[0]["warmup"] == "True"
    assert int(run1[0]["t_ns"]) == T0 + 1_100_000_000

    telemetry = rows(tmp_path / "out" / "telemetry.csv")
    assert len(telemetry) == 23
    assert list(telemetry[0])[:6] == ["t_ns", "t_s", "device", "reasons", "temp_c", "energy_j"]
    assert float(telemetry[11]["t_s"]) == pytest.approx(1.1)
    assert float(telemetry[11]["energy_j"]) == 1055.0 and float(telemetry[11]["temp_c"]) == 71.0

    runs = rows(tmp_path / "out" / "runs.csv")
    assert list(runs[0]) == list(CSV_COLUMNS)
    assert [r["run"] for r in runs] == ["0", "1", "2"]
    run1_summary = runs[1]
    assert float(run1_summary["ttft_s"]) == pytest.approx(0.100)
    assert float(run1_summary["output_tps"]) == pytest.approx(40.0)
    assert float(run1_summary["total_tps"]) == pytest.approx(25.0)
    assert float(run1_summary["itl_p50_s"]) == pytest.approx(0.025)
    assert float(run1_summary["throttled_s"]) == pytest.approx(0.020)
    assert float(run1_summary["tps_throttled"]) == pytest.approx(50.0)  # 1 token in 20 ms
    assert float(run1_summary["tps_unthrottled"]) == pytest.approx(37.5)  # 3 tokens in 80 ms
    assert float(run1_summary["energy_j"]) == pytest.approx(10.5)  # counter interpolated at 1,210 ms
    assert float(run1_summary["joules_per_token"]) == pytest.approx(2.1)
    assert float(runs[2]["output_tps"]) == pytest.approx(100.0)

    throttle = rows(tmp_path / "out" / "throttle.csv")
    assert [(r["reason"], r["active"]) for r in throttle] == [
        ("HwThermalSlowdown", "True"),
        ("HwThermalSlowdown", "False"),
    ]


def test_json_has_the_bench_fields_and_the_tables(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "export.json"
    assert main(["export", str(recorded), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    session = Session.from_events(scripted_events())
    bench_keys = set(build_report(session, {}, {"interrupted": False, "load_seconds": 0.05}))
    assert bench_keys | {"recording", "tokens", "telemetry_samples"} == set(data)
    assert data["settings"]["max_new_tokens"] == 5
    assert data["aggregate"]["output_tps"]["mean"] == pytest.approx(70.0)
    assert data["aggregate"]["ttft_s"]["mean"] == pytest.approx(0.075)
    assert data["aggregate"]["total_tps"]["mean"] == pytest.approx(37.5)
    assert data["runs"][1]["token_times_ns"] == [100_000_000, 120_000_000, 150_000_000, 160_000_000, 200_000_000]
    assert data["runs"][2]["telemetry"]["joules_per_token"] == pytest.approx(1.25)  # 5 J / 4 tokens
    assert data["recording"]["complete"] is True and data["recording"]["events"] == len(scripted_events())
    assert data["interrupted"] is False and data["load_seconds"] == 0.05
    assert len(data["tokens"]) == 11 and data["tokens"][2]["ids"] == [100]
    assert data["telemetry_samples"][0] == {
        "t_ns": T0, "t_s": 0.0, "device": "gpu0", "reasons": [], "values": {"temp_c": 60.0, "energy_j": 1000.0},
    }  # fmt: skip


def test_export_report_equals_build_report_of_the_replayed_session(recorded: Path) -> None:
    recording = read_recording(recorded)
    report = export_report(recording)
    expected = build_report(Session.from_events(recording.events), dict(scripted_events()[0].settings))  # type: ignore[union-attr]
    assert [entry.pop("warnings") for entry in report["runs"]] == [[], [], []]  # what the reader's checks found
    assert {k: v for k, v in report.items() if k in expected} == expected


def test_bad_input_is_one_line_exit_2(recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_recording = tmp_path / "notes.txt"
    not_recording.write_text("hello\n")
    cases = [
        ["export", str(recorded)],
        ["export", str(tmp_path / "missing.jsonl.zst"), "--json", str(tmp_path / "x.json")],
        ["export", str(not_recording), "--json", str(tmp_path / "x.json")],
        ["export", str(recorded), "--json", str(tmp_path)],
        ["export", str(recorded), "--csv", str(not_recording)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("tpstui: error: ") and err.count("\n") == 1, err


def test_the_report_carries_the_diagnosis_with_its_definitions(recorded: Path, tmp_path: Path) -> None:
    """By hand: throttled (1,150, 1,170] holds the token at 1,160 (1 in 20 ms: 50 tok/s); the rest of
    the decode windows (run 1: 80 ms, 3 tokens; run 2: 30 ms, 3 tokens) 6 in 110 ms; all 7 in 130 ms."""
    out = tmp_path / "out.json"
    assert main(["export", str(recorded), "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    d = report["diagnosis"]
    assert d["decode_s"] == pytest.approx(0.130) and d["tokens"] == 7
    assert d["tps_throttled"] == pytest.approx(50.0) and d["tps_unthrottled"] == pytest.approx(6 / 0.110)
    assert d["loss"] == pytest.approx(1 - (7 / 0.130) / (6 / 0.110))
    assert d["first_throttle_s"] == pytest.approx(1.150) and d["first_throttle_reason"] == "HwThermalSlowdown"
    assert d["by_family"]["thermal"] == pytest.approx({"seconds": 0.020, "tps": 50.0})
    assert d["verdict"].startswith("decode TPS fell 8 % after 1.1 s while HwThermalSlowdown")
    assert "loss" in report["metric_definitions"]["diagnosis"]
    from tpstui.reports.bench import table_text

    text = table_text(export_report(read_recording(recorded)))
    assert "diagnosis (README: Diagnosis):" in text and f"verdict: {d['verdict']}" in text
