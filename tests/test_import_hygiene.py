"""The core never imports textual; the CLI and the core import torch only when a model is loaded."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import tpstui


def core_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(tpstui.__path__, "tpstui.")]
    return sorted(n for n in names if not n.startswith("tpstui.ui") and n != "tpstui.__main__")


def imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def test_core_does_not_import_textual() -> None:
    modules = core_modules()
    assert "tpstui.state.metrics" in modules and "tpstui.sources.generation.engine" in modules
    loaded = imported_after(modules)
    assert not any(name == "textual" or name.startswith("textual.") for name in loaded)


def test_core_and_cli_do_not_import_torch_up_front() -> None:
    modules = ["tpstui.cli", "tpstui.state.metrics", "tpstui.state.session", "tpstui.sources.live"]
    modules.append("tpstui.reports.bench")
    loaded = imported_after(modules)
    assert "torch" not in loaded and "transformers" not in loaded
