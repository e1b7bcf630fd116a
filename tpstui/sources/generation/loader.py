"""Load a model and tokenizer for measurement, reporting progress, failing with one-line errors."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpstui.errors import UserError, first_line
from tpstui.settings import RunSettings
from tpstui.sources.generation.model_source import (
    COMPLETE_MARKER,
    ModelSource,
    cache_damage,
    check_hub_model,
    discard,
    gguf_cache_dir,
    is_converted,
    publish_conversion,
    resolve_model,
    staging_dir,
)

__all__ = ["LoadedModel", "Progress", "load_model", "resolve_device"]

Progress = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], what is happening)."""


def _no_progress(fraction: float, stage: str) -> None:
    del fraction, stage


@dataclass
class LoadedModel:
    """A ready model with the facts the metrics and the header need."""

    model: Any
    tokenizer: Any
    source: ModelSource
    device: str
    dtype: str
    parameters: int
    weight_bytes: int
    n_layers: int
    n_kv_heads: int
    head_dim: int
    kv_bytes_per_elem: int
    context_length: int
    load_seconds: float
    cached: bool
    input_device: Any = None
    """Where input ids go (the first device of a device_map)."""


@dataclass(frozen=True)
class DevicePlan:
    """How to place the model: ``device_map`` for from_pretrained and the input device."""

    device_map: Any
    input_device: str
    label: str


def resolve_device(requested: str) -> DevicePlan:
    """Turn --device into a placement; CUDA or MPS asked for where there is none is an error."""
    import torch

    cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        if count > 1:
            return DevicePlan("auto", "cuda:0", ",".join(f"cuda:{i}" for i in range(count)))
        if cuda:
            return DevicePlan("cuda:0", "cuda:0", "cuda:0")
        if mps:
            return DevicePlan("mps", "mps", "mps")
        return DevicePlan("cpu", "cpu", "cpu")
    if requested.startswith("cuda"):
        if not cuda:
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise UserError(
                f"--device {requested}: torch {torch.__version__} ({build}) sees no CUDA device; "
                "use --device cpu, or install a CUDA build of torch on a machine with an NVIDIA GPU."
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= count:
            raise UserError(f"--device {requested}: only {count} CUDA device(s) are visible (0..{count - 1}).")
        name = f"cuda:{index}"
        return DevicePlan(name, name, name)
    if requested == "mps":
        if not mps:
            raise UserError("--device mps: this machine has no Apple MPS device; use --device cpu.")
        return DevicePlan("mps", "mps", "mps")
    return DevicePlan("cpu", "cpu", "cpu")


def _torch_dtype(settings: RunSettings, plan: DevicePlan) -> Any:
    import torch

    name = settings.torch_dtype_name
    if name == "auto":
        if plan.input_device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if plan.input_device == "mps" else torch.float32
    return getattr(torch, name)


def _check_attention(settings: RunSettings, plan: DevicePlan) -> None:
    impl = settings.attn_implementation
    if impl in ("flash_attention_2", "flash_attention_3"):
        import importlib.util

        package = "flash_attn" if impl == "flash_attention_2" else "flash_attn_interface"
        if importlib.util.find_spec(package) is None:
            raise UserError(
                f"--attn-implementation {impl} needs the flash-attn package, which is not installed; "
                "install it with: pip install 'tpstui[flash]' (it compiles against CUDA, so only on a "
                "machine with an NVIDIA GPU and the CUDA toolkit), or use --attn-implementation sdpa."
            )
        if not plan.input_device.startswith("cuda"):
            raise UserError(f"--attn-implementation {impl} runs only on CUDA; use sdpa on {plan.label}.")


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _convert_gguf(path: Path, progress: Progress) -> tuple[Path | None, bool]:
    """A directory with the GGUF's model and tokenizer as safetensors (converting once) and whether
    it was in the cache already; None when the cache cannot be written (load the GGUF itself).

    A damaged entry (a file cut short: ``cache_damage``) is removed and converted again.
    """
    final = gguf_cache_dir(path)
    if is_converted(final):
        damage = cache_damage(final)
        if damage is None:
            return final, True
        progress(0.1, f"the conversion cache is damaged ({damage}): converting {path.name} again")
        discard(final)
    try:
        staging = staging_dir(final)
    except OSError as error:  # read-only, full, not a directory...: tell once, load without caching
        progress(0.2, _uncached(final, error))
        return None, False
    try:
        tokenizer, model = _dequantise(path, final, progress)
        progress(0.8, "saving the converted model to the cache")
        # The weights are de-quantised already; drop the GGUF quantizer so the model can be saved.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        try:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            publish_conversion(staging, final, path)
        except Exception as error:  # the disk filled up (OSError, or safetensors' own error)
            discard(staging)
            progress(0.8, _uncached(final, error))
            return None, False
    except BaseException:
        discard(staging)  # never a .partial directory left behind
        raise
    return final, False


def _uncached(final: Path, error: BaseException) -> str:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else first_line(error)
    return (
        f"warning: cannot write the conversion cache {final.parent} ({reason}): loading from the GGUF without "
        "caching, so every start converts it again"
    )


def _dequantise(path: Path, final: Path, progress: Progress) -> tuple[Any, Any]:
    """The GGUF's tokenizer and de-quantised model (float32), in memory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = str(path.parent), path.name
    progress(0.2, f"first start with this GGUF: converting its tokenizer (cached for next time in {final})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        stage = "first start with this GGUF: reading and de-quantising the weights (about half a minute on CPU)"
        with _tensor_progress(progress, 0.4, 0.8, "de-quantising GGUF tensors", stage) as started:
            model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype="float32")
            started.set()
    except UserError:
        raise
    except Exception as error:
        raise UserError(
            f"{path}: not a GGUF language model that transformers can load ({first_line(error)})."
        ) from None
    return tokenizer, model


TICK_SECONDS = 1.0
"""While transformers reads the GGUF before its tensor loop starts, the stage counts seconds this often."""


@contextlib.contextmanager
def _tensor_progress(progress: Progress, lo: float, hi: float, stage: str, preparing: str) -> Iterator[threading.Event]:
    """Route transformers' GGUF de-quantisation progress bar (tqdm) into ``progress``.

    Before the first tensor (transformers reads the file and builds the model first: 10 s on a
    2-core CPU) a ticker reports ``preparing`` with the seconds spent so far, so the stage never
    sits still without a counter. The event it yields stops the ticker (set it when done).
    """
    done = threading.Event()

    def tick() -> None:
        started = time.monotonic()
        while not done.wait(TICK_SECONDS):
            try:
                progress(lo, f"{preparing}: {time.monotonic() - started:.0f} s")
            except BaseException:  # the load was cancelled: the loading thread stops at its next report
                return

    ticker = threading.Thread(target=tick, name="tpstui-load-ticker", daemon=True)
    progress(lo, f"{preparing}: 0 s")
    ticker.start()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        try:
            yield done
        finally:
            done.set()
        return
    original = getattr(gguf_utils, "tqdm", None)

    def reporting(iterable: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        done.set()  # the tensor loop reports its own counter from here on
        items = list(iterable)
        step = max(len(items) // 50, 1)
        for index, item in enumerate(items):
            if index % step == 0:
                progress(lo + (hi - lo) * index / max(len(items), 1), f"{stage} ({index}/{len(items)})")
            yield item

    gguf_utils.tqdm = reporting
    try:
        yield done
    finally:
        done.set()
        ticker.join(TICK_SECONDS)
        gguf_utils.tqdm = original


def load_model(settings: RunSettings, progress: Progress = _no_progress) -> LoadedModel:
    """Resolve, (convert,) load and place the model; every failure is a one-line UserError."""
    started = time.perf_counter()
    source = resolve_model(settings.model)
    progress(0.02, "importing torch and transformers")
    import torch  # noqa: F401  (timed as its own stage)

    _quiet_transformers()
    plan = resolve_device(settings.device)
    _check_attention(settings, plan)
    dtype = _torch_dtype(settings, plan)
    cached = False
    location: str = source.location
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": settings.trust_remote_code}
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    if plan.device_map != "cpu":
        kwargs["device_map"] = plan.device_map
    if source.kind in ("embedded", "gguf"):
        gguf = Path(source.location)
        converted, cached = _convert_gguf(gguf, progress)
        if converted is None:  # the cache cannot be written: straight from the GGUF
            location, kwargs["gguf_file"] = str(gguf.parent), gguf.name
        else:
            location = str(converted)
    elif source.kind == "hub":
        progress(0.1, f"looking up {source.location} on the Hugging Face hub")
        check_hub_model(source.location)
    at = 0.85 if cached else 0.9
    loading = (
        f"loading {source.name}" if "gguf_file" not in kwargs else f"loading {source.name} from the GGUF (not cached)"
    )
    try:
        with _tensor_progress(progress, at, 1.0, "de-quantising GGUF tensors (not cached)", loading):
            tokenizer, model = _from_pretrained(location, settings, kwargs)
    except UserError:
        raise
    except Exception as error:
        if not cached:
            raise UserError(f"cannot load model {source.location!r}: {first_line(error)}") from None
        # the cache entry looked whole but does not load: check its hashes, convert again if damaged
        damage = cache_damage(Path(location), hashes=True) or _unverifiable(Path(location), error)
        if damage is None:
            raise UserError(f"cannot load model {source.location!r}: {first_line(error)}") from None
        progress(0.1, f"the conversion cache is damaged ({damage}): converting {source.name} again")
        discard(Path(location))
        return load_model(settings, progress)
    model.eval()
    return _describe(model, tokenizer, source, plan, started, cached)


def _from_pretrained(location: str, settings: RunSettings, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra = {"gguf_file": kwargs["gguf_file"]} if "gguf_file" in kwargs else {}
    tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=settings.trust_remote_code, **extra)
    return tokenizer, AutoModelForCausalLM.from_pretrained(location, **kwargs)


def _unverifiable(directory: Path, error: BaseException) -> str | None:
    """An entry from before tpstui recorded hashes that does not load: treat it as damaged."""
    marker = directory / COMPLETE_MARKER
    try:
        recorded = "files" in marker.read_text()
    except OSError:
        recorded = False
    return None if recorded else f"it does not load: {first_line(error)}"


def _describe(
    model: Any, tokenizer: Any, source: ModelSource, plan: DevicePlan, started: float, cached: bool
) -> LoadedModel:
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    params = list(model.parameters())
    n_heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (hidden // n_heads if n_heads else 0))
    element = next((p.element_size() for p in params), 4)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        source=source,
        device=plan.label,
        dtype=str(model.dtype).removeprefix("torch."),
        parameters=sum(p.numel() for p in params),
        weight_bytes=sum(p.numel() * p.element_size() for p in params),
        n_layers=int(getattr(config, "num_hidden_layers", 0) or 0),
        n_kv_heads=int(getattr(config, "num_key_value_heads", 0) or n_heads),
        head_dim=head_dim,
        kv_bytes_per_elem=element,
        context_length=int(getattr(config, "max_position_embeddings", 0) or 0),
        load_seconds=time.perf_counter() - started,
        cached=cached,
        input_device=plan.input_device,
    )
