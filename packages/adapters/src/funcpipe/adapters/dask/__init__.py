"""funcpipe.adapters.dask: run a spec's stages over partitions on a Dask cluster (extra ``[dask]``).

The spec travels as its canonical JSON, never as a pickled closure: each worker parses it (its
hashes verified), rebuilds it once per process from a registry named by an allow-listed import
name (``"package.module:attribute"``, installed on every worker) and runs the partitions it is
given. Only plain data crosses the wire. Tasks are at-least-once; keys are explicit per run and
partition; a bounded window of tasks is in flight and results are consumed as they complete;
a failed task is an ``Err`` with the partition's key. Typical flow::

    async with dask_client(n_workers=2) as opened:          # or dask_client("tcp://host:8786")
        runner = DaskRunner(opened.unwrap(), allowed_registries={"myapp.ops:registry"})
        job = DaskJob(serialize(spec, "json"), "myapp.ops:registry", ("parse", "embed"))
        async for r in runner.run(job, partitions)():
            ...
"""

# The guard runs before the imports below, so a missing extra names the install to run.
# ruff: noqa: E402
from funcpipe.adapters._extras import require_extra

require_extra("dask", "distributed", "funcpipe.specs")

from ._runner import DaskRunner as DaskRunner
from ._runner import PartitionResult as PartitionResult
from ._runner import dask_client as dask_client
from ._wire import DaskJob as DaskJob
from ._wire import Partition as Partition
from ._wire import Plain as Plain
from ._worker import run_partition as run_partition

__all__ = [
    "DaskJob",
    "DaskRunner",
    "Partition",
    "PartitionResult",
    "Plain",
    "dask_client",
    "run_partition",
]
