"""Error policies of an op as stream transformers: collect, drop, fail_fast."""

from __future__ import annotations

from typing import TypeVar

from funcpipe.streams import AsyncGen, async_gen_drop_errors, async_gen_take_until_err

from ._models import ErrorPolicy

T = TypeVar("T")


def apply_error_policy(gen: AsyncGen[T], policy: ErrorPolicy) -> AsyncGen[T]:
    """``collect`` keeps Err items in place, ``drop`` removes them, ``fail_fast`` ends at one.

    ``drop`` is ``async_gen_drop_errors``; ``fail_fast`` is ``async_gen_take_until_err``, which
    closes the op's upstream (cancelling work in flight) before it emits the first Err.
    """
    if policy == "drop":
        return async_gen_drop_errors(gen)
    if policy == "fail_fast":
        return async_gen_take_until_err(gen)
    return gen
