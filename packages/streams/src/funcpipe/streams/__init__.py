"""funcpipe.streams: lazy, replayable async streams of Results."""

from ._types import AsyncGen as AsyncGen

__all__ = ["AsyncGen"]
