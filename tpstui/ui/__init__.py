"""The live app (Textual): the only package that imports textual.

``run_app(source, theme=..., fps=..., exit_when_done=..., cpu_budget=...) -> int`` runs the app
on any ``tpstui.sources.base.SessionSource`` (live or replay). The pieces: ``app`` (the App and its
frame), ``model`` and ``timeline`` (incremental state, no textual), ``widgets/``, ``screens/``,
``themes`` (theme files → Textual themes), ``budget`` (the UI's CPU budget) and ``schedule``
(which panels redraw in a frame, within that budget; no textual). Scripted sources
with known timestamps for tests live in ``tpstui.sources.scripted``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TpsApp", "run_app"]


def __getattr__(name: str) -> Any:
    """Import the app lazily, so ``tpstui.ui.model`` / ``tpstui.sources.scripted`` do not pull in textual."""
    if name in __all__:
        from tpstui.ui import app

        return getattr(app, name)
    raise AttributeError(name)
