"""The import guard of the optional subpackages: a missing extra names the install to run."""

from __future__ import annotations

import importlib.util

__all__ = ["require_extra"]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked module, or one whose __spec__ is None
        return False


def require_extra(extra: str, *modules: str) -> None:
    """Raise ``ModuleNotFoundError`` naming ``pip install "funcpipe-adapters[extra]"`` when
    any of ``modules`` (top-level import names) is not installed. Imports nothing itself."""
    missing = [m for m in modules if not _installed(m)]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise ModuleNotFoundError(
            f"funcpipe.adapters.{extra} needs the optional dependencies of the extra [{extra}]"
            f" (missing: {names}). Install them with:"
            f' pip install "funcpipe-adapters[{extra}]"'
            f' (or "funcpipe-adapters[all]" for every extra)',
            name=missing[0],
        )
