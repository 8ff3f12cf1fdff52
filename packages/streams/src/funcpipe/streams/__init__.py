"""funcpipe.streams: lazy, replayable async streams of Results.

An ``AsyncGen[T]`` is a thunk; each call starts a fresh, independent iteration of
``Result[T, ErrInfo]`` items. Building a stream does nothing. An ``Err`` item flows on in place
and never ends the stream. Early exit closes every upstream exactly once and leaves no task
running. Every buffer is bounded by a policy. Two combinators act on Err items on purpose:
``async_gen_drop_errors`` and ``async_gen_take_until_err`` (the error policies of a pipeline).
"""

from ._basic import async_gen_and_then as async_gen_and_then
from ._basic import async_gen_collect as async_gen_collect
from ._basic import async_gen_filter as async_gen_filter
from ._basic import async_gen_flat_map as async_gen_flat_map
from ._basic import async_gen_flatten as async_gen_flatten
from ._basic import async_gen_from_list as async_gen_from_list
from ._basic import async_gen_from_results as async_gen_from_results
from ._basic import async_gen_map as async_gen_map
from ._basic import async_gen_map_action as async_gen_map_action
from ._basic import async_gen_map_err as async_gen_map_err
from ._basic import async_gen_return as async_gen_return
from ._basic import async_gen_take as async_gen_take
from ._basic import async_gen_tap as async_gen_tap
from ._basic import async_gen_using as async_gen_using
from ._basic import lift_async_item as lift_async_item
from ._basic import lift_sync_gen_with_executor as lift_sync_gen_with_executor
from ._bounded import async_gen_bounded_map as async_gen_bounded_map
from ._chunk import async_gen_chunk as async_gen_chunk
from ._core import close_stream as close_stream
from ._errs import async_gen_drop_errors as async_gen_drop_errors
from ._errs import async_gen_take_until_err as async_gen_take_until_err
from ._merge import async_gen_fair_merge as async_gen_fair_merge
from ._merge import async_gen_gather as async_gen_gather
from ._rate import async_gen_rate_limited as async_gen_rate_limited
from ._types import AsyncGen as AsyncGen

__all__ = [
    "close_stream",
    "AsyncGen",
    "async_gen_and_then",
    "async_gen_bounded_map",
    "async_gen_chunk",
    "async_gen_collect",
    "async_gen_drop_errors",
    "async_gen_fair_merge",
    "async_gen_filter",
    "async_gen_flat_map",
    "async_gen_flatten",
    "async_gen_from_list",
    "async_gen_from_results",
    "async_gen_gather",
    "async_gen_map",
    "async_gen_map_action",
    "async_gen_map_err",
    "async_gen_rate_limited",
    "async_gen_return",
    "async_gen_take",
    "async_gen_take_until_err",
    "async_gen_tap",
    "async_gen_using",
    "lift_async_item",
    "lift_sync_gen_with_executor",
]
