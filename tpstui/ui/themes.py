"""Themes as data: TOML files in ``themes/`` (and ``$TPSTUI_THEMES_DIR``) become Textual ``Theme`` objects.

A file holds Textual's semantic colours (primary, background, success, ...) and, under
``[variables]``, tpstui's own: ``tps-good``, ``tps-poor``, ``tps-avg``, ``run-mark``,
``throttle``, ``throttle-power``, ``throttle-thermal``, ``throttle-other`` (the reason
families on the timeline), ``prompt``. A theme that leaves one out (or any of Textual's built-in themes) gets
a default derived from its semantic colours, so every theme works and no .tcss names a colour.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from textual.theme import Theme

from tpstui.errors import UserError
from tpstui.paths import theme_dirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["APP_VARIABLES", "DEFAULT_THEME", "app_variable_defaults", "load_themes"]

DEFAULT_THEME = "dark"
THEME_ORDER = ("dark", "light", "high-contrast")
"""The themes ``t`` cycles through, in this order (other theme files are chosen with ``--theme``)."""

APP_VARIABLES = {
    "tps-good": "success",
    "tps-poor": "error",
    "tps-avg": "primary",
    "run-mark": "foreground-muted",
    "throttle": "warning",
    "throttle-power": "secondary",
    "throttle-thermal": "warning",
    "throttle-other": "accent",
    "prompt": "foreground-muted",
}
"""tpstui's theme variables and the Textual colour each defaults to."""

_THEME_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "dark",
    "luminosity_spread",
    "text_alpha",
)


def _theme_from_file(path: Path) -> Theme:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"cannot read theme file {path}: {error}") from None
    unknown = set(data) - {*_THEME_FIELDS, "name", "variables"}
    if unknown:
        raise UserError(f"theme file {path}: unknown key(s) {', '.join(sorted(unknown))}.")
    if "primary" not in data:
        raise UserError(f"theme file {path}: 'primary' is required.")
    variables = {str(k): str(v) for k, v in dict(data.get("variables", {})).items()}
    fields = {k: v for k, v in data.items() if k in _THEME_FIELDS}
    return Theme(name=str(data.get("name", path.stem)), variables=variables, **fields)


def load_themes() -> dict[str, Theme]:
    """Every theme file: ``THEME_ORDER`` first, then the rest by name (a later directory overrides a name)."""
    found: dict[str, Theme] = {}
    for directory in theme_dirs():
        for path in sorted(directory.glob("*.toml")):
            theme = _theme_from_file(path)
            found[theme.name] = theme
    ordered = {name: found[name] for name in THEME_ORDER if name in found}
    ordered.update({name: theme for name, theme in sorted(found.items()) if name not in ordered})
    return ordered


def app_variable_defaults(theme: Theme) -> dict[str, str]:
    """Defaults for tpstui's variables, derived from a theme's semantic colours."""
    colours = theme.to_color_system().generate()
    return {name: colours[source] for name, source in APP_VARIABLES.items() if source in colours}
