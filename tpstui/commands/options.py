"""Options shared by ``bench`` and ``run``: the model, the prompt, generation and telemetry."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tpstui.settings import ATTN_IMPLEMENTATIONS, RunSettings

if TYPE_CHECKING:
    from tpstui.sources.telemetry.select import TelemetryOptions

__all__ = [
    "add_record_options",
    "add_run_options",
    "record_path_from_args",
    "settings_from_args",
    "telemetry_options_from_args",
]


def add_run_options(parser: argparse.ArgumentParser, runs_default: int, warmup_default: int) -> None:
    """Add the model / prompt / generation / telemetry options to a subcommand."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        "-m",
        metavar="ID|DIR|FILE.gguf",
        help="Hugging Face id, local model directory or .gguf file (default: embedded SmolLM2-135M-Instruct)",
    )
    model.add_argument("--trust-remote-code", action="store_true", help="allow the model's own Python code")
    model.add_argument("--dtype", default="auto", help="auto, float32, float16 or bfloat16 (default: auto)")
    model.add_argument(
        "--device", default="auto", help="auto (accelerate device_map over all GPUs), cpu, cuda, cuda:N, mps"
    )
    model.add_argument(
        "--attn-implementation",
        choices=ATTN_IMPLEMENTATIONS,
        metavar="IMPL",
        help=f"attention kernel: {', '.join(ATTN_IMPLEMENTATIONS)}",
    )

    prompt = parser.add_argument_group("prompt")
    source = prompt.add_mutually_exclusive_group()
    source.add_argument("--prompt", "-p", help="prompt text")
    source.add_argument("--prompt-file", metavar="PATH", help="read the prompt from a file")
    source.add_argument(
        "--prompt-tokens",
        type=int,
        metavar="N",
        help="synthetic prompt of exactly N tokens (fixed-length runs)",
    )
    prompt.add_argument(
        "--chat-template",
        choices=("auto", "on", "off"),
        default="auto",
        help="wrap the prompt in the tokenizer's chat template (default: auto = if it has one)",
    )

    gen = parser.add_argument_group("generation")
    gen.add_argument("--max-new-tokens", "-n", type=int, default=128, metavar="N", help="(default: 128)")
    gen.add_argument("--ignore-eos", action="store_true", help="do not stop at EOS: every run makes N tokens")
    gen.add_argument("--runs", "-r", type=int, default=runs_default, metavar="N", help=f"(default: {runs_default})")
    gen.add_argument("--warmup", type=int, default=warmup_default, metavar="N", help=f"(default: {warmup_default})")
    gen.add_argument("--batch-size", "-b", type=int, default=1, metavar="N", help="sequences per run (default: 1)")
    gen.add_argument("--sample", dest="do_sample", action="store_true", help="sample instead of greedy decoding")
    gen.add_argument("--temperature", type=float, default=1.0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=50)
    gen.add_argument("--seed", type=int, default=0, help="random seed, set before every run (default: 0)")

    tel = parser.add_argument_group("telemetry")
    tel.add_argument(
        "--telemetry",
        default="auto",
        metavar="BACKEND",
        help="auto (NVML, then AMD SMI, then CPU), nvml, amd, cpu or none (default: auto)",
    )
    tel.add_argument("--sample-hz", type=float, default=10.0, metavar="HZ", help="samples per second (default: 10)")
    tel.add_argument(
        "--gpus",
        metavar="LIST",
        help="GPUs to watch, by nvidia-smi / amd-smi index: 0,1 or all (default: the GPUs the run uses)",
    )
    tel.add_argument(
        "--peak-bw",
        type=float,
        metavar="GB/S",
        help="memory bandwidth peak for MBU (default: from the GPU, or measured once on the CPU)",
    )


def settings_from_args(args: argparse.Namespace, loop: bool = False) -> RunSettings:
    """Validated RunSettings (raises UserError with a one-line message); ``--prompt-file`` is read
    once here too, so a bad file fails before the model loads."""
    settings = RunSettings(
        model=args.model,
        trust_remote_code=args.trust_remote_code,
        prompt=args.prompt,
        prompt_file=args.prompt_file,
        prompt_tokens=args.prompt_tokens,
        chat_template=args.chat_template,
        max_new_tokens=args.max_new_tokens,
        ignore_eos=args.ignore_eos,
        runs=args.runs,
        warmup=args.warmup,
        batch_size=args.batch_size,
        dtype=args.dtype,
        device=args.device,
        attn_implementation=args.attn_implementation,
        do_sample=args.do_sample,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        loop=loop,
    )
    if settings.prompt_file is not None:
        from tpstui.sources.generation.prompts import read_prompt_file

        read_prompt_file(settings.prompt_file)
    return settings


def telemetry_options_from_args(args: argparse.Namespace) -> TelemetryOptions:
    """``--telemetry``, ``--sample-hz``, ``--gpus`` and ``--peak-bw`` (plus ``--device``), validated."""
    from tpstui.errors import UserError
    from tpstui.sources.telemetry.gpus import parse_gpu_list
    from tpstui.sources.telemetry.sampler import MAX_HZ
    from tpstui.sources.telemetry.select import BACKEND_NAMES, TelemetryOptions

    if args.telemetry not in BACKEND_NAMES:
        raise UserError(f"unknown telemetry backend {args.telemetry!r}; use one of: {', '.join(BACKEND_NAMES)}.")
    if not 0 < args.sample_hz <= MAX_HZ:
        raise UserError(f"--sample-hz must be above 0 and at most {MAX_HZ:g} (got {args.sample_hz:g}).")
    peak = getattr(args, "peak_bw", None)
    if peak is not None and not 0 < peak < 1e6:
        raise UserError(f"--peak-bw is in GB/s and must be above 0 (got {peak:g}).")
    return TelemetryOptions(
        backend=args.telemetry,
        sample_hz=args.sample_hz,
        gpus=parse_gpu_list(getattr(args, "gpus", None)),
        device=getattr(args, "device", "auto"),
        peak_bw_gbs=peak,
    )


def add_record_options(parser: argparse.ArgumentParser, by_default: bool) -> None:
    """``--record FILE`` (and ``--no-record`` when the command records unless told not to)."""
    group = parser.add_argument_group("recording")
    where = "default: a new file in the recordings directory" if by_default else "default: not recorded"
    group.add_argument("--record", metavar="FILE", help=f"record the whole session to FILE (.jsonl.zst; {where})")
    if by_default:
        group.add_argument("--no-record", action="store_true", help="do not record this session")


def record_path_from_args(args: argparse.Namespace, by_default: bool) -> Path | None:
    """Where to record: ``--record FILE``, else a new file in the recordings directory when the
    command records by default (``tpstui run``) and ``--no-record`` was not given, else None."""
    from tpstui.errors import UserError
    from tpstui.stream.recording import new_recording_path

    if getattr(args, "record", None):
        if getattr(args, "no_record", False):
            raise UserError("give either --record FILE or --no-record, not both.")
        return Path(args.record).expanduser()
    if by_default and not getattr(args, "no_record", False):
        model = getattr(args, "model", None)
        return new_recording_path(label=Path(model.rstrip("/")).name if model else "smollm2")
    return None
