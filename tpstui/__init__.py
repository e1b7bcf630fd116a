"""tpstui: a terminal live monitor for LLM generation speed."""

__version__ = "0.1.0"
__all__ = ["__version__"]
