"""A registry of demo ops for the Dask runner's tests, importable on the workers.

The tests put this folder on ``sys.path`` before starting a LocalCluster (spawned workers
inherit the parent's ``sys.path``). Ops:

- ``double`` (Map): ``{"id", "n"} -> {"id", "n": 2n}``; ``n`` not an int is INVALID_INPUT.
- ``die_once`` (Map): the first ``params["times"]`` (default 1) times it sees an item whose id
  is in ``params["ids"]`` (counted by marker files in ``params["dir"]``), it kills its own
  worker process; after that it passes the item on. A rescheduled task is then harmless.
- ``write`` (Sink): upserts the item as ``<dir>/<id>.json`` (write + rename, idempotent) and
  appends its id to ``<dir>/writes.log`` (every execution, so re-runs are visible).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from funcpipe.async_plan import AsyncPlan, async_from_result
from funcpipe.result import Err, ErrInfo, Ok, Result, codes
from funcpipe.specs import Params, Registry, map_entry, sink_entry

Item = dict[str, object]


def _double(_: Params) -> Callable[[Item], AsyncPlan[Item]]:
    def f(item: Item) -> AsyncPlan[Item]:
        n = item.get("n")
        if not isinstance(n, int):
            return async_from_result(
                Err(ErrInfo(codes.INVALID_INPUT, "n is not an int", "double", (str(item["id"]),)))
            )
        return async_from_result(Ok({"id": item["id"], "n": 2 * n}))

    return f


def _die_once(params: Params) -> Callable[[Item], AsyncPlan[Item]]:
    marker_dir = Path(str(params["dir"]))
    raw_ids, times = params["ids"], params.get("times", 1)
    assert isinstance(raw_ids, list | tuple)
    assert isinstance(times, int)
    ids = {str(i) for i in raw_ids}

    def f(item: Item) -> AsyncPlan[Item]:
        key = str(item["id"])
        if key in ids:
            died = len(list(marker_dir.glob(f"died-{key}-*")))
            if died < times:
                (marker_dir / f"died-{key}-{died}").write_text("1")
                os._exit(1)
        return async_from_result(Ok(item))

    return f


def _write(params: Params) -> Callable[[Item], AsyncPlan[Item]]:
    out = Path(str(params["dir"]))

    def f(item: Item) -> AsyncPlan[Item]:
        key = str(item["id"])
        tmp = out / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(item, sort_keys=True))
        tmp.replace(out / f"{key}.json")
        with (out / "writes.log").open("a") as log:
            log.write(key + "\n")
        result: Result[Item, ErrInfo] = Ok(item)
        return async_from_result(result)

    return f


registry = Registry(
    [
        map_entry("double", "1", _double),
        map_entry("die_once", "1", _die_once),
        sink_entry("write", "1", _write),
    ]
)
