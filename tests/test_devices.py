"""``tpstui devices``: every backend tried, versions and supported metrics, n/a for the rest."""

from __future__ import annotations

import json

import pytest

from tests.fakes.env import FakeGpus
from tpstui.cli import main


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
