"""``python -m tpstui``."""

from tpstui.cli import entry_point

entry_point()
