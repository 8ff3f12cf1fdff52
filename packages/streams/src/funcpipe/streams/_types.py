"""The AsyncGen type: a replayable description of a lazy async stream of Results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeAlias, TypeVar

from funcpipe.result import ErrInfo, Result

T = TypeVar("T")

AsyncGen: TypeAlias = Callable[[], AsyncIterator[Result[T, ErrInfo]]]
"""Each call starts a fresh, independent iteration; building one performs no effect."""
