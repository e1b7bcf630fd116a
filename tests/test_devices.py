"""``tpstui devices``: every backend tried, versions and supported metrics, n/a for the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.build import SCENARIOS
from tests.fakes.env import FakeGpus
from tpstui.cli import main
from tpstui.sources.telemetry.select import TelemetryOptions, open_backend


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> FakeGpus:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(tmp_path))
    return FakeGpus(monkeypatch)


def test_devices_lists_nvidia_amd_and_cpu(clean: FakeGpus, capsys: pytest.CaptureFixture[str]) -> None:
    clean.nvml("nvml_two_gpus.txt")
    clean.amd("amd_navi.txt")
    assert main(["devices", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    nvml, amd, cpu = result["nvml"], result["amd"], result["cpu"]
    assert [d["device"] for d in nvml["devices"]] == ["gpu0", "gpu1"]  # all GPUs, not just the run's
    gpu0 = nvml["devices"][0]
    assert gpu0["details"]["driver"] == "550.54.15" and gpu0["details"]["nvidia-ml-py"]
    assert gpu0["details"]["peak bandwidth"] == "2039 GB/s"  # A100: 2 × 1593 MHz × 5120 bit
    assert {"temp_c", "temp_mem_c", "power_w", "energy_j", "mem_busy_pct", "reasons"} <= set(gpu0["supported"])
    assert {"temp_hotspot_c", "bw_util_pct"} <= set(gpu0["not_supported"])  # no GPM before Hopper
    (radeon,) = amd["devices"]
    assert radeon["name"] == "AMD Radeon RX 7900 XTX" and radeon["details"]["AMD SMI library"] == "25.1.0"
    assert "bw_util_pct" in radeon["supported"] and "energy_j" in radeon["not_supported"]
    assert cpu["available"] and cpu["devices"][0]["details"]["memory bandwidth"] == "not measured yet"


def test_devices_text_names_metrics_and_what_is_missing(clean: FakeGpus, capsys: pytest.CaptureFixture[str]) -> None:
    clean.nvml("nvml_steady.txt")
    clean.amd(None)
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "NVML (NVIDIA):" in out and "NVIDIA H100 80GB HBM3" in out and "driver: 550.54.15" in out
    assert "memory controller busy" in out and "DRAM bandwidth (% of peak)" in out
    assert "AMD SMI: not available (AMD SMI found no AMD GPU)" in out
    assert "CPU (psutil):" in out


def test_devices_without_any_gpu(clean: FakeGpus, capsys: pytest.CaptureFixture[str]) -> None:
    clean.nvml(None)
    clean.amd(None)
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "NVML (NVIDIA): not available (the NVIDIA driver is not loaded)" in out
    assert "memory bandwidth: not measured yet" in out


def _scenario_with_bytes(tmp_path: Path, name: bytes, uuid: bytes) -> Path:
    """nvml_steady.txt with a GPU name and UUID that are not UTF-8 (as a buggy driver or a
    corrupted VBIOS string returns them)."""
    text = (SCENARIOS / "nvml_steady.txt").read_bytes()
    text = text.replace(b'name="NVIDIA H100 80GB HBM3"', b'name="' + name + b'"')
    text = text.replace(b"uuid=GPU-5a3c0000-0000-0000-0000-000000000000", b"uuid=" + uuid)
    path = tmp_path / "nvml_bad_text.txt"
    path.write_bytes(text)
    return path


def test_a_gpu_name_and_uuid_that_are_not_utf8(
    clean: FakeGpus, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clean.nvml(_scenario_with_bytes(tmp_path, b"NVIDIA \xff\xfe H100", b"GPU-\xc3\x28-0000"))
    clean.amd(None)
    assert main(["devices", "--json"]) == 0  # devices
    (gpu,) = json.loads(capsys.readouterr().out)["nvml"]["devices"]
    assert gpu["name"] == "NVIDIA \ufffd\ufffd H100" and gpu["details"]["uuid"] == "GPU-\ufffd(-0000"
    backend, _ = open_backend("nvml", TelemetryOptions(gpus=None, device="cuda:0"))  # what bench opens
    assert backend is not None
    try:
        (info,) = backend.devices()
        (reading,) = backend.sample()
    finally:
        backend.close()
    assert info.name == "NVIDIA \ufffd\ufffd H100" and reading.values["temp_c"] == 55


def test_a_device_that_answers_no_metric_says_so() -> None:
    from tpstui.commands.devices import _text

    device = {"device": "gpu0", "name": "Odd GPU", "details": {}, "supported": [], "not_supported": ["temp_c"]}
    result = {"nvml": {"available": True, "devices": [device]}}
    text = _text(result)
    assert "metrics: none answered" in text and "metrics: \n" not in text + "\n"
