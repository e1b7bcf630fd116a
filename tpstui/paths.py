"""Where tpstui keeps files: the conversion cache, the recordings directory, the theme directories.

Each honours an environment variable first (``TPSTUI_CACHE_DIR``, ``TPSTUI_RECORDINGS_DIR``,
``TPSTUI_THEMES_DIR``), then the XDG base directories.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["cache_root", "default_recordings_dir", "theme_dirs"]


def cache_root() -> Path:
    """``$TPSTUI_CACHE_DIR``, else ``$XDG_CACHE_HOME/tpstui``, else ``~/.cache/tpstui``."""
    explicit = os.environ.get("TPSTUI_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tpstui"


def default_recordings_dir() -> Path:
    """Where ``tpstui run`` records by default: ``$TPSTUI_RECORDINGS_DIR``, else the user data dir
    (``$XDG_DATA_HOME/tpstui/recordings``, i.e. ``~/.local/share/tpstui/recordings``)."""
    explicit = os.environ.get("TPSTUI_RECORDINGS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data_home) / "tpstui" / "recordings"


def theme_dirs() -> list[Path]:
    """Where theme files are looked for, later ones winning: ``<prefix>/share/tpstui/themes`` (a
    wheel install), the project's ``themes/`` (a checkout), then ``$TPSTUI_THEMES_DIR``."""
    dirs = [Path(sys.prefix) / "share" / "tpstui" / "themes", Path(__file__).resolve().parents[1] / "themes"]
    extra = os.environ.get("TPSTUI_THEMES_DIR")
    if extra:
        dirs.append(Path(extra).expanduser())
    return [d for d in dirs if d.is_dir()]
