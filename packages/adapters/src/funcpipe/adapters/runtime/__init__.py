"""funcpipe.adapters.runtime: the interpreter. Shells drive plans and streams only through it."""

from ._perform import perform_async as perform_async

__all__ = ["perform_async"]
