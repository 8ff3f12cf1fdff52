"""The document source port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, TypeVar

from funcpipe.result import ErrInfo, Result

T_co = TypeVar("T_co", covariant=True)


class DocumentSource(Protocol[T_co]):
    """A replayable stream of documents (an ``AsyncGen[T]``): each call starts a fresh
    iteration, in a stable order.

    An unreadable document is an ``Err`` item whose ``path[0]`` is the document's key; the
    stream goes on after it. Closing the iteration early (``aclose()``) or cancelling it
    releases whatever it holds.
    """

    def __call__(self) -> AsyncIterator[Result[T_co, ErrInfo]]: ...
