"""Options shared by ``bench`` and ``run``: the model, the prompt, generation and telemetry."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tpstui.settings import ATTN_IMPLEMENTATIONS, RunSettings

if TYPE_CHECKING:
    from tpstui.sources.base import TokenEngine
    from tpstui.sources.endpoint.settings import EndpointSettings
    from tpstui.sources.telemetry.select import TelemetryOptions

__all__ = [
    "add_endpoint_options",
    "add_record_options",
    "add_run_options",
    "endpoint_settings_from_args",
    "engine_from_args",
    "metrics_url",
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
    model.add_argument(
        "--same-process",
        action="store_true",
        help="generate in tpstui's own process (default: a child process, so the monitor cannot hold "
        "generation's GIL); for comparisons and debugging",
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
        "--server-metrics",
        nargs="?",
        const=ENDPOINT_METRICS,
        metavar="URL",
        help="scrape a serving engine's Prometheus /metrics (vLLM, SGLang, TGI) beside the local telemetry "
        "(no URL: the --endpoint server's /metrics)",
    )
    tel.add_argument(
        "--dcgm",
        metavar="URL[,URL...]",
        help="scrape NVIDIA DCGM exporters (e.g. http://node1:9400/metrics), one URL per node",
    )
    tel.add_argument(
        "--scrape-hz", type=float, default=2.0, metavar="HZ", help="scrapes per second of those (default: 2)"
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
    scrape_hz = getattr(args, "scrape_hz", 2.0)
    if not 0 < scrape_hz <= MAX_HZ:
        raise UserError(f"--scrape-hz must be above 0 and at most {MAX_HZ:g} (got {scrape_hz:g}).")
    server = getattr(args, "server_metrics", None)
    if server == ENDPOINT_METRICS:
        server = endpoint_metrics_url(getattr(args, "endpoint", None))
    return TelemetryOptions(
        backend=args.telemetry,
        sample_hz=args.sample_hz,
        gpus=parse_gpu_list(getattr(args, "gpus", None)),
        device=getattr(args, "device", "auto"),
        peak_bw_gbs=peak,
        server_metrics=metrics_url(server, "--server-metrics") if server else None,
        dcgm=tuple(metrics_url(u, "--dcgm") for u in (getattr(args, "dcgm", None) or "").split(",") if u.strip()),
        scrape_hz=scrape_hz,
    )


ENDPOINT_METRICS = "<endpoint>"
"""``--server-metrics`` given without a URL: the ``--endpoint`` server's ``/metrics``."""


def endpoint_metrics_url(endpoint: str | None) -> str:
    """``/metrics`` at the root of the ``--endpoint`` server (where vLLM, SGLang and TGI serve it)."""
    from urllib.parse import urlparse

    from tpstui.errors import UserError

    if not endpoint:
        raise UserError("--server-metrics without a URL needs --endpoint URL (or give the metrics URL).")
    parsed = urlparse(endpoint)
    return f"{parsed.scheme}://{parsed.netloc}/metrics"


def metrics_url(text: str, option: str) -> str:
    """An http(s) metrics URL as given (``/metrics`` added when it has no path); a UserError otherwise."""
    from urllib.parse import urlparse

    from tpstui.errors import UserError

    url = text.strip()
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UserError(f"{option}: {text!r} is not an http(s) URL (e.g. http://127.0.0.1:9400/metrics).")
    return url if parsed.path not in ("", "/") else url.rstrip("/") + "/metrics"


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
        if model is None and getattr(args, "endpoint", None):
            model = getattr(args, "served_model", None) or "endpoint"
        return new_recording_path(label=Path(model.rstrip("/")).name if model else "smollm2")
    return None


ENDPOINT_DEFAULTS = {
    "api": "chat",
    "served_model": None,
    "api_key_env": "OPENAI_API_KEY",
    "timeout": 60.0,
    "tokenizer": None,
    "concurrency": None,
    "request_rate": None,
    "burstiness": 1.0,
    "num_requests": 16,
    "duration": None,
    "warmup_requests": 1,
    "range_ratio": 0.0,
    "goodput": None,
}
"""The endpoint options and their defaults (each needs ``--endpoint`` when it differs)."""
ENGINE_ONLY = {
    "model": (None, "--model (the server chose its model; --served-model names it)"),
    "dtype": ("auto", "--dtype"),
    "device": ("auto", "--device (telemetry watches this host's GPUs; --gpus chooses them)"),
    "attn_implementation": (None, "--attn-implementation"),
    "same_process": (False, "--same-process (the endpoint client always stamps tokens in its own process)"),
    "batch_size": (1, "--batch-size (use --concurrency)"),
    "runs": (3, "--runs (use --num-requests or --duration)"),
    "warmup": (1, "--warmup (use --warmup-requests)"),
    "chat_template": ("auto", "--chat-template (the server applies its template)"),
    "top_k": (50, "--top-k"),
}
"""Options of the local transformers engine that mean nothing for an endpoint, with their defaults."""


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    """``--endpoint URL`` and the options of an endpoint session (the server, the load, SLOs)."""
    group = parser.add_argument_group("endpoint (an OpenAI-compatible server instead of a model here)")
    group.add_argument("--endpoint", metavar="URL", help="the server's base URL, e.g. http://127.0.0.1:8000/v1")
    group.add_argument(
        "--api", choices=("chat", "completions"), default="chat", help="/chat/completions (default) or /completions"
    )
    group.add_argument("--served-model", metavar="NAME", help="model name to request (default: the first of /models)")
    group.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="environment variable with the API key (default: OPENAI_API_KEY; never recorded)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="longest wait to connect, for the first byte or the next one (default: 60)",
    )
    group.add_argument(
        "--tokenizer",
        metavar="ID|DIR",
        help="tokenizer that counts tokens per chunk (default: the served model's id, if it is here)",
    )
    load = parser.add_argument_group("load (with --endpoint)")
    load.add_argument(
        "--concurrency",
        "-c",
        type=int,
        metavar="N",
        help="requests in flight at most (closed loop; default: 1, unlimited with --request-rate)",
    )
    load.add_argument(
        "--request-rate",
        type=float,
        metavar="R",
        help="requests per second, open loop with gamma-distributed gaps (default: as fast as allowed)",
    )
    load.add_argument(
        "--burstiness",
        type=float,
        default=1.0,
        metavar="B",
        help="gamma shape of the gaps: 1 = Poisson, < 1 burstier, > 1 steadier (default: 1)",
    )
    load.add_argument("--num-requests", type=int, default=16, metavar="N", help="measured requests (default: 16)")
    load.add_argument("--duration", type=float, metavar="S", help="send requests for S seconds instead")
    load.add_argument("--warmup-requests", type=int, default=1, metavar="N", help="warm-up requests (default: 1)")
    load.add_argument(
        "--range-ratio",
        type=float,
        default=0.0,
        metavar="R",
        help="input/output lengths uniform in L·(1±R) per request (default: 0)",
    )
    load.add_argument(
        "--goodput",
        nargs="+",
        metavar="KEY:MS",
        help="SLOs for goodput: ttft:MS tpot:MS e2el:MS (requests meeting all of them per second)",
    )


def endpoint_settings_from_args(args: argparse.Namespace, loop: bool = False) -> EndpointSettings:
    """Validated EndpointSettings (``UserError`` for an option that does not apply to an endpoint)."""
    import math

    from tpstui.errors import UserError
    from tpstui.sources.endpoint.settings import EndpointSettings

    for name, (default, label) in ENGINE_ONLY.items():
        if getattr(args, name, default) != default:
            raise UserError(f"{label.split(' ')[0]} does not apply to --endpoint{_why(label)}.")
    rate = args.request_rate
    if rate is not None and not rate > 0:
        raise UserError(f"--request-rate must be above 0 requests per second (got {rate:g}).")
    return EndpointSettings(
        url=args.endpoint,
        api=args.api,
        served_model=args.served_model,
        api_key_env=args.api_key_env,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        request_rate=math.inf if rate is None else rate,
        burstiness=args.burstiness,
        num_requests=args.num_requests,
        duration_s=args.duration,
        warmup_requests=args.warmup_requests,
        prompt=args.prompt,
        prompt_file=args.prompt_file,
        prompt_tokens=args.prompt_tokens,
        range_ratio=args.range_ratio,
        max_tokens=args.max_new_tokens,
        ignore_eos=args.ignore_eos,
        tokenizer=args.tokenizer,
        trust_remote_code=args.trust_remote_code,
        goodput=tuple(args.goodput or ()),
        do_sample=args.do_sample,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        loop=loop,
    )


def _why(label: str) -> str:
    _, _, why = label.partition(" ")
    return f" {why}" if why else ""


def engine_from_args(args: argparse.Namespace, loop: bool = False, *, quiet: bool = False) -> TokenEngine:
    """The engine the options ask for: an ``EndpointEngine`` with ``--endpoint``, else transformers in
    a child process (``IsolatedEngine``; ``quiet``: its output goes nowhere) or, with
    ``--same-process``, in this one (``TransformersEngine``)."""
    from tpstui.errors import UserError

    if getattr(args, "endpoint", None):
        from tpstui.sources.endpoint.engine import EndpointEngine

        return EndpointEngine(endpoint_settings_from_args(args, loop=loop))
    for name, default in ENDPOINT_DEFAULTS.items():
        if getattr(args, name, default) != default:
            raise UserError(f"--{name.replace('_', '-')} needs --endpoint URL.")
    settings = settings_from_args(args, loop=loop)
    if getattr(args, "same_process", False):
        from tpstui.sources.generation.engine import TransformersEngine

        return TransformersEngine(settings)
    from tpstui.sources.generation.isolated import IsolatedEngine

    return IsolatedEngine(settings, quiet=quiet)
