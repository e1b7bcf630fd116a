"""The GGUF conversion cache when it is damaged or cannot be written (a tiny GGUF: converting takes
a fraction of a second). A damaged entry is converted again; an unwritable cache costs one line and
the model loads from the GGUF itself; nothing half-written is left behind."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tpstui.settings import RunSettings
from tpstui.sources.generation.loader import load_model
from tpstui.sources.generation.model_source import COMPLETE_MARKER, gguf_cache_dir


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _load(gguf: Path, stages: list[str] | None = None) -> bool:
    """Load the GGUF; whether it came from the conversion cache."""
    settings = RunSettings(model=str(gguf), device="cpu")
    loaded = load_model(settings, (lambda f, stage: stages.append(stage)) if stages is not None else lambda f, s: None)
    assert loaded.parameters > 0
    return loaded.cached


def _leftovers(cache: Path) -> list[str]:
    folder = cache / "gguf"
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")] if folder.exists() else []


def test_a_truncated_cache_file_is_found_and_converted_again(tiny_gguf: Path, cache: Path) -> None:
    assert _load(tiny_gguf) is False and _load(tiny_gguf) is True
    weights = gguf_cache_dir(tiny_gguf) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a crash, a full disk
    stages: list[str] = []
    assert _load(tiny_gguf, stages) is False  # converted again, and it loads
    assert any("the conversion cache is damaged (model.safetensors is" in s for s in stages)
    assert _load(tiny_gguf) is True


def test_a_damaged_file_of_the_right_size_is_found_by_its_hash(tiny_gguf: Path, cache: Path) -> None:
    assert _load(tiny_gguf) is False
    weights = gguf_cache_dir(tiny_gguf) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = b"\xff" * 8  # the safetensors header length: the file no longer loads
    weights.write_bytes(bytes(data))
    stages: list[str] = []
    assert _load(tiny_gguf, stages) is False
    assert any("model.safetensors differs from what was written (SHA-256)" in s for s in stages)
    assert _load(tiny_gguf) is True


def test_an_entry_from_an_older_tpstui_that_does_not_load_is_converted_again(tiny_gguf: Path, cache: Path) -> None:
    assert _load(tiny_gguf) is False
    entry = gguf_cache_dir(tiny_gguf)
    (entry / COMPLETE_MARKER).write_text(json.dumps({"gguf": str(tiny_gguf), "format": 1}))  # no sizes, no hashes
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert _load(tiny_gguf) is False and _load(tiny_gguf) is True


def _bench(gguf: Path, cache: Path, preexec: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tpstui", "bench", "--model", str(gguf), "--device", "cpu", "--telemetry", "none",
         "--runs", "1", "--warmup", "0", "-n", "8", "--prompt-tokens", "8", "--quiet"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "TPSTUI_CACHE_DIR": str(cache)},
        preexec_fn=preexec,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_cache_that_cannot_be_written_costs_one_line_and_the_model_loads(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(blocker / "cache"))  # every directory under it: "Not a directory"
    stages: list[str] = []
    assert _load(tiny_gguf, stages) is False  # loaded straight from the GGUF
    warnings = [s for s in stages if s.startswith("warning:")]
    assert len(warnings) == 1 and "cannot write the conversion cache" in warnings[0]
    assert "Not a directory" in warnings[0]


def _small_files() -> None:  # in the child: any file stops at 64 KiB (EFBIG), as on a nearly full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_disk_that_fills_up_while_converting_leaves_nothing_behind(tiny_gguf: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = _bench(tiny_gguf, cache, _small_files)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the conversion cache" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "decode tok/s" in result.stdout
    assert _leftovers(cache) == [] and not (gguf_cache_dir_in(cache, tiny_gguf) / COMPLETE_MARKER).exists()


def gguf_cache_dir_in(cache: Path, gguf: Path) -> Path:
    os.environ["TPSTUI_CACHE_DIR"], saved = str(cache), os.environ.get("TPSTUI_CACHE_DIR")
    try:
        return gguf_cache_dir(gguf)
    finally:
        if saved is None:
            del os.environ["TPSTUI_CACHE_DIR"]
        else:
            os.environ["TPSTUI_CACHE_DIR"] = saved
