"""Bad input: one line saying what is wrong and what to do, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tpstui.cli import main


def _gguf_without_a_language_model(path: Path) -> Path:
    """A valid GGUF file that holds no language model (an image-encoder architecture, one tensor)."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "clip")
    writer.add_name("not-an-llm")
    writer.add_tensor("v.patch_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    # progress lines ("[ 20%] loading ...") may come first; the error itself is one line
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[")]
    assert len(lines) == 1, err
    assert lines[0].startswith("tpstui"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


FAST_CASES = {
    "prompt tokens zero": (["--prompt-tokens", "0"], "--prompt-tokens"),
    "runs zero": (["--runs", "0"], "--runs"),
    "unknown dtype": (["--dtype", "float13"], "dtype"),
    "unknown device": (["--device", "tpu"], "device"),
    "runs not a number": (["--runs", "many"], "--runs"),
    "sample rate too high": (["--sample-hz", "500"], "--sample-hz"),
    "unknown telemetry backend": (["--telemetry", "ipmi"], "telemetry"),
    "missing path": (["--model", "./no/such/model"], "no such file"),
    "missing gguf": (["--model", "missing-model.gguf"], "no such file"),
}


@pytest.mark.parametrize("case", sorted(FAST_CASES))
def test_settings_errors(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    args, needle = FAST_CASES[case]
    code, err = run_main(["bench", "--telemetry", "none", *args], capsys)
    assert_one_line_error(code, err, needle)


def test_not_a_gguf_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "random.gguf"
    bogus.write_bytes(b"\x00\x01 not gguf at all" * 100)
    code, err = run_main(["bench", "--telemetry", "none", "--model", str(bogus)], capsys)
    assert_one_line_error(code, err, "not a GGUF file")


def test_corrupt_gguf(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(tmp_path / "cache"))
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\xff" * 4096)
    code, err = run_main(["bench", "--telemetry", "none", "--model", str(corrupt)], capsys)
    assert_one_line_error(code, err, "corrupt.gguf", "not a GGUF language model")


def test_gguf_that_is_not_a_language_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TPSTUI_CACHE_DIR", str(tmp_path / "cache"))
    clip = _gguf_without_a_language_model(tmp_path / "clip.gguf")
    code, err = run_main(["bench", "--telemetry", "none", "--model", str(clip)], capsys)
    assert_one_line_error(code, err, "clip.gguf", "not a GGUF language model")


def test_unknown_hub_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["bench", "--telemetry", "none", "--model", "no-such-org/no-such-model-xyz"], capsys)
    assert_one_line_error(code, err, "no-such-org/no-such-model-xyz")


def test_prompt_longer_than_context(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the tiny model's context is 256 tokens
    args = ["bench", "--telemetry", "none", "--model", str(tiny_model_dir), "--prompt-tokens", "250", "-n", "10"]
    code, err = run_main(args, capsys)
    assert_one_line_error(code, err, "exceed the model's context of 256")


def test_missing_prompt_file(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--telemetry", "none", "--model", str(tiny_model_dir), "--prompt-file", "/no/such/prompt.txt"]
    code, err = run_main(args, capsys)
    assert_one_line_error(code, err, "--prompt-file")


def test_cuda_where_there_is_none(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, err = run_main(["bench", "--telemetry", "none", "--model", str(tiny_model_dir), "--device", "cuda"], capsys)
    assert_one_line_error(code, err, "CUDA", "--device cpu")


def test_flash_attention_without_the_package(tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--telemetry", "none", "--model", str(tiny_model_dir)]
    args += ["--attn-implementation", "flash_attention_2"]
    code, err = run_main(args, capsys)
    assert_one_line_error(code, err, "pip install 'tpstui[flash]'")


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    """The same path as a user's shell: a subprocess, its exit status and its whole stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "tpstui", "bench", "--model", str(tmp_path / "missing"), "--telemetry", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(result.returncode, result.stderr, "no such file")
    assert result.stdout == ""


def test_a_prompt_file_without_end_is_one_line_before_the_model_loads(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["bench", "--telemetry", "none", "--prompt-file", "/dev/zero"], capsys)
    assert_one_line_error(code, err, "--prompt-file /dev/zero is larger than 16 MiB")
    assert not [line for line in err.splitlines() if line.startswith("[")]  # nothing loaded first


def test_a_prompt_file_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["bench", "--telemetry", "none", "--prompt-file", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "is a directory")
